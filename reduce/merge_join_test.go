package reduce_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/reduce/reducetest"
)

func mergeConfig(c joinCase, budget *change.Budget) reduce.MergeJoinConfig {
	h := c.config(budget)
	return reduce.MergeJoinConfig{Type: h.Type, Left: h.Left, Right: h.Right, LeftKeys: h.LeftKeys, RightKeys: h.RightKeys,
		Budget: budget, BatchRows: h.BatchRows}
}

func newMergeJoin(t testing.TB, cfg reduce.MergeJoinConfig) *reduce.MergeJoin {
	t.Helper()
	j, err := reduce.NewMergeJoin(cfg)
	require.NoError(t, err)
	return j
}

// sortedRows returns rows (plain, of schema s) sorted by keys ascending, NULLS LAST,
// as a Sort orders them.
func sortedRows(t testing.TB, s *change.Schema, keys []string, rows [][]any) [][]any {
	var ks []reduce.SortKey
	for _, k := range keys {
		ks = append(ks, reduce.SortKey{Column: k})
	}
	srt, err := reduce.NewSort(reduce.SortConfig{Schema: s, Keys: ks})
	require.NoError(t, err)
	return reducetest.Run(t, srt, reducetest.Options{}, reducetest.Rows(s, rows...)).Rows
}

// The property test of the hash join, for the merge join: every join type, keys of
// every type and of pairs of types that compare, multi-column keys, duplicates and
// NULL keys; inputs unsorted (the join sorts them) and sorted (it does not).
func TestMergeJoinMatchesReference(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 17))
		for _, typ := range allJoins {
			c := randomCase(rng, typ)
			lk, rk, li, ri := c.keys()
			want := refJoin(typ, c.lrows, c.rrows, li, ri, nil, defaultCols(typ, c.left, c.right))
			for _, sorted := range []bool{false, true} {
				budget := reducetest.NewBudget(0)
				cfg := mergeConfig(c, budget)
				lrows, rrows := c.lrows, c.rrows
				if cfg.Sorted = sorted; sorted {
					lrows, rrows = sortedRows(t, c.left, lk, lrows), sortedRows(t, c.right, rk, rrows)
				}
				res := reducetest.Run(t, newMergeJoin(t, cfg), reducetest.Options{Budget: budget, BatchRows: c.batchRows},
					reducetest.Rows(c.left, lrows...), reducetest.Rows(c.right, rrows...))
				if !res.AssertMultiset(t, want...) {
					t.Fatalf("seed %d, sorted %v: %s", seed, sorted, c)
				}
				for _, row := range res.Rows {
					require.Equal(t, change.Insert, row[0])
				}
			}
		}
	}
}

// Joins of change streams: the net effect of the output is the join of the net
// effects, as for the hash join.
func TestMergeJoinOfChangesHasTheNetEffectOfTheJoin(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 19))
		for _, typ := range allJoins {
			c := randomCase(rng, typ)
			var lg, rg []keyGen
			for _, p := range c.pairs {
				lg, rg = append(lg, p.l), append(rg, p.r)
			}
			llog, lnet := genChanges(rng, c.lrows, lg, 3)
			rlog, rnet := genChanges(rng, c.rrows, rg, 3)
			llog, lnet, rlog, rnet = canon(c.left, llog), canon(c.left, lnet), canon(c.right, rlog), canon(c.right, rnet)
			budget := reducetest.NewBudget(0)
			res := reducetest.Run(t, newMergeJoin(t, mergeConfig(c, budget)), reducetest.Options{Budget: budget, BatchRows: c.batchRows},
				reducetest.Rows(c.left, llog...), reducetest.Rows(c.right, rlog...))
			_, _, li, ri := c.keys()
			if !res.AssertNet(t, refJoin(typ, lnet, rnet, li, ri, nil, defaultCols(typ, c.left, c.right))...) {
				t.Fatalf("seed %d: %s", seed, c)
			}
		}
	}
}

// Large groups of equal keys on both sides, under a budget far smaller than the
// inputs: the sorts spill and the right rows of a key spill, and the output is
// still the cross product.
func TestMergeJoinSpillsLargeGroups(t *testing.T) {
	left := change.MustSchema([]arrow.Field{change.Col("k", arrow.PrimitiveTypes.Int64), change.NotNull("l", arrow.PrimitiveTypes.Int64),
		change.Col("pad", arrow.BinaryTypes.String)})
	right := change.MustSchema([]arrow.Field{change.Col("k", arrow.PrimitiveTypes.Int32), change.NotNull("r", arrow.PrimitiveTypes.Int64),
		change.Col("pad", arrow.BinaryTypes.String)})
	rng := rand.New(rand.NewPCG(3, 3))
	pad := func() any { return fmt.Sprintf("%0*d", 40+rng.IntN(40), 0) }
	var lrows, rrows [][]any
	for i := range 300 {
		k := any(int64([]int{1, 1, 1, 2, 3, 5}[i%6]))
		if i%50 == 0 {
			k = nil
		}
		lrows = append(lrows, []any{change.Insert, k, int64(i), pad()})
	}
	for i := range 400 {
		k := any(int64([]int{1, 1, 1, 1, 2, 5}[i%6]))
		if i%70 == 0 {
			k = nil
		}
		rrows = append(rrows, []any{change.Insert, k, int64(i), pad()})
	}
	rng.Shuffle(len(lrows), func(i, j int) { lrows[i], lrows[j] = lrows[j], lrows[i] })
	rng.Shuffle(len(rrows), func(i, j int) { rrows[i], rrows[j] = rrows[j], rrows[i] })
	lrows, rrows = canon(left, lrows), canon(right, rrows)
	for _, typ := range []reduce.JoinType{reduce.FullJoin, reduce.InnerJoin, reduce.SemiJoin} {
		t.Run(typ.String(), func(t *testing.T) {
			dir := t.TempDir()
			budget := reducetest.NewBudget(64 << 10)
			j := newMergeJoin(t, reduce.MergeJoinConfig{Type: typ, Left: left, Right: right, LeftKeys: []string{"k"}, RightKeys: []string{"k"},
				Budget: budget, BatchRows: 40, SpillDir: dir})
			res := reducetest.Run(t, j, reducetest.Options{Budget: budget, BatchRows: 64}, reducetest.Rows(left, lrows...), reducetest.Rows(right, rrows...))
			res.AssertMultiset(t, refJoin(typ, lrows, rrows, []int{0}, []int{0}, nil, defaultCols(typ, left, right))...)
			st := j.Stats()
			assert.Positive(t, st.Left.Runs, "the left input spilled")
			assert.Positive(t, st.Right.Runs, "the right input spilled")
			assert.Positive(t, st.SpilledGroups, "the right rows of key 1 or 5 spilled")
			assertEmptyDir(t, dir)
		})
	}
}

func TestMergeJoinSortedInputOutOfOrder(t *testing.T) {
	j := newMergeJoin(t, reduce.MergeJoinConfig{Left: customers, Right: orders, LeftKeys: []string{"id"}, RightKeys: []string{"customer"}, Sorted: true})
	sortedOrders := reducetest.Rows(orders, []any{10, 1, "a"}, []any{11, 2, "b"}, []any{12, nil, "c"})
	err := reducetest.RunError(t, j, reducetest.Options{BatchRows: 2},
		reducetest.Rows(customers, []any{1, "a"}, []any{2, "b"}, []any{3, "c"}, []any{2, "d"}), sortedOrders)
	assert.ErrorContains(t, err, "left input is not sorted by its keys at row 3")
	err = reducetest.RunError(t, j, reducetest.Options{BatchRows: 2},
		reducetest.Rows(customers, []any{nil, "a"}, []any{nil, "b"}), reducetest.Rows(orders, []any{10, nil, "a"}, []any{11, 2, "b"}))
	assert.ErrorContains(t, err, "right input is not sorted by its keys at row 1", "NULLs sort last")
	res := reducetest.Run(t, j, reducetest.Options{BatchRows: 2},
		reducetest.Rows(customers, []any{1, "a"}, []any{2, "b"}, []any{nil, "c"}), sortedOrders)
	res.AssertMultiset(t, []any{1, "a", 10, 1, "a"}, []any{2, "b", 11, 2, "b"})
}

func TestMergeJoinConfigAndInputErrors(t *testing.T) {
	_, err := reduce.NewMergeJoin(reduce.MergeJoinConfig{Left: customers, Right: orders, LeftKeys: []string{"name"}, RightKeys: []string{"customer"}})
	require.ErrorIs(t, err, reduce.ErrJoinConfig)
	assert.ErrorContains(t, err, `key "name"`)
	_, err = reduce.NewMergeJoin(reduce.MergeJoinConfig{Left: customers, Right: orders, LeftKeys: []string{"nope"}, RightKeys: []string{"customer"}})
	assert.ErrorContains(t, err, `left key "nope" is not a column`)
	_, err = reduce.NewMergeJoin(reduce.MergeJoinConfig{Left: customers, Right: orders, LeftKeys: []string{"id"}, RightKeys: []string{"customer"}, SpillCodec: 9})
	assert.ErrorContains(t, err, "unknown spill codec 9")

	j := newMergeJoin(t, reduce.MergeJoinConfig{Left: customers, Right: orders, LeftKeys: []string{"id"}, RightKeys: []string{"customer"}})
	assert.ErrorContains(t, reducetest.RunError(t, j, reducetest.Options{}, customersIn()), "takes 2 inputs, got 1")
	err = reducetest.RunError(t, j, reducetest.Options{}, ordersIn(), ordersIn())
	assert.ErrorContains(t, err, "left input batch has 3 columns, want 2")
}

func TestMergeJoinCleansUpOnEmitFailure(t *testing.T) {
	left := change.MustSchema([]arrow.Field{change.Col("k", arrow.PrimitiveTypes.Int64), change.Col("pad", arrow.BinaryTypes.String)})
	in := func(n int) reducetest.Input {
		return reducetest.Generate(left, n, func(i int, row change.Row) change.Op {
			row[0], row[1] = change.Int(int64(i%3)), change.Str(fmt.Sprintf("%060d", i))
			return change.Insert
		})
	}
	for _, after := range []int{1, 5, 40} {
		dir := t.TempDir()
		budget := reducetest.NewBudget(64 << 10)
		j := newMergeJoin(t, reduce.MergeJoinConfig{Type: reduce.FullJoin, Left: left, Right: left, LeftKeys: []string{"k"}, RightKeys: []string{"k"},
			Budget: budget, BatchRows: 100, SpillDir: dir})
		err := reducetest.RunError(t, j, reducetest.Options{Budget: budget, BatchRows: 50, FailEmitAfter: after}, in(600), in(400))
		assert.ErrorIs(t, err, reducetest.ErrInjected)
		assertEmptyDir(t, dir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	j := newMergeJoin(t, reduce.MergeJoinConfig{Left: left, Right: left, LeftKeys: []string{"k"}, RightKeys: []string{"k"}})
	_, err := reducetest.Exec(ctx, j, reducetest.Options{}, in(10), in(10))
	assert.ErrorIs(t, err, context.Canceled)
}

// The merge join's bounded-memory test (see boundedSlack): both inputs more than 10
// times the budget, and a key with more right rows than a quarter of the budget holds.
func TestMergeJoinBoundedMemory(t *testing.T) {
	const batchRows = 1024
	left := eventsInput(300_000, 50_000)
	users := change.MustSchema([]arrow.Field{change.Col("uid", arrow.PrimitiveTypes.Int32), change.Col("name", arrow.BinaryTypes.String)})
	right := reducetest.Generate(users, 330_000, func(i int, row change.Row) change.Op {
		row[0] = change.Int(int64(i))
		if i >= 300_000 {
			row[0] = change.Int(7) // 30 000 more right rows of user 7
		}
		row[1] = change.Str(fmt.Sprintf("user %09d of the bounded test, whose name is long enough", i))
		return change.Insert
	})
	lb, rb := inputBytes(left, batchRows), inputBytes(right, batchRows)
	require.GreaterOrEqual(t, lb, int64(10*boundedLimit))
	require.GreaterOrEqual(t, rb, int64(10*boundedLimit))
	cfg := func(budget *change.Budget, dir string) reduce.MergeJoinConfig {
		return reduce.MergeJoinConfig{Type: reduce.LeftJoin, Left: events, Right: users, LeftKeys: []string{"user"}, RightKeys: []string{"uid"},
			Output: []reduce.Column{{Side: reduce.LeftSide, Name: "id"}, {Side: reduce.RightSide, Name: "name"}}, Budget: budget, SpillDir: dir}
	}
	whole := reducetest.Run(t, newMergeJoin(t, cfg(reducetest.NewBudget(0), "")), reducetest.Options{BatchRows: batchRows}, left, right)
	dir := t.TempDir()
	budget := reducetest.NewBudget(boundedLimit)
	j := newMergeJoin(t, cfg(budget, dir))
	bounded := reducetest.Run(t, j, reducetest.Options{Budget: budget, BatchRows: batchRows}, left, right)
	require.Equal(t, len(whole.Rows), len(bounded.Rows))
	// The same rows; within user 7, whose right rows spilled, in another order.
	equalRows(t, bounded.Sorted().Rows, whole.Sorted().Rows)
	st := j.Stats()
	assert.Positive(t, st.Left.Runs)
	assert.Positive(t, st.Right.Runs)
	assert.Positive(t, st.SpilledGroups)
	assert.LessOrEqual(t, bounded.Peak, int64(boundedLimit+boundedSlack))
	assertEmptyDir(t, dir)
	t.Logf("inputs %d and %d bytes, budget %d: %d rows, peak %d bytes (in memory: %d), %+v", lb, rb, boundedLimit, len(bounded.Rows), bounded.Peak, whole.Peak, st)
}
