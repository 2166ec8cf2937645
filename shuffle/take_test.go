package shuffle_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// CanTake says yes to every type Take serves (and Take gathers them, sliced inputs and
// NULLs included) and no to the ones it would panic on.
func TestCanTakeAndTake(t *testing.T) {
	s := change.MustSchema([]arrow.Field{
		change.Col("b", arrow.FixedWidthTypes.Boolean), change.Col("i8", arrow.PrimitiveTypes.Int8),
		change.Col("i16", arrow.PrimitiveTypes.Int16), change.Col("d", arrow.FixedWidthTypes.Date32),
		change.Col("i64", arrow.PrimitiveTypes.Int64), change.Col("dec", &arrow.Decimal128Type{Precision: 12, Scale: 2}),
		change.Col("s", arrow.BinaryTypes.String), change.Col("bin", arrow.BinaryTypes.Binary),
	})
	rows := [][]any{
		{change.Insert, true, 1, 2, 3, 4, "5.00", "a", []byte("x")},
		{change.Insert, nil, nil, nil, nil, nil, nil, nil, nil},
		{change.Insert, false, -1, -2, -3, -4, "-5.25", "bcd", []byte("yz")},
		{change.Insert, true, 7, 8, 9, 10, "11.50", "", []byte{}},
	}
	b, err := change.FromRows(nil, s, rows)
	require.NoError(t, err)
	defer b.Release()
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	for c := range s.NumFields() {
		col := b.Column(c)
		require.True(t, shuffle.CanTake(col.DataType()), "%s", col.DataType())
		sliced := array.NewSlice(col, 1, 4) // rows 1, 2, 3
		got := shuffle.Take(mem, sliced, []int32{2, 0, 1, 2})
		for i, j := range []int{3, 1, 2, 3} {
			assert.Equal(t, change.ValueAt(col, j), change.ValueAt(got, i), "%s row %d", col.DataType(), i)
		}
		got.Release()
		sliced.Release()
	}
	for _, no := range []arrow.DataType{
		arrow.Null, &arrow.Decimal256Type{Precision: 40, Scale: 2}, arrow.BinaryTypes.LargeString,
		&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String},
		arrow.ListOf(arrow.PrimitiveTypes.Int64),
	} {
		assert.False(t, shuffle.CanTake(no), "%s", no)
	}
}

// Take copies runs of consecutive indices whole (as after a filter keeping most rows):
// runs long and short, at the start and end, mixed with scattered indices, over sliced
// fixed-width and string columns, give the rows asked for.
func TestTakeCopiesRuns(t *testing.T) {
	s := change.MustSchema([]arrow.Field{change.Col("i", arrow.PrimitiveTypes.Int64), change.Col("s", arrow.BinaryTypes.String),
		change.Col("dec", &arrow.Decimal128Type{Precision: 12, Scale: 2})})
	var rows [][]any
	for i := range 300 {
		var str any = strings.Repeat("x", i%5) + fmt.Sprint(i)
		if i%11 == 0 {
			str = nil
		}
		rows = append(rows, []any{change.Insert, i, str, fmt.Sprintf("%d.25", i)})
	}
	b, err := change.FromRows(nil, s, rows)
	require.NoError(t, err)
	defer b.Release()
	rng := rand.New(rand.NewPCG(3, 4))
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	for trial := range 50 {
		var idx []int32
		for len(idx) < 200 {
			start, n := rng.IntN(290), 1+rng.IntN(40)
			for j := start; j < min(start+n, 290); j++ {
				idx = append(idx, int32(j))
			}
		}
		for c := range s.NumFields() {
			col := array.NewSlice(b.Column(c), 7, 297)
			got := shuffle.Take(mem, col, idx)
			require.Equal(t, len(idx), got.Len())
			for i, j := range idx {
				require.Equal(t, change.ValueAt(col, int(j)), change.ValueAt(got, i), "trial %d column %d row %d", trial, c, i)
			}
			got.Release()
			col.Release()
		}
	}
}
