package reduce_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/reduce/reducetest"
	"github.com/strata-data/strata/shuffle"
)

func newAgg(t testing.TB, cfg reduce.AggregateConfig) *reduce.HashAggregate {
	t.Helper()
	if cfg.Schema == nil {
		cfg.Schema = aggSchema
	}
	a, err := reduce.NewHashAggregate(cfg)
	require.NoError(t, err)
	return a
}

func aggInput(rows []aggRow, ops []change.Op) reducetest.Input {
	return reducetest.Generate(aggSchema, len(rows), func(i int, row change.Row) change.Op {
		copy(row, rows[i])
		if ops == nil {
			return change.Insert
		}
		return ops[i]
	})
}

var groupings = [][]string{{"g1", "g2"}, {"g1"}, {"g2"}, nil}

// Every aggregate of every column type, grouped by nullable columns (NULL is a
// group), equals SQL's definition, NaN, infinities and extreme integers included.
func TestHashAggregateEqualsReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	rows := genAggRows(rng, 3000, 60, false)
	for _, gb := range groupings {
		for _, insertOnly := range []bool{true, false} {
			budget := reducetest.NewBudget(0)
			a := newAgg(t, reduce.AggregateConfig{GroupBy: gb, Aggs: allAggs(), InsertOnly: insertOnly, Budget: budget, BatchRows: 7})
			res := reducetest.Run(t, a, reducetest.Options{Budget: budget, BatchRows: 128}, aggInput(rows, nil))
			if !res.AssertMultiset(t, refAggregate(a.Schema(), gb, allAggs(), rows)...) {
				t.Fatalf("group by %v, insert-only %v", gb, insertOnly)
			}
		}
	}
}

// A -D undoes its +I and a -U/+U pair replaces a row: aggregating a changelog gives
// the aggregate of its net rows, min and max included when their value is deleted.
func TestHashAggregateRetractions(t *testing.T) {
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 2))
		rows := genAggRows(rng, 1500, 40, true)
		log, ops, net := changelog(rng, rows, 40, true)
		for _, gb := range groupings {
			budget := reducetest.NewBudget(0)
			a := newAgg(t, reduce.AggregateConfig{GroupBy: gb, Aggs: allAggs(), Budget: budget})
			res := reducetest.Run(t, a, reducetest.Options{Budget: budget, BatchRows: 100}, aggInput(log, ops))
			if !res.AssertMultiset(t, refAggregate(a.Schema(), gb, allAggs(), net)...) {
				t.Fatalf("seed %d, group by %v", seed, gb)
			}
		}
	}
}

// Deleting every row of a group removes the group; deleting the minimum brings back
// the next value.
func TestHashAggregateDeletesAllOfAGroupAndItsMinimum(t *testing.T) {
	s := change.MustSchema([]arrow.Field{change.Col("k", arrow.BinaryTypes.String), change.Col("v", arrow.PrimitiveTypes.Int64)})
	aggs := []reduce.Agg{{Func: reduce.CountStar}, {Func: reduce.Min, Column: "v"}, {Func: reduce.Max, Column: "v"},
		{Func: reduce.CountDistinct, Column: "v"}, {Func: reduce.Sum, Column: "v"}}
	a := newAgg(t, reduce.AggregateConfig{Schema: s, GroupBy: []string{"k"}, Aggs: aggs})
	res := reducetest.Run(t, a, reducetest.Options{BatchRows: 2}, reducetest.Rows(s,
		[]any{"a", 5}, []any{"a", 3}, []any{"a", 3}, []any{"a", 9}, []any{"b", 1},
		[]any{change.Delete, "a", 3}, []any{change.Delete, "b", 1}, []any{change.Delete, "a", 9},
		[]any{change.Delete, "a", 3}, []any{"c", nil}))
	res.AssertMultiset(t, []any{"a", 1, 5, 5, 1, "5"}, []any{"c", 1, nil, nil, 0, nil})
}

func TestHashAggregateInsertOnlyRejectsRetractions(t *testing.T) {
	s := change.MustSchema([]arrow.Field{change.Col("k", arrow.PrimitiveTypes.Int64)})
	a := newAgg(t, reduce.AggregateConfig{Schema: s, GroupBy: []string{"k"}, Aggs: []reduce.Agg{{Func: reduce.CountStar}}, InsertOnly: true})
	err := reducetest.RunError(t, a, reducetest.Options{}, reducetest.Rows(s, []any{1}, []any{change.Delete, 1}))
	assert.ErrorContains(t, err, "InsertOnly, but an input row is -D")
}

func TestHashAggregateOfNoRows(t *testing.T) {
	aggs := []reduce.Agg{{Func: reduce.CountStar}, {Func: reduce.Count, Column: "i64"}, {Func: reduce.Sum, Column: "i32"},
		{Func: reduce.Avg, Column: "f64"}, {Func: reduce.Min, Column: "s"}, {Func: reduce.CountDistinct, Column: "s"}}
	global := newAgg(t, reduce.AggregateConfig{Aggs: aggs})
	res := reducetest.Run(t, global, reducetest.Options{}, aggInput(nil, nil))
	res.AssertOrdered(t, []any{0, 0, nil, nil, nil, 0})
	grouped := newAgg(t, reduce.AggregateConfig{GroupBy: []string{"g1"}, Aggs: aggs})
	res = reducetest.Run(t, grouped, reducetest.Options{}, aggInput(nil, nil))
	assert.Empty(t, res.Rows)
}

func TestHashAggregateOutputTypes(t *testing.T) {
	a := newAgg(t, reduce.AggregateConfig{GroupBy: []string{"g2"}, Aggs: []reduce.Agg{
		{Func: reduce.CountStar}, {Func: reduce.Sum, Column: "i32"}, {Func: reduce.Sum, Column: "i64", As: "total"},
		{Func: reduce.Avg, Column: "i8"}, {Func: reduce.Sum, Column: "dec"}, {Func: reduce.Avg, Column: "dec"},
		{Func: reduce.Sum, Column: "f32"}, {Func: reduce.Min, Column: "day"}, {Func: reduce.CountDistinct, Column: "s"},
	}})
	var got []string
	for _, f := range a.Schema().Fields() {
		null := ""
		if !f.Nullable {
			null = " not null"
		}
		got = append(got, f.Name+" "+f.Type.String()+null)
	}
	assert.Equal(t, []string{"g2 utf8", "count int64 not null", "sum_i32 int64", "total decimal(38, 0)", "avg_i8 decimal(38, 16)",
		"sum_dec decimal(38, 2)", "avg_dec decimal(38, 16)", "sum_f32 float64", "min_day date32", "count_distinct_s int64 not null"}, got)
}

func TestHashAggregateSumOverflowNamesTheColumn(t *testing.T) {
	s := change.MustSchema([]arrow.Field{change.Col("v", arrow.PrimitiveTypes.Int32)})
	a := newAgg(t, reduce.AggregateConfig{Schema: s, Aggs: []reduce.Agg{{Func: reduce.Sum, Column: "v"}}})
	in := reducetest.Generate(s, 5, func(i int, row change.Row) change.Op { row[0] = change.Int(1<<31 - 1); return change.Insert })
	res := reducetest.Run(t, a, reducetest.Options{}, in)
	res.AssertOrdered(t, []any{5 * (1<<31 - 1)}) // int32 sums are int64: no overflow
	dec := change.MustSchema([]arrow.Field{change.Col("v", &arrow.Decimal128Type{Precision: 38, Scale: 0})})
	a = newAgg(t, reduce.AggregateConfig{Schema: dec, Aggs: []reduce.Agg{{Func: reduce.Sum, Column: "v"}}})
	big := reducetest.Generate(dec, 20, func(i int, row change.Row) change.Op {
		row[0] = change.Value{}
		v, _ := change.ValueOf("99999999999999999999999999999999999999", dec.Field(0).Type)
		row[0] = v
		return change.Insert
	})
	err := reducetest.RunError(t, a, reducetest.Options{}, big)
	assert.ErrorContains(t, err, "sum(v)")
}

func TestHashAggregateConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  reduce.AggregateConfig
		want string
	}{
		{reduce.AggregateConfig{Aggs: []reduce.Agg{{Func: reduce.Sum, Column: "s"}}}, `sum of column "s": a column of type utf8 has no sum`},
		{reduce.AggregateConfig{Aggs: []reduce.Agg{{Func: reduce.Avg, Column: "nope"}}}, `avg of column "nope": not a column`},
		{reduce.AggregateConfig{GroupBy: []string{"nope"}}, `group-by column "nope" is not a column`},
		{reduce.AggregateConfig{GroupBy: []string{"g1", "g1"}}, `"g1" is named twice`},
		{reduce.AggregateConfig{Aggs: []reduce.Agg{{Func: reduce.CountStar, Column: "s"}}}, `count(*) takes no column`},
		{reduce.AggregateConfig{Aggs: []reduce.Agg{{Func: reduce.CountStar}, {Func: reduce.Count, Column: "s", As: "count"}}}, `two output columns are named "count"`},
		{reduce.AggregateConfig{}, "no group-by columns and no aggregates"},
		{reduce.AggregateConfig{Aggs: []reduce.Agg{{Func: 99}}}, "aggregate function 99"},
	} {
		tc.cfg.Schema = aggSchema
		_, err := reduce.NewHashAggregate(tc.cfg)
		require.ErrorIs(t, err, reduce.ErrAggregateConfig)
		assert.ErrorContains(t, err, tc.want)
	}
	a := newAgg(t, reduce.AggregateConfig{Aggs: []reduce.Agg{{Func: reduce.CountStar}}})
	assert.ErrorContains(t, reducetest.RunError(t, a, reducetest.Options{}), "takes 1 input, got 0")
	err := reducetest.RunError(t, a, reducetest.Options{}, reducetest.Rows(kvSchema, []any{1, "a"}))
	assert.ErrorContains(t, err, "aggregate input batch has schema")
}

var kvSchema = change.MustSchema([]arrow.Field{change.NotNull("k", arrow.PrimitiveTypes.Int64), change.Col("v", arrow.BinaryTypes.String)})

// combined runs a's combiner over each of several inputs (map tasks), then a over
// their partial rows.
type combined struct {
	a     *reduce.HashAggregate
	tasks int
}

func (c combined) Reduce(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
	// Split the input round-robin by batch into tasks, each combined on its own.
	var parts [][]*change.Batch
	parts = make([][]*change.Batch, c.tasks)
	for i := 0; ; i++ {
		b, err := in[0].Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		parts[i%c.tasks] = append(parts[i%c.tasks], b)
	}
	var partials []*change.Batch
	for _, p := range parts {
		err := c.a.Combiner().Combine(ctx, shuffle.NewSliceStream(p...), func(b *change.Batch) error {
			partials = append(partials, b)
			return nil
		})
		if err != nil {
			for _, b := range partials {
				b.Release()
			}
			return err
		}
	}
	return c.a.Reduce(ctx, []shuffle.Stream{shuffle.NewSliceStream(partials...)}, emit)
}

// spillAggs is a few aggregates of each kind of state.
var spillAggs = []reduce.Agg{{Func: reduce.CountStar}, {Func: reduce.Sum, Column: "i64"}, {Func: reduce.Avg, Column: "f64"},
	{Func: reduce.Sum, Column: "dec"}, {Func: reduce.Min, Column: "s"}, {Func: reduce.Max, Column: "dec"},
	{Func: reduce.CountDistinct, Column: "i8"}, {Func: reduce.Max, Column: "ts"}, {Func: reduce.Count, Column: "bin"}}

// Partial states from combiners (several map tasks, some over their budget, which
// emit partials more than once) merge into what the reducer alone computes.
func TestCombinerThenReducerEqualsReducer(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	rows := genAggRows(rng, 6000, 3000, true)
	log, ops, net := changelog(rng, rows, 3000, true)
	for _, gb := range groupings[:3] {
		for _, insertOnly := range []bool{true, false} {
			in, want := aggInput(rows, nil), rows
			if !insertOnly {
				in, want = aggInput(log, ops), net
			}
			for _, limit := range []int64{0, 3 << 20} {
				budget := reducetest.NewBudget(limit)
				a := newAgg(t, reduce.AggregateConfig{GroupBy: gb, Aggs: spillAggs, InsertOnly: insertOnly, Budget: budget, BatchRows: 500})
				res := reducetest.Run(t, combined{a: a, tasks: 3}, reducetest.Options{Budget: budget, BatchRows: 200}, in)
				if !res.AssertMultiset(t, refAggregate(a.Schema(), gb, spillAggs, want)...) {
					t.Fatalf("group by %v, insert-only %v, limit %d", gb, insertOnly, limit)
				}
			}
		}
	}
}

// Forced spilling: far more groups than the budget holds. The groups spill into
// partitions, recursively, and the result is the same; nothing is left on disk.
func TestHashAggregateSpills(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	rows := genAggRows(rng, 30000, 20000, true)
	log, ops, net := changelog(rng, rows, 20000, true)
	aggs := spillAggs
	for _, insertOnly := range []bool{true, false} {
		t.Run(map[bool]string{true: "insert-only", false: "changes"}[insertOnly], func(t *testing.T) {
			in, want := aggInput(rows, nil), rows
			if !insertOnly {
				in, want = aggInput(log, ops), net
			}
			dir := t.TempDir()
			budget := reducetest.NewBudget(4 << 20)
			a := newAgg(t, reduce.AggregateConfig{GroupBy: []string{"g1", "g2"}, Aggs: aggs, InsertOnly: insertOnly,
				Budget: budget, SpillDir: dir, SpillCodec: shuffle.Zstd})
			reduce.SetSpillFanOut(a, 2)
			res := reducetest.Run(t, a, reducetest.Options{Budget: budget, BatchRows: 256}, in)
			res.AssertMultiset(t, refAggregate(a.Schema(), []string{"g1", "g2"}, aggs, want)...)
			t.Logf("%+v", a.Stats())
			assert.Greater(t, a.Stats().Levels, int64(1), "partitions spilled again")
			assertEmptyDir(t, dir)
		})
	}
}

func TestHashAggregateCleansUpOnEmitFailure(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	rows := genAggRows(rng, 20000, 10000, true)
	for _, after := range []int{1, 4} {
		dir := t.TempDir()
		budget := reducetest.NewBudget(2 << 20)
		a := newAgg(t, reduce.AggregateConfig{GroupBy: []string{"g1", "g2"}, Aggs: spillAggs, Budget: budget, SpillDir: dir, BatchRows: 100})
		err := reducetest.RunError(t, a, reducetest.Options{Budget: budget, BatchRows: 256, FailEmitAfter: after}, aggInput(rows, nil))
		assert.ErrorIs(t, err, reducetest.ErrInjected)
		assertEmptyDir(t, dir)
	}
}

// AggChanges: after each batch, the changes of the groups it touched. The output's net
// effect is the final aggregate.
func TestHashAggregateChanges(t *testing.T) {
	s := change.MustSchema([]arrow.Field{change.Col("k", arrow.BinaryTypes.String), change.Col("v", arrow.PrimitiveTypes.Int64)})
	aggs := []reduce.Agg{{Func: reduce.CountStar}, {Func: reduce.Sum, Column: "v"}, {Func: reduce.Max, Column: "v"}}
	a := newAgg(t, reduce.AggregateConfig{Schema: s, GroupBy: []string{"k"}, Aggs: aggs, Mode: reduce.AggChanges})
	res := reducetest.Run(t, a, reducetest.Options{BatchRows: 2}, reducetest.Rows(s,
		[]any{"a", 5}, []any{"b", 1}, // batch 1: two new groups
		[]any{"a", 7}, []any{"a", 1}, // batch 2: a changes
		[]any{change.Delete, "b", 1}, []any{change.Delete, "a", 7}, // batch 3: b goes, a's max goes back
	))
	res.AssertOrdered(t,
		[]any{change.Insert, "a", 1, "5", 5},
		[]any{change.Insert, "b", 1, "1", 1},
		[]any{change.UpdateBefore, "a", 1, "5", 5},
		[]any{change.UpdateAfter, "a", 3, "13", 7},
		[]any{change.Delete, "b", 1, "1", 1},
		[]any{change.UpdateBefore, "a", 3, "13", 7},
		[]any{change.UpdateAfter, "a", 2, "6", 5},
	)

	rng := rand.New(rand.NewPCG(9, 9))
	rows := genAggRows(rng, 2000, 50, true)
	log, ops, net := changelog(rng, rows, 50, true)
	for _, gb := range groupings {
		a := newAgg(t, reduce.AggregateConfig{GroupBy: gb, Aggs: allAggs(), Mode: reduce.AggChanges})
		res := reducetest.Run(t, a, reducetest.Options{BatchRows: 64}, aggInput(log, ops))
		final := newAgg(t, reduce.AggregateConfig{GroupBy: gb, Aggs: allAggs()})
		want := reducetest.Run(t, final, reducetest.Options{}, aggInput(net, nil))
		var wantRows [][]any
		for _, r := range want.Rows {
			if r[1+len(gb)] != int64(0) || gb != nil {
				wantRows = append(wantRows, r)
			}
		}
		res.AssertNet(t, wantRows...)
	}
}

// Retracting an infinity or a NaN restores the sum of what remains.
func TestHashAggregateFloatSumRetractsNonFiniteValues(t *testing.T) {
	s := change.MustSchema([]arrow.Field{change.Col("k", arrow.PrimitiveTypes.Int64), change.Col("v", arrow.PrimitiveTypes.Float64)})
	a := newAgg(t, reduce.AggregateConfig{Schema: s, GroupBy: []string{"k"}, Aggs: []reduce.Agg{{Func: reduce.Sum, Column: "v"}, {Func: reduce.Avg, Column: "v"}}})
	inf, nan := math.Inf(1), math.NaN()
	res := reducetest.Run(t, a, reducetest.Options{BatchRows: 2}, reducetest.Rows(s,
		[]any{1, inf}, []any{1, 1.5}, []any{1, nan}, []any{change.Delete, 1, inf}, []any{change.Delete, 1, nan},
		[]any{2, inf}, []any{2, math.Inf(-1)}, []any{2, 2.0},
		[]any{3, inf}, []any{3, 4.0}, []any{change.Delete, 3, 4.0},
	))
	res.AssertMultiset(t, []any{1, 1.5, 1.5}, []any{2, nan, nan}, []any{3, inf, inf})
}

// Strings replacing one another as a group's max leave garbage that is compacted.
func TestHashAggregateInsertOnlyStringMinMax(t *testing.T) {
	s := change.MustSchema([]arrow.Field{change.Col("k", arrow.PrimitiveTypes.Int64), change.Col("v", arrow.BinaryTypes.String)})
	a := newAgg(t, reduce.AggregateConfig{Schema: s, GroupBy: []string{"k"}, InsertOnly: true,
		Aggs: []reduce.Agg{{Func: reduce.Max, Column: "v"}, {Func: reduce.Min, Column: "v"}}})
	in := reducetest.Generate(s, 4000, func(i int, row change.Row) change.Op {
		row[0] = change.Int(int64(i % 3))
		row[1] = change.Str(fmt.Sprintf("%08d-%s", i, strings.Repeat("x", i%50)))
		return change.Insert
	})
	res := reducetest.Run(t, a, reducetest.Options{BatchRows: 64}, in)
	last := func(k int) string {
		i := 3999 - (3999-k)%3
		return fmt.Sprintf("%08d-%s", i, strings.Repeat("x", i%50))
	}
	res.AssertMultiset(t, []any{0, last(0), "00000000-"}, []any{1, last(1), "00000001-x"}, []any{2, last(2), "00000002-xx"})
}

// A partial row can carry a sum no input row could reach quickly: its output names the
// aggregate that overflows.
func TestHashAggregateOutputOverflowFromPartialRows(t *testing.T) {
	s := change.MustSchema([]arrow.Field{change.Col("v", arrow.PrimitiveTypes.Int32)})
	a := newAgg(t, reduce.AggregateConfig{Schema: s, Aggs: []reduce.Agg{{Func: reduce.Sum, Column: "v"}}})
	huge, _ := change.ValueOf("1180591620717411303424", a.PartialSchema().Field(2).Type) // 2^70
	partial := reducetest.Rows(a.PartialSchema(), []any{3, 2, huge})
	err := reducetest.RunError(t, a, reducetest.Options{}, partial)
	assert.ErrorContains(t, err, "sum(v) = 1180591620717411303424 overflows int64")
	res := reducetest.Run(t, a, reducetest.Options{}, reducetest.Rows(a.PartialSchema(), []any{3, 2, "40"}))
	res.AssertOrdered(t, []any{40})
}

// One group whose distinct values alone exceed the budget cannot be split by group:
// the error says so and names the column.
func TestHashAggregateOneGroupTooBig(t *testing.T) {
	s := change.MustSchema([]arrow.Field{change.Col("v", arrow.PrimitiveTypes.Int64)})
	dir := t.TempDir()
	budget := reducetest.NewBudget(3 << 20)
	a := newAgg(t, reduce.AggregateConfig{Schema: s, Aggs: []reduce.Agg{{Func: reduce.CountDistinct, Column: "v"}}, Budget: budget, SpillDir: dir})
	in := reducetest.Generate(s, 200_000, func(i int, row change.Row) change.Op { row[0] = change.Int(int64(i)); return change.Insert })
	err := reducetest.RunError(t, a, reducetest.Options{Budget: budget, BatchRows: 4096}, in)
	require.ErrorIs(t, err, reduce.ErrAggregateOverBudget)
	assert.ErrorContains(t, err, `the state of one group (its distinct values of column "v")`)
	assertEmptyDir(t, dir)

	changes := newAgg(t, reduce.AggregateConfig{Schema: s, GroupBy: []string{"v"}, Aggs: []reduce.Agg{{Func: reduce.CountStar}},
		Budget: budget, Mode: reduce.AggChanges})
	err = reducetest.RunError(t, changes, reducetest.Options{Budget: budget, BatchRows: 4096}, in)
	require.ErrorIs(t, err, reduce.ErrAggregateOverBudget)
	assert.ErrorContains(t, err, "an AggChanges aggregate holds every group")
}
