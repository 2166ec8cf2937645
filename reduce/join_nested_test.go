package reduce_test

import (
	"context"
	"fmt"
	"math/rand/v2"
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
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/reduce/reducetest"
	"github.com/strata-data/strata/shuffle"
)

var nestedJoins = []reduce.JoinType{reduce.InnerJoin, reduce.LeftJoin, reduce.SemiJoin, reduce.AntiJoin}

// withRightReopened runs a NestedLoopJoin's Join with in[0] as the left input and
// right, re-read from its rows for every chunk, as the right; it counts the chunks.
type withRightReopened struct {
	j         *reduce.NestedLoopJoin
	right     reducetest.Input
	budget    *change.Budget
	batchRows int
	opens     int
}

func (w *withRightReopened) Reduce(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
	return w.j.Join(ctx, in[0], func(context.Context) (shuffle.Stream, error) {
		w.opens++
		return w.right.Stream(w.budget, w.batchRows), nil
	}, emit)
}

// A predicate and its reference over plain rows: it reads ids (column idCol) and
// payloads (idCol+1) of both sides.
type predCase struct {
	name string
	pred func(lid, rid int) reduce.Predicate
	ref  func(lid, rid int) func(l, r []any) bool
}

var predCases = []predCase{
	{"none", nil, nil},
	{"ids", func(lid, rid int) reduce.Predicate {
		return func(l, r reduce.RowView) bool { return (l.Int(lid)*31+r.Int(rid))%3 != 0 }
	}, func(lid, rid int) func(l, r []any) bool {
		return func(l, r []any) bool { return (l[lid].(int64)*31+r[rid].(int64))%3 != 0 }
	}},
	{"payload<", func(lid, rid int) reduce.Predicate {
		return func(l, r reduce.RowView) bool {
			return !l.IsNull(lid+1) && !r.IsNull(rid+1) && l.Str(lid+1) < r.Str(rid+1)
		}
	}, func(lid, rid int) func(l, r []any) bool {
		return func(l, r []any) bool {
			return l[lid+1] != nil && r[rid+1] != nil && l[lid+1].(string) < r[rid+1].(string)
		}
	}},
}

// The property test of the nested-loop join: every join type it takes, with and
// without keys (of every type), with and without a predicate, chunks small enough
// that the left side takes several, equals the reference.
func TestNestedLoopJoinMatchesReference(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 13))
		for _, typ := range nestedJoins {
			c := randomCase(rng, typ)
			lk, rk, li, ri := c.keys()
			if rng.IntN(3) == 0 {
				lk, rk, li, ri = nil, nil, nil, nil
			}
			pc := predCases[rng.IntN(len(predCases))]
			lid, rid := len(c.pairs), len(c.pairs)
			cfg := reduce.NestedLoopJoinConfig{
				Type: typ, Left: c.left, Right: c.right, LeftKeys: lk, RightKeys: rk,
				ChunkBytes: int64(1+rng.IntN(8)) << 10, BatchRows: c.outRows,
			}
			var ref func(l, r []any) bool
			if pc.pred != nil {
				cfg.Predicate, ref = pc.pred(lid, rid), pc.ref(lid, rid)
			}
			budget := reducetest.NewBudget(0)
			cfg.Budget = budget
			j, err := reduce.NewNestedLoopJoin(cfg)
			require.NoError(t, err)
			w := &withRightReopened{j: j, right: reducetest.Rows(c.right, c.rrows...), budget: budget, batchRows: c.batchRows}
			res := reducetest.Run(t, w, reducetest.Options{Budget: budget, BatchRows: c.batchRows}, reducetest.Rows(c.left, c.lrows...))
			want := refJoin(typ, c.lrows, c.rrows, li, ri, ref, defaultCols(typ, c.left, c.right))
			if !res.AssertMultiset(t, want...) {
				t.Fatalf("seed %d: %s, keys %v, predicate %s, %d chunks", seed, c, lk, pc.name, w.opens)
			}
		}
	}
}

// Change streams: the net effect of the output is the join of the net effects.
func TestNestedLoopJoinOfChanges(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 17))
		for _, typ := range nestedJoins {
			c := randomCase(rng, typ)
			var lg, rg []keyGen
			for _, p := range c.pairs {
				lg, rg = append(lg, p.l), append(rg, p.r)
			}
			llog, lnet := genChanges(rng, c.lrows, lg, 3)
			rlog, rnet := genChanges(rng, c.rrows, rg, 3)
			llog, lnet, rlog, rnet = canon(c.left, llog), canon(c.left, lnet), canon(c.right, rlog), canon(c.right, rnet)
			lk, rk, li, ri := c.keys()
			pc := predCases[1+rng.IntN(2)]
			lid, rid := len(c.pairs), len(c.pairs)
			budget := reducetest.NewBudget(0)
			j, err := reduce.NewNestedLoopJoin(reduce.NestedLoopJoinConfig{
				Type: typ, Left: c.left, Right: c.right, LeftKeys: lk, RightKeys: rk, Predicate: pc.pred(lid, rid),
				Budget: budget, ChunkBytes: 2 << 10,
			})
			require.NoError(t, err)
			w := &withRightReopened{j: j, right: reducetest.Rows(c.right, rlog...), budget: budget, batchRows: c.batchRows}
			res := reducetest.Run(t, w, reducetest.Options{Budget: budget, BatchRows: c.batchRows}, reducetest.Rows(c.left, llog...))
			want := refJoin(typ, lnet, rnet, li, ri, pc.ref(lid, rid), defaultCols(typ, c.left, c.right))
			if !res.AssertNet(t, want...) {
				t.Fatalf("seed %d: %s, predicate %s", seed, c, pc.name)
			}
		}
	}
}

// bands are price bands; a non-equi join puts each order in its band.
var (
	bands = change.MustSchema([]arrow.Field{
		change.NotNull("band", arrow.BinaryTypes.String),
		change.NotNull("lo", &arrow.Decimal128Type{Precision: 10, Scale: 2}),
		change.NotNull("hi", &arrow.Decimal128Type{Precision: 10, Scale: 2}),
	})
	priced = change.MustSchema([]arrow.Field{
		change.NotNull("order", arrow.PrimitiveTypes.Int64),
		change.Col("price", &arrow.Decimal128Type{Precision: 10, Scale: 2}),
	})
)

func TestNestedLoopJoinOnARange(t *testing.T) {
	inBand := func(l, r reduce.RowView) bool { // lo <= price < hi
		if r.IsNull(1) {
			return false
		}
		p := r.Decimal(1)
		return l.Decimal(1).LessEqual(p) && p.Less(l.Decimal(2))
	}
	j, err := reduce.NewNestedLoopJoin(reduce.NestedLoopJoinConfig{
		Type: reduce.LeftJoin, Left: bands, Right: priced, Predicate: inBand,
		Output: []reduce.Column{{Side: reduce.LeftSide, Name: "band"}, {Side: reduce.RightSide, Name: "order"}},
	})
	require.NoError(t, err)
	res := reducetest.Run(t, j, reducetest.Options{BatchRows: 2},
		reducetest.Rows(bands, []any{"low", "0", "10"}, []any{"mid", "10", "100"}, []any{"high", "100", "1000"}, []any{"huge", "1000", "99999"}),
		reducetest.Rows(priced, []any{1, "9.99"}, []any{2, "10.00"}, []any{3, "250"}, []any{4, nil}, []any{5, "-1"}, []any{6, "99.99"}))
	res.AssertMultiset(t,
		[]any{"low", 1}, []any{"mid", 2}, []any{"mid", 6}, []any{"high", 3}, []any{"huge", nil})
	assert.Equal(t, "band utf8 not null, order int64", j.Schema().String())
}

func TestNestedLoopJoinCrossJoin(t *testing.T) {
	j, err := reduce.NewNestedLoopJoin(reduce.NestedLoopJoinConfig{Left: customers, Right: orders, ChunkBytes: 1})
	require.NoError(t, err)
	w := &withRightReopened{j: j, right: ordersIn(), budget: reducetest.NewBudget(0), batchRows: 2}
	res := reducetest.Run(t, w, reducetest.Options{Budget: w.budget, BatchRows: 1}, customersIn())
	assert.Len(t, res.Rows, 4*5)
	assert.Equal(t, 4, w.opens, "a chunk per left batch: ChunkBytes is smaller than one")
}

// The bounded-memory property of the nested-loop join: the chunk takes what the budget
// leaves, the right side is read once per chunk, and the peak stays within the budget
// plus a batch of each input, an output batch and the probe's scratch.
func TestNestedLoopJoinChunksWithinTheBudget(t *testing.T) {
	const n = 20_000
	left := reducetest.Generate(orders, n, func(i int, row change.Row) change.Op {
		row[0], row[1], row[2] = change.Int(int64(i)), change.Int(int64(i%1000)), change.Str(strings.Repeat("x", i%20))
		return change.Insert
	})
	right := reducetest.Generate(customers, 2000, func(i int, row change.Row) change.Op {
		row[0], row[1] = change.Int(int64(i)), change.Str(fmt.Sprint("c", i))
		return change.Insert
	})
	run := func(limit int64, batchRows int) (*reducetest.Result, int) {
		budget := reducetest.NewBudget(limit)
		j, err := reduce.NewNestedLoopJoin(reduce.NestedLoopJoinConfig{
			Type: reduce.LeftJoin, Left: orders, Right: customers, LeftKeys: []string{"customer"}, RightKeys: []string{"id"},
			Budget: budget, BatchRows: batchRows,
		})
		require.NoError(t, err)
		w := &withRightReopened{j: j, right: right, budget: budget, batchRows: batchRows}
		return reducetest.Run(t, w, reducetest.Options{Budget: budget, BatchRows: batchRows}, left), w.opens
	}
	whole, chunks := run(0, 1000)
	assert.Equal(t, 1, chunks)
	require.Len(t, whole.Rows, n)

	const limit = 128 << 10
	small, chunks := run(limit, 256)
	small.AssertSame(t, whole)
	assert.Greater(t, chunks, 5, "the left side took several chunks")
	// One batch of 256 rows of either input is at most ~8 KiB, an output batch of 256
	// rows ~12 KiB, the probe's key scratch ~6 KiB.
	const slack = 40 << 10
	assert.LessOrEqual(t, small.Peak, int64(limit+slack))
	t.Logf("peak %d bytes of a %d budget, %d chunks, inputs %d rows", small.Peak, limit, chunks, n)
}

// Reduce gets the right input as a stream, read once: when the left takes more than
// one chunk, the first chunk's pass spills the right input for the others.
func TestNestedLoopJoinReduceSpillsTheRightSide(t *testing.T) {
	dir := t.TempDir()
	for _, chunk := range []int64{0, 1} {
		for _, typ := range nestedJoins {
			budget := reducetest.NewBudget(0)
			j, err := reduce.NewNestedLoopJoin(reduce.NestedLoopJoinConfig{
				Type: typ, Left: customers, Right: orders, LeftKeys: []string{"id"}, RightKeys: []string{"customer"},
				Budget: budget, ChunkBytes: chunk, SpillDir: dir,
			})
			require.NoError(t, err)
			var log []string
			res := reducetest.Run(t, logJoin{j, &log}, reducetest.Options{Budget: budget, BatchRows: 2}, customersIn(), ordersIn())
			c := joinCase{typ: typ, left: customers, right: orders}
			want := refJoin(typ, canon(customers, rowsOf(customersIn())), canon(orders, rowsOf(ordersIn())), []int{0}, []int{1}, nil, defaultCols(typ, customers, orders))
			res.AssertMultiset(t, want...)
			reads := strings.Count(strings.Join(log, " "), "R")
			assert.Equal(t, 4, reads, "%s: the right stream is read once (3 batches and its end)", c.typ)
			assertNoSpills(t, dir)
		}
	}
	j, err := reduce.NewNestedLoopJoin(reduce.NestedLoopJoinConfig{Left: customers, Right: orders})
	require.NoError(t, err)
	assert.ErrorContains(t, reducetest.RunError(t, j, reducetest.Options{}, customersIn()), "2 inputs, got 1")
	err = reducetest.RunError(t, j, reducetest.Options{}, customersIn(), customersIn())
	assert.ErrorContains(t, err, "right input batch has 2 columns")

	// Spilling: a right input whose batches carry another schema object with the same
	// columns (here: with a primary key) is spilled as the configured schema; one
	// with other columns fails, leaving no file.
	keyed := change.MustSchema(orders.Fields(), "order")
	budget := reducetest.NewBudget(0)
	j, err = reduce.NewNestedLoopJoin(reduce.NestedLoopJoinConfig{
		Type: reduce.LeftJoin, Left: customers, Right: orders, LeftKeys: []string{"id"}, RightKeys: []string{"customer"},
		Budget: budget, ChunkBytes: 1, SpillDir: dir,
	})
	require.NoError(t, err)
	res := reducetest.Run(t, j, reducetest.Options{Budget: budget, BatchRows: 2}, customersIn(), reducetest.Rows(keyed, rowsOf(ordersIn())...))
	assert.Len(t, res.Rows, 5)
	assertNoSpills(t, dir)
	err = reducetest.RunError(t, j, reducetest.Options{Budget: budget, BatchRows: 2}, customersIn(), customersIn())
	assert.ErrorContains(t, err, "right input batch has 2 columns")
	assertNoSpills(t, dir)
}

func TestNestedLoopJoinConfig(t *testing.T) {
	for _, typ := range []reduce.JoinType{reduce.RightJoin, reduce.FullJoin} {
		_, err := reduce.NewNestedLoopJoin(reduce.NestedLoopJoinConfig{Type: typ, Left: customers, Right: orders})
		assert.ErrorIs(t, err, reduce.ErrJoinConfig)
		assert.ErrorContains(t, err, "swap the inputs")
	}
	_, err := reduce.NewNestedLoopJoin(reduce.NestedLoopJoinConfig{Left: customers, Right: orders, LeftKeys: []string{"id"}})
	assert.ErrorContains(t, err, "1 left keys, 0 right keys")
}

func TestNestedLoopJoinErrors(t *testing.T) {
	j, err := reduce.NewNestedLoopJoin(reduce.NestedLoopJoinConfig{Type: reduce.LeftJoin, Left: customers, Right: orders, BatchRows: 1})
	require.NoError(t, err)
	err = reducetest.RunError(t, j, reducetest.Options{FailEmitAfter: 3}, customersIn(), ordersIn())
	assert.ErrorIs(t, err, reducetest.ErrInjected)
	err = reducetest.RunError(t, j, reducetest.Options{}, customersIn(), customersIn())
	assert.ErrorContains(t, err, "right input batch has 2 columns")

	w := &withRightReopened{j: j}
	failing := reducerFunc(func(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
		return w.j.Join(ctx, in[0], func(context.Context) (shuffle.Stream, error) { return nil, fmt.Errorf("no right side") }, emit)
	})
	assert.ErrorContains(t, reducetest.RunError(t, failing, reducetest.Options{}, customersIn()), "no right side")
}

// RowView reads every column type in place.
func TestRowView(t *testing.T) {
	s := change.MustSchema([]arrow.Field{
		change.Col("i64", arrow.PrimitiveTypes.Int64),
		change.Col("i32", arrow.PrimitiveTypes.Int32),
		change.Col("i8", arrow.PrimitiveTypes.Int8),
		change.Col("f64", arrow.PrimitiveTypes.Float64),
		change.Col("f32", arrow.PrimitiveTypes.Float32),
		change.Col("dec", &arrow.Decimal128Type{Precision: 10, Scale: 2}),
		change.Col("str", arrow.BinaryTypes.String),
		change.Col("bin", arrow.BinaryTypes.Binary),
		change.Col("ok", arrow.FixedWidthTypes.Boolean),
		change.Col("day", arrow.FixedWidthTypes.Date32),
		change.Col("at", &arrow.TimestampType{Unit: arrow.Millisecond}),
	})
	at := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	one := change.MustSchema([]arrow.Field{change.NotNull("x", arrow.PrimitiveTypes.Int64)})
	var seen []string
	pred := func(l, r reduce.RowView) bool {
		if l.IsNull(0) {
			seen = append(seen, fmt.Sprintln("nulls:", l.Int(0), l.Float(3), l.Str(6), l.Bool(8), l.Decimal(5) == decimal128.Num{}))
			return false
		}
		seen = append(seen, fmt.Sprintln(l.Op(), l.Int(0), l.Int(1), l.Int(2), l.Float(3), l.Float(4), l.Float(0),
			l.Decimal(5), l.Str(6), l.Str(7), l.Bool(8), l.Int(8), l.Int(9), l.Int(10), l.Value(6), r.Int(0),
			"wrong types:", l.Int(6), l.Decimal(0), l.Str(0), l.Bool(0)))
		return true
	}
	j, err := reduce.NewNestedLoopJoin(reduce.NestedLoopJoinConfig{Type: reduce.SemiJoin, Left: s, Right: one, Predicate: pred})
	require.NoError(t, err)
	res := reducetest.Run(t, j, reducetest.Options{},
		reducetest.Rows(s,
			[]any{change.Delete, 1, 2, 3, 1.5, 2.5, "12.34", "s", []byte("b"), true, at, at},
			[]any{nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil}),
		reducetest.Rows(one, []any{7}))
	assert.Equal(t, []string{
		"-D 1 2 3 1.5 2.5 1 {1234 0} s b true 1 20487 1770091506000 \"s\" 7 wrong types: 0 {0 0}  false\n",
		"nulls: 0 0  false true\n",
	}, seen)
	assert.Len(t, res.Rows, 1)
	assert.Equal(t, change.Delete, res.Rows[0][0])
}

// A NULL reads as the zero value whatever its slot holds (here: 42, 1.5, "x", true).
func TestRowViewNullsReadAsZero(t *testing.T) {
	s := change.MustSchema([]arrow.Field{
		change.Col("i", arrow.PrimitiveTypes.Int64), change.Col("f", arrow.PrimitiveTypes.Float64),
		change.Col("s", arrow.BinaryTypes.String), change.Col("b", arrow.FixedWidthTypes.Boolean),
		change.Col("d", &arrow.Decimal128Type{Precision: 10, Scale: 0}),
	})
	null := memory.NewBufferBytes([]byte{0})
	col := func(dt arrow.DataType, bufs ...*memory.Buffer) arrow.Array {
		return array.MakeFromData(array.NewData(dt, 1, append([]*memory.Buffer{null}, bufs...), nil, 1, 0))
	}
	i64 := col(arrow.PrimitiveTypes.Int64, memory.NewBufferBytes(arrow.GetBytes([]int64{42})))
	f64 := col(arrow.PrimitiveTypes.Float64, memory.NewBufferBytes(arrow.GetBytes([]float64{1.5})))
	str := col(arrow.BinaryTypes.String, memory.NewBufferBytes(arrow.GetBytes([]int32{0, 1})), memory.NewBufferBytes([]byte("x")))
	bl := col(arrow.FixedWidthTypes.Boolean, memory.NewBufferBytes([]byte{1}))
	dec := col(&arrow.Decimal128Type{Precision: 10, Scale: 0}, memory.NewBufferBytes(arrow.GetBytes([]decimal128.Num{decimal128.FromI64(7)})))
	rec := array.NewRecordBatch(s.Arrow(), []arrow.Array{i64, f64, str, bl, dec}, 1)
	b, err := change.NewBatch(s, rec, []change.Op{change.Insert})
	require.NoError(t, err)
	var got string
	j, err := reduce.NewNestedLoopJoin(reduce.NestedLoopJoinConfig{Left: s, Right: s, Predicate: func(l, r reduce.RowView) bool {
		got = fmt.Sprint(l.Int(0), l.Float(1), l.Str(2) == "", l.Bool(3), l.Decimal(4), l.Float(0), l.Int(3))
		return false
	}})
	require.NoError(t, err)
	b.Retain()
	err = j.Join(context.Background(), shuffle.NewSliceStream(b), func(context.Context) (shuffle.Stream, error) {
		b.Retain()
		return shuffle.NewSliceStream(b), nil
	}, func(out *change.Batch) error { out.Release(); return nil })
	require.NoError(t, err)
	b.Release()
	assert.Equal(t, "0 0 true false {0 0} 0 0", got)
}
