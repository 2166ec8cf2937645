// Package reducetest runs reducers, including your own, in tests, in the spirit of
// net/http/httptest: inputs are literal rows (or generated ones) that become change
// batches only as the reducer reads them, allocated from a memory budget small enough
// to force spilling; the output is collected as plain Go values and compared as a
// multiset, in order, or by its net effect; and the run fails if the reducer leaves
// Arrow memory behind, with or without an error.
//
//	budget := reducetest.NewBudget(64 << 10)
//	j, _ := reduce.NewHashJoin(reduce.HashJoinConfig{..., Budget: budget})
//	res := reducetest.Run(t, j, reducetest.Options{Budget: budget, BatchRows: 3}, left, right)
//	res.AssertMultiset(t, []any{1, "a", 1, "x"}, []any{change.Delete, 2, "b", 2, "y"})
package reducetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/shuffle"
)

// T is the part of *testing.T the harness uses; *testing.T and *testing.B satisfy it.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	FailNow()
}

// ErrInjected is what emit returns once Options.FailEmitAfter batches have been emitted.
var ErrInjected = errors.New("reducetest: injected emit failure")

// ErrLeak is returned (wrapped) when a reducer leaves memory counted by the budget.
var ErrLeak = errors.New("reducetest: memory left behind")

// NewBudget returns a budget of limit bytes (0: unlimited) over a checked allocator, so
// a wrong free panics at the free rather than corrupting a later test.
func NewBudget(limit int64) *change.Budget {
	return change.NewBudget(limit, memory.NewCheckedAllocator(memory.DefaultAllocator))
}

// Options configures a run.
type Options struct {
	// Budget is what the inputs allocate from, and what the reducer should be built
	// with; nil: an unlimited budget from NewBudget. It must count 0 bytes at the start.
	Budget *change.Budget
	// BatchRows is the number of rows per input batch (0: 1024). Small values exercise
	// the reducer's handling of batch boundaries.
	BatchRows int
	// FailEmitAfter, when positive, makes emit return ErrInjected (after releasing the
	// batch, as a receiver does) from the (FailEmitAfter+1)th batch on, to test that
	// the reducer cleans up on error.
	FailEmitAfter int
}

// Result is what a reducer emitted.
type Result struct {
	// Schema is the schema of the emitted batches (nil when none was emitted).
	Schema *change.Schema
	// Rows are the emitted rows in order as plain Go values (see change.Batch.Plain),
	// each led by its op.
	Rows [][]any
	// Batches is the number of batches emitted.
	Batches int
	// Peak is the budget's peak in bytes at the end of the run.
	Peak int64
}

// Run runs r over inputs (one stream each, in order) and fails the test if Reduce
// returns an error or memory is left behind.
func Run(t T, r reduce.Reducer, opts Options, inputs ...Input) *Result {
	t.Helper()
	res, err := Exec(context.Background(), r, opts, inputs...)
	if err != nil {
		t.Errorf("reducetest: %v", err)
		t.FailNow()
	}
	return res
}

// RunError runs r like Run but expects Reduce to fail; it returns the error, and still
// fails the test if memory is left behind.
func RunError(t T, r reduce.Reducer, opts Options, inputs ...Input) error {
	t.Helper()
	_, err := Exec(context.Background(), r, opts, inputs...)
	if err == nil {
		t.Errorf("reducetest: Reduce succeeded, want an error")
		t.FailNow()
	}
	if errors.Is(err, ErrLeak) {
		t.Errorf("reducetest: %v", err)
		t.FailNow()
	}
	return err
}

// Exec runs r over inputs and returns what it emitted. The error is Reduce's, joined
// with ErrLeak when, after Reduce returned and the inputs were closed, the budget
// still counts bytes (batches read and not released, batches emitted and kept, Reserve
// without Unreserve), or with an input's error (a literal that does not fit its column).
func Exec(ctx context.Context, r reduce.Reducer, opts Options, inputs ...Input) (*Result, error) {
	budget := opts.Budget
	if budget == nil {
		budget = NewBudget(0)
	}
	if n := budget.Allocated(); n != 0 {
		return nil, fmt.Errorf("reducetest: the budget counts %d bytes before the run", n)
	}
	batchRows := opts.BatchRows
	if batchRows <= 0 {
		batchRows = 1024
	}
	streams := make([]*inputStream, len(inputs))
	in := make([]shuffle.Stream, len(inputs))
	for i, input := range inputs {
		if input.err != nil {
			return nil, fmt.Errorf("reducetest: input %d: %w", i, input.err)
		}
		streams[i] = &inputStream{in: input, mem: &counting{Allocator: budget}, rows: batchRows}
		in[i] = streams[i]
	}
	res := &Result{}
	var emitErr error
	emit := func(b *change.Batch) error {
		if b == nil {
			emitErr = errors.New("reducetest: emit of a nil batch")
			return emitErr
		}
		defer b.Release()
		if opts.FailEmitAfter > 0 && res.Batches >= opts.FailEmitAfter {
			return ErrInjected
		}
		if res.Schema == nil {
			res.Schema = b.Schema()
		} else if !res.Schema.Equal(b.Schema()) && emitErr == nil {
			emitErr = fmt.Errorf("reducetest: batch %d has schema %s, the first had %s", res.Batches, b.Schema(), res.Schema)
		}
		res.Batches++
		res.Rows = append(res.Rows, b.Plain()...)
		return nil
	}
	err := r.Reduce(ctx, in, emit)
	for _, s := range streams {
		if cerr := s.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if emitErr != nil {
		err = errors.Join(err, emitErr)
	}
	for i, s := range streams {
		if n := s.mem.n.Load(); n != 0 {
			err = errors.Join(err, fmt.Errorf("%w: input %d: %d bytes of the batches it handed over were not released", ErrLeak, i, n))
		}
	}
	if n := budget.Allocated(); n != 0 {
		err = errors.Join(err, fmt.Errorf("%w: the budget still counts %d bytes after Reduce returned (emitted batches kept, buffers not released, or Reserve without Unreserve)", ErrLeak, n))
	}
	res.Peak = budget.Peak()
	return res, err
}

// inputStream builds the batches of an Input as they are read.
type inputStream struct {
	in   Input
	mem  *counting
	rows int
	pos  int
	bld  *change.Builder
}

func (s *inputStream) Next(ctx context.Context) (*change.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.pos >= s.in.n {
		return nil, io.EOF
	}
	if s.bld == nil {
		s.bld = change.NewBuilder(s.mem, s.in.schema)
	}
	row := make(change.Row, s.in.schema.NumFields())
	end := min(s.pos+s.rows, s.in.n)
	for ; s.pos < end; s.pos++ {
		clear(row)
		op := s.in.gen(s.pos, row)
		if err := s.bld.Append(op, row); err != nil {
			return nil, fmt.Errorf("reducetest: row %d: %w", s.pos, err)
		}
	}
	return s.bld.NewBatch(), nil
}

func (s *inputStream) Close() error {
	if s.bld != nil {
		s.bld.Release()
		s.bld = nil
	}
	s.pos = s.in.n
	return nil
}

// counting is an allocator that counts the bytes outstanding through it, so a leak can
// be pinned on the input whose batches were not released.
type counting struct {
	memory.Allocator
	n atomic.Int64
}

func (c *counting) Allocate(size int) []byte {
	b := c.Allocator.Allocate(size)
	c.n.Add(int64(len(b)))
	return b
}

func (c *counting) Reallocate(size int, b []byte) []byte {
	old := len(b)
	out := c.Allocator.Reallocate(size, b)
	c.n.Add(int64(len(out) - old))
	return out
}

func (c *counting) Free(b []byte) {
	c.n.Add(-int64(len(b)))
	c.Allocator.Free(b)
}
