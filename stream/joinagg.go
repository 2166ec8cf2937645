package stream

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/state"
)

// JoinInput is one input of a JoinAggregate: a source table, and for every input
// but the first, how it joins an earlier one.
type JoinInput struct {
	// Name refers to the input in column references ("name.column"); required,
	// unique, without a dot.
	Name string
	// Table is the source table feeding the input (as in StageInput); required.
	Table string
	// Schema is the table's schema; required.
	Schema *change.Schema
	// Type is reduce.InnerJoin (the default) or reduce.LeftJoin: the rows of the
	// earlier inputs are kept, with this input's columns NULL where nothing matches.
	Type reduce.JoinType
	// To names the earlier input this one joins; ToKeys are its columns, Keys this
	// input's, compared pairwise (a NULL matches nothing).
	To           string
	ToKeys, Keys []string
}

// JoinAggregatePlan chooses how a JoinAggregate is computed.
type JoinAggregatePlan uint8

const (
	// PlanAuto aggregates eagerly when that computes the same result (see
	// JoinAggregate), else joins first.
	PlanAuto JoinAggregatePlan = iota
	// PlanLazy joins the inputs in their order, then aggregates.
	PlanLazy
	// PlanEager aggregates eagerly, and NewJoinAggregate fails when it does not apply.
	PlanEager
)

// JoinAggregateConfig configures NewJoinAggregate: the query
//
//	SELECT GroupBy..., Aggs... FROM Inputs[0] [LEFT] JOIN Inputs[1] ON ... GROUP BY GroupBy...
type JoinAggregateConfig struct {
	// ID prefixes the operators' IDs and the stages' names; required, unique among
	// the operators sharing a backend.
	ID     string
	Inputs []JoinInput
	// GroupBy names the grouping columns as "input.column"; the output names them by
	// their column name.
	GroupBy []string
	// Aggs are the aggregates, Column as "input.column"; the output column is named
	// As, or as reduce names it after the column name ("sum_amount").
	Aggs []reduce.Agg
	Plan JoinAggregatePlan
	// State holds every operator's state; required.
	State state.Backend
	// Mem allocates output batches (default memory.DefaultAllocator).
	Mem memory.Allocator
}

// JoinAggregate is an aggregate over a tree of equi-joins, as Dataflow stages (one
// per join, then the group-by), each input projected to the columns the query reads.
// Its output, applied by key (the group-by columns), equals the SQL query over the
// inputs' current rows after every epoch.
//
// Joining first (PlanLazy) makes a change of one row re-emit every joined row it
// takes part in: a customer's segment change moves all of its orders' payments
// through the later joins and the aggregate. Eager aggregation (PlanAuto, PlanEager)
// aggregates the rows of the input the aggregates read (A) by the key it joins on
// before the first join, then re-aggregates the joined partial rows by the next
// join key before each following join, and finally by the group-by: a customer's
// segment change then moves one partial row. It applies when
//
//   - every aggregate is decomposable: count(*), count, sum, avg (as a sum and a
//     count), min and max (exact under retractions: each level keeps its values'
//     multiset); not count distinct;
//   - the aggregated columns are all of one input A, the joins form a chain and A
//     is at one end of it (the group-by columns may be of any input); with only
//     count(*), A is an end for which the next condition holds, preferably one
//     without group-by columns;
//   - each left join's NULL-extended input is farther from A along the chain than
//     the input it joins: the rows kept are A's side, so a partial row stands for
//     its A rows whether or not the far side matches. count(*) of a NULL-extended
//     row then counts its A rows (the partial count), as SQL counts the joined rows
//     with NULL far-side columns; sums are over A's values either way. A left join
//     the other way round (counting far-side rows without A rows) falls back to
//     the lazy plan.
//
// Results equal the lazy plan's, except that float sums and averages may differ
// in the last bits (they are added in another order). A keyed input A is kept by
// primary key before its partial aggregate (rowStore), so retractions carrying only
// the key (REPLICA IDENTITY DEFAULT) retract the whole row, as a join's would.
//
// State: joins "ID/j<k>", partial aggregates "ID/a<k>", the final aggregate "ID/g",
// A's rows "ID/r".
type JoinAggregate struct {
	cfg    JoinAggregateConfig
	ins    []jaInput
	groups []colRef
	aggs   []jaAgg
	out    *change.Schema
	eager  bool
	why    string // why the plan is not eager
	stages []Stage
}

type colRef struct {
	in  int
	col string
}

type jaInput struct {
	JoinInput
	to   int // index of To; -1 for the first input
	proj *Project
	nbrs []int // inputs joined with this one
}

type jaAgg struct {
	reduce.Agg
	ref colRef // in -1 for count(*)
}

// NewJoinAggregate checks cfg and plans the query.
func NewJoinAggregate(cfg JoinAggregateConfig) (*JoinAggregate, error) {
	if cfg.ID == "" || cfg.State == nil {
		return nil, fmt.Errorf("%w: join aggregate: ID and State are required", ErrConfig)
	}
	if len(cfg.Inputs) < 2 {
		return nil, fmt.Errorf("%w: join aggregate %s: %d inputs, want at least two (one input: Aggregate)", ErrConfig, cfg.ID, len(cfg.Inputs))
	}
	if cfg.Mem == nil {
		cfg.Mem = memory.DefaultAllocator
	}
	q := &JoinAggregate{cfg: cfg}
	if err := q.resolve(); err != nil {
		return nil, fmt.Errorf("%w: join aggregate %s: %w", ErrConfig, cfg.ID, err)
	}
	var err error
	a, why := q.eagerApplies()
	q.why = why
	switch {
	case cfg.Plan == PlanLazy:
		q.stages, err = q.lazy()
	case q.why == "":
		q.eager = true
		q.stages, err = q.eagerPlan(a)
	case cfg.Plan == PlanEager:
		return nil, fmt.Errorf("%w: join aggregate %s: eager aggregation does not apply: %s", ErrConfig, cfg.ID, q.why)
	default:
		q.stages, err = q.lazy()
	}
	if err != nil {
		return nil, fmt.Errorf("join aggregate %s: %w", cfg.ID, err)
	}
	return q, nil
}

// Stages returns the dataflow stages computing the query; the last one emits the
// result (to the Sink).
func (q *JoinAggregate) Stages() []Stage { return slices.Clone(q.stages) }

// Schema is the result's schema: the group-by columns (its key), then one column
// per aggregate.
func (q *JoinAggregate) Schema() *change.Schema { return q.out }

// Eager reports whether the plan aggregates eagerly; when not, NotEager says why.
func (q *JoinAggregate) Eager() bool { return q.eager }

// NotEager says why eager aggregation does not apply ("" when it does).
func (q *JoinAggregate) NotEager() string { return q.why }

// resolve checks the inputs and column references, and builds the projections and
// the output schema.
func (q *JoinAggregate) resolve() error {
	byName := map[string]int{}
	for i, in := range q.cfg.Inputs {
		if in.Name == "" || strings.Contains(in.Name, ".") || in.Table == "" || in.Schema == nil {
			return fmt.Errorf("input %d: Name (without a dot), Table and Schema are required", i)
		}
		if _, dup := byName[in.Name]; dup {
			return fmt.Errorf("input name %q used twice", in.Name)
		}
		byName[in.Name] = i
		ji := jaInput{JoinInput: in, to: -1}
		if i > 0 {
			to, ok := byName[in.To]
			if !ok {
				return fmt.Errorf("input %s joins %q, not an earlier input", in.Name, in.To)
			}
			if len(in.Keys) == 0 || len(in.Keys) != len(in.ToKeys) {
				return fmt.Errorf("input %s: %d keys and %d keys of %s, want as many and at least one", in.Name, len(in.Keys), len(in.ToKeys), in.To)
			}
			if in.Type != reduce.InnerJoin && in.Type != reduce.LeftJoin {
				return fmt.Errorf("input %s: %s join is not supported (inner or left)", in.Name, in.Type)
			}
			ji.to = to
			q.ins[to].nbrs = append(q.ins[to].nbrs, i)
			ji.nbrs = append(ji.nbrs, to)
		}
		q.ins = append(q.ins, ji)
	}
	need := make([]map[string]bool, len(q.ins))
	for i := range need {
		need[i] = map[string]bool{}
		for _, k := range q.ins[i].Schema.KeyNames() {
			need[i][k] = true // the primary key: retractions find their rows by it
		}
	}
	ref := func(s string) (colRef, error) {
		name, col, ok := strings.Cut(s, ".")
		i, known := byName[name]
		if !ok || !known {
			return colRef{}, fmt.Errorf("column %q: want input.column of a named input", s)
		}
		if q.ins[i].Schema.FieldIndex(col) < 0 {
			return colRef{}, fmt.Errorf("column %q: %s has no column %q", s, name, col)
		}
		need[i][col] = true
		return colRef{i, col}, nil
	}
	for _, in := range q.ins[1:] {
		for k := range in.Keys {
			if _, err := ref(in.Name + "." + in.Keys[k]); err != nil {
				return err
			}
			if _, err := ref(in.To + "." + in.ToKeys[k]); err != nil {
				return err
			}
		}
	}
	// The output schema, as reduce types it, over the columns the query reads
	// named by their column names.
	var fields []arrow.Field
	var gnames []string
	seen := map[string]colRef{}
	// addField adds r's column under its name, or under input.column when another
	// input's column has that name and the output names it by As.
	addField := func(r colRef, as string) (string, error) {
		name := r.col
		if o, ok := seen[name]; ok && o != r {
			if as == "" {
				return "", fmt.Errorf("columns %s.%s and %s.%s have one name: name the aggregate by As",
					q.ins[o.in].Name, o.col, q.ins[r.in].Name, r.col)
			}
			name = q.ins[r.in].Name + "." + r.col
		}
		if _, ok := seen[name]; ok {
			return name, nil
		}
		seen[name] = r
		f := q.ins[r.in].Schema.Field(q.ins[r.in].Schema.FieldIndex(r.col))
		f.Name, f.Nullable = name, true
		fields = append(fields, f)
		return name, nil
	}
	for _, g := range q.cfg.GroupBy {
		r, err := ref(g)
		if err != nil {
			return err
		}
		if _, err := addField(r, ""); err != nil {
			return err
		}
		q.groups = append(q.groups, r)
		gnames = append(gnames, r.col)
	}
	var raggs []reduce.Agg
	for _, a := range q.cfg.Aggs {
		ja := jaAgg{Agg: a, ref: colRef{in: -1}}
		ra := a
		if a.Func != reduce.CountStar {
			r, err := ref(a.Column)
			if err != nil {
				return err
			}
			name, err := addField(r, a.As)
			if err != nil {
				return err
			}
			ja.ref, ra.Column = r, name
		}
		q.aggs = append(q.aggs, ja)
		raggs = append(raggs, ra)
	}
	sc, err := change.NewSchema(fields)
	if err != nil {
		return err
	}
	ha, err := reduce.NewHashAggregate(reduce.AggregateConfig{Schema: sc, GroupBy: gnames, Aggs: raggs, Mode: reduce.AggChanges})
	if err != nil {
		return err
	}
	if q.out, err = change.NewSchema(ha.Schema().Fields(), gnames...); err != nil {
		return err
	}
	for i := range q.aggs {
		q.aggs[i].As = q.out.Field(len(gnames) + i).Name
	}
	for i := range q.ins {
		var cols []string
		for _, f := range q.ins[i].Schema.Fields() {
			if need[i][f.Name] {
				cols = append(cols, f.Name)
			}
		}
		if q.ins[i].proj, err = NewProject(q.ins[i].Schema, cols); err != nil {
			return err
		}
	}
	return nil
}

// eagerApplies returns the aggregated input A of an eager plan, or why there is
// none.
func (q *JoinAggregate) eagerApplies() (int, string) {
	a := -1
	for _, ag := range q.aggs {
		switch ag.Func {
		case reduce.CountStar, reduce.Count, reduce.Sum, reduce.Avg, reduce.Min, reduce.Max:
		default:
			return -1, fmt.Sprintf("%s is not decomposable", ag.Func)
		}
		if ag.ref.in >= 0 {
			if a >= 0 && a != ag.ref.in {
				return -1, "the aggregates read columns of two inputs"
			}
			a = ag.ref.in
		}
	}
	var ends []int
	for i, in := range q.ins {
		switch len(in.nbrs) {
		case 1:
			ends = append(ends, i)
		case 2:
		default:
			return -1, fmt.Sprintf("input %s joins %d others: the joins are not a chain", in.Name, len(in.nbrs))
		}
	}
	if a >= 0 {
		return a, q.eagerFrom(a)
	}
	// count(*) only: either end will do, preferably one without group-by columns.
	slices.SortStableFunc(ends, func(x, y int) int {
		return q.groupsOf(x) - q.groupsOf(y)
	})
	why := ""
	for _, e := range ends {
		if why = q.eagerFrom(e); why == "" {
			return e, ""
		}
	}
	return -1, why
}

func (q *JoinAggregate) groupsOf(in int) int {
	n := 0
	for _, g := range q.groups {
		if g.in == in {
			n++
		}
	}
	return n
}

// eagerFrom returns why eager aggregation from input a does not apply, or "".
func (q *JoinAggregate) eagerFrom(a int) string {
	if len(q.ins[a].nbrs) != 1 {
		return fmt.Sprintf("the aggregated input %s is not at an end of the chain", q.ins[a].Name)
	}
	dist := q.pathFrom(a)
	for i, in := range q.ins[1:] {
		if in.Type == reduce.LeftJoin && dist[i+1] < dist[in.to] {
			return fmt.Sprintf("the left join of %s keeps the rows of %s, farther from the aggregated input %s", in.Name, in.To, q.ins[a].Name)
		}
	}
	return ""
}

// pathFrom returns each input's position on the chain from a.
func (q *JoinAggregate) pathFrom(a int) []int {
	dist := make([]int, len(q.ins))
	prev, cur := -1, a
	for d := 0; ; d++ {
		dist[cur] = d
		next := -1
		for _, n := range q.ins[cur].nbrs {
			if n != prev {
				next = n
			}
		}
		if next < 0 {
			return dist
		}
		prev, cur = cur, next
	}
}

// edge returns the join between inputs i and o (neighbours): its type and the key
// columns of i and of o.
func (q *JoinAggregate) edge(i, o int) (reduce.JoinType, []string, []string) {
	if q.ins[o].to == i {
		return q.ins[o].Type, q.ins[o].ToKeys, q.ins[o].Keys
	}
	return q.ins[i].Type, q.ins[i].Keys, q.ins[i].ToKeys
}

// streamNames is the schema of a stage's output with the name each column reference has
// in it.
type streamNames struct {
	schema *change.Schema
	names  map[colRef]string
}

func (s streamNames) of(refs []colRef) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = s.names[r]
	}
	return out
}

// joined returns the names after a join of left (its names) and the projected
// input in.
func joinedNames(left map[colRef]string, nl int, out *change.Schema, in int, proj *change.Schema) map[colRef]string {
	names := map[colRef]string{}
	for r, n := range left {
		names[r] = n
	}
	for k, f := range proj.Fields() {
		names[colRef{in, f.Name}] = out.Field(nl + k).Name
	}
	return names
}

func keyRefs(in int, cols []string) []colRef {
	out := make([]colRef, len(cols))
	for i, c := range cols {
		out[i] = colRef{in, c}
	}
	return out
}

// lazy plans the joins in input order, then the aggregate.
func (q *JoinAggregate) lazy() ([]Stage, error) {
	cfg := q.cfg
	s := streamNames{schema: q.ins[0].proj.Schema(), names: map[colRef]string{}}
	for _, f := range s.schema.Fields() {
		s.names[colRef{0, f.Name}] = f.Name
	}
	var stages []Stage
	for i := 1; i < len(q.ins); i++ {
		in := q.ins[i]
		jc := JoinConfig{ID: cfg.ID + "/j" + strconv.Itoa(i), Type: in.Type, Left: s.schema, Right: in.proj.Schema(),
			LeftKeys: s.of(keyRefs(in.to, in.ToKeys)), RightKeys: in.Keys, RightPrefix: in.Name + "_", State: cfg.State, Mem: cfg.Mem}
		j, err := NewJoin(jc)
		if err != nil {
			return nil, err
		}
		left := StageInput{Stage: stages0Name(stages), Key: jc.LeftKeys}
		lin, lpre := s.schema, Operator(nil)
		if i == 1 {
			left = StageInput{Table: q.ins[0].Table, Key: in.ToKeys}
			lin, lpre = q.ins[0].Schema, q.ins[0].proj
		}
		stages = append(stages, Stage{Name: jc.ID,
			Inputs: []StageInput{left, {Table: in.Table, Key: in.Keys}},
			Build: func(int) (Node, error) {
				j, err := NewJoin(jc)
				return preJoin{j: j, in: [2]*change.Schema{lin, in.Schema}, pre: [2]Operator{lpre, in.proj}}, err
			}})
		s = streamNames{schema: j.Schema(), names: joinedNames(s.names, s.schema.NumFields(), j.Schema(), i, in.proj.Schema())}
	}
	// The aggregate over the joined rows, its columns renamed to the output's.
	var aggs []reduce.Agg
	for _, a := range q.aggs {
		ra := a.Agg
		if a.ref.in >= 0 {
			ra.Column = s.names[a.ref]
		}
		aggs = append(aggs, ra)
	}
	return q.finalStage(stages, s, aggs, nil)
}

// finalStage appends the stage of the final aggregate over s, grouped by the query's
// groups, whose output rows the finalizer shapes (finals: see finalizer). It is built
// once here so that a configuration error surfaces now, not in a partition.
func (q *JoinAggregate) finalStage(stages []Stage, s streamNames, aggs []reduce.Agg, finals [][2]int) ([]Stage, error) {
	cfg := q.cfg
	ac := AggregateConfig{ID: cfg.ID + "/g", Schema: s.schema, GroupBy: s.of(q.groups), Aggs: aggs, State: cfg.State, Mem: cfg.Mem}
	final := func() (Node, error) {
		a, err := NewAggregate(ac)
		if err != nil {
			return nil, err
		}
		if err := q.finalizer(a, finals); err != nil {
			return nil, err
		}
		return Single(s.schema, a), nil
	}
	if _, err := final(); err != nil {
		return nil, err
	}
	return append(stages, Stage{Name: cfg.ID, Inputs: []StageInput{{Stage: stages0Name(stages), Key: ac.GroupBy}},
		Build: func(int) (Node, error) { return final() }}), nil
}

func stages0Name(st []Stage) string {
	if len(st) == 0 {
		return ""
	}
	return st[len(st)-1].Name
}

// partial is one column of the partial aggregates: its function over A's column
// at the first level, re-aggregated by merge above it.
type partial struct {
	fn    reduce.AggFunc
	ref   colRef
	merge reduce.AggFunc
	name  string
}

// eagerPlan plans the partial aggregates below the joins (see JoinAggregate),
// from the aggregated input a.
func (q *JoinAggregate) eagerPlan(a int) ([]Stage, error) {
	cfg := q.cfg
	dist := q.pathFrom(a)
	path := make([]int, len(q.ins))
	for i, d := range dist {
		path[d] = i
	}
	// The partial columns, shared by aggregates that need the same one.
	var parts []partial
	partOf := func(fn reduce.AggFunc, r colRef) int {
		merge := reduce.Sum
		if fn == reduce.Min || fn == reduce.Max {
			merge = fn
		}
		for i, p := range parts {
			if p.fn == fn && p.ref == r {
				return i
			}
		}
		parts = append(parts, partial{fn: fn, ref: r, merge: merge, name: "_p" + strconv.Itoa(len(parts))})
		return len(parts) - 1
	}
	finals := make([][2]int, len(q.aggs)) // partial columns of each aggregate (avg: sum, count)
	for i, ag := range q.aggs {
		switch ag.Func {
		case reduce.Avg:
			finals[i] = [2]int{partOf(reduce.Sum, ag.ref), partOf(reduce.Count, ag.ref)}
		default:
			finals[i] = [2]int{partOf(ag.Func, ag.ref), -1}
		}
	}
	A := q.ins[a]
	s := streamNames{schema: A.proj.Schema(), names: map[colRef]string{}}
	for _, f := range s.schema.Fields() {
		s.names[colRef{a, f.Name}] = f.Name
	}
	// groupsUpTo are the group-by columns of the chain's first k+1 inputs.
	groupsUpTo := func(k int) []colRef {
		var out []colRef
		for _, g := range q.groups {
			if dist[g.in] <= k {
				out = append(out, g)
			}
		}
		return out
	}
	partialAggs := func(level int, s streamNames) []reduce.Agg {
		out := make([]reduce.Agg, len(parts))
		for i, p := range parts {
			if level == 0 {
				out[i] = reduce.Agg{Func: p.fn, Column: s.names[p.ref], As: p.name}
				if p.fn == reduce.CountStar {
					out[i].Column = ""
				}
			} else {
				out[i] = reduce.Agg{Func: p.merge, Column: p.name, As: p.name}
			}
		}
		return out
	}
	var stages []Stage
	for k := 0; k+1 < len(path); k++ {
		near, far := path[k], path[k+1]
		typ, nearKeys, farKeys := q.edge(near, far)
		// Group by the group-by columns so far and the join key (once each).
		gb := groupsUpTo(k)
		for _, r := range keyRefs(near, nearKeys) {
			if !slices.Contains(gb, r) {
				gb = append(gb, r)
			}
		}
		ac := AggregateConfig{ID: cfg.ID + "/a" + strconv.Itoa(k), Schema: s.schema, GroupBy: s.of(gb),
			Aggs: partialAggs(k, s), State: cfg.State, Mem: cfg.Mem}
		pa, err := NewAggregate(ac)
		if err != nil {
			return nil, err
		}
		// The partial rows' names: the group columns keep theirs.
		pn := streamNames{schema: pa.Schema(), names: map[colRef]string{}}
		for _, r := range gb {
			pn.names[r] = s.names[r]
		}
		fin := q.ins[far]
		jc := JoinConfig{ID: cfg.ID + "/j" + strconv.Itoa(k), Type: typ, Left: pa.Schema(), Right: fin.proj.Schema(),
			LeftKeys: pn.of(keyRefs(near, nearKeys)), RightKeys: farKeys, RightPrefix: fin.Name + "_", State: cfg.State, Mem: cfg.Mem}
		j, err := NewJoin(jc)
		if err != nil {
			return nil, err
		}
		left := StageInput{Stage: stages0Name(stages), Key: jc.LeftKeys}
		lin := s.schema
		var store bool
		if k == 0 {
			left = StageInput{Table: A.Table, Key: nearKeys}
			lin, store = A.Schema, len(A.Schema.Key()) > 0
		}
		stages = append(stages, Stage{Name: jc.ID,
			Inputs: []StageInput{left, {Table: fin.Table, Key: farKeys}},
			Build: func(int) (Node, error) {
				var pre []Operator
				if k == 0 {
					pre = append(pre, A.proj)
					if store {
						rs, err := newRowStore(cfg.ID+"/r", A.proj.Schema(), cfg.State, cfg.Mem)
						if err != nil {
							return nil, err
						}
						pre = append(pre, rs)
					}
				}
				pa, err := NewAggregate(ac)
				if err != nil {
					return nil, err
				}
				j, err := NewJoin(jc)
				if err != nil {
					return nil, err
				}
				return preJoin{j: j, in: [2]*change.Schema{lin, fin.Schema}, pre: [2]Operator{Chain(append(pre, pa)...), fin.proj}}, nil
			}})
		// Past the join: the partial columns keep their names.
		s = streamNames{schema: j.Schema(), names: joinedNames(pn.names, pa.Schema().NumFields(), j.Schema(), far, fin.proj.Schema())}
	}
	// The final aggregate merges the partial columns per group.
	return q.finalStage(stages, s, partialAggs(len(path)-1, s), finals)
}

// finalizer makes the final aggregate a emit the output's rows (a's rows: the
// group columns, then the aggregates, or with finals the merged partial columns):
// the output's names, each aggregate's type, avg as sum / count. a does it row by
// row as it emits, so the last step costs no batch of its own.
func (q *JoinAggregate) finalizer(a *Aggregate, finals [][2]int) error {
	in := a.Schema()
	ng := len(q.groups)
	type colPlan struct {
		src, cnt int  // input columns; cnt: avg's count (-1: none)
		conv     bool // decimal(38, 0) to int64
	}
	plans := make([]colPlan, len(q.aggs))
	for i := range q.aggs {
		p := colPlan{src: ng + i, cnt: -1}
		if finals != nil {
			p.src = ng + finals[i][0]
			if q.aggs[i].Func == reduce.Avg {
				p.cnt = ng + finals[i][1]
			}
		}
		want, got := q.out.Field(ng+i).Type, in.Field(p.src).Type
		switch {
		case p.cnt >= 0:
		case arrow.TypeEqual(want, got):
		case want.ID() == arrow.INT64 && got.ID() == arrow.DECIMAL128:
			p.conv = true
		default:
			return fmt.Errorf("%w: join aggregate %s: %s is %s, want %s", ErrConfig, q.cfg.ID, q.aggs[i].As, got, want)
		}
		plans[i] = p
	}
	a.setFinal(q.out, func(dst, src change.Row) error {
		copy(dst[:ng], src[:ng])
		for i, p := range plans {
			var err error
			if dst[ng+i], err = q.finalValue(in, src, i, p.src, p.cnt, p.conv); err != nil {
				return err
			}
		}
		return nil
	})
	return nil
}

// finalValue computes aggregate i's output value from column src of row (and cnt,
// avg's count) of schema in.
func (q *JoinAggregate) finalValue(in *change.Schema, row change.Row, i, src, cnt int, conv bool) (change.Value, error) {
	v := row[src]
	switch {
	case cnt < 0 && !conv:
		return v, nil
	case cnt < 0:
		if v.IsNull() {
			return v, nil
		}
		d := v.AsDecimal()
		if d.HighBits() != int64(d.LowBits())>>63 {
			return v, fmt.Errorf("stream: join aggregate %s: %s = %s overflows int64", q.cfg.ID, q.aggs[i].As, d.BigInt())
		}
		return change.Int(int64(d.LowBits())), nil
	}
	// avg: sum / count, as Aggregate computes it.
	c := row[cnt].AsDecimal()
	if row[cnt].IsNull() || v.IsNull() || c.Sign() <= 0 {
		return change.Null(), nil
	}
	want := q.out.Field(len(q.groups) + i).Type
	if want.ID() == arrow.FLOAT64 {
		return change.Float(v.AsFloat() / float64(c.LowBits())), nil
	}
	outScale := want.(*arrow.Decimal128Type).Scale
	var inScale int32
	if d, ok := in.Field(src).Type.(*arrow.Decimal128Type); ok {
		inScale = d.Scale
	}
	r, ok := divRound(v.AsDecimal(), int64(c.LowBits()), outScale-inScale)
	if !ok {
		return v, fmt.Errorf("stream: join aggregate %s: %s does not fit decimal(38, %d)", q.cfg.ID, q.aggs[i].As, outScale)
	}
	return change.Decimal(r), nil
}

// preJoin is a join node whose ports first run an operator (nil: none): a
// projection, a partial aggregate.
type preJoin struct {
	j   *Join
	in  [2]*change.Schema
	pre [2]Operator
}

func (p preJoin) Inputs() int                         { return 2 }
func (p preJoin) InputSchema(port int) *change.Schema { return p.in[port] }
func (p preJoin) Schema() *change.Schema              { return p.j.Schema() }

func (p preJoin) ProcessPort(ctx context.Context, port int, b *change.Batch, emit Emit) error {
	if port < 0 || port > 1 || p.pre[port] == nil {
		return p.j.ProcessPort(ctx, port, b, emit)
	}
	return p.pre[port].Process(ctx, b, func(pb *change.Batch) error { return p.j.ProcessPort(ctx, port, pb, emit) })
}

func (p preJoin) setPartition(part, n int) error {
	for _, op := range p.pre {
		if err := setPartition(op, part, n); err != nil {
			return err
		}
	}
	return p.j.setPartition(part, n)
}
