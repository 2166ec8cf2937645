package plan

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bigCatalog has enough rows, in enough batches, for several tasks per stage.
func bigCatalog(t *testing.T) *MemCatalog {
	r := rand.New(rand.NewPCG(1, 2))
	var facts, dims [][]any
	for i := range 20000 {
		var k any = int64(r.IntN(500))
		if i%97 == 0 {
			k = nil
		}
		facts = append(facts, []any{int64(i), k, fmt.Sprintf("%d.%02d", r.IntN(1000), r.IntN(100))})
	}
	for i := range 500 {
		dims = append(dims, []any{int64(i), fmt.Sprintf("g%d", i%7)})
	}
	return newTestCatalog(t,
		tableDef{name: "facts", fields: []arrow.Field{i64("id"), i64("k"), dec("v", 12, 2)}, rows: facts, split: 1500},
		tableDef{name: "dims", fields: []arrow.Field{i64("k"), str("g")}, rows: dims, split: 100},
	)
}

const bigQuery = `SELECT d.g, count(*), sum(f.v), count(DISTINCT f.k), min(f.id)
	FROM facts f JOIN dims d ON d.k = f.k WHERE f.v > 10 GROUP BY d.g ORDER BY d.g`

func TestStrategiesAgree(t *testing.T) {
	cat := bigCatalog(t)
	want := runSQL(t, cat, bigQuery)
	require.Len(t, want, 7)
	shuffled := runSQL(t, cat, bigQuery, func(o *Options) { o.BroadcastRows = 1; o.ShuffleRows = 1; o.Partitions = 4 })
	assert.Equal(t, want, shuffled, "partitioned hash join")
	merged := runSQL(t, cat, bigQuery, func(o *Options) { o.BroadcastRows = 1; o.ShuffleRows = 1; o.Partitions = 3; o.PreferMergeJoin = true })
	assert.Equal(t, want, merged, "sort-merge join")
	tight := runSQL(t, cat, bigQuery, func(o *Options) { o.BroadcastRows = 1; o.ShuffleRows = 1; o.MemoryLimit = 512 << 10; o.Parallelism = 1 })
	assert.Equal(t, want, tight, "spilling under a small budget")
	// plans differ as asked
	j, err := NewPlanner(cat, Options{BroadcastRows: 1, ShuffleRows: 1, Partitions: 4, PreferMergeJoin: true}).Plan(context.Background(), bigQuery)
	require.NoError(t, err)
	assert.Contains(t, j.Explain(false), "SortMergeJoin")
	assert.Contains(t, j.Explain(false), "hash(#1) x4")
	j, err = NewPlanner(cat, Options{}).Plan(context.Background(), bigQuery)
	require.NoError(t, err)
	assert.Contains(t, j.Explain(false), "BroadcastHashJoin")
}

// TestFaultInjection fails random task attempts (after they wrote their output, before
// the commit marker) and still gets the exact answer: failed attempts' outputs are
// discarded, each task commits once.
func TestFaultInjection(t *testing.T) {
	cat := bigCatalog(t)
	want := runSQL(t, cat, bigQuery, func(o *Options) { o.BroadcastRows = 1; o.ShuffleRows = 1; o.Partitions = 4 })
	for seed := range uint64(3) {
		var mu sync.Mutex
		r := rand.New(rand.NewPCG(seed, 7))
		var failed atomic.Int64
		faults := func(stage, task, attempt int) error {
			mu.Lock()
			defer mu.Unlock()
			if r.Float64() < 0.35 {
				failed.Add(1)
				return fmt.Errorf("injected failure: stage %d task %d attempt %d", stage, task, attempt)
			}
			return nil
		}
		opts := Options{BroadcastRows: 1, ShuffleRows: 1, Partitions: 4, MaxAttempts: 20, Backoff: time.Microsecond, Fault: faults, Now: testNow}
		got := runSQL(t, cat, bigQuery, WithOptions(opts))
		assert.Equal(t, want, got, "seed %d", seed)
		assert.Positive(t, failed.Load())
	}
	// lineage: every task committed exactly once, failures recorded
	r := rand.New(rand.NewPCG(9, 9))
	var mu sync.Mutex
	j, err := NewPlanner(cat, Options{BroadcastRows: 1, ShuffleRows: 1, Partitions: 4, MaxAttempts: 20, Backoff: time.Microsecond,
		Fault: func(int, int, int) error {
			mu.Lock()
			defer mu.Unlock()
			if r.Float64() < 0.3 {
				return errors.New("injected")
			}
			return nil
		}}).Plan(context.Background(), bigQuery)
	require.NoError(t, err)
	defer j.Release()
	require.NoError(t, j.Run(context.Background()))
	commits := map[[2]int]int{}
	fails := 0
	for _, rec := range j.Lineage() {
		if rec.Committed {
			commits[[2]int{rec.Stage, rec.Task}]++
			assert.Empty(t, rec.Err)
		} else {
			fails++
			assert.Equal(t, "injected", rec.Err)
		}
		assert.NotEmpty(t, rec.Inputs)
	}
	total := 0
	for _, st := range j.Stages() {
		total += st.Tasks
	}
	assert.Len(t, commits, total)
	for k, n := range commits {
		assert.Equal(t, 1, n, "task %v", k)
	}
	assert.Positive(t, fails)
}

// TestResume: a job whose task fails every attempt stops; run again, it resumes from
// the stages (and tasks) already committed.
func TestResume(t *testing.T) {
	cat := bigCatalog(t)
	want := runSQL(t, cat, bigQuery, func(o *Options) { o.BroadcastRows = 1; o.ShuffleRows = 1; o.Partitions = 4 })
	var broken atomic.Bool
	broken.Store(true)
	j, err := NewPlanner(cat, Options{BroadcastRows: 1, ShuffleRows: 1, Partitions: 4, MaxAttempts: 2, Backoff: time.Microsecond,
		Fault: func(stage, task, attempt int) error {
			if broken.Load() && stage == 4 && task == 1 {
				return errors.New("disk on fire")
			}
			return nil
		}}).Plan(context.Background(), bigQuery)
	require.NoError(t, err)
	defer j.Release()
	err = j.Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "stage 4 task 1 failed after 2 attempts: disk on fire")
	before := len(j.Lineage())
	committed := map[[2]int]bool{}
	for _, r := range j.Lineage() {
		if r.Committed {
			committed[[2]int{r.Stage, r.Task}] = true
		}
	}
	broken.Store(false)
	require.NoError(t, j.Run(context.Background()))
	for _, r := range j.Lineage()[before:] {
		assert.GreaterOrEqual(t, r.Stage, 4, "stage %d task %d ran again", r.Stage, r.Task)
		assert.False(t, committed[[2]int{r.Stage, r.Task}], "stage %d task %d committed, ran again", r.Stage, r.Task)
	}
	res, err := j.Result(context.Background())
	require.NoError(t, err)
	defer res.Release()
	var got []string
	for _, b := range res.Batches {
		for r := range int(b.NumRows()) {
			row := ""
			for c := range int(b.NumCols()) {
				if c > 0 {
					row += "|"
				}
				row += cell(b.Column(c), r)
			}
			got = append(got, row)
		}
	}
	assert.Equal(t, want, got)
}

// TestBroadcastBuildIsShared: the tasks of a stage probing a broadcast join share one
// table, built once; with a budget it does not fit, each task joins on its own
// (spilling) and the answer is the same.
func TestBroadcastBuildIsShared(t *testing.T) {
	cat := bigCatalog(t)
	want := runSQL(t, cat, bigQuery, func(o *Options) { o.BroadcastRows = 1; o.ShuffleRows = 1; o.Partitions = 4 })
	j, err := NewPlanner(cat, Options{Parallelism: 2}).Plan(context.Background(), bigQuery)
	require.NoError(t, err)
	defer j.Release()
	require.NoError(t, j.Run(context.Background()))
	var shared int
	for _, st := range j.Stages() {
		for _, sb := range st.shared {
			shared++
			assert.Greater(t, st.Tasks, 1, "stage %d", st.ID)
			assert.Equal(t, 1, sb.builds, "stage %d: one table for all its tasks", st.ID)
			assert.Nil(t, sb.b, "freed once the stage completed")
		}
	}
	assert.Equal(t, 1, shared)
	got := runSQL(t, cat, bigQuery)
	assert.Equal(t, want, got)
	tight := runSQL(t, cat, bigQuery, func(o *Options) { o.MemoryLimit = 16 << 10; o.Parallelism = 1 })
	assert.Equal(t, want, tight, "a build over the budget: joined task by task, spilling")
	j, err = NewPlanner(cat, Options{MemoryLimit: 16 << 10, Parallelism: 1}).Plan(context.Background(), bigQuery)
	require.NoError(t, err)
	defer j.Release()
	require.NoError(t, j.Run(context.Background()))
	for _, st := range j.Stages() {
		for _, sb := range st.shared {
			assert.True(t, sb.tooLarge, "stage %d", st.ID)
			assert.Zero(t, sb.builds)
		}
	}
}

// TestBroadcastOfTheMuchSmallerSide: a side over BroadcastRows is still broadcast when
// within 10 times it and at most half the other side; beyond that both are shuffled.
func TestBroadcastOfTheMuchSmallerSide(t *testing.T) {
	cat := bigCatalog(t) // facts 20k rows, dims 500
	for _, c := range []struct {
		rows      float64
		broadcast bool
	}{{1000, true}, {100, true}, {40, false}} {
		j, err := NewPlanner(cat, Options{BroadcastRows: c.rows, ShuffleRows: 1, Partitions: 4}).Plan(context.Background(), bigQuery)
		require.NoError(t, err)
		ex := j.Explain(false)
		j.Release()
		if c.broadcast {
			assert.Contains(t, ex, "BroadcastHashJoin build=right", "BroadcastRows %g", c.rows)
		} else {
			assert.Contains(t, ex, "HashJoin inner", "BroadcastRows %g", c.rows)
			assert.NotContains(t, ex, "Broadcast", "BroadcastRows %g", c.rows)
		}
	}
}
