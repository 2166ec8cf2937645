package plan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/expr"
	"github.com/strata-data/strata/shuffle"
)

// sink receives the batches of a task's pipeline; push takes over b.
type sink interface {
	push(ctx context.Context, b *change.Batch) error
	finish(ctx context.Context) error
}

// taskEnv is what a running task's operators share.
type taskEnv struct {
	task  int
	mem   memory.Allocator
	ectx  *expr.Context
	rows  int64 // rows the task emitted
	spill int64
	c     context.Context
}

// opSpec builds one operator of a pipeline for a task.
type opSpec struct {
	desc  string
	build func(env *taskEnv, next sink) sink
}

// internalSchema names n columns c0..cn-1 (names the kernels address them by).
func internalSchema(types []arrow.DataType) (*change.Schema, error) {
	fs := make([]arrow.Field, len(types))
	for i, t := range types {
		fs[i] = arrow.Field{Name: fmt.Sprintf("c%d", i), Type: t, Nullable: true}
	}
	return change.NewSchema(fs)
}

func fieldTypes(fs []Field) []arrow.DataType {
	out := make([]arrow.DataType, len(fs))
	for i, f := range fs {
		out[i] = f.Type
	}
	return out
}

func colName(i int) string { return fmt.Sprintf("c%d", i) }

// asBatch wraps a record (taken over) of the internal schema s.
func asBatch(s *change.Schema, rec arrow.RecordBatch) (*change.Batch, error) {
	if !rec.Schema().Equal(s.Arrow()) {
		cols := rec.Columns()
		nr := array.NewRecordBatch(s.Arrow(), cols, rec.NumRows())
		rec.Release()
		rec = nr
	}
	return change.NewBatch(s, rec, insertOps(int(rec.NumRows())))
}

// filterOp keeps rows where every conjunct is true; each conjunct that may fail runs
// only on the rows the ones before it kept (expr.FilterAll).
type filterOp struct {
	env   *taskEnv
	conds []expr.Expr
	s     *change.Schema
	next  sink
}

func (f *filterOp) push(ctx context.Context, b *change.Batch) error {
	rec, err := expr.FilterAll(f.env.ectx, b.Record(), f.conds)
	b.Release()
	if err != nil {
		return err
	}
	if rec.NumRows() == 0 {
		rec.Release()
		return nil
	}
	nb, err := asBatch(f.s, rec)
	if err != nil {
		return err
	}
	return f.next.push(ctx, nb)
}
func (f *filterOp) finish(ctx context.Context) error { return f.next.finish(ctx) }

func filterSpec(cond expr.Expr, in []Field, s *change.Schema) opSpec {
	return opSpec{desc: "Filter " + exprText(cond, in), build: func(env *taskEnv, next sink) sink {
		return &filterOp{env: env, conds: splitAnd(cond), s: s, next: next}
	}}
}

// projectOp computes expressions.
type projectOp struct {
	env   *taskEnv
	exprs []expr.Expr
	proj  *expr.Projection // exprs, sharing common subexpressions
	names []string
	s     *change.Schema
	next  sink
}

func (p *projectOp) push(ctx context.Context, b *change.Batch) error {
	var rec arrow.RecordBatch
	allCols := true
	for _, e := range p.exprs {
		if _, ok := e.(*expr.Column); !ok {
			allCols = false
		}
	}
	if allCols {
		cols := make([]arrow.Array, len(p.exprs))
		for i, e := range p.exprs {
			cols[i] = b.Column(e.(*expr.Column).Index)
		}
		rec = array.NewRecordBatch(p.s.Arrow(), cols, int64(b.Len()))
	} else {
		var err error
		rec, err = p.proj.Eval(p.env.ectx, b.Record(), p.names)
		if err != nil {
			b.Release()
			return err
		}
	}
	b.Release()
	nb, err := asBatch(p.s, rec)
	if err != nil {
		return err
	}
	return p.next.push(ctx, nb)
}
func (p *projectOp) finish(ctx context.Context) error { return p.next.finish(ctx) }

func projectSpec(exprs []expr.Expr, in []Field, out []Field, s *change.Schema) opSpec {
	parts := ""
	for i, e := range exprs {
		if i > 0 {
			parts += ", "
		}
		parts += exprText(e, in)
		if c, ok := e.(*expr.Column); !ok || in[c.Index].Name != out[i].Name {
			parts += " AS " + out[i].Name
		}
	}
	names := make([]string, len(exprs))
	for i := range names {
		names[i] = colName(i)
	}
	proj := expr.NewProjection(exprs, len(in))
	return opSpec{desc: "Project " + parts, build: func(env *taskEnv, next sink) sink {
		return &projectOp{env: env, exprs: exprs, proj: proj, names: names, s: s, next: next}
	}}
}

// limitOp skips offset rows and passes count (count < 0: all).
type limitOp struct {
	offset, count int64
	next          sink
}

func (l *limitOp) push(ctx context.Context, b *change.Batch) error {
	n := int64(b.Len())
	start := min(l.offset, n)
	l.offset -= start
	end := n
	if l.count >= 0 {
		end = min(n, start+l.count)
		l.count -= end - start
	}
	if start == 0 && end == n {
		return l.next.push(ctx, b)
	}
	if end <= start {
		b.Release()
		return nil
	}
	rec := b.Record().NewSlice(start, end)
	s := b.Schema()
	b.Release()
	nb, err := change.NewBatch(s, rec, insertOps(int(end-start)))
	if err != nil {
		return err
	}
	return l.next.push(ctx, nb)
}
func (l *limitOp) finish(ctx context.Context) error { return l.next.finish(ctx) }

// errTooManyRows is a scalar subquery's second row.
var errTooManyRows = errors.New("plan: more than one row returned by a subquery used as an expression")

type singleRowOp struct {
	n    int64
	next sink
}

func (s *singleRowOp) push(ctx context.Context, b *change.Batch) error {
	s.n += int64(b.Len())
	if s.n > 1 {
		b.Release()
		return errTooManyRows
	}
	return s.next.push(ctx, b)
}
func (s *singleRowOp) finish(ctx context.Context) error { return s.next.finish(ctx) }

// rowIDOp appends a unique int64: the task in the high bits, the row below.
type rowIDOp struct {
	env  *taskEnv
	s    *change.Schema
	n    int64
	next sink
}

func (r *rowIDOp) push(ctx context.Context, b *change.Batch) error {
	ib := array.NewInt64Builder(r.env.mem)
	ib.Reserve(b.Len())
	base := int64(r.env.task)<<40 + r.n
	for i := range b.Len() {
		ib.UnsafeAppend(base + int64(i))
	}
	r.n += int64(b.Len())
	id := ib.NewArray()
	ib.Release()
	cols := append(append([]arrow.Array{}, b.Record().Columns()...), id)
	rec := array.NewRecordBatch(r.s.Arrow(), cols, int64(b.Len()))
	id.Release()
	b.Release()
	nb, err := change.NewBatch(r.s, rec, insertOps(int(rec.NumRows())))
	if err != nil {
		return err
	}
	return r.next.push(ctx, nb)
}
func (r *rowIDOp) finish(ctx context.Context) error { return r.next.finish(ctx) }

// pipeOp runs a pull-based kernel (a reducer, a combiner) inside a push pipeline: the
// kernel runs in a goroutine reading the pushed batches as a stream, and emits to next.
type pipeOp struct {
	closed bool
	ch     chan *change.Batch
	done   chan error
	ctx    context.Context
	stop   context.CancelFunc
	err    error
}

func newPipeOp(ctx context.Context, next sink, run func(ctx context.Context, in shuffle.Stream, emit func(*change.Batch) error) error) *pipeOp {
	cctx, cancel := context.WithCancel(ctx)
	p := &pipeOp{ch: make(chan *change.Batch, 2), done: make(chan error, 1), ctx: cctx, stop: cancel}
	go func() {
		in := &chanStream{ch: p.ch}
		err := run(cctx, in, func(b *change.Batch) error { return next.push(cctx, b) })
		in.Close()
		if err == nil {
			err = next.finish(cctx)
		}
		if err != nil {
			cancel()
		}
		p.done <- err
	}()
	return p
}

func (p *pipeOp) push(ctx context.Context, b *change.Batch) error {
	select {
	case p.ch <- b:
		return nil
	case <-p.ctx.Done():
		b.Release()
		return p.wait()
	}
}

func (p *pipeOp) wait() error {
	if p.done != nil {
		p.err = <-p.done
		p.done = nil
		p.stop()
	}
	if p.err == nil {
		return context.Cause(p.ctx)
	}
	return p.err
}

func (p *pipeOp) finish(ctx context.Context) error {
	if !p.closed {
		p.closed = true
		close(p.ch)
	}
	if p.done != nil {
		p.err = <-p.done
		p.done = nil
		p.stop()
	}
	return p.err
}

// abort stops the kernel after a failure upstream.
func (p *pipeOp) abort() {
	if p.done == nil {
		return
	}
	p.stop()
	if !p.closed {
		p.closed = true
		close(p.ch)
	}
	<-p.done
	p.done = nil
}

type chanStream struct {
	ch     chan *change.Batch
	closed bool
}

func (c *chanStream) Next(ctx context.Context) (*change.Batch, error) {
	select {
	case b, ok := <-c.ch:
		if !ok {
			return nil, io.EOF
		}
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close drains what is left (the producer may still push until it sees the end).
func (c *chanStream) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	go func() {
		for b := range c.ch {
			b.Release()
		}
	}()
	return nil
}

// collectSink gathers batches (the output of a task attempt).
type outSink struct {
	out *taskOutput
	env *taskEnv
}

func (o *outSink) push(ctx context.Context, b *change.Batch) error {
	o.env.rows += int64(b.Len())
	return o.out.write(ctx, b)
}
func (o *outSink) finish(context.Context) error { return nil }

// renameOp rewraps batches in the internal schema s (same types, names c0..).
type renameOp struct {
	s    *change.Schema
	next sink
}

func (r *renameOp) push(ctx context.Context, b *change.Batch) error {
	rec := b.Record()
	rec.Retain()
	b.Release()
	nb, err := asBatch(r.s, rec)
	if err != nil {
		return err
	}
	return r.next.push(ctx, nb)
}
func (r *renameOp) finish(ctx context.Context) error { return r.next.finish(ctx) }

// once guards a value computed by the first task that needs it.
type once[T any] struct {
	o   sync.Once
	v   T
	err error
}

func (o *once[T]) get(f func() (T, error)) (T, error) {
	o.o.Do(func() { o.v, o.err = f() })
	return o.v, o.err
}
