package gold

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/plan"
)

// ErrNotBuilt is returned for a model whose output a query needs but that has not been
// built into the target directory yet.
var ErrNotBuilt = errors.New("gold: model not built")

// Options configure [Project.Build] and [Project.Test]. The zero value builds every
// model into DIR/target with sources unavailable.
type Options struct {
	// Target is the directory outputs go to: TARGET/<relation>.parquet for every table
	// and incremental model (default: the project's target-path, target/).
	Target string
	// Select chooses the models and seeds to build or test, in dbt's selection syntax
	// (see [DAG.Select]); empty selects all. Tests run when every node they read is
	// selected, as dbt's default (eager) indirect selection does for the models tested.
	Select string
	// Sources resolves source() relations (schema.identifier), e.g. a silver lake's
	// catalog; nil makes any source() an error.
	Sources plan.Catalog
	// Workers is the number of models built (or tests run) at once (default GOMAXPROCS).
	Workers int
	// FullRefresh rebuilds incremental models from scratch.
	FullRefresh bool
	// Allocator is where Arrow memory comes from (default memory.DefaultAllocator).
	Allocator memory.Allocator
	// Query holds the options of each query the build runs (its Allocator is replaced
	// by Allocator).
	Query plan.Options
	// Progress, if set, is called as each model, seed or test finishes (from several
	// goroutines, one call at a time).
	Progress func(Result)
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	if o.Workers < 0 {
		return fmt.Errorf("%w: Options.Workers %d is negative", ErrConfig, o.Workers)
	}
	return o.Query.Validate()
}

func (o *Options) ensureDefaults(p *Project) {
	if o.Target == "" {
		o.Target = filepath.Join(p.Dir, p.TargetPath)
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	o.Query.Allocator = o.Allocator
}

// Status is the outcome of one node or test.
type Status string

// Statuses of a [Result].
const (
	StatusOK      Status = "OK"      // a model or seed built
	StatusError   Status = "ERROR"   // a model, seed or test could not run
	StatusSkipped Status = "SKIPPED" // not run: something it depends on failed
	StatusPass    Status = "PASS"    // a test found no failing rows
	StatusFail    Status = "FAIL"    // a test found failing rows (severity error)
	StatusWarn    Status = "WARN"    // a test found failing rows (severity warn)
)

// Result is what happened to one seed, model or test.
type Result struct {
	Name   string
	Kind   string // seed, view, table, incremental, ephemeral or test
	Status Status
	// Rows is the output's row count for seeds, tables and incremental models (-1 when
	// not known: views and ephemerals are not run on their own), and the failing rows
	// for tests.
	Rows int64
	// NewRows is, for an incremental run, the rows its query returned (those appended
	// or merged); -1 otherwise.
	NewRows int64
	Err     error
	// Duration is the whole time; Overhead the part spent rendering, compiling and
	// planning (not running) the node's queries.
	Duration, Overhead time.Duration
	Path               string // the output file, for tables and incremental models
}

// Run is the outcome of a build or test run.
type Run struct {
	Nodes []Result // seeds and models, in DAG order
	Tests []Result // sorted by name
	// Stats holds what the run learned of each node's output, for [Project.Catalog].
	Stats map[string]NodeStats
}

// Failed reports whether anything errored or a test of severity error failed.
func (r *Run) Failed() bool {
	for _, l := range [][]Result{r.Nodes, r.Tests} {
		for _, x := range l {
			if x.Status == StatusError || x.Status == StatusFail || x.Status == StatusSkipped {
				return true
			}
		}
	}
	return false
}

// Build loads the selected seeds, builds the selected models in DAG order (independent
// ones in parallel), then runs the tests on them. An error is returned only when the
// build cannot start (bad selection, cycle); failures of single models and tests are in
// the Run (see [Run.Failed]).
func (p *Project) Build(ctx context.Context, opts Options) (*Run, error) {
	return p.run(ctx, opts, true)
}

// Test runs the tests of the selected nodes against the outputs already built.
func (p *Project) Test(ctx context.Context, opts Options) (*Run, error) {
	return p.run(ctx, opts, false)
}

func (p *Project) run(ctx context.Context, opts Options, build bool) (*Run, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.ensureDefaults(p)
	d, err := p.DAG()
	if err != nil {
		return nil, err
	}
	sel, err := d.Select(opts.Select)
	if err != nil {
		return nil, err
	}
	b := &builder{p: p, d: d, opts: opts, tables: map[string]plan.Table{}, stats: map[string]NodeStats{}}
	defer b.release()
	run := &Run{Stats: b.stats}
	var mu sync.Mutex
	report := func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		if opts.Progress != nil {
			opts.Progress(r)
		}
	}
	nodeRes := map[string]Result{}
	if build {
		if err := os.MkdirAll(opts.Target, 0o755); err != nil {
			return nil, fmt.Errorf("gold: target: %w", err)
		}
		errs := runDAG(ctx, d, sel, opts.Workers, func(ctx context.Context, n string) error {
			r := b.buildNode(ctx, n)
			mu.Lock()
			nodeRes[n] = r
			mu.Unlock()
			report(r)
			return r.Err
		})
		for _, n := range sel {
			r, ran := nodeRes[n]
			if !ran { // skipped by the scheduler
				r = Result{Name: n, Kind: b.kind(n), Status: StatusSkipped, Rows: -1, NewRows: -1, Err: errs[n]}
				nodeRes[n] = r
				report(r)
			}
			run.Nodes = append(run.Nodes, r)
		}
	}

	// Tests of the selected nodes: those whose every node is selected; a source's tests
	// when a selected model reads the source (all of them when nothing is selected).
	in := map[string]bool{}
	for _, n := range sel {
		in[n] = true
		if m := p.Models[n]; m != nil {
			for _, s := range m.Sources {
				in["source:"+s.String()] = true
			}
		}
	}
	var tests []*Test
	for _, t := range p.Tests {
		nodes := t.nodes()
		all := len(nodes) > 0 || opts.Select == "" || in[t.Node]
		for _, n := range nodes {
			all = all && in[n]
		}
		if all {
			tests = append(tests, t)
		}
	}
	results := make([]Result, len(tests))
	var wg sync.WaitGroup
	next := make(chan int)
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t := tests[i]
				var r Result
				if bad := b.failedNode(t, nodeRes); bad != "" {
					r = Result{Name: t.Name, Kind: "test", Status: StatusSkipped, Rows: -1, NewRows: -1,
						Err: fmt.Errorf("%w: %s failed", ErrSkipped, bad)}
				} else {
					r = b.runTest(ctx, t)
				}
				results[i] = r
				report(r)
			}
		}()
	}
	for i := range tests {
		next <- i
	}
	close(next)
	wg.Wait()
	run.Tests = results
	sort.Slice(run.Tests, func(i, j int) bool { return run.Tests[i].Name < run.Tests[j].Name })
	return run, nil
}

// nodes are the models, seeds and (as "source:s.t") sources a test reads.
func (t *Test) nodes() []string {
	var out []string
	if t.Node != "" && !strings.HasPrefix(t.Node, "source:") {
		out = append(out, t.Node)
	}
	out = appendUnique(out, t.Refs...)
	return out
}

func (b *builder) failedNode(t *Test, res map[string]Result) string {
	for _, n := range t.nodes() {
		if r, ok := res[n]; ok && r.Status != StatusOK {
			return n
		}
	}
	return ""
}

// builder holds one run's state: the catalog of built relations over the sources.
type builder struct {
	p    *Project
	d    *DAG
	opts Options

	mu      sync.Mutex
	tables  map[string]plan.Table // relation name -> seed or built model output
	seeds   []*plan.Result        // seed batches, released at the end
	stats   map[string]NodeStats
	missing map[string]error
}

func (b *builder) release() {
	for _, r := range b.seeds {
		r.Release()
	}
	for _, t := range b.tables {
		if m, ok := t.(*plan.MemTable); ok {
			m.Release()
		}
	}
}

func (b *builder) kind(n string) string {
	if m := b.p.Models[n]; m != nil {
		return m.Materialized
	}
	return "seed"
}

// Table implements plan.Catalog: seeds and built models by relation name, then models
// already built into the target directory, then the sources.
func (b *builder) Table(ctx context.Context, name string) (plan.Table, error) {
	name = b.unqualified(name)
	b.mu.Lock()
	t, ok := b.tables[name]
	b.mu.Unlock()
	if ok {
		return t, nil
	}
	if m := b.modelByRelation(name); m != nil {
		if m.Materialized != Table && m.Materialized != Incremental {
			return nil, fmt.Errorf("%w: %s is a %s", plan.ErrNoTable, name, m.Materialized)
		}
		path := b.outPath(m)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s (no %s: build it, or select it with +)", ErrNotBuilt, m.Name, path)
		}
		pt, err := plan.OpenParquet(path)
		if err != nil {
			return nil, err
		}
		b.mu.Lock()
		b.tables[name] = pt
		b.mu.Unlock()
		return pt, nil
	}
	if s := b.p.Seeds[name]; s != nil {
		// A seed outside the selection is loaded when first read.
		if _, err := b.loadSeed(ctx, s); err != nil {
			return nil, err
		}
		return b.Table(ctx, name)
	}
	if b.opts.Sources == nil {
		return nil, fmt.Errorf("%w: %q (sources need a lake: --lake)", plan.ErrNoTable, name)
	}
	return b.opts.Sources.Table(ctx, name)
}

// qualified is how a model or seed's relation is written in SQL: qualified by the
// project's name, as dbt qualifies relations by schema. Unlike a bare name it cannot be
// captured by a CTE of the same name (jaffle_shop's "orders as (select * from
// {{ ref('orders') }})").
func (b *builder) qualified(rel string) string { return ident(b.p.Name) + "." + ident(rel) }

// unqualified strips the project's qualifier from a relation name the planner looks up.
func (b *builder) unqualified(name string) string {
	if rest, ok := strings.CutPrefix(name, b.p.Name+"."); ok && (b.modelByRelation(rest) != nil || b.p.Seeds[rest] != nil) {
		return rest
	}
	return name
}

func (b *builder) modelByRelation(name string) *Model {
	if m := b.p.Models[name]; m != nil && m.Relation() == name {
		return m
	}
	for _, m := range b.p.Models {
		if m.Relation() == name {
			return m
		}
	}
	return nil
}

func (b *builder) outPath(m *Model) string {
	return filepath.Join(b.opts.Target, m.Relation()+".parquet")
}

// compile renders sql's template with refs resolved for this run and places the views
// and ephemerals it reads (transitively) in front of it as CTEs.
func (b *builder) compile(t *template, this string, incremental bool) (string, error) {
	inline := map[string]bool{}
	var r Resolver
	r = Resolver{
		This:          this,
		IsIncremental: incremental,
		Ref: func(name string) (string, error) {
			if m := b.p.Models[name]; m != nil {
				if m.Materialized == View || m.Materialized == Ephemeral {
					inline[name] = true
					return cteName(name), nil
				}
				return b.qualified(m.Relation()), nil
			}
			if b.p.Seeds[name] != nil {
				return b.qualified(name), nil
			}
			return "", fmt.Errorf("%w: ref(%q)", ErrUnknown, name)
		},
		Source: func(src, table string) (string, error) {
			return b.source(src, table)
		},
	}
	sql, err := b.p.render(t, nil, r)
	if err != nil {
		return "", err
	}
	ctes, err := b.inlined(inline, r)
	if err != nil {
		return "", err
	}
	return injectCTEs(sql, ctes), nil
}

// inlined renders the views and ephemerals in set and, transitively, those they read,
// in DAG order.
func (b *builder) inlined(set map[string]bool, r Resolver) ([]cte, error) {
	if len(set) == 0 {
		return nil, nil
	}
	rendered := map[string]string{}
	for {
		grew := false
		for name := range set {
			if _, ok := rendered[name]; ok {
				continue
			}
			m := b.p.Models[name]
			r.This = b.qualified(m.Relation())
			r.IsIncremental = false
			sql, err := b.p.render(m.tmpl, nil, r) // r.Ref adds to set
			if err != nil {
				return nil, err
			}
			rendered[name] = sql
			grew = true
			break // set may have grown: restart the range
		}
		if !grew {
			break
		}
	}
	var out []cte
	for _, n := range b.d.Order() {
		if sql, ok := rendered[n]; ok {
			out = append(out, cte{cteName(n), sql})
		}
	}
	return out, nil
}

func (b *builder) source(src, table string) (string, error) {
	s := b.p.Sources[src+"."+table]
	if s == nil {
		return "", fmt.Errorf("%w: source(%q, %q)", ErrUnknown, src, table)
	}
	if b.opts.Sources == nil {
		return "", fmt.Errorf("%w: source(%q, %q) reads %s, but no sources were given (Options.Sources, --lake)", plan.ErrNoTable, src, table, s.Relation())
	}
	return s.Relation(), nil
}

func (b *builder) plan(ctx context.Context, cat plan.Catalog, sql string) (*plan.Job, error) {
	return plan.NewPlanner(cat, b.opts.Query).Plan(ctx, sql)
}

// query plans and runs sql, returning its result and the time spent planning.
func (b *builder) query(ctx context.Context, cat plan.Catalog, sql string) (*plan.Result, time.Duration, error) {
	start := time.Now()
	j, err := b.plan(ctx, cat, sql)
	planned := time.Since(start)
	if err != nil {
		return nil, planned, err
	}
	defer j.Release()
	if err := j.Run(ctx); err != nil {
		return nil, planned, err
	}
	res, err := j.Result(ctx)
	return res, planned, err
}

func (b *builder) buildNode(ctx context.Context, n string) Result {
	start := time.Now()
	var r Result
	if s := b.p.Seeds[n]; s != nil {
		r = Result{Name: n, Kind: "seed", Rows: -1, NewRows: -1}
		rows, err := b.loadSeed(ctx, s)
		r.Rows, r.Err = rows, err
	} else {
		r = b.buildModel(ctx, b.p.Models[n])
	}
	r.Duration = time.Since(start)
	if r.Err != nil {
		r.Status = StatusError
	} else {
		r.Status = StatusOK
	}
	return r
}

// loadSeed reads a seed's CSV (types inferred by the planner's CSV reader), applies its
// column_types by casts, and holds it in memory for the run.
func (b *builder) loadSeed(ctx context.Context, s *Seed) (int64, error) {
	b.mu.Lock()
	if t, ok := b.tables[s.Name]; ok {
		b.mu.Unlock()
		st, err := t.Stats(ctx)
		return st.Rows, err
	}
	b.mu.Unlock()
	csv, err := plan.OpenCSV(filepath.Join(b.p.Dir, filepath.FromSlash(s.Path)))
	if err != nil {
		return -1, fmt.Errorf("gold: seed %s: %w", s.Name, err)
	}
	cat := plan.NewMemCatalog()
	cat.Add("__dbt_seed", csv)
	var cols []string
	for _, f := range csv.Schema().Fields() {
		c := ident(f.Name)
		if t, ok := s.ColumnTypes[f.Name]; ok {
			c = "cast(" + c + " as " + t + ") as " + c
		}
		cols = append(cols, c)
	}
	res, _, err := b.query(ctx, cat, "select "+strings.Join(cols, ", ")+" from __dbt_seed")
	if err != nil {
		return -1, fmt.Errorf("gold: seed %s: %w", s.Name, err)
	}
	mt, err := plan.NewMemTable(res.Schema, res.Batches...)
	if err != nil {
		res.Release()
		return -1, fmt.Errorf("gold: seed %s: %w", s.Name, err)
	}
	rows := res.NumRows()
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.tables[s.Name]; ok { // loaded meanwhile by another reader
		mt.Release()
		res.Release()
		return rows, nil
	}
	b.tables[s.Name] = mt
	b.seeds = append(b.seeds, res)
	b.stats[s.Name] = NodeStats{Columns: schemaColumns(res.Schema), Rows: rows}
	return rows, nil
}

func schemaColumns(s *arrow.Schema) []CatalogColumn {
	out := make([]CatalogColumn, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = CatalogColumn{Name: f.Name, Type: f.Type.String()}
	}
	return out
}

func (b *builder) buildModel(ctx context.Context, m *Model) Result {
	r := Result{Name: m.Name, Kind: m.Materialized, Rows: -1, NewRows: -1}
	compiled := ""
	wrap := func(err error) error {
		if err == nil || errors.Is(err, ErrTemplate) {
			return err
		}
		if compiled != "" { // the planner's line numbers are the compiled SQL's
			return fmt.Errorf("gold: model %s (%s, compiled %s): %w", m.Name, m.Path, compiled, err)
		}
		return fmt.Errorf("gold: model %s (%s): %w", m.Name, m.Path, err)
	}
	// saveCompiled writes the SQL as planned to TARGET/compiled/<path>, as dbt does.
	saveCompiled := func(sql string) error {
		path := filepath.Join(b.opts.Target, "compiled", filepath.FromSlash(m.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(sql+"\n"), 0o644); err != nil {
			return err
		}
		compiled = path
		return nil
	}
	start := time.Now()
	switch m.Materialized {
	case View, Ephemeral:
		// Not stored: planning checks the SQL and tells the columns' types.
		sql, err := b.compile(m.tmpl, b.qualified(m.Relation()), false)
		if err == nil {
			err = saveCompiled(sql)
		}
		if err != nil {
			r.Err = wrap(err)
			return r
		}
		j, err := b.plan(ctx, b, sql)
		r.Overhead = time.Since(start)
		if err != nil {
			r.Err = wrap(err)
			return r
		}
		var cols []CatalogColumn
		for _, f := range j.Logical().Fields() {
			if !f.Hidden {
				cols = append(cols, CatalogColumn{Name: f.Name, Type: f.Type.String()})
			}
		}
		j.Release()
		b.setStats(m.Name, NodeStats{Columns: cols, Rows: -1})
		return r
	}
	path := b.outPath(m)
	_, statErr := os.Stat(path)
	incremental := m.Materialized == Incremental && !b.opts.FullRefresh && statErr == nil
	sql, err := b.compile(m.tmpl, b.qualified(m.Relation()), incremental)
	if err == nil {
		err = saveCompiled(sql)
	}
	if err != nil {
		r.Overhead = time.Since(start)
		r.Err = wrap(err)
		return r
	}
	r.Overhead = time.Since(start)
	res, planned, err := b.query(ctx, b, sql)
	r.Overhead += planned
	if err != nil {
		r.Err = wrap(err)
		return r
	}
	defer res.Release()
	if incremental {
		r.NewRows = res.NumRows()
		merged, planned, err := b.merge(ctx, m, res)
		r.Overhead += planned
		if err != nil {
			r.Err = wrap(err)
			return r
		}
		defer merged.Release()
		res = merged
	}
	if err := b.write(m, path, res); err != nil {
		r.Err = wrap(err)
		return r
	}
	r.Rows, r.Path = res.NumRows(), path
	b.setStats(m.Name, NodeStats{Columns: schemaColumns(res.Schema), Rows: r.Rows})
	return r
}

func (b *builder) setStats(n string, s NodeStats) {
	b.mu.Lock()
	b.stats[n] = s
	b.mu.Unlock()
}

// write puts res in place of the model's output and makes later readers see it.
func (b *builder) write(m *Model, path string, res *plan.Result) error {
	out, err := createParquet(path, res.Schema, b.opts.Allocator)
	if err != nil {
		return err
	}
	for _, rec := range res.Batches {
		if err := out.Write(rec); err != nil {
			out.Abort()
			return err
		}
	}
	if err := out.Commit(); err != nil {
		return err
	}
	t, err := plan.OpenParquet(path)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.tables[m.Relation()] = t
	b.mu.Unlock()
	return nil
}

// merge combines an incremental model's existing output with the new rows of this run
// by its strategy: append adds them; merge and delete+insert replace the existing rows
// whose unique_key the new rows hold (merge requires the new rows' keys to be unique).
func (b *builder) merge(ctx context.Context, m *Model, fresh *plan.Result) (*plan.Result, time.Duration, error) {
	old, err := b.Table(ctx, m.Relation())
	if err != nil {
		return nil, 0, err
	}
	if err := sameColumns(old.Schema(), fresh.Schema); err != nil {
		return nil, 0, fmt.Errorf("%w: the new rows do not match %s: %v; rebuild with --full-refresh", ErrConfig, b.outPath(m), err)
	}
	mt, err := plan.NewMemTable(fresh.Schema, fresh.Batches...)
	if err != nil {
		return nil, 0, err
	}
	defer mt.Release()
	cat := &overlay{name: "__dbt_new", t: mt, base: b}
	var planned time.Duration
	cols := make([]string, fresh.Schema.NumFields())
	for i, f := range fresh.Schema.Fields() {
		cols[i] = ident(f.Name)
	}
	list := strings.Join(cols, ", ")
	rel := m.Relation()
	var sql string
	switch m.IncrementalStrategy {
	case StrategyAppend:
		sql = fmt.Sprintf("select %s from %s union all select %s from __dbt_new", list, rel, list)
	case StrategyMerge, StrategyDeleteInsert:
		keys := make([]string, len(m.UniqueKey))
		on := make([]string, len(m.UniqueKey))
		for i, k := range m.UniqueKey {
			keys[i] = ident(k)
			on[i] = "n." + ident(k) + " = o." + ident(k)
		}
		if m.IncrementalStrategy == StrategyMerge {
			dup, p, err := b.query(ctx, cat, fmt.Sprintf("select %s, count(*) as n from __dbt_new group by %s having count(*) > 1",
				strings.Join(keys, ", "), strings.Join(keys, ", ")))
			planned += p
			if err != nil {
				return nil, planned, err
			}
			n := dup.NumRows()
			dup.Release()
			if n > 0 {
				return nil, planned, fmt.Errorf("%w: merge: %d values of unique_key (%s) occur more than once in the new rows",
					ErrConfig, n, strings.Join(m.UniqueKey, ", "))
			}
		}
		oldCols := make([]string, len(cols))
		for i, c := range cols {
			oldCols[i] = "o." + c
		}
		sql = fmt.Sprintf("select %s from %s as o where not exists (select 1 from __dbt_new as n where %s)\nunion all\nselect %s from __dbt_new",
			strings.Join(oldCols, ", "), rel, strings.Join(on, " and "), list)
	default:
		return nil, planned, fmt.Errorf("%w: incremental_strategy %q", ErrConfig, m.IncrementalStrategy)
	}
	res, p, err := b.query(ctx, cat, sql)
	return res, planned + p, err
}

func sameColumns(a, b *arrow.Schema) error {
	if a.NumFields() != b.NumFields() {
		return fmt.Errorf("%d columns, not %d", b.NumFields(), a.NumFields())
	}
	for i := range a.Fields() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name || !arrow.TypeEqual(fa.Type, fb.Type) {
			return fmt.Errorf("column %d is %s %s, not %s %s", i+1, fb.Name, fb.Type, fa.Name, fa.Type)
		}
	}
	return nil
}

// overlay is a catalog with one more table.
type overlay struct {
	name string
	t    plan.Table
	base plan.Catalog
}

func (o *overlay) Table(ctx context.Context, name string) (plan.Table, error) {
	if name == o.name {
		return o.t, nil
	}
	return o.base.Table(ctx, name)
}

// runTest runs one test: its query returns the failing rows, which are counted.
func (b *builder) runTest(ctx context.Context, t *Test) Result {
	start := time.Now()
	r := Result{Name: t.Name, Kind: "test", Rows: -1, NewRows: -1}
	sql, err := b.testSQL(t)
	if err == nil {
		var res *plan.Result
		var planned time.Duration
		res, planned, err = b.query(ctx, b, sql)
		r.Overhead = planned
		if err == nil {
			r.Rows = countResult(res)
			res.Release()
		}
	}
	r.Duration = time.Since(start)
	switch {
	case err != nil:
		r.Status, r.Err = StatusError, fmt.Errorf("gold: test %s (%s): %w", t.Name, t.Path, err)
	case r.Rows == 0:
		r.Status = StatusPass
	case t.Severity == "warn":
		r.Status = StatusWarn
	default:
		r.Status = StatusFail
	}
	return r
}

// countResult reads the single count of a "select count(*)" result.
func countResult(res *plan.Result) int64 {
	for _, rec := range res.Batches {
		if rec.NumRows() > 0 {
			if c, ok := rec.Column(0).(interface{ Value(int) int64 }); ok {
				return c.Value(0)
			}
		}
	}
	return 0
}

// testSQL compiles a test into a query counting its failing rows.
func (b *builder) testSQL(t *Test) (string, error) {
	var body string
	inline := map[string]bool{}
	resolver := Resolver{
		Ref: func(name string) (string, error) {
			if m := b.p.Models[name]; m != nil {
				if m.Materialized == View || m.Materialized == Ephemeral {
					inline[name] = true
					return cteName(name), nil
				}
				return b.qualified(m.Relation()), nil
			}
			if b.p.Seeds[name] != nil {
				return b.qualified(name), nil
			}
			return "", fmt.Errorf("%w: ref(%q)", ErrUnknown, name)
		},
		Source: func(src, table string) (string, error) {
			return b.source(src, table)
		},
	}
	if t.Kind == TestSingular {
		sql, err := b.p.render(t.tmpl, nil, resolver)
		if err != nil {
			return "", err
		}
		body = strings.TrimRight(strings.TrimSpace(sql), ";")
	} else {
		var rel string
		var err error
		if src, ok := strings.CutPrefix(t.Node, "source:"); ok {
			s, tb, _ := strings.Cut(src, ".")
			rel, err = resolver.Source(s, tb)
		} else {
			rel, err = resolver.Ref(t.Node)
		}
		if err != nil {
			return "", err
		}
		body, err = genericTestSQL(t, rel, func(t *Test) (string, error) {
			if len(t.Refs) > 0 {
				return resolver.Ref(t.Refs[0])
			}
			return resolver.Source(t.Sources[0].Source, t.Sources[0].Table)
		})
		if err != nil {
			return "", err
		}
	}
	ctes, err := b.inlined(inline, resolver)
	if err != nil {
		return "", err
	}
	return injectCTEs("select count(*) as failures from (\n"+body+"\n) as dbt_internal_test", ctes), nil
}
