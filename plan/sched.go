package plan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/expr"
	"github.com/strata-data/strata/internal/mempool"
)

// Options configure planning and execution. The zero value works: defaults are filled
// in by ensureDefaults.
type Options struct {
	// Allocator is where Arrow memory comes from (default: Go memory, each job's
	// buffers reused within the job once released: a mempool.Scope, closed when the
	// job is released, so a result released after that is left to the collector).
	Allocator memory.Allocator
	// MemoryLimit bounds the bytes the query's kernels hold before they spill (0: no
	// limit). Exchanges between stages hold their batches in memory.
	MemoryLimit int64
	// Parallelism is the number of tasks run at once (default GOMAXPROCS).
	Parallelism int
	// Partitions is the number of partitions of a shuffle (default 2 × Parallelism).
	Partitions int
	// BroadcastRows: a join side estimated at most this many rows is broadcast to
	// every task of the other side instead of shuffling both (default 200000); so is
	// one of up to 10 times that when the other side is at least twice its size.
	BroadcastRows float64
	// ShuffleRows: a join or aggregate of fewer estimated rows runs in one partition
	// (default 50000).
	ShuffleRows float64
	// PreferMergeJoin plans partitioned joins as sort-merge joins (bounded memory for
	// any input size) instead of hash joins.
	PreferMergeJoin bool
	// MaxAttempts is how often a task runs before its failure fails the query
	// (default 3); Backoff is the wait before the first retry, doubled after each
	// (default 10ms).
	MaxAttempts int
	Backoff     time.Duration
	// SpillDir is where kernels spill (default os.TempDir()).
	SpillDir string
	// Now is the statement time of now() and current_date (default: time.Now()).
	Now time.Time
	// Fault, when set, is called before a task attempt commits; an error fails the
	// attempt (its output is discarded). For fault-injection tests.
	Fault func(stage, task, attempt int) error
	// Logger receives a line per failed attempt (default slog.Default()).
	Logger *slog.Logger

	budget *change.Budget
}

// Validate reports settings that cannot work.
func (o Options) Validate() error {
	switch {
	case o.MemoryLimit < 0:
		return fmt.Errorf("plan: Options.MemoryLimit %d is negative", o.MemoryLimit)
	case o.Parallelism < 0, o.Partitions < 0, o.MaxAttempts < 0:
		return errors.New("plan: Options.Parallelism, Partitions and MaxAttempts must not be negative")
	}
	return nil
}

func (o *Options) ensureDefaults() error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	if o.Parallelism == 0 {
		o.Parallelism = runtime.GOMAXPROCS(0)
	}
	if o.Partitions == 0 {
		o.Partitions = 2 * o.Parallelism
	}
	if o.BroadcastRows == 0 {
		o.BroadcastRows = 200000
	}
	if o.ShuffleRows == 0 {
		o.ShuffleRows = 50000
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 3
	}
	if o.Backoff == 0 {
		o.Backoff = 10 * time.Millisecond
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.budget == nil {
		o.budget = change.NewBudget(o.MemoryLimit, o.Allocator)
	}
	return nil
}

// TaskRecord is the lineage of one task attempt.
type TaskRecord struct {
	Stage, Task, Attempt int
	// Inputs are the splits or the stage partitions the task read.
	Inputs []string
	// Output is where its rows went: "stage N" (published only if Committed).
	Output    string
	Rows      int64
	Bytes     int64
	Start     time.Time
	Duration  time.Duration
	Err       string
	Committed bool
}

type stageStats struct {
	rows, bytes, spill atomic.Int64
	busy               atomic.Int64 // ns of task time
	wall               time.Duration
	attempts           atomic.Int64
}

// Job is a planned query: the stages of its physical plan, run by Run on a worker
// pool. A Job whose Run failed can Run again: completed stages (and committed tasks)
// are not run twice.
type Job struct {
	opts    Options
	logical Node
	stages  []*Stage
	root    *Stage
	names   []string
	mu      sync.Mutex
	lineage []TaskRecord
	done    bool
	pool    *mempool.Scope // the job's own allocator (Options.Allocator unset), closed by Release
}

// Stages returns the stages in the order they run.
func (j *Job) Stages() []*Stage { return j.stages }

// Lineage lists a record per task attempt run so far, in completion order.
func (j *Job) Lineage() []TaskRecord {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]TaskRecord(nil), j.lineage...)
}

// Run runs the stages not yet complete.
func (j *Job) Run(ctx context.Context) error {
	for _, st := range j.stages {
		if err := j.runStage(ctx, st); err != nil {
			return err
		}
		st.release()
	}
	j.done = true
	return nil
}

func (j *Job) runStage(ctx context.Context, st *Stage) error {
	start := time.Now()
	defer func() { st.stats.wall += time.Since(start) }()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, j.opts.Parallelism)
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	for t := range st.Tasks {
		if st.out.committed(t) {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := j.runTask(ctx, st, t); err != nil {
				if first.CompareAndSwap(nil, &err) {
					cancel(err)
				}
			}
		}()
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return context.Cause(ctx)
}

// runTask runs a task's attempts until one commits or MaxAttempts fail.
func (j *Job) runTask(ctx context.Context, st *Stage, task int) error {
	var err error
	for attempt := 1; attempt <= j.opts.MaxAttempts; attempt++ {
		if attempt > 1 {
			wait := j.opts.Backoff << (attempt - 2)
			wait += time.Duration(rand.Int64N(int64(wait)/2 + 1))
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		err = j.attempt(ctx, st, task, attempt)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || errors.Is(err, errTooManyRows) || errors.Is(err, expr.ErrDivisionByZero) ||
			errors.Is(err, expr.ErrOutOfRange) || errors.Is(err, expr.ErrInvalidInput) {
			return err // deterministic: a retry fails the same way
		}
		j.opts.Logger.Debug("plan: task attempt failed", "stage", st.ID, "task", task, "attempt", attempt, "err", err)
	}
	return fmt.Errorf("plan: stage %d task %d failed after %d attempts: %w", st.ID, task, j.opts.MaxAttempts, err)
}

func (e *taskEnv) ctx() context.Context { return e.c }

func (j *Job) attempt(ctx context.Context, st *Stage, task, attempt int) (err error) {
	start := time.Now()
	env := &taskEnv{task: task, mem: j.opts.budget, ectx: &expr.Context{Alloc: j.opts.budget, Now: j.opts.Now}, c: ctx}
	out := st.out.open(task, j.opts.budget)
	var chain sink = &outSink{out: out, env: env}
	var pipes []*pipeOp
	for i := len(st.ops) - 1; i >= 0; i-- {
		chain = st.ops[i].build(env, chain)
		if p, ok := chain.(*pipeOp); ok {
			pipes = append(pipes, p)
		}
	}
	rec := TaskRecord{Stage: st.ID, Task: task, Attempt: attempt, Output: fmt.Sprintf("stage %d", st.ID), Start: start}
	if st.inputs != nil {
		rec.Inputs = st.inputs(task)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plan: stage %d task %d: panic: %v", st.ID, task, r)
		}
		if err != nil {
			for _, p := range pipes {
				p.abort()
			}
			out.discard()
			rec.Err = err.Error()
		} else {
			rec.Committed = out.commit()
		}
		rec.Rows, rec.Bytes, rec.Duration = env.rows, out.bytes, time.Since(start)
		st.stats.busy.Add(int64(rec.Duration))
		st.stats.attempts.Add(1)
		if rec.Committed {
			st.stats.rows.Add(env.rows)
			st.stats.bytes.Add(out.bytes)
			st.stats.spill.Add(env.spill)
		}
		j.mu.Lock()
		j.lineage = append(j.lineage, rec)
		j.mu.Unlock()
	}()
	if err = st.source(ctx, env, chain); err != nil {
		return err
	}
	if err = chain.finish(ctx); err != nil {
		return err
	}
	pipes = nil // finished
	if j.opts.Fault != nil {
		if err = j.opts.Fault(st.ID, task, attempt); err != nil {
			return err
		}
	}
	return nil
}

// Release frees what the job's exchanges (and the stages' shared tables) hold.
func (j *Job) Release() {
	for _, st := range j.stages {
		st.release()
		st.out.release()
	}
	if j.pool != nil {
		j.pool.Close()
	}
}

// release frees what st's tasks share (a later run builds it again).
func (st *Stage) release() {
	for _, sb := range st.shared {
		sb.release()
	}
}
