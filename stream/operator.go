package stream

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
)

// Errors of the stream operators, matched with errors.Is.
var (
	// ErrConfig is returned (wrapped) for an operator configuration that cannot work.
	ErrConfig = errors.New("stream: invalid operator configuration")
	// ErrInput is returned (wrapped) for input an operator cannot apply: a batch of
	// the wrong schema, or a retraction of a row it never saw.
	ErrInput    = errors.New("stream: invalid input")
	errShortKey = errors.New("stream: truncated state key")
	errBadKey   = errors.New("stream: malformed state key")
)

// Emit receives an operator's output batch, taking over its reference. It is the
// same function type as reduce's.
type Emit = reduce.Emit

// Operator is one incremental step over change batches.
//
// Process takes over the input batch's reference (it releases it, also on error),
// and emits zero or more batches through emit before it returns. Process is not
// safe for concurrent use; an operator runs in one goroutine (one per partition).
type Operator interface {
	Process(ctx context.Context, in *change.Batch, emit Emit) error
	// Schema is the schema of the batches the operator emits.
	Schema() *change.Schema
}

// Stateful is an Operator that keeps its state in a state.Backend, in the
// namespaces it names. Between two Process calls everything it needs to go on is in
// the backend (it caches nothing across calls), so a checkpoint of the backend taken
// between Process calls is a snapshot of the operator, and an operator built on a
// backend restored from it resumes where the snapshot was taken. After Process
// returns an error, the operator's state may be partly updated: restore it.
type Stateful interface {
	Operator
	Namespaces() []string
}

// Chain runs operators one after another as one Operator: each batch one emits is
// processed by the next.
func Chain(ops ...Operator) Operator {
	if len(ops) == 1 {
		return ops[0]
	}
	return chain(ops)
}

type chain []Operator

func (c chain) Schema() *change.Schema { return c[len(c)-1].Schema() }

func (c chain) Process(ctx context.Context, in *change.Batch, emit Emit) error {
	return c.run(ctx, 0, in, emit)
}

func (c chain) run(ctx context.Context, i int, in *change.Batch, emit Emit) error {
	if i == len(c) {
		return emit(in)
	}
	return c[i].Process(ctx, in, func(b *change.Batch) error { return c.run(ctx, i+1, b, emit) })
}

// checkSchema reports a batch whose schema is not the operator's input schema.
func checkSchema(name string, want *change.Schema, b *change.Batch) error {
	if !b.Schema().Arrow().Equal(want.Arrow()) {
		return fmt.Errorf("%w: %s: batch schema %s, want %s", ErrInput, name, b.Schema(), want)
	}
	return nil
}

// Filter keeps the rows its predicate selects. Pred returns one bool per row of
// the batch; it must not keep the batch. Update pairs stay well formed: a -U whose
// +U is dropped becomes -D, a +U whose -U is dropped becomes +I (a -U is followed by
// its +U, as the change model has them).
type Filter struct {
	In   *change.Schema
	Pred func(b *change.Batch) ([]bool, error)
	// Mem allocates the output columns (default memory.DefaultAllocator).
	Mem memory.Allocator
}

// Schema implements Operator: a filter's output schema is its input's.
func (f *Filter) Schema() *change.Schema { return f.In }

// Process implements Operator.
func (f *Filter) Process(ctx context.Context, in *change.Batch, emit Emit) error {
	defer in.Release()
	if err := checkSchema("filter", f.In, in); err != nil {
		return err
	}
	keep, err := f.Pred(in)
	if err != nil {
		return fmt.Errorf("stream: filter predicate: %w", err)
	}
	if len(keep) != in.Len() {
		return fmt.Errorf("%w: filter predicate returned %d values for %d rows", ErrInput, len(keep), in.Len())
	}
	ops := in.Ops()
	var rows []int
	var outOps []change.Op
	all := true
	for i, k := range keep {
		op := ops[i]
		paired := op == change.UpdateBefore && i+1 < len(ops) && ops[i+1] == change.UpdateAfter
		if paired {
			switch {
			case k && keep[i+1]:
			case k:
				op = change.Delete
			}
		} else if op == change.UpdateAfter && i > 0 && ops[i-1] == change.UpdateBefore && !keep[i-1] {
			op = change.Insert
		}
		if !k {
			all = false
			continue
		}
		if op != ops[i] {
			all = false
		}
		rows = append(rows, i)
		outOps = append(outOps, op)
	}
	if all {
		in.Retain()
		return emit(in)
	}
	if len(rows) == 0 {
		return nil
	}
	out, err := takeRows(f.Mem, in, rows, outOps)
	if err != nil {
		return err
	}
	return emit(out)
}

// takeRows builds a batch of the given rows of b (ascending) with the given ops:
// runs of consecutive rows become slices, concatenated per column.
func takeRows(mem memory.Allocator, b *change.Batch, rows []int, ops []change.Op) (*change.Batch, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	rec := b.Record()
	cols := make([]arrow.Array, rec.NumCols())
	var parts []arrow.Array
	for c := range cols {
		parts = parts[:0]
		for i := 0; i < len(rows); {
			j := i + 1
			for j < len(rows) && rows[j] == rows[j-1]+1 {
				j++
			}
			parts = append(parts, array.NewSlice(rec.Column(c), int64(rows[i]), int64(rows[j-1]+1)))
			i = j
		}
		a, err := array.Concatenate(parts, mem)
		for _, p := range parts {
			p.Release()
		}
		if err != nil {
			for _, a := range cols[:c] {
				a.Release()
			}
			return nil, fmt.Errorf("stream: gather rows: %w", err)
		}
		cols[c] = a
	}
	out := array.NewRecordBatch(rec.Schema(), cols, int64(len(rows)))
	for _, a := range cols {
		a.Release()
	}
	return change.NewBatch(b.Schema(), out, ops)
}

// Project keeps the named columns, in the given order (no copying: the output
// shares the input's columns). Key is the output's primary key (default: the
// input's, when every key column is kept).
type Project struct {
	in, out *change.Schema
	cols    []int
}

// NewProject returns the projection of in onto columns.
func NewProject(in *change.Schema, columns []string, key ...string) (*Project, error) {
	p := &Project{in: in}
	fs := make([]arrow.Field, 0, len(columns))
	for _, name := range columns {
		c := in.FieldIndex(name)
		if c < 0 {
			return nil, fmt.Errorf("%w: project: column %q is not a column of %s", ErrConfig, name, in)
		}
		p.cols = append(p.cols, c)
		fs = append(fs, in.Field(c))
	}
	if key == nil {
		key = in.KeyNames()
		for _, k := range key {
			if !contains(columns, k) {
				key = nil
				break
			}
		}
	}
	var err error
	if p.out, err = change.NewSchema(fs, key...); err != nil {
		return nil, fmt.Errorf("%w: project: %w", ErrConfig, err)
	}
	return p, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Schema implements Operator.
func (p *Project) Schema() *change.Schema { return p.out }

// Process implements Operator.
func (p *Project) Process(ctx context.Context, in *change.Batch, emit Emit) error {
	defer in.Release()
	if err := checkSchema("project", p.in, in); err != nil {
		return err
	}
	cols := make([]arrow.Array, len(p.cols))
	for i, c := range p.cols {
		cols[i] = in.Column(c)
	}
	rec := array.NewRecordBatch(p.out.Arrow(), cols, int64(in.Len()))
	out, err := change.NewBatch(p.out, rec, in.Ops())
	if err != nil {
		rec.Release()
		return err
	}
	return emit(out)
}

// Map computes new columns from each batch: Fn returns a record of Out's schema
// with one row per input row (taking over its reference); the input's ops carry
// over. Fn must not keep the input batch.
type Map struct {
	In, Out *change.Schema
	Fn      func(in *change.Batch) (arrow.RecordBatch, error)
}

// Schema implements Operator.
func (m *Map) Schema() *change.Schema { return m.Out }

// Process implements Operator.
func (m *Map) Process(ctx context.Context, in *change.Batch, emit Emit) error {
	defer in.Release()
	if err := checkSchema("map", m.In, in); err != nil {
		return err
	}
	rec, err := m.Fn(in)
	if err != nil {
		return fmt.Errorf("stream: map: %w", err)
	}
	if rec.NumRows() != int64(in.Len()) {
		n := rec.NumRows()
		rec.Release()
		return fmt.Errorf("%w: map returned %d rows for %d", ErrInput, n, in.Len())
	}
	out, err := change.NewBatch(m.Out, rec, in.Ops())
	if err != nil {
		rec.Release()
		return fmt.Errorf("stream: map: %w", err)
	}
	return emit(out)
}
