package reduce_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/reduce/reducetest"
	"github.com/strata-data/strata/shuffle"
)

// sharedJoin joins by building once (HashJoin.Build) and probing with several
// goroutines at once, each a share of the probe side's batches, as the planner's
// broadcast joins do.
func sharedJoin(j *reduce.HashJoin, build reduce.Side, probers int) reduce.Reducer {
	return reducerFunc(func(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
		bi := int(build) - 1
		hb, err := j.Build(ctx, in[bi])
		if err != nil {
			return err
		}
		defer hb.Release()
		shares := make([][]*change.Batch, probers)
		for i := 0; ; i++ {
			b, err := in[1-bi].Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			shares[i%probers] = append(shares[i%probers], b)
		}
		var mu sync.Mutex
		errs := make([]error, probers)
		var wg sync.WaitGroup
		for p := range probers {
			wg.Go(func() {
				errs[p] = hb.Probe(ctx, shuffle.NewSliceStream(shares[p]...), func(b *change.Batch) error {
					mu.Lock()
					defer mu.Unlock()
					return emit(b)
				})
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	})
}

// A build shared by concurrent probes gives the join: random keys of every type,
// multi-column keys, duplicates and NULL keys, for each join type and side that can
// share its build (run with -race).
func TestHashBuildSharedByConcurrentProbes(t *testing.T) {
	shareable := []struct {
		typ   reduce.JoinType
		build reduce.Side
	}{
		{reduce.InnerJoin, reduce.RightSide}, {reduce.InnerJoin, reduce.LeftSide},
		{reduce.LeftJoin, reduce.RightSide}, {reduce.RightJoin, reduce.LeftSide},
		{reduce.SemiJoin, reduce.RightSide}, {reduce.AntiJoin, reduce.RightSide},
	}
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 11))
		for _, s := range shareable {
			c := randomCase(rng, s.typ)
			c.build = s.build
			budget := reducetest.NewBudget(0)
			j := newJoin(t, c.config(budget))
			res := reducetest.Run(t, sharedJoin(j, s.build, 1+rng.IntN(4)), reducetest.Options{Budget: budget, BatchRows: c.batchRows},
				reducetest.Rows(c.left, c.lrows...), reducetest.Rows(c.right, c.rrows...))
			_, _, li, ri := c.keys()
			want := refJoin(s.typ, c.lrows, c.rrows, li, ri, nil, defaultCols(s.typ, c.left, c.right))
			if !res.AssertMultiset(t, want...) {
				t.Fatalf("seed %d: %s", seed, c)
			}
		}
	}
}

// Build refuses what a shared build cannot answer, and a build side over the budget.
func TestHashBuildErrors(t *testing.T) {
	ctx := context.Background()
	cfg := reduce.HashJoinConfig{Left: customers, Right: orders, LeftKeys: []string{"id"}, RightKeys: []string{"customer"}}
	for _, bad := range []struct {
		typ   reduce.JoinType
		build reduce.Side
	}{
		{reduce.InnerJoin, reduce.AutoSide}, {reduce.FullJoin, reduce.RightSide},
		{reduce.RightJoin, reduce.RightSide}, {reduce.SemiJoin, reduce.LeftSide},
	} {
		c := cfg
		c.Type, c.Build = bad.typ, bad.build
		_, err := newJoin(t, c).Build(ctx, ordersIn().Stream(nil, 2))
		assert.ErrorIs(t, err, reduce.ErrJoinConfig, "%s join building %s", bad.typ, bad.build)
	}

	budget := reducetest.NewBudget(2000)
	c := cfg
	c.Build, c.Budget = reduce.RightSide, budget
	many := reducetest.Generate(orders, 5000, func(i int, row change.Row) change.Op {
		row[0], row[1], row[2] = change.Int(int64(i)), change.Int(int64(i)), change.Str("x")
		return change.Insert
	})
	s := many.Stream(budget, 100)
	_, err := newJoin(t, c).Build(ctx, s)
	require.ErrorIs(t, err, reduce.ErrBuildTooLarge)
	s.Close()
	assert.Zero(t, budget.Allocated(), "a refused build gives back what it read")
}
