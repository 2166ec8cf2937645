package reduce_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/reduce/reducetest"
	"github.com/strata-data/strata/shuffle"
)

// sortSchema has a column of every sortable type, nullable, and a row id.
var sortSchema = change.MustSchema([]arrow.Field{
	change.NotNull("id", arrow.PrimitiveTypes.Int64),
	change.Col("i8", arrow.PrimitiveTypes.Int8),
	change.Col("i16", arrow.PrimitiveTypes.Int16),
	change.Col("i32", arrow.PrimitiveTypes.Int32),
	change.Col("i64", arrow.PrimitiveTypes.Int64),
	change.Col("u8", arrow.PrimitiveTypes.Uint8),
	change.Col("u64", arrow.PrimitiveTypes.Uint64),
	change.Col("f32", arrow.PrimitiveTypes.Float32),
	change.Col("f64", arrow.PrimitiveTypes.Float64),
	change.Col("dec", &arrow.Decimal128Type{Precision: 38, Scale: 2}),
	change.Col("s", arrow.BinaryTypes.String),
	change.Col("bin", arrow.BinaryTypes.Binary),
	change.Col("day", arrow.FixedWidthTypes.Date32),
	change.Col("ts", &arrow.TimestampType{Unit: arrow.Microsecond}),
	change.Col("t64", arrow.FixedWidthTypes.Time64ns),
	change.Col("b", arrow.FixedWidthTypes.Boolean),
})

// sortRow is a generated row and its op.
type sortRow struct {
	op  change.Op
	row change.Row
}

var (
	floats  = []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1.5, -1.5, 2, 1e300, -1e-300}
	strs    = []string{"", "a", "ab", "abcdefgh", "abcdefgh1", "abcdefgh2", "abcdefgi", "b", "\x00", "\x00\x00", "zz"}
	bigDecs = []decimal128.Num{decimal128.FromI64(0), decimal128.FromI64(-1), decimal128.FromI64(150),
		decimal128.New(1, 0), decimal128.New(1, 5), decimal128.New(-1, 0), decimal128.New(-2, 7), decimal128.GetMaxValue(38)}
)

// genSortRows makes n rows with few distinct values per column (many ties) and NULLs.
func genSortRows(seed uint64, n int) []sortRow {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]sortRow, n)
	for i := range out {
		row := make(change.Row, sortSchema.NumFields())
		row[0] = change.Int(int64(i))
		for c := 1; c < len(row); c++ {
			if rng.IntN(6) == 0 {
				continue // NULL
			}
			switch sortSchema.Field(c).Name {
			case "i8":
				row[c] = change.Int(int64(rng.IntN(7) - 3))
			case "i16", "i32", "day":
				row[c] = change.Int(int64(rng.IntN(9)-4) * 1000)
			case "i64", "ts", "t64":
				row[c] = change.Int([]int64{math.MinInt64, -1 << 40, -5, 0, 5, 1 << 40, math.MaxInt64}[rng.IntN(7)])
			case "u8":
				row[c] = change.Int(int64(rng.IntN(4) * 80))
			case "u64":
				row[c] = change.Int([]int64{0, 1, 1 << 62, -1 /* 2^64-1 */, math.MinInt64 /* 2^63 */}[rng.IntN(5)])
			case "f32":
				row[c] = change.Float(float64(float32(floats[rng.IntN(len(floats))])))
			case "f64":
				row[c] = change.Float(floats[rng.IntN(len(floats))])
			case "dec":
				row[c] = change.Decimal(bigDecs[rng.IntN(len(bigDecs))])
			case "s":
				row[c] = change.Str(strs[rng.IntN(len(strs))])
			case "bin":
				row[c] = change.Bytes([]byte(strs[rng.IntN(len(strs))] + "\xff"[:rng.IntN(2)]))
			case "b":
				row[c] = change.Bool(rng.IntN(2) == 0)
			}
		}
		out[i] = sortRow{op: change.Op(rng.IntN(4)), row: row}
	}
	return out
}

func sortInput(rows []sortRow) reducetest.Input {
	return reducetest.Generate(sortSchema, len(rows), func(i int, row change.Row) change.Op {
		copy(row, rows[i].row)
		return rows[i].op
	})
}

// refCompare is the reference order of two non-NULL values of column type t.
func refCompare(t arrow.DataType, a, b change.Value) int {
	switch t.ID() {
	case arrow.UINT64:
		return cmp.Compare(uint64(a.AsInt()), uint64(b.AsInt()))
	case arrow.FLOAT32, arrow.FLOAT64:
		x, y := a.AsFloat(), b.AsFloat()
		if math.IsNaN(x) || math.IsNaN(y) {
			return cmp.Compare(b2i(math.IsNaN(x)), b2i(math.IsNaN(y))) // NaN last
		}
		return cmp.Compare(x, y) // -0 == 0
	case arrow.DECIMAL128:
		return a.AsDecimal().Cmp(b.AsDecimal())
	case arrow.STRING, arrow.BINARY:
		return strings.Compare(a.AsString(), b.AsString())
	case arrow.BOOL:
		return cmp.Compare(b2i(a.AsBool()), b2i(b.AsBool()))
	}
	return cmp.Compare(a.AsInt(), b.AsInt())
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// refSort sorts rows stably by keys, as SQL's ORDER BY.
func refSort(rows []sortRow, keys []reduce.SortKey) []sortRow {
	out := append([]sortRow(nil), rows...)
	sort.SliceStable(out, func(i, j int) bool {
		for _, k := range keys {
			c := sortSchema.FieldIndex(k.Column)
			a, b := out[i].row[c], out[j].row[c]
			var r int
			switch {
			case a.IsNull() && b.IsNull():
			case a.IsNull():
				r = 1
				if k.NullsFirst {
					r = -1
				}
			case b.IsNull():
				r = -1
				if k.NullsFirst {
					r = 1
				}
			default:
				r = refCompare(sortSchema.Field(c).Type, a, b)
				if k.Desc {
					r = -r
				}
			}
			if r != 0 {
				return r < 0
			}
		}
		return false
	})
	return out
}

func wantRows(rows []sortRow) [][]any {
	out := make([][]any, len(rows))
	for i, r := range rows {
		w := make([]any, 1+len(r.row))
		w[0] = r.op
		for c, v := range r.row {
			w[1+c] = v
		}
		out[i] = w
	}
	return out
}

// allSortKeys is every column with every direction and NULL placement.
func allSortKeys() [][]reduce.SortKey {
	var out [][]reduce.SortKey
	for _, f := range sortSchema.Fields()[1:] {
		for _, desc := range []bool{false, true} {
			for _, nf := range []bool{false, true} {
				out = append(out, []reduce.SortKey{{Column: f.Name, Desc: desc, NullsFirst: nf}})
			}
		}
	}
	return out
}

// randomKeys returns n sort orders of 2 to 4 keys.
func randomKeys(seed uint64, n int) [][]reduce.SortKey {
	rng := rand.New(rand.NewPCG(seed, 2))
	var out [][]reduce.SortKey
	for range n {
		var ks []reduce.SortKey
		for _, c := range rng.Perm(sortSchema.NumFields() - 1)[:2+rng.IntN(3)] {
			ks = append(ks, reduce.SortKey{Column: sortSchema.Field(1 + c).Name, Desc: rng.IntN(2) == 0, NullsFirst: rng.IntN(2) == 0})
		}
		out = append(out, ks)
	}
	return out
}

func newSort(t testing.TB, cfg reduce.SortConfig) *reduce.Sort {
	t.Helper()
	if cfg.Schema == nil {
		cfg.Schema = sortSchema
	}
	s, err := reduce.NewSort(cfg)
	require.NoError(t, err)
	return s
}

func TestSortEqualsStableReferenceSort(t *testing.T) {
	rows := genSortRows(1, 1500)
	for _, keys := range append(allSortKeys(), randomKeys(3, 20)...) {
		t.Run(fmt.Sprint(keys), func(t *testing.T) {
			budget := reducetest.NewBudget(0)
			s := newSort(t, reduce.SortConfig{Keys: keys, Budget: budget, BatchRows: 700})
			res := reducetest.Run(t, s, reducetest.Options{Budget: budget, BatchRows: 256}, sortInput(rows))
			res.AssertOrdered(t, wantRows(refSort(rows, keys))...)
			assert.Equal(t, 3, res.Batches, "batches of 700 rows")
		})
	}
}

func TestSortSmallInputs(t *testing.T) {
	keys := []reduce.SortKey{{Column: "s", Desc: true}, {Column: "f64", NullsFirst: true}}
	for _, n := range []int{0, 1, 2, 5, 255, 256, 257} {
		rows := genSortRows(uint64(n), n)
		budget := reducetest.NewBudget(0)
		res := reducetest.Run(t, newSort(t, reduce.SortConfig{Keys: keys, Budget: budget}),
			reducetest.Options{Budget: budget, BatchRows: 3}, sortInput(rows))
		res.AssertOrdered(t, wantRows(refSort(rows, keys))...)
	}
}

func TestTopNEqualsFirstRowsOfTheSort(t *testing.T) {
	rows := genSortRows(7, 1000)
	for _, keys := range append(randomKeys(9, 6), allSortKeys()[36:40]...) {
		full := refSort(rows, keys)
		for _, n := range []int{1, 7, 100, 999, 1000, 5000} {
			t.Run(fmt.Sprint(keys, n), func(t *testing.T) {
				budget := reducetest.NewBudget(0)
				s := newSort(t, reduce.SortConfig{Keys: keys, Limit: n, Budget: budget, BatchRows: 16})
				res := reducetest.Run(t, s, reducetest.Options{Budget: budget, BatchRows: 50}, sortInput(rows))
				res.AssertOrdered(t, wantRows(full[:min(n, len(full))])...)
			})
		}
	}
}

func TestTopNHoldsOLimitRows(t *testing.T) {
	const n = 200_000
	in := reducetest.Generate(sortSchema, n, func(i int, row change.Row) change.Op {
		row[0] = change.Int(int64(i))
		row[4] = change.Int(int64((i * 7919) % n)) // i64: a permutation of 0..n-1
		row[10] = change.Str(strings.Repeat("x", 20))
		return change.Insert
	})
	budget := reducetest.NewBudget(0)
	s := newSort(t, reduce.SortConfig{Keys: []reduce.SortKey{{Column: "i64", Desc: true}}, Limit: 10, Budget: budget})
	res := reducetest.Run(t, s, reducetest.Options{Budget: budget, BatchRows: 1000}, in)
	require.Len(t, res.Rows, 10)
	for i, r := range res.Rows {
		assert.Equal(t, int64(n-1-i), r[5])
	}
	// Two input batches of 1000 rows at most (the kept rows and the batch read), not
	// the 200 000 rows.
	assert.Less(t, res.Peak, int64(200<<10))
}

func TestSortConfigErrorsNameTheColumn(t *testing.T) {
	_, err := reduce.NewSort(reduce.SortConfig{Schema: sortSchema, Keys: []reduce.SortKey{{Column: "nope"}}})
	require.ErrorIs(t, err, reduce.ErrSortConfig)
	assert.Contains(t, err.Error(), `"nope"`)
	_, err = reduce.NewSort(reduce.SortConfig{Schema: sortSchema})
	assert.ErrorContains(t, err, "no sort keys")
	_, err = reduce.NewSort(reduce.SortConfig{Keys: []reduce.SortKey{{Column: "id"}}})
	assert.ErrorContains(t, err, "Schema is required")
	_, err = reduce.NewSort(reduce.SortConfig{Schema: sortSchema, Keys: []reduce.SortKey{{Column: "id"}}, Limit: -1})
	assert.ErrorContains(t, err, "limit -1")
}

func TestSortRejectsOtherInputs(t *testing.T) {
	s := newSort(t, reduce.SortConfig{Keys: []reduce.SortKey{{Column: "id"}}})
	err := reducetest.RunError(t, s, reducetest.Options{})
	assert.ErrorContains(t, err, "takes 1 input, got 0")
	other := change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int64)})
	for _, limit := range []int{0, 3} {
		s := newSort(t, reduce.SortConfig{Keys: []reduce.SortKey{{Column: "id"}}, Limit: limit})
		err = reducetest.RunError(t, s, reducetest.Options{}, reducetest.Rows(other, []any{1}))
		assert.ErrorContains(t, err, "sort input batch has schema")
	}
}

func TestSortReleasesEverythingOnEmitFailure(t *testing.T) {
	rows := genSortRows(5, 1000)
	for _, limit := range []int{0, 500} {
		budget := reducetest.NewBudget(0)
		s := newSort(t, reduce.SortConfig{Keys: []reduce.SortKey{{Column: "i32"}}, Limit: limit, Budget: budget, BatchRows: 100})
		err := reducetest.RunError(t, s, reducetest.Options{Budget: budget, BatchRows: 64, FailEmitAfter: 2}, sortInput(rows))
		assert.ErrorIs(t, err, reducetest.ErrInjected)
	}
}

func TestSortedStreamNeedNotBeExhausted(t *testing.T) {
	rows := genSortRows(6, 500)
	budget := reducetest.NewBudget(0)
	s := newSort(t, reduce.SortConfig{Keys: []reduce.SortKey{{Column: "s"}}, Budget: budget, BatchRows: 10})
	ctx := context.Background()
	in := shuffle.NewSliceStream(buildBatches(t, budget, rows, 100)...)
	out, err := s.Sorted(ctx, in)
	require.NoError(t, err)
	b, err := out.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, 10, b.Len())
	b.Release()
	require.NoError(t, out.Close())
	require.NoError(t, in.Close())
	assert.Zero(t, budget.Allocated())
}

// buildBatches builds rows into batches of n rows, allocated from mem.
func buildBatches(t testing.TB, budget *change.Budget, rows []sortRow, n int) []*change.Batch {
	var out []*change.Batch
	b := change.NewBuilder(budget, sortSchema)
	defer b.Release()
	for i, r := range rows {
		require.NoError(t, b.Append(r.op, r.row))
		if (i+1)%n == 0 || i == len(rows)-1 {
			out = append(out, b.NewBatch())
		}
	}
	return out
}
