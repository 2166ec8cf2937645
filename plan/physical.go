package plan

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/expr"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/shuffle"
)

// Stage is a unit of the physical plan: Tasks tasks run the same pipeline (a source,
// then operators) on different inputs (a split each, or a partition each), and write
// their output to an exchange partitioned as Out for the stages that read it. Stages
// are split at shuffle boundaries: joins that repartition, aggregates, sorts, gathers.
type Stage struct {
	ID      int
	Kind    string
	Tasks   int
	Inputs  []*Stage
	Out     Partitioning
	EstRows float64
	// Ops describes the pipeline, source first.
	Ops []string

	schema *change.Schema
	source func(ctx context.Context, env *taskEnv, next sink) error
	ops    []opSpec
	inputs func(task int) []string
	out    *exchange
	stats  stageStats
	// shared are the broadcast join tables the stage's tasks share, freed once it completes
	shared []*sharedBuild
}

// RowID appends a unique int64 column to its input (used to rewrite joins with
// conditions the kernels cannot evaluate).
type RowID struct {
	Input  Node
	fields []Field
}

func (r *RowID) Fields() []Field  { return r.fields }
func (r *RowID) Children() []Node { return []Node{r.Input} }
func (r *RowID) label() string    { return "RowID" }

type physBuilder struct {
	ctx    context.Context
	opts   *Options
	stages []*Stage
}

func (b *physBuilder) newStage(kind string, tasks int, s *change.Schema, est float64) *Stage {
	return &Stage{Kind: kind, Tasks: tasks, schema: s, EstRows: est}
}

// seal ends st: its output goes to an exchange partitioned as p.
func (b *physBuilder) seal(st *Stage, p Partitioning) *exchange {
	if p.N < 1 {
		p.N = 1
	}
	st.Out = p
	st.out = newExchange(p, st.schema)
	st.ID = len(b.stages) + 1
	b.stages = append(b.stages, st)
	return st.out
}

// broadcasts reports whether a join side of est rows is broadcast to the tasks of the
// other side, of other rows: when it is small (BroadcastRows), or up to
// broadcastFactor times that and at most half the other side. The tasks share one
// table of the broadcast side, so broadcasting it costs one build, where a partitioned
// join shuffles both sides and still builds on all of one.
func (b *physBuilder) broadcasts(est, other float64) bool {
	return est <= b.opts.BroadcastRows || est <= broadcastFactor*b.opts.BroadcastRows && est <= other/2
}

// broadcastFactor bounds the side broadcast because the other is larger still.
const broadcastFactor = 10

// sharedBuild returns the shared build side of a broadcast join probed by stage st,
// freed once st completes (or with the job).
func (b *physBuilder) sharedBuild(st *Stage, cfg reduce.HashJoinConfig, x *exchange) *sharedBuild {
	sb := &sharedBuild{cfg: cfg, x: x}
	st.shared = append(st.shared, sb)
	return sb
}

func (b *physBuilder) addOp(st *Stage, op opSpec, s *change.Schema) {
	st.ops = append(st.ops, op)
	st.Ops = append(st.Ops, op.desc)
	if s != nil {
		st.schema = s
	}
}

// gather ends st into a single partition and starts a one-task stage reading it.
func (b *physBuilder) gather(st *Stage, kind string) *Stage {
	x := b.seal(st, Partitioning{Kind: Single})
	g := b.newStage(kind, 1, st.schema, st.EstRows)
	g.Inputs = []*Stage{st}
	g.source = func(ctx context.Context, env *taskEnv, next sink) error {
		s := x.read(0)
		defer s.Close()
		return drain(ctx, s, func(bt *change.Batch) error { return next.push(ctx, bt) })
	}
	g.inputs = func(int) []string { return []string{fmt.Sprintf("stage %d", st.ID)} }
	g.Ops = []string{fmt.Sprintf("Read stage %d", st.ID)}
	return g
}

func (b *physBuilder) build(n Node) (*Stage, error) {
	switch x := n.(type) {
	case *Scan:
		return b.buildScan(x)
	case *Values:
		s, err := internalSchema(nil)
		if err != nil {
			return nil, err
		}
		st := b.newStage("values", 1, s, float64(x.Rows))
		rows := x.Rows
		st.source = func(ctx context.Context, env *taskEnv, next sink) error {
			rec := array.NewRecordBatch(s.Arrow(), nil, int64(rows))
			bt, err := change.NewBatch(s, rec, insertOps(rows))
			if err != nil {
				return err
			}
			return next.push(ctx, bt)
		}
		st.inputs = func(int) []string { return []string{"values"} }
		st.Ops = []string{x.label()}
		return st, nil
	case *Filter:
		st, err := b.build(x.Input)
		if err != nil {
			return nil, err
		}
		b.addOp(st, filterSpec(x.Cond, x.Input.Fields(), st.schema), nil)
		st.EstRows = estimate(x)
		return st, nil
	case *Project:
		need := make([]bool, len(x.Input.Fields()))
		for _, e := range x.Exprs {
			markCols(need, e)
		}
		st, m, err := b.buildCols(x.Input, need)
		if err != nil {
			return nil, err
		}
		exprs, in := x.Exprs, x.Input.Fields()
		if m != nil { // the join made only the columns the projection reads
			in = nil
			for i, f := range x.Input.Fields() {
				if m[i] >= 0 {
					in = append(in, f)
				}
			}
			exprs = make([]expr.Expr, len(x.Exprs))
			for i, e := range x.Exprs {
				if exprs[i], err = remapBy(e, m); err != nil {
					return nil, err
				}
			}
		}
		s, err := internalSchema(fieldTypes(x.fields))
		if err != nil {
			return nil, err
		}
		b.addOp(st, projectSpec(exprs, in, x.fields, s), s)
		return st, nil
	case *RowID:
		st, err := b.build(x.Input)
		if err != nil {
			return nil, err
		}
		s, err := internalSchema(fieldTypes(x.fields))
		if err != nil {
			return nil, err
		}
		b.addOp(st, opSpec{desc: "RowID", build: func(env *taskEnv, next sink) sink { return &rowIDOp{env: env, s: s, next: next} }}, s)
		return st, nil
	case *Limit:
		st, err := b.build(x.Input)
		if err != nil {
			return nil, err
		}
		if st.Tasks != 1 {
			st = b.gather(st, "limit")
		}
		off, cnt := x.Offset, x.Count
		b.addOp(st, opSpec{desc: x.label(), build: func(env *taskEnv, next sink) sink { return &limitOp{offset: off, count: cnt, next: next} }}, nil)
		st.EstRows = estimate(x)
		return st, nil
	case *SingleRow:
		st, err := b.build(x.Input)
		if err != nil {
			return nil, err
		}
		if st.Tasks != 1 {
			st = b.gather(st, "single-row")
		}
		b.addOp(st, opSpec{desc: "SingleRow", build: func(env *taskEnv, next sink) sink { return &singleRowOp{next: next} }}, nil)
		st.EstRows = 1
		return st, nil
	case *Sort:
		return b.buildSort(x)
	case *Aggregate:
		return b.buildAggregate(x)
	case *Join:
		st, _, err := b.buildJoin(x, nil)
		return st, err
	case *Union:
		return b.buildUnion(x)
	case *Window:
		return b.buildWindow(x)
	}
	return nil, fmt.Errorf("%w: plan node %T", ErrUnsupported, n)
}

func (b *physBuilder) buildScan(x *Scan) (*Stage, error) {
	splits, err := x.T.Splits(b.ctx, ScanRequest{Columns: x.Cols, Filter: x.Pushed})
	if err != nil {
		return nil, fmt.Errorf("plan: scan %s: %w", x.Table, err)
	}
	s, err := internalSchema(fieldTypes(x.fields))
	if err != nil {
		return nil, err
	}
	st := b.newStage("scan", len(splits), s, estimate(x))
	desc := x.label()
	if all, err := x.T.Splits(b.ctx, ScanRequest{Columns: x.Cols}); err == nil && len(all) != len(splits) {
		desc += fmt.Sprintf(" splits=%d/%d", len(splits), len(all))
	} else {
		desc += fmt.Sprintf(" splits=%d", len(splits))
	}
	st.Ops = []string{desc}
	var conds []expr.Expr
	if len(x.Filter) > 0 {
		cond := andAll(x.Filter)
		conds = splitAnd(cond)
		// The scan's filter runs in the scan task: a split that can apply some of
		// its conditions more cheaply itself (whereSplit) takes them.
		st.Ops = append(st.Ops, filterSpec(cond, x.fields, s).desc)
	}
	st.source = func(ctx context.Context, env *taskEnv, next sink) error {
		var r BatchReader
		var err error
		rest := conds
		if ws, ok := splits[env.task].(whereSplit); ok && len(conds) > 0 {
			r, rest, err = ws.OpenWhere(ctx, env.mem, env.ectx, conds)
		} else {
			r, err = splits[env.task].Open(ctx, env.mem)
		}
		if err != nil {
			return err
		}
		defer r.Close()
		if len(rest) > 0 {
			next = &filterOp{env: env, conds: rest, s: s, next: next}
		}
		for {
			rec, err := r.Next(ctx)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if rec.NumRows() == 0 {
				rec.Release()
				continue
			}
			bt, err := asBatch(s, rec)
			if err != nil {
				return fmt.Errorf("plan: scan %s: %w", x.Table, err)
			}
			if err := next.push(ctx, bt); err != nil {
				return err
			}
		}
	}
	st.inputs = func(t int) []string { return []string{"split " + splits[t].Name()} }
	return st, nil
}

// partitions is the number of partitions of a shuffle of est rows.
func (b *physBuilder) partitions(est float64) int {
	p := b.opts.Partitions
	if est < b.opts.ShuffleRows {
		return 1
	}
	return p
}

func (b *physBuilder) buildSort(x *Sort) (*Stage, error) {
	st, err := b.build(x.Input)
	if err != nil {
		return nil, err
	}
	keys := make([]reduce.SortKey, len(x.Keys))
	for i, k := range x.Keys {
		keys[i] = reduce.SortKey{Column: colName(k.Col), Desc: k.Desc, NullsFirst: k.NullsFirst}
	}
	limit := 0
	if x.Limit >= 0 {
		limit = int(x.Limit)
	}
	if x.Limit == 0 {
		limit = 0
	}
	mk := func(env *taskEnv, s *change.Schema) (*reduce.Sort, error) {
		return reduce.NewSort(reduce.SortConfig{Schema: s, Keys: keys, Limit: limit, Budget: b.opts.budget, SpillDir: b.opts.SpillDir})
	}
	desc := x.label()
	if st.Tasks > 1 && x.Limit > 0 {
		s := st.schema
		b.addOp(st, opSpec{desc: "TopN " + desc, build: func(env *taskEnv, next sink) sink {
			return newPipeOp(env.ctx(), next, func(ctx context.Context, in shuffle.Stream, emit func(*change.Batch) error) error {
				srt, err := mk(env, s)
				if err != nil {
					return err
				}
				return srt.Reduce(ctx, []shuffle.Stream{in}, emit)
			})
		}}, nil)
	}
	xo := b.seal(st, Partitioning{Kind: Single})
	s := st.schema
	srtStage := b.newStage("sort", 1, s, estimate(x))
	srtStage.Inputs = []*Stage{st}
	srtStage.Ops = []string{desc}
	if x.Limit == 0 {
		srtStage.source = func(ctx context.Context, env *taskEnv, next sink) error { return nil }
	} else {
		srtStage.source = func(ctx context.Context, env *taskEnv, next sink) error {
			srt, err := mk(env, s)
			if err != nil {
				return err
			}
			in := xo.read(0)
			defer in.Close()
			err = srt.Reduce(ctx, []shuffle.Stream{in}, func(bt *change.Batch) error { return next.push(ctx, bt) })
			env.spill += srt.Stats().SpilledBytes
			return err
		}
	}
	srtStage.inputs = func(int) []string { return []string{fmt.Sprintf("stage %d", st.ID)} }
	return srtStage, nil
}

func (b *physBuilder) buildAggregate(x *Aggregate) (*Stage, error) {
	st, err := b.build(x.Input)
	if err != nil {
		return nil, err
	}
	cfg := reduce.AggregateConfig{Schema: st.schema, InsertOnly: true, Budget: b.opts.budget, SpillDir: b.opts.SpillDir}
	for _, g := range x.Group {
		cfg.GroupBy = append(cfg.GroupBy, colName(g))
	}
	for i, a := range x.Aggs {
		col := ""
		if a.Arg >= 0 {
			col = colName(a.Arg)
		}
		cfg.Aggs = append(cfg.Aggs, reduce.Agg{Func: a.Func, Column: col, As: fmt.Sprintf("a%d", i)})
	}
	if len(cfg.Aggs) == 0 && len(cfg.GroupBy) == 0 {
		return nil, fmt.Errorf("%w: an aggregate without groups or aggregates", ErrUnsupported)
	}
	proto, err := reduce.NewHashAggregate(cfg)
	if err != nil {
		return nil, fmt.Errorf("plan: aggregate: %w", err)
	}
	partial := proto.PartialSchema()
	b.addOp(st, opSpec{desc: "PartialAggregate " + strings.TrimPrefix(x.label(), "Aggregate "), build: func(env *taskEnv, next sink) sink {
		return newPipeOp(env.ctx(), next, func(ctx context.Context, in shuffle.Stream, emit func(*change.Batch) error) error {
			ha, err := reduce.NewHashAggregate(cfg)
			if err != nil {
				return err
			}
			return ha.Combiner().Combine(ctx, in, emit)
		})
	}}, partial)
	est := estimate(x)
	part := Partitioning{Kind: Single}
	if len(x.Group) > 0 {
		n := b.partitions(est * 4)
		if n > 1 {
			keys := make([]int, len(x.Group))
			for i := range keys {
				keys[i] = i
			}
			part = Partitioning{Kind: Hash, N: n, Keys: keys}
		}
	}
	xo := b.seal(st, part)
	outS, err := internalSchema(fieldTypes(x.fields))
	if err != nil {
		return nil, err
	}
	ag := b.newStage("aggregate", part.N, outS, est)
	if part.N < 1 {
		ag.Tasks = 1
	}
	ag.Inputs = []*Stage{st}
	ag.Ops = []string{"Final" + x.label()}
	ag.source = func(ctx context.Context, env *taskEnv, next sink) error {
		ha, err := reduce.NewHashAggregate(cfg)
		if err != nil {
			return err
		}
		in := xo.read(env.task)
		defer in.Close()
		err = ha.Reduce(ctx, []shuffle.Stream{in}, func(bt *change.Batch) error {
			rec := bt.Record()
			rec.Retain()
			bt.Release()
			nb, err := asBatch(outS, rec)
			if err != nil {
				return err
			}
			return next.push(ctx, nb)
		})
		return err
	}
	ag.inputs = func(t int) []string { return []string{fmt.Sprintf("stage %d partition %d", st.ID, t)} }
	return ag, nil
}

func (b *physBuilder) buildUnion(x *Union) (*Stage, error) {
	var xs []*exchange
	var ins []*Stage
	s, err := internalSchema(fieldTypes(x.fields))
	if err != nil {
		return nil, err
	}
	for _, c := range x.Inputs {
		st, err := b.build(c)
		if err != nil {
			return nil, err
		}
		xs = append(xs, b.seal(st, Partitioning{Kind: Single}))
		ins = append(ins, st)
	}
	u := b.newStage("union", len(xs), s, estimate(x))
	u.Inputs = ins
	u.Ops = []string{"Union all"}
	u.source = func(ctx context.Context, env *taskEnv, next sink) error {
		in := xs[env.task].read(0)
		defer in.Close()
		return drain(ctx, in, func(bt *change.Batch) error {
			rec := bt.Record()
			rec.Retain()
			bt.Release()
			nb, err := asBatch(s, rec)
			if err != nil {
				return err
			}
			return next.push(ctx, nb)
		})
	}
	u.inputs = func(t int) []string { return []string{fmt.Sprintf("stage %d", ins[t].ID)} }
	return u, nil
}

// joinOutput names the output columns of a join c0.. in left-then-right order.
func joinOutput(k JoinKind, nl, nr int) []reduce.Column {
	var out []reduce.Column
	for i := range nl {
		out = append(out, reduce.Column{Side: reduce.LeftSide, Name: colName(i), As: colName(i)})
	}
	if k == SemiJoin || k == AntiJoin {
		return out
	}
	for i := range nr {
		out = append(out, reduce.Column{Side: reduce.RightSide, Name: colName(i), As: colName(nl + i)})
	}
	return out
}

var reduceJoin = map[JoinKind]reduce.JoinType{
	InnerJoin: reduce.InnerJoin, LeftJoin: reduce.LeftJoin, RightJoin: reduce.RightJoin, FullJoin: reduce.FullJoin,
	SemiJoin: reduce.SemiJoin, AntiJoin: reduce.AntiJoin, CrossJoin: reduce.InnerJoin,
}

// narrowable reports whether join x can make only some of its columns: a hash join on
// equi keys alone, whose inputs need only the keys and the columns kept.
func narrowable(x *Join) bool {
	return len(x.LeftKeys) > 0 && x.Extra == nil && !x.NullAware
}

// buildCols builds n for a consumer reading only the columns need marks. A join makes
// only those (its emitter gathers, and its stage's exchange carries, no other), and
// its inputs only what it reads of them; m maps n's columns to the stage's (-1:
// dropped), nil when the stage has every column of n.
func (b *physBuilder) buildCols(n Node, need []bool) (st *Stage, m []int, err error) {
	if j, ok := n.(*Join); ok && narrowable(j) && slices.Contains(need, false) {
		if !slices.Contains(need, true) { // rows without columns: keep a key
			need = append([]bool(nil), need...)
			need[j.LeftKeys[0]] = true
		}
		return b.buildJoin(j, need)
	}
	st, err = b.build(n)
	return st, nil, err
}

// buildJoin builds join x making the columns need marks (nil: all of them); m is as
// buildCols's.
func (b *physBuilder) buildJoin(x *Join, need []bool) (*Stage, []int, error) {
	if need != nil && !narrowable(x) {
		return nil, nil, fmt.Errorf("plan: internal: narrowing %s", x.label())
	}
	if x.Extra != nil && x.Kind != InnerJoin && x.Kind != CrossJoin {
		lowered, err := lowerJoin(x)
		if err != nil {
			return nil, nil, err
		}
		st, err := b.build(lowered)
		return st, nil, err
	}
	st, err := b.buildJoinAll(x, need)
	if err != nil || need == nil {
		return st, nil, err
	}
	m := make([]int, len(need))
	k := 0
	for i, ok := range need {
		m[i] = -1
		if ok {
			m[i], k = k, k+1
		}
	}
	return st, m, nil
}

func (b *physBuilder) buildJoinAll(x *Join, need []bool) (*Stage, error) {
	est := estimate(x)
	nl, nr := len(x.Left.Fields()), len(x.Right.Fields())
	fields := x.fields
	if need != nil {
		fields = nil
		for i, ok := range need {
			if ok {
				fields = append(fields, x.fields[i])
			}
		}
	}
	outS, err := internalSchema(fieldTypes(fields))
	if err != nil {
		return nil, err
	}
	lEst, rEst := estimate(x.Left), estimate(x.Right)
	var extra opSpec
	if x.Extra != nil {
		extra = filterSpec(x.Extra, x.fields, outS)
	}
	finishStage := func(st *Stage) *Stage {
		st.schema = outS
		if x.Extra != nil {
			b.addOp(st, extra, nil)
		}
		st.EstRows = est
		return st
	}
	if len(x.LeftKeys) == 0 {
		// Nested loops: the right side broadcast, the left streamed past it.
		if x.Kind == RightJoin || x.Kind == FullJoin {
			return nil, fmt.Errorf("%w: %s join without an equality condition", ErrUnsupported, x.Kind)
		}
		l, err := b.build(x.Left)
		if err != nil {
			return nil, err
		}
		r, err := b.build(x.Right)
		if err != nil {
			return nil, err
		}
		ls, rs := l.schema, r.schema
		rx := b.seal(r, Partitioning{Kind: Single})
		l.Inputs = append(l.Inputs, r)
		cfg := reduce.NestedLoopJoinConfig{Type: reduceJoin[x.Kind], Left: ls, Right: rs, Output: joinOutput(x.Kind, nl, nr), Budget: b.opts.budget, SpillDir: b.opts.SpillDir}
		if _, err := reduce.NewNestedLoopJoin(cfg); err != nil {
			return nil, fmt.Errorf("plan: join: %w", err)
		}
		b.addOp(l, opSpec{desc: fmt.Sprintf("NestedLoopJoin %s broadcast stage %d", x.Kind, r.ID), build: func(env *taskEnv, next sink) sink {
			return newPipeOp(env.ctx(), next, func(ctx context.Context, in shuffle.Stream, emit func(*change.Batch) error) error {
				j, err := reduce.NewNestedLoopJoin(cfg)
				if err != nil {
					return err
				}
				return j.Join(ctx, in, func(context.Context) (shuffle.Stream, error) { return rx.read(0), nil }, emit)
			})
		}}, outS)
		return finishStage(l), nil
	}
	if x.NullAware {
		return b.buildNotIn(x, outS)
	}
	// The inputs make their keys and the columns kept.
	ln, rn := make([]bool, nl), make([]bool, nr)
	for i := range nl {
		ln[i] = need == nil || need[i]
	}
	if x.Kind != SemiJoin && x.Kind != AntiJoin {
		for i := range nr {
			rn[i] = need == nil || need[nl+i]
		}
	}
	for i := range x.LeftKeys {
		ln[x.LeftKeys[i]], rn[x.RightKeys[i]] = true, true
	}
	l, lm, err := b.buildCols(x.Left, ln)
	if err != nil {
		return nil, err
	}
	r, rm, err := b.buildCols(x.Right, rn)
	if err != nil {
		return nil, err
	}
	at := func(m []int, i int) int {
		if m == nil {
			return i
		}
		return m[i]
	}
	leftKeys, rightKeys := make([]int, len(x.LeftKeys)), make([]int, len(x.RightKeys))
	lk := make([]string, len(x.LeftKeys))
	rk := make([]string, len(x.RightKeys))
	for i := range lk {
		leftKeys[i], rightKeys[i] = at(lm, x.LeftKeys[i]), at(rm, x.RightKeys[i])
		lk[i], rk[i] = colName(leftKeys[i]), colName(rightKeys[i])
	}
	var output []reduce.Column
	for i := range len(x.fields) {
		if need != nil && !need[i] {
			continue
		}
		side, m, j := reduce.LeftSide, lm, i
		if i >= nl {
			side, m, j = reduce.RightSide, rm, i-nl
		}
		output = append(output, reduce.Column{Side: side, Name: colName(at(m, j)), As: colName(len(output))})
	}
	ls, rs := l.schema, r.schema
	cfg := reduce.HashJoinConfig{Type: reduceJoin[x.Kind], Left: ls, Right: rs, LeftKeys: lk, RightKeys: rk, Output: output,
		Budget: b.opts.budget, SpillDir: b.opts.SpillDir}
	broadcastRight := (x.Kind == InnerJoin || x.Kind == LeftJoin || x.Kind == SemiJoin || x.Kind == AntiJoin) && b.broadcasts(rEst, lEst)
	broadcastLeft := x.Kind == InnerJoin && b.broadcasts(lEst, rEst) && lEst < rEst/2
	label := x.label()
	switch {
	case broadcastLeft:
		lx := b.seal(l, Partitioning{Kind: Single})
		r.Inputs = append(r.Inputs, l)
		c := cfg
		c.Build = reduce.LeftSide
		if _, err := reduce.NewHashJoin(c); err != nil {
			return nil, fmt.Errorf("plan: join: %w", err)
		}
		sb := b.sharedBuild(r, c, lx)
		b.addOp(r, opSpec{desc: fmt.Sprintf("BroadcastHashJoin build=left (stage %d) %s", l.ID, strings.TrimPrefix(label, "Join ")), build: func(env *taskEnv, next sink) sink {
			return newPipeOp(env.ctx(), next, sb.join)
		}}, outS)
		return finishStage(r), nil
	case broadcastRight:
		rx := b.seal(r, Partitioning{Kind: Single})
		l.Inputs = append(l.Inputs, r)
		c := cfg
		c.Build = reduce.RightSide
		if _, err := reduce.NewHashJoin(c); err != nil {
			return nil, fmt.Errorf("plan: join: %w", err)
		}
		sb := b.sharedBuild(l, c, rx)
		b.addOp(l, opSpec{desc: fmt.Sprintf("BroadcastHashJoin build=right (stage %d) %s", r.ID, strings.TrimPrefix(label, "Join ")), build: func(env *taskEnv, next sink) sink {
			return newPipeOp(env.ctx(), next, sb.join)
		}}, outS)
		return finishStage(l), nil
	}
	// Partitioned: both sides shuffled by their keys.
	n := b.partitions(math.Max(lEst, rEst))
	for i := range leftKeys {
		if !arrow.TypeEqual(ls.Field(leftKeys[i]).Type, rs.Field(rightKeys[i]).Type) {
			n = 1 // keys of different widths may hash apart
		}
	}
	lp := Partitioning{Kind: Hash, N: n, Keys: leftKeys}
	rp := Partitioning{Kind: Hash, N: n, Keys: rightKeys}
	if n == 1 {
		lp, rp = Partitioning{Kind: Single}, Partitioning{Kind: Single}
	}
	lx := b.seal(l, lp)
	rx := b.seal(r, rp)
	js := b.newStage("join", n, outS, est)
	js.Inputs = []*Stage{l, r}
	merge := b.opts.PreferMergeJoin
	if merge {
		mc := reduce.MergeJoinConfig{Type: cfg.Type, Left: ls, Right: rs, LeftKeys: lk, RightKeys: rk, Output: output, Budget: b.opts.budget, SpillDir: b.opts.SpillDir}
		if _, err := reduce.NewMergeJoin(mc); err != nil {
			return nil, fmt.Errorf("plan: join: %w", err)
		}
		js.Ops = []string{"SortMergeJoin " + strings.TrimPrefix(label, "Join ")}
		js.source = func(ctx context.Context, env *taskEnv, next sink) error {
			j, err := reduce.NewMergeJoin(mc)
			if err != nil {
				return err
			}
			err = j.Reduce(ctx, []shuffle.Stream{lx.read(env.task), rx.read(env.task)}, func(bt *change.Batch) error { return next.push(ctx, bt) })
			st := j.Stats()
			env.spill += st.Left.SpilledBytes + st.Right.SpilledBytes
			return err
		}
	} else {
		if _, err := reduce.NewHashJoin(cfg); err != nil {
			return nil, fmt.Errorf("plan: join: %w", err)
		}
		js.Ops = []string{"HashJoin " + strings.TrimPrefix(label, "Join ")}
		js.source = func(ctx context.Context, env *taskEnv, next sink) error {
			j, err := reduce.NewHashJoin(cfg)
			if err != nil {
				return err
			}
			return j.Reduce(ctx, []shuffle.Stream{lx.read(env.task), rx.read(env.task)}, func(bt *change.Batch) error { return next.push(ctx, bt) })
		}
	}
	js.inputs = func(t int) []string {
		return []string{fmt.Sprintf("stage %d partition %d", l.ID, t), fmt.Sprintf("stage %d partition %d", r.ID, t)}
	}
	return finishStage(js), nil
}

// buildNotIn is the null-aware anti join of x NOT IN (subquery): the right side is
// broadcast; when it is empty every left row passes, when it holds a NULL none does,
// else the left rows with a non-NULL key and no match pass.
func (b *physBuilder) buildNotIn(x *Join, outS *change.Schema) (*Stage, error) {
	l, err := b.build(x.Left)
	if err != nil {
		return nil, err
	}
	r, err := b.build(x.Right)
	if err != nil {
		return nil, err
	}
	ls, rs := l.schema, r.schema
	rx := b.seal(r, Partitioning{Kind: Single})
	l.Inputs = append(l.Inputs, r)
	lkey, rkey := x.LeftKeys[0], x.RightKeys[0]
	cfg := reduce.HashJoinConfig{Type: reduce.AntiJoin, Left: ls, Right: rs, LeftKeys: []string{colName(lkey)}, RightKeys: []string{colName(rkey)},
		Output: joinOutput(AntiJoin, len(ls.Fields()), 0), Build: reduce.RightSide, Budget: b.opts.budget, SpillDir: b.opts.SpillDir}
	if _, err := reduce.NewHashJoin(cfg); err != nil {
		return nil, fmt.Errorf("plan: NOT IN: %w", err)
	}
	// what the right side holds: computed once per query
	type rightInfo struct{ empty, hasNull bool }
	var info once[rightInfo]
	b.addOp(l, opSpec{desc: fmt.Sprintf("NullAwareAntiJoin (NOT IN) broadcast stage %d on %s", r.ID, strings.TrimPrefix(x.label(), "Join anti null-aware on ")), build: func(env *taskEnv, next sink) sink {
		return newPipeOp(env.ctx(), next, func(ctx context.Context, in shuffle.Stream, emit func(*change.Batch) error) error {
			ri, err := info.get(func() (rightInfo, error) {
				s := rx.read(0)
				defer s.Close()
				ri := rightInfo{empty: true}
				err := drain(ctx, s, func(bt *change.Batch) error {
					defer bt.Release()
					if bt.Len() > 0 {
						ri.empty = false
					}
					if bt.Column(rkey).NullN() > 0 {
						ri.hasNull = true
					}
					return nil
				})
				return ri, err
			})
			if err != nil {
				return err
			}
			switch {
			case ri.empty:
				return drain(ctx, in, emit)
			case ri.hasNull:
				return drain(ctx, in, func(bt *change.Batch) error { bt.Release(); return nil })
			}
			j, err := reduce.NewHashJoin(cfg)
			if err != nil {
				return err
			}
			// NULL keys: the NOT IN is NULL, not true.
			return j.Reduce(ctx, []shuffle.Stream{in, rx.read(0)}, func(bt *change.Batch) error {
				if bt.Column(lkey).NullN() == 0 {
					return emit(bt)
				}
				cond, _ := expr.NewCall("is_not_null", &expr.Column{Index: lkey, T: ls.Field(lkey).Type})
				rec, err := expr.Filter(env.ectx, bt.Record(), cond)
				bt.Release()
				if err != nil {
					return err
				}
				nb, err := asBatch(ls, rec)
				if err != nil {
					return err
				}
				return emit(nb)
			})
		})
	}}, outS)
	l.EstRows = estimate(x)
	return l, nil
}

// lowerJoin rewrites a left, semi or anti join with a condition beyond equal keys
// (which the hash join cannot evaluate) into joins that can run: the left rows are
// numbered, an inner join with the condition as a filter finds the matching numbers,
// and a semi or anti join on the numbers keeps the left rows that matched or did not;
// a left join adds the unmatched rows, padded with NULLs, to the filtered inner join.
func lowerJoin(x *Join) (Node, error) {
	if x.NullAware {
		return nil, fmt.Errorf("%w: NOT IN over several columns or with other conditions", ErrUnsupported)
	}
	switch x.Kind {
	case RightJoin:
		// swap into a left join, then put the columns back in order
		nl, nr := len(x.Left.Fields()), len(x.Right.Fields())
		extra, err := remap(x.Extra, func(i int) int {
			if i < nl {
				return nr + i
			}
			return i - nl
		})
		if err != nil {
			return nil, err
		}
		sw := NewJoin(LeftJoin, x.Right, x.Left, x.RightKeys, x.LeftKeys, extra)
		fs := sw.Fields()
		var exprs []expr.Expr
		var out []Field
		for i := range nl + nr {
			src := nr + i
			if i >= nl {
				src = i - nl
			}
			exprs = append(exprs, &expr.Column{Index: src, Name: fs[src].Name, T: fs[src].Type})
			out = append(out, fs[src])
		}
		return &Project{Input: sw, Exprs: exprs, fields: out}, nil
	case FullJoin:
		return nil, fmt.Errorf("%w: FULL JOIN with a condition other than equal columns", ErrUnsupported)
	}
	lf := x.Left.Fields()
	nl := len(lf)
	idf := Field{Name: "rowid", Type: arrow.PrimitiveTypes.Int64, Hidden: true}
	lid := &RowID{Input: x.Left, fields: append(append([]Field{}, lf...), idf)}
	// inner join of the numbered left with the right, filtered by the condition
	extra, err := remap(x.Extra, func(i int) int {
		if i < nl {
			return i
		}
		return i + 1
	})
	if err != nil {
		return nil, err
	}
	inner := NewJoin(InnerJoin, lid, x.Right, x.LeftKeys, x.RightKeys, extra)
	matchedFull := &Filter{Input: inner, Cond: extra}
	inner.Extra = nil
	idCol := &expr.Column{Index: nl, Name: "rowid", T: idf.Type}
	ids := &Project{Input: matchedFull, Exprs: []expr.Expr{idCol}, fields: []Field{idf}}
	kind := SemiJoin
	if x.Kind == AntiJoin || x.Kind == LeftJoin {
		kind = AntiJoin
	}
	// a second numbering of the left: it must number the rows alike (tasks are
	// deterministic: the same splits in the same order)
	lid2 := &RowID{Input: x.Left, fields: lid.fields}
	sj := NewJoin(kind, lid2, ids, []int{nl}, []int{0}, nil)
	if x.Kind != LeftJoin {
		return keepFirst(sj, nl), nil
	}
	// left join = matched pairs + unmatched left rows with NULLs
	rf := x.Right.Fields()
	var mexprs []expr.Expr
	var unexprs []expr.Expr
	var fields []Field
	for i, f := range lf {
		mexprs = append(mexprs, &expr.Column{Index: i, Name: f.Name, T: f.Type})
		unexprs = append(unexprs, &expr.Column{Index: i, Name: f.Name, T: f.Type})
		fields = append(fields, f)
	}
	for i, f := range rf {
		mexprs = append(mexprs, &expr.Column{Index: nl + 1 + i, Name: f.Name, T: f.Type})
		null, err := expr.NewCast(expr.Null(), f.Type)
		if err != nil {
			return nil, err
		}
		unexprs = append(unexprs, null)
		f.Nullable = true
		fields = append(fields, f)
	}
	matched := &Project{Input: matchedFull, Exprs: mexprs, fields: fields}
	unmatched := &Project{Input: sj, Exprs: unexprs, fields: fields}
	return &Union{Inputs: []Node{matched, unmatched}, fields: fields}, nil
}

func (b *physBuilder) buildWindow(x *Window) (*Stage, error) {
	st, err := b.build(x.Input)
	if err != nil {
		return nil, err
	}
	outS, err := internalSchema(fieldTypes(x.fields))
	if err != nil {
		return nil, err
	}
	part := Partitioning{Kind: Single}
	same := len(x.Funcs[0].Partition) > 0
	for _, f := range x.Funcs[1:] {
		if fmt.Sprint(f.Partition) != fmt.Sprint(x.Funcs[0].Partition) {
			same = false
		}
	}
	if n := b.partitions(estimate(x)); same && n > 1 {
		part = Partitioning{Kind: Hash, N: n, Keys: x.Funcs[0].Partition}
	}
	in := b.seal(st, part)
	ws := b.newStage("window", max(part.N, 1), outS, estimate(x))
	ws.Inputs = []*Stage{st}
	ws.Ops = []string{x.label()}
	inS := st.schema
	funcs := x.Funcs
	ws.source = func(ctx context.Context, env *taskEnv, next sink) error {
		s := in.read(env.task)
		defer s.Close()
		return runWindow(ctx, env, b.opts, inS, outS, funcs, s, next)
	}
	ws.inputs = func(t int) []string { return []string{fmt.Sprintf("stage %d partition %d", st.ID, t)} }
	return ws, nil
}
