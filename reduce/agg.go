package reduce

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// AggFunc is an aggregate function.
type AggFunc uint8

const (
	// CountStar is count(*): the rows of the group (+I/+U count 1, -U/-D count -1).
	CountStar AggFunc = iota
	// Count is count(col): the rows whose value is not NULL.
	Count
	// CountDistinct is count(DISTINCT col): the distinct values that are not NULL.
	CountDistinct
	// Sum is sum(col): NULL for a group without a value. Integers sum exactly: int64
	// for columns of up to 32 bits, decimal(38, 0) for int64 and uint64 (PostgreSQL:
	// bigint and numeric); decimals to decimal(38, scale); floats to float64.
	Sum
	// Avg is avg(col): NULL for a group without a value. Integers and decimals average
	// exactly, as PostgreSQL's numeric does, to decimal(38, max(16, scale)) rounded
	// half away from zero; floats to float64.
	Avg
	// Min is min(col): the least value that is not NULL (strings and binary by bytes,
	// NaN after every number).
	Min
	// Max is max(col): the greatest value that is not NULL.
	Max
)

var aggNames = [...]string{"count", "count", "count_distinct", "sum", "avg", "min", "max"}

func (f AggFunc) String() string {
	switch f {
	case CountStar:
		return "count(*)"
	case CountDistinct:
		return "count(distinct)"
	}
	if int(f) < len(aggNames) {
		return aggNames[f]
	}
	return fmt.Sprintf("AggFunc(%d)", f)
}

// Agg is one aggregate of a HashAggregate.
type Agg struct {
	Func AggFunc
	// Column is the input column ("" for CountStar).
	Column string
	// As names the output column (default: "count" for CountStar, else the function
	// and the column: "sum_amount", "count_distinct_user").
	As string
}

// AggMode is what a HashAggregate emits.
type AggMode uint8

const (
	// AggFinal emits each group's final row (+I) once the input has ended: batch work.
	AggFinal AggMode = iota
	// AggChanges emits, after each input batch, the changes of the groups it touched:
	// +I for a new group, -U and +U (the old row and the new) for one that changed,
	// -D for one whose rows all retracted: an incremental aggregate over a change
	// stream. It keeps every group in memory (it does not spill).
	AggChanges
)

// ErrAggregateConfig is returned (wrapped) for an aggregate configuration that cannot work.
var ErrAggregateConfig = errors.New("reduce: invalid aggregate")

// ErrAggregateOverBudget is returned (wrapped) when what an aggregate must hold at once
// does not fit its budget: the state of one group, or every group in AggChanges mode.
var ErrAggregateOverBudget = errors.New("reduce: aggregate over the memory budget")

// AggregateConfig configures a HashAggregate.
type AggregateConfig struct {
	// Schema is the schema of the input rows; required.
	Schema *change.Schema
	// GroupBy names the grouping columns (none: one group over every row). NULL is a
	// group key like any other value.
	GroupBy []string
	// Aggs are the aggregates, in output order after the group columns.
	Aggs []Agg
	// InsertOnly says every input row is +I (batch work): min and max then keep one
	// value per group instead of a count per distinct value. A retraction in the
	// input is then an error.
	InsertOnly bool
	// Mode is what the aggregate emits (default AggFinal).
	Mode AggMode
	// Budget counts the aggregate's memory: its tables and states, the batches it
	// builds (nil: uncounted). Inputs should allocate from it too. Over its limit, an
	// AggFinal aggregate spills its groups, partitioned by hash, and aggregates the
	// partitions one by one.
	Budget *change.Budget
	// BatchRows is the number of rows per output batch (default DefaultBatchRows).
	BatchRows int
	// SpillDir is where partitions spill (default os.TempDir()).
	SpillDir string
	// SpillCodec compresses spill files (default LZ4).
	SpillCodec shuffle.Codec
}

// aggSpec is one resolved aggregate.
type aggSpec struct {
	Agg
	col   int // input column, -1 for CountStar
	in    arrow.DataType
	out   arrow.Field
	ms    int // its multiset, or -1
	state int // its first state column in the partial schema
}

// msSpec is a multiset: the per-group counts of the values of one input column, shared
// by the aggregates over that column that need them (count distinct; min and max of an
// input with retractions).
type msSpec struct {
	col    int
	dt     arrow.DataType
	minMax bool
	value  int // its value column in the partial schema (the count follows)
}

// HashAggregate is the hash aggregate reducer: groups live in the join's flat key
// table, and each aggregate's state in typed arrays indexed by group, updated a column
// at a time. Input rows +I and +U add, -U and -D retract: counts and sums subtract,
// and count distinct, min and max keep a count per (group, value), so that a -D
// undoes its +I exactly (floats excepted: a float sum carries rounding error).
//
// Its input is rows of Schema, or the partial rows of its Combiner (PartialSchema), or
// both: partial rows hold states that merge. Over the budget, groups spill as partial
// rows into 16 partitions by hash, which are aggregated one by one, and spill again at
// the next level of hash bits if they still do not fit. The state of a single group
// (its distinct values) must fit the budget.
//
// Memory: before it takes in a batch, the aggregate predicts the growth of its table
// and states, and spills first if they could go over the budget's limit with room
// left for an output batch; so the peak stays within the limit plus the input batch
// and estimates. Under a limit below 8 × shuffle.SpillScratch (~12 MiB) it keeps no
// room for its spill writer, whose buffers then go beyond the limit while it writes,
// and it always may hold 256 KiB of groups (TestHashAggregateBoundedMemory states the
// slack at a 2 MiB limit).
type HashAggregate struct {
	cfg      AggregateConfig
	groupBy  []int
	aggs     []aggSpec
	ms       []msSpec
	out      *change.Schema
	partial  *change.Schema
	layout   *keyLayout
	mask     int
	rowsCol  int // "strata.rows" in the partial schema
	spills   atomic.Int64
	levels   atomic.Int64
	maxLevel int
	fanOut   int // partitions per spill
}

// NewHashAggregate checks cfg and returns the aggregate.
func NewHashAggregate(cfg AggregateConfig) (*HashAggregate, error) {
	s := cfg.Schema
	if s == nil {
		return nil, fmt.Errorf("%w: the Schema is required", ErrAggregateConfig)
	}
	if len(cfg.Aggs) == 0 && len(cfg.GroupBy) == 0 {
		return nil, fmt.Errorf("%w: no group-by columns and no aggregates", ErrAggregateConfig)
	}
	if cfg.Mode > AggChanges {
		return nil, fmt.Errorf("%w: mode %d", ErrAggregateConfig, cfg.Mode)
	}
	if cfg.SpillCodec > shuffle.Uncompressed {
		return nil, fmt.Errorf("%w: unknown spill codec %d", ErrAggregateConfig, cfg.SpillCodec)
	}
	if cfg.BatchRows <= 0 {
		cfg.BatchRows = DefaultBatchRows
	}
	if cfg.Budget == nil {
		cfg.Budget = change.NewBudget(0, nil)
	}
	a := &HashAggregate{cfg: cfg, maxLevel: maxSpillLevel, fanOut: aggFanOut}
	var outFields, groupFields []arrow.Field
	names := map[string]bool{}
	for _, g := range cfg.GroupBy {
		c := s.FieldIndex(g)
		if c < 0 {
			return nil, fmt.Errorf("%w: group-by column %q is not a column of %s", ErrAggregateConfig, g, s)
		}
		if slices.Contains(a.groupBy, c) {
			return nil, fmt.Errorf("%w: group-by column %q is named twice", ErrAggregateConfig, g)
		}
		a.groupBy = append(a.groupBy, c)
		groupFields = append(groupFields, s.Field(c))
		names[g] = true
	}
	outFields = append(outFields, groupFields...)
	for _, ag := range cfg.Aggs {
		sp, err := a.resolve(ag)
		if err != nil {
			return nil, err
		}
		if names[sp.out.Name] {
			return nil, fmt.Errorf("%w: two output columns are named %q", ErrAggregateConfig, sp.out.Name)
		}
		names[sp.out.Name] = true
		a.aggs = append(a.aggs, sp)
		outFields = append(outFields, sp.out)
	}
	layout, mask, err := groupLayout(groupFields)
	if err != nil {
		return nil, err
	}
	a.layout, a.mask = layout, mask
	if a.out, err = change.NewSchema(outFields); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAggregateConfig, err)
	}
	if a.partial, err = a.partialSchema(groupFields); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAggregateConfig, err)
	}
	return a, nil
}

// resolve checks one aggregate and works out its output column.
func (a *HashAggregate) resolve(ag Agg) (aggSpec, error) {
	s := a.cfg.Schema
	sp := aggSpec{Agg: ag, col: -1, ms: -1}
	if ag.Func > Max {
		return sp, fmt.Errorf("%w: aggregate function %d", ErrAggregateConfig, ag.Func)
	}
	name := ag.As
	if ag.Func == CountStar {
		if ag.Column != "" {
			return sp, fmt.Errorf("%w: count(*) takes no column, got %q", ErrAggregateConfig, ag.Column)
		}
		if name == "" {
			name = "count"
		}
		sp.out = change.NotNull(name, arrow.PrimitiveTypes.Int64)
		return sp, nil
	}
	c := s.FieldIndex(ag.Column)
	if c < 0 {
		return sp, fmt.Errorf("%w: %s of column %q: not a column of %s", ErrAggregateConfig, ag.Func, ag.Column, s)
	}
	sp.col, sp.in = c, s.Field(c).Type
	if name == "" {
		name = aggNames[ag.Func] + "_" + ag.Column
	}
	class, _ := keyClass(sp.in)
	numeric := class == "integer" || class == "uint64" || class == "float" || strings.HasPrefix(class, "decimal")
	switch ag.Func {
	case Count, CountDistinct:
		sp.out = change.NotNull(name, arrow.PrimitiveTypes.Int64)
	case Sum, Avg:
		if !numeric {
			return sp, fmt.Errorf("%w: %s of column %q: a column of type %s has no %s", ErrAggregateConfig, ag.Func, ag.Column, sp.in, ag.Func)
		}
		sp.out = change.Col(name, sumType(ag.Func, sp.in))
	case Min, Max:
		sp.out = change.Col(name, sp.in)
	}
	if ag.Func == CountDistinct || (ag.Func == Min || ag.Func == Max) && !a.cfg.InsertOnly {
		sp.ms = a.multiset(c, ag.Func != CountDistinct)
	}
	return sp, nil
}

// multiset returns the index of the multiset of column c, adding it.
func (a *HashAggregate) multiset(c int, minMax bool) int {
	for i := range a.ms {
		if a.ms[i].col == c {
			a.ms[i].minMax = a.ms[i].minMax || minMax
			return i
		}
	}
	a.ms = append(a.ms, msSpec{col: c, dt: a.cfg.Schema.Field(c).Type, minMax: minMax})
	return len(a.ms) - 1
}

// Schema returns the schema of the output batches: the group columns, then one column
// per aggregate.
func (a *HashAggregate) Schema() *change.Schema { return a.out }

// PartialSchema returns the schema of the Combiner's partial rows: the group columns,
// "strata.rows" (the net row count), each aggregate's state columns, and per multiset
// a value and its count. A partial row carries either a group's states or one of its
// multiset values (its other multiset columns NULL, with count 0).
func (a *HashAggregate) PartialSchema() *change.Schema { return a.partial }

func (a *HashAggregate) partialSchema(groupFields []arrow.Field) (*change.Schema, error) {
	fs := slices.Clone(groupFields)
	for i := range fs {
		fs[i].Nullable = true
		fs[i].Metadata = arrow.Metadata{}
	}
	a.rowsCol = len(fs)
	fs = append(fs, change.NotNull("strata.rows", arrow.PrimitiveTypes.Int64))
	for i := range a.aggs {
		sp := &a.aggs[i]
		sp.state = len(fs)
		for j, t := range stateTypes(sp) {
			fs = append(fs, change.Col(fmt.Sprintf("strata.a%d.%d", i, j), t))
		}
	}
	for i := range a.ms {
		a.ms[i].value = len(fs)
		fs = append(fs, change.Col(fmt.Sprintf("strata.m%d.value", i), a.ms[i].dt),
			change.NotNull(fmt.Sprintf("strata.m%d.count", i), arrow.PrimitiveTypes.Int64))
	}
	return change.NewSchema(fs)
}

// AggregateStats are a hash aggregate's totals so far.
type AggregateStats struct {
	// Spills counts the times groups were spilled to partitions.
	Spills int64
	// Levels is the deepest spill level reached: 1 when the input's groups spilled
	// once into partitions that then fit, 2 when a partition spilled again, ...
	Levels int64
}

// Stats returns the aggregate's totals so far.
func (a *HashAggregate) Stats() AggregateStats {
	return AggregateStats{Spills: a.spills.Load(), Levels: a.levels.Load()}
}

// Reduce aggregates in[0].
func (a *HashAggregate) Reduce(ctx context.Context, in []shuffle.Stream, emit Emit) error {
	if len(in) != 1 {
		return fmt.Errorf("reduce: an aggregate takes 1 input, got %d", len(in))
	}
	if a.cfg.Mode == AggChanges {
		return a.changes(ctx, in[0], emit)
	}
	return a.aggregate(ctx, in[0], 0, emit)
}

// Combiner returns the map-side partial aggregate: it aggregates its input as the
// reducer would and emits the groups' states as partial rows, which the reducer
// merges. Within its budget it emits each group once; over it, it emits what it holds
// and starts again, which is as correct (partial rows add up) and bounded.
func (a *HashAggregate) Combiner() Combiner { return combiner{a} }

type combiner struct{ a *HashAggregate }

func (c combiner) Combine(ctx context.Context, in shuffle.Stream, emit Emit) error {
	a := c.a
	r := a.newRun()
	defer r.release()
	all := func(int) bool { return true }
	for {
		b, err := in.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		err = r.take(b, func() error {
			if err := r.partialRows(all, emit); err != nil {
				return err
			}
			r.reset()
			return nil
		})
		b.Release()
		if err != nil {
			return err
		}
	}
	return r.partialRows(all, emit)
}

func (a *HashAggregate) limited() bool { return a.cfg.Budget.Limit() > 0 }

// aggregate aggregates in, spilling partitions of level+1 when over the budget, and
// emits the final rows.
func (a *HashAggregate) aggregate(ctx context.Context, in shuffle.Stream, level int, emit Emit) error {
	r := a.newRun()
	defer r.release()
	var parts *aggParts
	defer func() {
		if parts != nil {
			parts.remove()
		}
	}()
	for {
		b, err := in.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		err = r.take(b, func() error {
			if parts == nil {
				if level >= a.maxLevel || level > 0 && r.t.Len() == 1 {
					return a.tooBig(r, level)
				}
				parts = &aggParts{a: a, level: level, files: make([][]shuffle.SpillFile, a.fanOut)}
			}
			if err := parts.spill(r); err != nil {
				return err
			}
			r.reset()
			return nil
		})
		b.Release()
		if err != nil {
			return err
		}
	}
	if parts == nil {
		return r.final(emit, level == 0)
	}
	if err := parts.spill(r); err != nil {
		return err
	}
	r.release()
	for p := range parts.files {
		if len(parts.files[p]) == 0 {
			continue
		}
		st := &filesStream{files: parts.files[p], mem: a.cfg.Budget}
		err := a.aggregate(ctx, st, level+1, emit)
		st.Close()
		for _, f := range parts.files[p] {
			f.Remove()
		}
		parts.files[p] = nil
		if err != nil {
			return err
		}
	}
	return nil
}

// tooBig describes a partition whose groups still do not fit.
func (a *HashAggregate) tooBig(r *aggRun, level int) error {
	what := fmt.Sprintf("%d groups", r.t.Len())
	if r.t.Len() == 1 {
		what = "the state of one group"
		if len(a.ms) > 0 {
			what += fmt.Sprintf(" (its distinct values of column %q)", a.cfg.Schema.Field(a.ms[0].col).Name)
		}
	}
	return fmt.Errorf("%w: hash aggregate: %s of one partition at spill level %d do not fit the budget of %d bytes",
		ErrAggregateOverBudget, what, level, a.cfg.Budget.Limit())
}
