package reduce_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
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

// spillWatch records whether spill files existed in dir while the join emitted.
type spillWatch struct {
	r       reduce.Reducer
	dir     string
	spilled bool
}

func (w *spillWatch) Reduce(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
	return w.r.Reduce(ctx, in, func(b *change.Batch) error {
		if ents, _ := os.ReadDir(w.dir); len(ents) > 0 {
			w.spilled = true
		}
		return emit(b)
	})
}

// With a budget that holds nothing, every join type spills, splits, recurses and ends
// chunk by chunk, and still equals the reference; no spill file is left.
func TestGraceHashJoinMatchesReference(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			graceAgainstReference(t, seed)
		})
	}
}

func graceAgainstReference(t *testing.T, seed uint64) {
	dir := t.TempDir()
	{
		rng := rand.New(rand.NewPCG(seed, 23))
		for _, typ := range allJoins {
			c := randomCase(rng, typ)
			c.lrows = append(c.lrows, canon(c.left, genRows(rng, pairGens(c, 0), 40, 3, 0.1, 500))...)
			c.rrows = append(c.rrows, canon(c.right, genRows(rng, pairGens(c, 1), 40, 3, 0.1, 1500))...)
			budget := reducetest.NewBudget(1 << 10)
			cfg := c.config(budget)
			cfg.SpillDir, cfg.Fanout = dir, 2+rng.IntN(3)
			w := &spillWatch{r: newJoin(t, cfg), dir: dir}
			res := reducetest.Run(t, w, reducetest.Options{Budget: budget, BatchRows: 16}, reducetest.Rows(c.left, c.lrows...), reducetest.Rows(c.right, c.rrows...))
			_, _, li, ri := c.keys()
			want := refJoin(typ, c.lrows, c.rrows, li, ri, nil, defaultCols(typ, c.left, c.right))
			if !res.AssertMultiset(t, want...) {
				t.Fatalf("seed %d: %s, fanout %d", seed, c, cfg.Fanout)
			}
			assert.True(t, w.spilled || len(want) == 0, "seed %d: %s spilled", seed, c)
			assertNoSpills(t, dir)
		}
	}
}

func pairGens(c joinCase, side int) []keyGen {
	var out []keyGen
	for _, p := range c.pairs {
		if side == 0 {
			out = append(out, p.l)
		} else {
			out = append(out, p.r)
		}
	}
	return out
}

var (
	facts = change.MustSchema([]arrow.Field{
		change.NotNull("order", arrow.PrimitiveTypes.Int64),
		change.Col("customer", arrow.PrimitiveTypes.Int64),
		change.Col("region", arrow.BinaryTypes.String),
		change.Col("note", arrow.BinaryTypes.String),
	})
	dims = change.MustSchema([]arrow.Field{
		change.Col("id", arrow.PrimitiveTypes.Int64),
		change.Col("region", arrow.BinaryTypes.String),
		change.Col("name", arrow.BinaryTypes.String),
	})
)

// factRows are orders of customers from a domain of n (1 in 50 with a NULL customer,
// 1 in 10 of an unknown one); skew puts a share of them on customer 0.
func factRows(rows, n int, skew float64, seed uint64) reducetest.Input {
	return reducetest.Generate(facts, rows, func(i int, row change.Row) change.Op {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		row[0] = change.Int(int64(i))
		switch {
		case rng.Float64() < skew:
			row[1] = change.Int(0)
		case i%50 != 7:
			row[1] = change.Int(rng.Int64N(int64(n) * 11 / 10))
		}
		row[2] = change.Str(fmt.Sprint("r", i%3))
		row[3] = change.Str(strings.Repeat("n", i%24))
		return change.Insert
	})
}

// dimRows are n customers (1 in 40 with a NULL id), two rows for each tenth.
func dimRows(n int, seed uint64) reducetest.Input {
	return reducetest.Generate(dims, n, func(i int, row change.Row) change.Op {
		if i%40 != 3 {
			row[0] = change.Int(int64(i % (n * 10 / 11)))
		}
		row[1] = change.Str(fmt.Sprint("r", (i+int(seed))%3))
		row[2] = change.Str(fmt.Sprintf("customer number %d", i))
		return change.Insert
	})
}

// Larger inputs under a budget that lets partitions fit after a split or two: every
// join type, on one key and on two, equals the same join in memory.
func TestGraceHashJoinEqualsInMemory(t *testing.T) {
	for _, keys := range [][2][]string{{{"customer"}, {"id"}}, {{"customer", "region"}, {"id", "region"}}} {
		for _, typ := range allJoins {
			t.Run(fmt.Sprintf("%d keys/%s", len(keys[0]), typ), func(t *testing.T) {
				t.Parallel()
				graceEqualsInMemory(t, typ, keys, factRows(12_000, 1_200, 0, 1), dimRows(1_200, 2), reduce.LeftSide)
			})
		}
	}
}

// A key with many rows on both sides: the partition holding it does not fit, and
// splitting it again leaves it whole, so it is joined chunk by chunk.
func TestGraceHashJoinHeavyKey(t *testing.T) {
	left := reducetest.Generate(facts, 12_000, func(i int, row change.Row) change.Op {
		row[0], row[2] = change.Int(int64(i)), change.Str("r")
		if i%4 == 0 {
			row[1] = change.Int(int64(i))
		} else {
			row[1] = change.Int(0)
		}
		return change.Insert
	})
	right := reducetest.Generate(dims, 12_000, func(i int, row change.Row) change.Op {
		row[1], row[2] = change.Str("r"), change.Str(fmt.Sprintf("customer number %d", i))
		if i%50 == 0 {
			row[0] = change.Int(int64(i))
		} else {
			row[0] = change.Int(0)
		}
		return change.Insert
	})
	for _, typ := range []reduce.JoinType{reduce.SemiJoin, reduce.AntiJoin} {
		t.Run(typ.String(), func(t *testing.T) {
			t.Parallel()
			graceEqualsInMemory(t, typ, [2][]string{{"customer"}, {"id"}}, left, right, reduce.AutoSide)
		})
	}
}

func graceEqualsInMemory(t *testing.T, typ reduce.JoinType, keys [2][]string, left, right reducetest.Input, build reduce.Side) {
	dir := t.TempDir()
	run := func(budget *change.Budget) (*reducetest.Result, bool) {
		w := &spillWatch{dir: dir, r: newJoin(t, reduce.HashJoinConfig{
			Type: typ, Left: facts, Right: dims, LeftKeys: keys[0], RightKeys: keys[1],
			Budget: budget, SpillDir: dir, Build: build,
		})}
		res := reducetest.Run(t, w, reducetest.Options{Budget: budget, BatchRows: 1000}, left, right)
		assertNoSpills(t, dir)
		return res, w.spilled
	}
	whole, spilled := run(reducetest.NewBudget(0))
	require.False(t, spilled)
	small, spilled := run(reducetest.NewBudget(1 << 20))
	assert.True(t, spilled || len(whole.Rows) == 0)
	small.AssertSame(t, whole)
	t.Logf("%d rows out; peak %d bytes", len(whole.Rows), small.Peak)
}

func TestGraceHashJoinCleansUpOnErrors(t *testing.T) {
	dir := t.TempDir()
	for _, typ := range allJoins {
		budget := reducetest.NewBudget(64 << 10)
		j := newJoin(t, reduce.HashJoinConfig{
			Type: typ, Left: facts, Right: dims, LeftKeys: []string{"customer"}, RightKeys: []string{"id"},
			Budget: budget, SpillDir: dir, Build: reduce.LeftSide, BatchRows: 100, Fanout: 4,
		})
		err := reducetest.RunError(t, j, reducetest.Options{Budget: budget, BatchRows: 500, FailEmitAfter: 3},
			factRows(2_000, 200, 0, 3), dimRows(200, 4))
		assert.ErrorIs(t, err, reducetest.ErrInjected)
		assertNoSpills(t, dir)
	}
	budget := reducetest.NewBudget(64 << 10)
	j := newJoin(t, reduce.HashJoinConfig{
		Left: facts, Right: dims, LeftKeys: []string{"customer"}, RightKeys: []string{"id"},
		Budget: budget, SpillDir: dir + "/missing",
	})
	err := reducetest.RunError(t, j, reducetest.Options{Budget: budget, BatchRows: 500}, factRows(5_000, 500, 0, 3), dimRows(5_000, 4))
	assert.ErrorContains(t, err, "create spill file")
}

// inputBytes returns the Arrow bytes of an input in batches of batchRows rows.
func inputBytes(in reducetest.Input, batchRows int) int64 {
	s := in.Stream(nil, batchRows)
	defer s.Close()
	var n int64
	for {
		b, err := s.Next(context.Background())
		if err != nil {
			return n
		}
		n += shuffle.BatchBytes(b)
		b.Release()
	}
}

// The bounded-memory test: both inputs are more than 10 times the budget; the join
// spills, and the peak of the budget's count stays within the budget plus
// spillConstant; the output equals the in-memory join's.
//
// spillConstant is what the join may hold beyond its budget: a spill writer's block
// buffers (shuffle.SpillOptions with Concurrency 1: three slots of a 256 KiB block and
// its LZ4 bound, ~1.5 MiB) and the batch of up to 1024 rows it is writing, when a
// partition's buffer is flushed with the budget full; or, joining a partition, the
// probe side's spill reader (a block and its compressed copy, ~0.5 MiB), the probe
// batch and the output batch being built, beside a build side that fit.
const spillConstant = 2 << 20

func TestHashJoinBoundedMemory(t *testing.T) {
	const limit = 2 << 20
	const batchRows = 1024
	regions := []change.Value{change.Str("r0"), change.Str("r1"), change.Str("r2")}
	notes := make([]change.Value, 71)
	for i := range notes {
		notes[i] = change.Str(strings.Repeat("n", 40+i))
	}
	pad := strings.Repeat("p", 64)
	left := reducetest.Generate(facts, 220_000, func(i int, row change.Row) change.Op {
		row[0], row[1] = change.Int(int64(i)), change.Int(int64(i*7919)%240_000)
		row[2], row[3] = regions[i%3], notes[i%71]
		return change.Insert
	})
	right := reducetest.Generate(dims, 230_000, func(i int, row change.Row) change.Op {
		row[0], row[1] = change.Int(int64(i)), regions[i%3]
		row[2] = change.Str(strconv.Itoa(1_000_000_000+i) + pad)
		return change.Insert
	})
	lb, rb := inputBytes(left, batchRows), inputBytes(right, batchRows)
	require.GreaterOrEqual(t, lb, int64(10*limit), "left input")
	require.GreaterOrEqual(t, rb, int64(10*limit), "right input")

	dir := t.TempDir()
	cfg := func(budget *change.Budget) reduce.HashJoinConfig {
		return reduce.HashJoinConfig{
			Type: reduce.LeftJoin, Left: facts, Right: dims, LeftKeys: []string{"customer"}, RightKeys: []string{"id"},
			Output: []reduce.Column{{Side: reduce.LeftSide, Name: "order"}, {Side: reduce.RightSide, Name: "id"}},
			Budget: budget, SpillDir: dir,
		}
	}
	whole := reducetest.Run(t, newJoin(t, cfg(reducetest.NewBudget(0))), reducetest.Options{BatchRows: batchRows}, left, right)
	budget := reducetest.NewBudget(limit)
	w := &spillWatch{r: newJoin(t, cfg(budget)), dir: dir}
	bounded := reducetest.Run(t, w, reducetest.Options{Budget: budget, BatchRows: batchRows}, left, right)
	assert.True(t, w.spilled)
	assertNoSpills(t, dir)
	require.Len(t, bounded.Rows, 220_000)
	bounded.AssertSame(t, whole)
	assert.LessOrEqual(t, bounded.Peak, int64(limit+spillConstant))
	t.Logf("inputs %d and %d bytes, budget %d: peak %d bytes (in memory: %d)", lb, rb, limit, bounded.Peak, whole.Peak)
}

var errBoom = errors.New("boom")

// failAfter is a stream that fails after n batches.
type failAfter struct {
	shuffle.Stream
	n int
}

func (f *failAfter) Next(ctx context.Context) (*change.Batch, error) {
	if f.n == 0 {
		return nil, errBoom
	}
	f.n--
	return f.Stream.Next(ctx)
}

// failing runs r with input side failing after a number of batches.
type failing struct {
	r           reduce.Reducer
	side, after int
}

func (f failing) Reduce(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
	in = append([]shuffle.Stream(nil), in...)
	in[f.side] = &failAfter{in[f.side], f.after}
	return f.r.Reduce(ctx, in, emit)
}

// An input failing at any point fails the join, which leaves no memory and no file.
func TestJoinsCleanUpWhenAnInputFails(t *testing.T) {
	dir := t.TempDir()
	budget := reducetest.NewBudget(64 << 10)
	hash := newJoin(t, reduce.HashJoinConfig{
		Type: reduce.FullJoin, Left: facts, Right: dims, LeftKeys: []string{"customer"}, RightKeys: []string{"id"},
		Budget: budget, SpillDir: dir, Fanout: 4,
	})
	nested, err := reduce.NewNestedLoopJoin(reduce.NestedLoopJoinConfig{
		Type: reduce.LeftJoin, Left: facts, Right: dims, LeftKeys: []string{"customer"}, RightKeys: []string{"id"},
		Budget: budget, SpillDir: dir, ChunkBytes: 16 << 10,
	})
	require.NoError(t, err)
	for name, r := range map[string]reduce.Reducer{"hash": hash, "nested": nested} {
		for side := range 2 {
			for _, after := range []int{0, 1, 4, 12} {
				f := failing{r: r, side: side, after: after}
				err := reducetest.RunError(t, f, reducetest.Options{Budget: budget, BatchRows: 100}, factRows(2_000, 300, 0, 7), dimRows(1_500, 8))
				assert.ErrorIs(t, err, errBoom, "%s: side %d fails after %d batches", name, side, after)
				assertNoSpills(t, dir)
			}
		}
	}
}
