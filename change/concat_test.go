package change_test

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
)

// Concat gives the rows of its batches in order, the same arrays as Arrow's
// Concatenate, from batches with and without NULLs, empty ones, and batches whose
// columns are slices of larger arrays (a non-zero offset).
func TestConcat(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	s := allTypes(t)
	day := time.Date(2019, 7, 9, 0, 0, 0, 0, time.UTC)
	row := func(i int) []any {
		if i%5 == 2 {
			return []any{change.Delete, i, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil}
		}
		return []any{change.Insert, i, i % 100, i, -i, uint64(i), float32(i), float64(i) / 4, i%3 == 0,
			"1.5000", string(rune('a' + i%26)), []byte{byte(i)}, day, time.Duration(i) * time.Second, day}
	}
	build := func(from, to int) *change.Batch {
		var rows [][]any
		for i := from; i < to; i++ {
			rows = append(rows, row(i))
		}
		b, err := change.FromRows(mem, s, rows)
		require.NoError(t, err)
		return b
	}
	// A batch whose columns start at row 3 of their arrays.
	whole := build(100, 120)
	cols := make([]arrow.Array, s.NumFields())
	for c := range cols {
		cols[c] = array.NewSlice(whole.Column(c), 3, 20)
	}
	rec := array.NewRecordBatch(s.Arrow(), cols, 17)
	for _, c := range cols {
		c.Release()
	}
	sliced, err := change.NewBatch(s, rec, whole.Ops()[3:20])
	require.NoError(t, err)
	whole.Release()

	noNulls, err := change.FromRows(mem, s, [][]any{row(0), row(1)})
	require.NoError(t, err)
	bs := []*change.Batch{noNulls, build(0, 0), build(2, 9), sliced, build(50, 51)}
	defer func() {
		for _, b := range bs {
			b.Release()
		}
	}()
	out, err := change.Concat(mem, bs)
	require.NoError(t, err)
	defer out.Release()
	var want [][]any
	for _, b := range bs {
		want = append(want, b.Plain()...)
	}
	assert.Equal(t, want, out.Plain())
	for c := range s.NumFields() {
		parts := make([]arrow.Array, len(bs))
		for i, b := range bs {
			parts[i] = b.Column(c)
		}
		ref, err := array.Concatenate(parts, mem)
		require.NoError(t, err)
		assert.True(t, array.Equal(ref, out.Column(c)), "column %d: %v, Arrow %v", c, out.Column(c), ref)
		ref.Release()
	}

	// Without NULLs, no validity bitmap.
	one, err := change.Concat(mem, []*change.Batch{noNulls, noNulls})
	require.NoError(t, err)
	for c := range s.NumFields() {
		assert.Nil(t, one.Column(c).NullBitmapBytes(), "column %d", c)
	}
	one.Release()

	other := change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int64)}, "id")
	b, err := change.FromRows(mem, other, [][]any{{change.Insert, 1}})
	require.NoError(t, err)
	defer b.Release()
	_, err = change.Concat(mem, []*change.Batch{noNulls, b})
	assert.ErrorContains(t, err, "differs")
}
