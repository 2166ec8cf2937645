package change_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
)

func allTypes(t *testing.T) *change.Schema {
	return change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("i8", arrow.PrimitiveTypes.Int8),
		change.Col("i16", arrow.PrimitiveTypes.Int16),
		change.Col("i32", arrow.PrimitiveTypes.Int32),
		change.Col("u64", arrow.PrimitiveTypes.Uint64),
		change.Col("f32", arrow.PrimitiveTypes.Float32),
		change.Col("f64", arrow.PrimitiveTypes.Float64),
		change.Col("ok", arrow.FixedWidthTypes.Boolean),
		change.Col("amount", &arrow.Decimal128Type{Precision: 19, Scale: 4}),
		change.Col("name", arrow.BinaryTypes.String),
		change.Col("blob", arrow.BinaryTypes.Binary),
		change.Col("day", arrow.FixedWidthTypes.Date32),
		change.Col("tod", arrow.FixedWidthTypes.Time64us),
		change.Col("at", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}),
	}, "id")
}

func TestBatchRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)

	s := allTypes(t)
	assert.Equal(t, []string{"id"}, s.KeyNames())
	day := time.Date(2019, 7, 9, 0, 0, 0, 0, time.UTC)
	at := time.Date(2019, 7, 9, 1, 2, 3, 456789000, time.UTC)
	b, err := change.FromRows(mem, s, [][]any{
		{change.Insert, int64(1 << 60), 1, 2, 3, uint64(7), float32(1.5), 2.25, true, "200000.0000", "Anne", []byte{0x62, 0x67, 0xf2}, day, 90 * time.Second, at},
		{change.Delete, 2, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
	})
	require.NoError(t, err)
	defer b.Release()

	require.Equal(t, 2, b.Len())
	assert.Equal(t, []change.Op{change.Insert, change.Delete}, b.Ops())
	got := b.Plain()
	assert.Equal(t, []any{change.Insert, int64(1 << 60), int64(1), int64(2), int64(3), int64(7), 1.5, 2.25, true,
		"200000.0000", "Anne", []byte{0x62, 0x67, 0xf2}, day, 90 * time.Second, at}, got[0])
	assert.Equal(t, change.Delete, got[1][0])
	for _, v := range got[1][2:] {
		assert.Nil(t, v)
	}

	// Rows round-trip through Append.
	bl := change.NewBuilder(mem, s)
	defer bl.Release()
	for i, r := range b.Rows() {
		require.NoError(t, bl.Append(b.Ops()[i], r))
	}
	b2 := bl.NewBatch()
	defer b2.Release()
	assert.Equal(t, got, b2.Plain())
	assert.Contains(t, b2.String(), "+I | 1152921504606846976")
}

func TestBuilderErrorsNameTheColumn(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	s := allTypes(t)
	bl := change.NewBuilder(mem, s)
	defer bl.Release()

	row := make(change.Row, s.NumFields())
	assert.ErrorContains(t, bl.Append(change.Insert, row), `column "id" is not nullable`)
	row[0] = change.Int(1)
	row[9] = change.Int(5)
	assert.ErrorContains(t, bl.Append(change.Insert, row), `column "name" of type utf8 cannot hold a int value`)
	row[9] = change.Str("x")
	row[1] = change.Int(300)
	assert.ErrorContains(t, bl.Append(change.Insert, row), `value 300 out of range for column "i8"`)
	assert.ErrorContains(t, bl.Append(change.Insert, row[:3]), "row has 3 values")
	assert.Equal(t, 0, bl.Len(), "failed appends leave nothing behind")
	row[1] = change.Absent()
	require.NoError(t, bl.Append(change.UpdateBefore, row))
	b := bl.NewBatch()
	defer b.Release()
	assert.True(t, b.Value(0, 1).IsNull(), "absent is stored as NULL")
}

// Reset drops staged rows (a transaction abandoned halfway) and keeps their space:
// the same rows staged again allocate nothing.
func TestBuilderReset(t *testing.T) {
	s := change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int64), change.Col("name", arrow.BinaryTypes.String)}, "id")
	bl := change.NewBuilder(memory.DefaultAllocator, s)
	defer bl.Release()
	stage := func() {
		for i := range 8 {
			if err := bl.Append(change.Insert, change.Row{change.Int(int64(i)), change.Null()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	stage()
	bl.Reset()
	assert.Equal(t, 0, bl.Len())
	require.NoError(t, bl.Append(change.Delete, change.Row{change.Int(42), change.Str("x")}))
	b := bl.NewBatch()
	assert.Equal(t, [][]any{{change.Delete, int64(42), "x"}}, b.Plain())
	b.Release()
	assert.Zero(t, testing.AllocsPerRun(10, func() { stage(); bl.Reset() }), "staging again after Reset allocates")
}

// countingAlloc counts Allocate calls.
type countingAlloc struct {
	memory.Allocator
	n int
}

func (a *countingAlloc) Allocate(size int) []byte { a.n++; return a.Allocator.Allocate(size) }

// A small batch's buffers are carved from one allocation, freed when the last array
// holding a piece is released; a large batch's buffers are separate.
func TestBuilderSmallBatchOneAllocation(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	mem := &countingAlloc{Allocator: checked}
	s := change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("name", arrow.BinaryTypes.String), change.Col("ok", arrow.FixedWidthTypes.Boolean)}, "id")
	bl := change.NewBuilder(mem, s)
	defer bl.Release()
	fill := func(n int) *change.Batch {
		for i := range n {
			name, ok := change.Str(strings.Repeat("x", i%5)), change.Bool(i%2 == 0)
			if i%3 == 0 {
				name, ok = change.Null(), change.Null()
			}
			require.NoError(t, bl.Append(change.Insert, change.Row{change.Int(int64(i)), name, ok}))
		}
		return bl.NewBatch()
	}
	small := fill(3)
	assert.Equal(t, 1, mem.n, "allocations for a 3-row batch")
	assert.Equal(t, [][]any{{change.Insert, int64(0), nil, nil}, {change.Insert, int64(1), "x", false},
		{change.Insert, int64(2), "xx", true}}, small.Plain())
	id := small.Column(0)
	id.Retain()
	small.Release()
	assert.Equal(t, int64(2), id.(*array.Int64).Value(2), "a column outlives its batch")
	id.Release()

	mem.n = 0
	large := fill(5000)
	assert.Greater(t, mem.n, 1, "a large batch's buffers are separate")
	assert.Equal(t, 5000, large.Len())
	large.Release()
}

func TestSchemaValidation(t *testing.T) {
	_, err := change.NewSchema([]arrow.Field{change.Col("a", arrow.PrimitiveTypes.Int64), change.Col("a", arrow.PrimitiveTypes.Int64)})
	assert.ErrorContains(t, err, `duplicate column "a"`)
	_, err = change.NewSchema([]arrow.Field{change.Col("a", arrow.PrimitiveTypes.Int64)}, "b")
	assert.ErrorContains(t, err, `key column "b" is not a column`)
	_, err = change.NewSchema([]arrow.Field{change.Col("a", arrow.ListOf(arrow.PrimitiveTypes.Int64))})
	assert.ErrorIs(t, err, change.ErrSchema)

	s := change.MustSchema([]arrow.Field{change.NotNull("k1", arrow.BinaryTypes.String), change.NotNull("k2", arrow.PrimitiveTypes.Int32), change.Col("v", arrow.PrimitiveTypes.Float64)}, "k2", "k1")
	back, err := change.FromArrow(s.Arrow())
	require.NoError(t, err)
	assert.True(t, s.Equal(back))
	assert.Equal(t, []int{1, 0}, back.Key())
	assert.Equal(t, change.Row{change.Int(2), change.Str("a")}, s.KeyOf(change.Row{change.Str("a"), change.Int(2), change.Float(1)}))
	assert.Equal(t, "k1 utf8 not null, k2 int32 not null, v float64 (key: k2,k1)", s.String())
}

func TestDecimalText(t *testing.T) {
	for _, c := range []struct {
		in    string
		scale int32
		out   string
	}{
		{"200000", 4, "200000.0000"},
		{"10.0000", 4, "10.0000"},
		{"-0.5", 2, "-0.50"},
		{"0.001", 3, "0.001"},
		{"12.3400", 2, "12.34"},
		{"99999999999999999999999999999999999999", 0, "99999999999999999999999999999999999999"},
		{"-12345678901234567890.123456789", 9, "-12345678901234567890.123456789"},
		{"7", 0, "7"},
	} {
		n, err := change.ParseDecimal(c.in, c.scale)
		require.NoError(t, err, c.in)
		assert.Equal(t, c.out, change.FormatDecimal(n, c.scale), c.in)
	}
	for _, bad := range []string{"", "-", "1.2.3", "1e5", "0.123"} {
		_, err := change.ParseDecimal(bad, 2)
		assert.Error(t, err, bad)
	}
	_, err := change.ParseDecimal("999999999999999999999999999999999999999", 0)
	assert.ErrorContains(t, err, "exceeds 38 digits")
	assert.Equal(t, "-0.05", change.FormatDecimal(decimal128.FromI64(-5), 2))
}

func TestAppendJSON(t *testing.T) {
	ts := &arrow.TimestampType{Unit: arrow.Millisecond}
	for _, c := range []struct {
		v    change.Value
		t    arrow.DataType
		want string
	}{
		{change.Int(1<<62 + 1), arrow.PrimitiveTypes.Int64, "4611686018427387905"},
		{change.Decimal(decimal128.FromI64(2000000000)), &arrow.Decimal128Type{Precision: 19, Scale: 4}, `"200000.0000"`},
		{change.Int(18086), arrow.FixedWidthTypes.Date32, `"2019-07-09"`},
		{change.Int(1562630400000), ts, `"2019-07-09T00:00:00Z"`},
		{change.Int(1529507596945104), arrow.FixedWidthTypes.Timestamp_us, `"2018-06-20T15:13:16.945104Z"`},
		{change.Int(3723000), arrow.FixedWidthTypes.Time32ms, `"01:02:03"`},
		{change.Bytes([]byte{0x62, 0x67, 0xf2}), arrow.BinaryTypes.Binary, `"Ymfy"`},
		{change.Str("a\"b\n\x01"), arrow.BinaryTypes.String, `"a\"b\n\u0001"`},
		{change.Null(), arrow.BinaryTypes.String, `null`},
		{change.Float(1.5), arrow.PrimitiveTypes.Float64, `1.5`},
		{change.Bool(true), arrow.FixedWidthTypes.Boolean, `true`},
	} {
		assert.Equal(t, c.want, string(change.AppendJSON(nil, c.v, c.t)))
	}
}

func TestOps(t *testing.T) {
	for _, op := range []change.Op{change.Insert, change.UpdateBefore, change.UpdateAfter, change.Delete} {
		back, err := change.ParseOp(op.String())
		require.NoError(t, err)
		assert.Equal(t, op, back)
	}
	assert.True(t, change.Delete.IsRetraction())
	assert.False(t, change.UpdateAfter.IsRetraction())
	_, err := change.ParseOp("*X")
	assert.Error(t, err)
}

func TestTimeOfNoOverflow(t *testing.T) {
	// Debezium's +infinity for MicroTimestamp.
	tm := change.TimeOf(9223372036825200000, arrow.Microsecond)
	assert.Equal(t, 294247, tm.Year())
	assert.Equal(t, time.Date(1969, 12, 31, 23, 59, 59, 999000000, time.UTC), change.TimeOf(-1, arrow.Millisecond))
}

// A batch of a few rows gets buffers of its size (Arrow's builders reserve 32
// values per column and a validity bitmap), and the staging is reused from one
// batch to the next without leaking rows or NULLs into it.
func TestBuilderSizesBuffersToTheBatch(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	s := allTypes(t)
	bl := change.NewBuilder(mem, s)
	defer bl.Release()
	day := time.Date(2019, 7, 9, 0, 0, 0, 0, time.UTC)
	at := time.Date(2019, 7, 9, 1, 2, 3, 456789000, time.UTC)
	row := func(i int, null bool) []any {
		if null {
			return []any{change.Delete, i, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil}
		}
		return []any{change.Insert, i, i % 100, i, -i, uint64(i), float32(i) / 2, float64(i) / 4, i%3 == 0,
			fmt.Sprintf("%d.0001", i), fmt.Sprint("name", i), []byte{byte(i), 0}, day.AddDate(0, 0, i),
			time.Duration(i) * time.Second, at.Add(time.Duration(i) * time.Microsecond)}
	}
	require.NoError(t, bl.AppendAny(change.Insert, row(1, false)[1:]...))
	require.NoError(t, bl.AppendAny(change.Insert, row(2, false)[1:]...))
	small := bl.NewBatch()
	// One buffer per column of at most 64 bytes (the Arrow buffers' rounding), two
	// for the string and binary columns, no validity bitmaps.
	if got, most := mem.CurrentAlloc(), 64*(s.NumFields()+2); got > most {
		t.Errorf("a 2-row batch holds %d bytes, want at most %d", got, most)
	}
	for c := range s.NumFields() {
		if small.Record().Column(c).NullBitmapBytes() != nil {
			t.Errorf("column %d has a validity bitmap without NULLs", c)
		}
	}
	small.Release()

	for _, n := range []int{1000, 3, 70, 0, 9} {
		var want [][]any
		for i := range n {
			r := row(i, i%7 == 3)
			require.NoError(t, bl.AppendAny(r[0].(change.Op), r[1:]...))
			want = append(want, r)
		}
		b := bl.NewBatch()
		got := b.Plain()
		require.Len(t, got, n)
		for i, r := range got {
			w := want[i]
			assert.Equal(t, w[0], r[0], "row %d op", i)
			assert.Equal(t, int64(i), r[1], "row %d id", i)
			if i%7 == 3 {
				for c, v := range r[2:] {
					assert.Nil(t, v, "row %d column %d", i, c+1)
				}
				continue
			}
			assert.Equal(t, []any{int64(i % 100), int64(i), int64(-i), int64(i), float64(float32(i) / 2), float64(i) / 4, i%3 == 0,
				fmt.Sprintf("%d.0001", i), fmt.Sprint("name", i), []byte{byte(i), 0}, day.AddDate(0, 0, i),
				time.Duration(i) * time.Second, at.Add(time.Duration(i) * time.Microsecond)}, r[2:], "row %d", i)
		}
		b.Release()
	}
}
