package plan

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/expr"
	"github.com/strata-data/strata/internal/mempool"
	"github.com/strata-data/strata/shuffle"
)

// Planner turns SQL into a runnable Job.
type Planner interface {
	// Plan parses, binds, optimizes and splits sql into stages; it reads table
	// metadata (schemas, statistics, splits) but no data.
	Plan(ctx context.Context, sql string) (*Job, error)
}

// Option adjusts the Options of Query.
type Option func(*Options)

// WithOptions replaces the options wholesale.
func WithOptions(o Options) Option { return func(p *Options) { *p = o } }

// WithMemoryLimit bounds the memory kernels hold before spilling.
func WithMemoryLimit(n int64) Option { return func(o *Options) { o.MemoryLimit = n } }

// WithParallelism sets the number of tasks run at once.
func WithParallelism(n int) Option { return func(o *Options) { o.Parallelism = n } }

// WithAllocator sets the Arrow allocator (a memory.CheckedAllocator in tests).
func WithAllocator(mem interface {
	Allocate(int) []byte
	Reallocate(int, []byte) []byte
	Free([]byte)
}) Option {
	return func(o *Options) { o.Allocator = mem }
}

// NewPlanner returns the planner over cat.
func NewPlanner(cat Catalog, opts Options) Planner { return &planner{cat: cat, opts: opts} }

type planner struct {
	cat  Catalog
	opts Options
}

// Plan implements Planner.
func (p *planner) Plan(ctx context.Context, sql string) (*Job, error) {
	opts := p.opts
	opts.budget = nil
	var pool *mempool.Scope
	if opts.Allocator == nil {
		pool = mempool.NewScope()
		opts.Allocator = pool
	}
	if err := opts.ensureDefaults(); err != nil {
		return nil, err
	}
	logical, err := Parse(ctx, p.cat, sql)
	if err != nil {
		return nil, err
	}
	ectx := &expr.Context{Alloc: opts.budget, Now: opts.Now}
	optimized, err := Optimize(ectx, logical)
	if err != nil {
		return nil, err
	}
	pb := &physBuilder{ctx: ctx, opts: &opts}
	root, err := pb.build(optimized)
	if err != nil {
		return nil, err
	}
	pb.seal(root, Partitioning{Kind: Single})
	j := &Job{opts: opts, logical: optimized, stages: pb.stages, root: root, pool: pool}
	for _, f := range optimized.Fields() {
		j.names = append(j.names, f.Name)
	}
	return j, nil
}

// Logical returns the optimized logical plan.
func (j *Job) Logical() Node { return j.logical }

// Result is a query's answer: its schema and record batches, which the caller releases
// with Release.
type Result struct {
	Schema  *arrow.Schema
	Batches []arrow.RecordBatch
}

// NumRows is the number of rows.
func (r *Result) NumRows() int64 {
	var n int64
	for _, b := range r.Batches {
		n += b.NumRows()
	}
	return n
}

// Release frees the batches.
func (r *Result) Release() {
	for _, b := range r.Batches {
		b.Release()
	}
	r.Batches = nil
}

// Reader returns the batches as an arrow RecordReader (which the caller releases; the
// Result's own references are untouched).
func (r *Result) Reader() (array.RecordReader, error) {
	return array.NewRecordReader(r.Schema, r.Batches)
}

// Result collects the job's output (after Run) with the query's column names.
func (j *Job) Result(ctx context.Context) (*Result, error) {
	if !j.done {
		return nil, fmt.Errorf("plan: the job has not run")
	}
	fs := make([]arrow.Field, len(j.names))
	types := j.root.schema.Fields()
	for i, n := range j.names {
		fs[i] = arrow.Field{Name: n, Type: types[i].Type, Nullable: true}
	}
	res := &Result{Schema: arrow.NewSchema(fs, nil)}
	s := j.root.out.read(0)
	defer s.Close()
	err := drain(ctx, s, func(b *change.Batch) error {
		rec := array.NewRecordBatch(res.Schema, b.Record().Columns(), int64(b.Len()))
		b.Release()
		res.Batches = append(res.Batches, rec)
		return nil
	})
	if err != nil {
		res.Release()
		return nil, err
	}
	return res, nil
}

// Query runs sql against cat and returns its result, which the caller releases.
// "EXPLAIN [ANALYZE] SELECT ..." returns the plan as rows of one text column.
//
//	res, err := plan.Query(ctx, cat, "SELECT status, count(*) FROM orders GROUP BY 1")
//	if err != nil { ... }
//	defer res.Release()
func Query(ctx context.Context, cat Catalog, sql string, opts ...Option) (*Result, error) {
	var o Options
	for _, f := range opts {
		f(&o)
	}
	inner, mode, err := explainOf(sql)
	if err != nil {
		return nil, err
	}
	j, err := NewPlanner(cat, o).Plan(ctx, inner)
	if err != nil {
		return nil, err
	}
	defer j.Release()
	if mode == "explain" {
		return textResult(j.Explain(false))
	}
	start := time.Now()
	if err := j.Run(ctx); err != nil {
		return nil, err
	}
	if mode == "analyze" {
		_ = start
		return textResult(j.Explain(true))
	}
	return j.Result(ctx)
}

// explainOf strips EXPLAIN [ANALYZE] from sql.
func explainOf(sql string) (string, string, error) {
	tree, err := pg.Parse(sql)
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if len(tree.Stmts) != 1 {
		return sql, "", nil
	}
	ex := tree.Stmts[0].Stmt.GetExplainStmt()
	if ex == nil {
		return sql, "", nil
	}
	mode := "explain"
	for _, o := range ex.Options {
		if d := o.GetDefElem(); d != nil && strings.EqualFold(d.Defname, "analyze") {
			mode = "analyze"
		}
	}
	out, err := pg.Deparse(&pg.ParseResult{Stmts: []*pg.RawStmt{{Stmt: ex.Query}}})
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return out, mode, nil
}

func textResult(text string) (*Result, error) {
	s := arrow.NewSchema([]arrow.Field{{Name: "QUERY PLAN", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewStringBuilder(nil)
	defer b.Release()
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		b.Append(line)
	}
	a := b.NewArray()
	defer a.Release()
	return &Result{Schema: s, Batches: []arrow.RecordBatch{array.NewRecordBatch(s, []arrow.Array{a}, int64(a.Len()))}}, nil
}

var _ = shuffle.NewSliceStream
