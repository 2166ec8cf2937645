package stream

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/shuffle"
	"github.com/strata-data/strata/state"
)

// Windows assigns event times to windows: Tumbling, Hopping or Session. Windows
// are half-open, [start, end), and tumbling and hopping ones are aligned to the
// Unix epoch.
type Windows struct {
	kind  windowKind
	size  time.Duration // tumbling, hopping
	slide time.Duration // hopping (size for tumbling)
	gap   time.Duration // session
}

type windowKind uint8

const (
	tumbling windowKind = iota + 1
	hopping
	session
)

// Tumbling windows of the given size: each event time is in exactly one.
func Tumbling(size time.Duration) Windows { return Windows{kind: tumbling, size: size, slide: size} }

// Hopping windows of the given size, one starting every slide: an event time is
// in about size/slide of them (none when slide > size and it falls in a gap
// between windows: such a row is in no result, and not late either).
func Hopping(size, slide time.Duration) Windows {
	return Windows{kind: hopping, size: size, slide: slide}
}

// Session windows per group: an event at t opens [t, t+gap), and windows that
// overlap or touch merge, so a session ends gap after its last event.
func Session(gap time.Duration) Windows { return Windows{kind: session, gap: gap} }

func (w Windows) String() string {
	switch w.kind {
	case tumbling:
		return fmt.Sprintf("tumbling(%s)", w.size)
	case hopping:
		return fmt.Sprintf("hopping(%s, %s)", w.size, w.slide)
	case session:
		return fmt.Sprintf("session(%s)", w.gap)
	}
	return "no windows"
}

// Names of the window columns WindowAggregate emits before the group columns.
const (
	WindowStart = "window_start"
	WindowEnd   = "window_end"
)

// WindowAggregateConfig configures NewWindowAggregate.
type WindowAggregateConfig struct {
	// ID names the operator; its state namespaces are "ID/...". Required, unique
	// among the operators sharing a backend.
	ID string
	// Schema is the input's schema; required.
	Schema *change.Schema
	// Time names the event-time column, of type date32 or timestamp; required.
	// The window columns have its type; a date32 column takes whole-day windows.
	Time string
	// Windows is the window assigner; required.
	Windows Windows
	// GroupBy names the grouping columns (none: one group per window).
	GroupBy []string
	// Aggs are the aggregates, as Aggregate takes them.
	Aggs []reduce.Agg
	// OutOfOrderness bounds how far an event may trail the latest event time seen
	// and still be on time: the operator's watermark is that time minus
	// OutOfOrderness (bounded out-of-orderness).
	OutOfOrderness time.Duration
	// ExternalWatermark leaves the watermark to OnWatermark alone (a Dataflow with a
	// Watermark sends it to every partition). Set it when the operator runs in
	// several partitions of a Dataflow: a partition that sees few events then still
	// closes its windows, and every partition has the same watermark.
	ExternalWatermark bool
	// AllowedLateness keeps a window's state that long after the watermark passed
	// its end: a late event within it updates the emitted result (-U, +U).
	AllowedLateness time.Duration
	// Late receives, in input order and with their ops, the rows that are too late
	// for every window they belong to, and rows with a NULL event time (taking
	// over the batch). Required: late rows are never dropped silently. It is
	// called from the goroutine running the operator.
	Late Emit
	// State holds the windows; required.
	State state.Backend
	// Mem allocates batches (default memory.DefaultAllocator).
	Mem memory.Allocator
}

// Validate reports whether the configuration can work.
func (c WindowAggregateConfig) Validate() error {
	switch {
	case c.ID == "":
		return fmt.Errorf("%w: window aggregate: ID is required", ErrConfig)
	case c.Schema == nil || c.State == nil || c.Late == nil:
		return fmt.Errorf("%w: window aggregate %s: Schema, State and Late are required", ErrConfig, c.ID)
	case c.Windows.kind == 0:
		return fmt.Errorf("%w: window aggregate %s: Windows is required (Tumbling, Hopping or Session)", ErrConfig, c.ID)
	case c.OutOfOrderness < 0 || c.AllowedLateness < 0:
		return fmt.Errorf("%w: window aggregate %s: negative OutOfOrderness or AllowedLateness", ErrConfig, c.ID)
	}
	return nil
}

// WindowAggregate aggregates a change stream per group and event-time window. It
// emits window_start, window_end, the group columns and the aggregates (types as
// Aggregate's); its output's key is (window_start, window_end, group columns).
//
// Watermark: the largest event time seen minus OutOfOrderness (or, with
// ExternalWatermark, the latest OnWatermark), never going back. Batches are the
// unit of time: a batch's rows are judged by the watermark before it, and the
// watermark advances after it.
//
// Emission: a window emits its rows (+I per group) once the watermark reaches its
// end. Until then changes, retractions included, only update its state. After
// that, for AllowedLateness more, a late change updates it and its emitted rows
// with -U/+U (+I, -D for a group that appears or empties). A row too late for all
// its windows goes to Late and is counted (LateRows). Once the watermark passes a
// window's end plus AllowedLateness its state is freed.
//
// Sessions: an added row that overlaps or touches sessions of its group merges
// them; sessions already emitted are retracted (-D) and the merged one is emitted
// when the watermark reaches its end (at once if it has). A retraction updates the
// session holding its time but does not shrink or split it: a session's bounds
// come from the rows added to it. A row is too late for sessions when it touches
// no live session and its own [t, t+gap) is past the allowed lateness.
//
// State: the window groups live in an Aggregate (namespaces "ID/agg/...") keyed by
// window start, end and group key (a session's by its start twice, so that it
// stays put while the session's end moves); "ID/f" lists the window groups not
// emitted yet and "ID/x" the ones not freed yet, both by window end; "ID/s" holds
// each group's sessions; "ID/wm" the watermark, also held in memory and read from
// the backend when the operator is built anew (after a restore).
//
// In a Dataflow, partition the stage by the GroupBy columns (StageInput.Key, in
// order), set ExternalWatermark and give the Dataflow a Watermark: every partition
// then shares one watermark, and fires the window groups whose key it owns.
type WindowAggregate struct {
	cfg    WindowAggregateConfig
	agg    *Aggregate
	ext    *change.Schema // the inner aggregate's input: start, end, then cols
	cols   []int          // input columns copied into ext
	tcol   int
	ttype  arrow.DataType
	unit   int64 // nanoseconds per tick of the time column
	size   int64 // ticks
	slide  int64
	gap    int64
	late   int64
	groups int // group columns
	names  []string

	nsFire, nsExpire, nsSess, nsWM string

	part, parts int // partition p of n (n 0: alone) owning the groups it fires
	hashes      []uint64

	wm       int64 // nanoseconds; math.MinInt64: none yet
	wmLoaded bool
	lateRows atomic.Int64
}

var wmKey = []byte("wm")

// NewWindowAggregate checks cfg and returns the operator.
func NewWindowAggregate(cfg WindowAggregateConfig) (*WindowAggregate, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Mem == nil {
		cfg.Mem = memory.DefaultAllocator
	}
	w := &WindowAggregate{cfg: cfg, wm: math.MinInt64,
		nsFire: cfg.ID + "/f", nsExpire: cfg.ID + "/x", nsSess: cfg.ID + "/s", nsWM: cfg.ID + "/wm"}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: window aggregate %s: %s", ErrConfig, cfg.ID, fmt.Sprintf(format, args...))
	}
	w.tcol = cfg.Schema.FieldIndex(cfg.Time)
	if w.tcol < 0 {
		return nil, bad("event-time column %q is not a column of %s", cfg.Time, cfg.Schema)
	}
	w.ttype = cfg.Schema.Field(w.tcol).Type
	var ok bool
	if w.unit, ok = timeUnit(w.ttype); !ok {
		return nil, bad("event-time column %q is %s, not date32 or timestamp", cfg.Time, w.ttype)
	}
	ticks := func(name string, d time.Duration, positive bool) (int64, error) {
		if positive && d <= 0 {
			return 0, bad("%s %s must be positive", name, d)
		}
		if int64(d)%w.unit != 0 {
			return 0, bad("%s %s is not a whole number of %s's unit (%s)", name, d, cfg.Time, time.Duration(w.unit))
		}
		return int64(d) / w.unit, nil
	}
	var err error
	switch cfg.Windows.kind {
	case tumbling, hopping:
		if w.size, err = ticks("window size", cfg.Windows.size, true); err != nil {
			return nil, err
		}
		if w.slide, err = ticks("window slide", cfg.Windows.slide, true); err != nil {
			return nil, err
		}
	case session:
		if w.gap, err = ticks("session gap", cfg.Windows.gap, true); err != nil {
			return nil, err
		}
	}
	if w.late, err = ticks("allowed lateness", cfg.AllowedLateness, false); err != nil {
		return nil, err
	}
	// The inner aggregate's input: window start and end, then the group columns and
	// the aggregates' input columns, named as in the input.
	fields := []arrow.Field{change.NotNull(WindowStart, w.ttype), change.NotNull(WindowEnd, w.ttype)}
	add := func(name string) error {
		if name == WindowStart || name == WindowEnd {
			return bad("column %q clashes with the window columns", name)
		}
		c := cfg.Schema.FieldIndex(name)
		if c < 0 {
			return bad("column %q is not a column of %s", name, cfg.Schema)
		}
		if !slices.Contains(w.cols, c) {
			w.cols = append(w.cols, c)
			fields = append(fields, cfg.Schema.Field(c))
		}
		return nil
	}
	for i, g := range cfg.GroupBy {
		if slices.Contains(cfg.GroupBy[:i], g) {
			return nil, bad("group-by column %q given twice", g)
		}
		if err := add(g); err != nil {
			return nil, err
		}
	}
	w.groups = len(cfg.GroupBy)
	for _, ag := range cfg.Aggs {
		if ag.Func != reduce.CountStar {
			if err := add(ag.Column); err != nil {
				return nil, err
			}
		}
		if ag.As == WindowStart || ag.As == WindowEnd {
			return nil, bad("aggregate name %q clashes with the window columns", ag.As)
		}
	}
	if w.ext, err = change.NewSchema(fields); err != nil {
		return nil, bad("%v", err)
	}
	w.agg, err = NewAggregate(AggregateConfig{ID: cfg.ID + "/agg", Schema: w.ext, State: cfg.State, Mem: cfg.Mem,
		GroupBy: append([]string{WindowStart, WindowEnd}, cfg.GroupBy...), Aggs: cfg.Aggs})
	if err != nil {
		return nil, err
	}
	w.names = append(w.agg.Namespaces(), w.nsFire, w.nsExpire, w.nsWM)
	if cfg.Windows.kind == session {
		w.names = append(w.names, w.nsSess)
	}
	return w, nil
}

// Schema implements Operator: window_start, window_end, the group columns and the
// aggregates, keyed by the first three.
func (w *WindowAggregate) Schema() *change.Schema { return w.agg.Schema() }

// Namespaces implements Stateful.
func (w *WindowAggregate) Namespaces() []string { return slices.Clone(w.names) }

// setPartition implements partitioned. Every partition shares the backend and
// scans the same timer index, but fires and frees only the window groups whose
// group columns hash to it, as a Dataflow routes rows partitioned by the group-by
// columns (StageInput.Key must be them, in order).
func (w *WindowAggregate) setPartition(p, n int) error {
	if n > 1 && !w.cfg.ExternalWatermark {
		return fmt.Errorf("%w: window aggregate %s runs in %d partitions: set ExternalWatermark, and the Dataflow's Watermark",
			ErrConfig, w.cfg.ID, n)
	}
	w.part, w.parts = p, n
	return nil
}

// hashGroups hashes the group columns cols of b's rows, as a Dataflow routes them
// (nil when the operator runs alone).
func (w *WindowAggregate) hashGroups(b *change.Batch, cols []int) []uint64 {
	if w.parts <= 1 {
		return nil
	}
	w.hashes = slices.Grow(w.hashes[:0], b.Len())[:b.Len()]
	shuffle.HashKeys(b, cols, w.hashes)
	return w.hashes
}

// owner is the timer index value of a window group with hash h.
func owner(hashes []uint64, r int) []byte {
	if hashes == nil {
		return nil
	}
	return binary.BigEndian.AppendUint64(nil, hashes[r])
}

// owns reports whether this partition fires the window group whose timer index
// value is v.
func (w *WindowAggregate) owns(v []byte) bool {
	switch {
	case w.parts <= 1:
		return true
	case w.groups == 0:
		return w.part == 0 // a Dataflow routes rows without a key to partition 0
	case len(v) != 8:
		return false
	}
	return shuffle.PartitionOf(binary.BigEndian.Uint64(v), w.parts) == w.part
}

// LateRows is the number of rows sent to Late so far by this operator value.
func (w *WindowAggregate) LateRows() int64 { return w.lateRows.Load() }

// Watermark is the operator's current watermark (the zero time before the first).
func (w *WindowAggregate) Watermark() (time.Time, error) {
	if err := w.loadWatermark(); err != nil {
		return time.Time{}, err
	}
	if w.wm == math.MinInt64 {
		return time.Time{}, nil
	}
	return time.Unix(0, w.wm).UTC(), nil
}

// loadShared implements shared: the watermark as restored.
func (w *WindowAggregate) loadShared() error {
	w.wmLoaded = false
	return w.loadWatermark()
}

func (w *WindowAggregate) loadWatermark() error {
	if w.wmLoaded {
		return nil
	}
	v, ok, err := w.cfg.State.Get(w.nsWM, wmKey, nil)
	if err != nil {
		return fmt.Errorf("stream: window aggregate %s: %w", w.cfg.ID, err)
	}
	if ok {
		if len(v) != 8 {
			return fmt.Errorf("%w: window aggregate %s: malformed watermark", state.ErrCorrupt, w.cfg.ID)
		}
		w.wm = int64(binary.BigEndian.Uint64(v))
	}
	w.wmLoaded = true
	return nil
}

// advance raises the watermark to ns (never lowers it) and stores it.
func (w *WindowAggregate) advance(ns int64) error {
	if ns <= w.wm {
		return nil
	}
	w.wm = ns
	if err := w.cfg.State.Put(w.nsWM, wmKey, binary.BigEndian.AppendUint64(nil, uint64(ns))); err != nil {
		return fmt.Errorf("stream: window aggregate %s: %w", w.cfg.ID, err)
	}
	return nil
}

// OnWatermark implements WatermarkHandler: it raises the watermark to wm (never
// lowers it), emits the windows that closes and frees the ones past lateness.
func (w *WindowAggregate) OnWatermark(ctx context.Context, wm time.Time, emit Emit) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := w.loadWatermark(); err != nil {
		return err
	}
	if err := w.advance(unixNanos(wm)); err != nil {
		return err
	}
	return w.fire(w.ticks(w.wm), emit)
}

// ticks converts nanoseconds to ticks of the time column, rounding down.
func (w *WindowAggregate) ticks(ns int64) int64 {
	if ns == math.MinInt64 || ns == math.MaxInt64 {
		return ns
	}
	return floorDiv(ns, w.unit)
}

// nanos converts ticks to nanoseconds, saturating.
func (w *WindowAggregate) nanos(t int64) int64 { return tickNanos(t, w.unit) }

// timeUnit is the nanoseconds per value of an event-time column's type.
func timeUnit(t arrow.DataType) (int64, bool) {
	switch t := t.(type) {
	case *arrow.Date32Type:
		return int64(24 * time.Hour), true
	case *arrow.TimestampType:
		return int64(t.Unit.Multiplier()), true
	}
	return 0, false
}

// tickNanos converts a time in units of unit nanoseconds to nanoseconds, saturating.
func tickNanos(t, unit int64) int64 {
	if t > math.MaxInt64/unit {
		return math.MaxInt64
	}
	if t < math.MinInt64/unit {
		return math.MinInt64 + 1
	}
	return t * unit
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	if b < 0 && a < math.MinInt64-b {
		return math.MinInt64
	}
	return a + b
}

// unixNanos is t in Unix nanoseconds, clamped to the int64 range.
func unixNanos(t time.Time) int64 {
	switch {
	case t.After(MaxWatermark):
		return math.MaxInt64
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	}
	return t.UnixNano()
}

// timeAt reads the event time at row i in ticks; false for NULL.
func timeAt(a arrow.Array, i int) (int64, bool) {
	if a.IsNull(i) {
		return 0, false
	}
	switch a := a.(type) {
	case *array.Timestamp:
		return int64(a.Value(i)), true
	case *array.Date32:
		return int64(a.Value(i)), true
	}
	panic(fmt.Sprintf("stream: window time column of type %s", a.DataType())) // checked by the constructor
}

// expired reports whether a window ending at end (ticks) is past the allowed
// lateness at watermark wm (ticks).
func (w *WindowAggregate) expired(end, wm int64) bool {
	return wm != math.MinInt64 && satAdd(end, w.late) <= wm
}

// assigned is a batch's rows expanded to (row, window) pairs.
type assigned struct {
	idx        []int32
	start, end []int64
	ops        []change.Op
}

func (s *assigned) add(row int, start, end int64, op change.Op) {
	s.idx = append(s.idx, int32(row))
	s.start = append(s.start, start)
	s.end = append(s.end, end)
	if op.IsRetraction() {
		op = change.Delete
	} else {
		op = change.Insert
	}
	s.ops = append(s.ops, op)
}

// Process implements Operator.
func (w *WindowAggregate) Process(ctx context.Context, in *change.Batch, emit Emit) error {
	defer in.Release()
	if err := checkSchema("window aggregate "+w.cfg.ID, w.cfg.Schema, in); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := w.loadWatermark(); err != nil {
		return err
	}
	wm := w.ticks(w.wm)
	tc := in.Column(w.tcol)
	ops := in.Ops()
	var as assigned
	var late []int
	maxT := int64(math.MinInt64)
	var sessions *batchSessions
	if w.cfg.Windows.kind == session {
		var err error
		if late, sessions, err = w.assignSessions(in, wm, &as, emit); err != nil {
			return err
		}
		for r := range ops {
			if t, ok := timeAt(tc, r); ok {
				maxT = max(maxT, t)
			}
		}
	} else {
		for r, op := range ops {
			t, ok := timeAt(tc, r)
			if !ok {
				late = append(late, r)
				continue
			}
			maxT = max(maxT, t)
			n, windows := len(as.idx), 0
			// Windows [k*slide, k*slide+size) holding t: k from floor((t-size)/slide)+1 to floor(t/slide).
			for k := floorDiv(t, w.slide); k > floorDiv(t-w.size, w.slide); k-- {
				start := k * w.slide
				windows++
				if end := start + w.size; !w.expired(end, wm) {
					as.add(r, start, end, op)
				}
			}
			if len(as.idx) == n && windows > 0 { // in no window (a gap between hopping windows): in no result
				late = append(late, r)
			}
		}
	}
	if len(late) > 0 {
		lops := make([]change.Op, len(late))
		for i, r := range late {
			lops[i] = ops[r]
		}
		lb, err := takeRows(w.cfg.Mem, in, late, lops)
		if err != nil {
			return err
		}
		w.lateRows.Add(int64(len(late)))
		if err := w.cfg.Late(lb); err != nil {
			return fmt.Errorf("stream: window aggregate %s: late output: %w", w.cfg.ID, err)
		}
	}
	if len(as.idx) > 0 {
		if err := w.update(ctx, in, &as, wm, sessions, emit); err != nil {
			return err
		}
	}
	if !w.cfg.ExternalWatermark && maxT != math.MinInt64 {
		if err := w.advance(satAdd(w.nanos(maxT), -int64(w.cfg.OutOfOrderness))); err != nil {
			return err
		}
	}
	return w.fire(w.ticks(w.wm), emit)
}

// update feeds the assigned pairs to the window groups and emits the changes of
// windows already emitted (watermark wm, in ticks, at or past their end, and for
// sessions not changed by this batch).
func (w *WindowAggregate) update(ctx context.Context, in *change.Batch, as *assigned, wm int64, ss *batchSessions, emit Emit) error {
	mem := w.cfg.Mem
	cols := make([]arrow.Array, 0, 2+len(w.cols))
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	cols = append(cols, timeArray(mem, w.ttype, as.start), timeArray(mem, w.ttype, as.end))
	for _, c := range w.cols {
		cols = append(cols, shuffle.Take(mem, in.Column(c), as.idx))
	}
	rec := array.NewRecordBatch(w.ext.Arrow(), cols, int64(len(as.idx)))
	ext, err := change.NewBatch(w.ext, rec, as.ops)
	if err != nil {
		rec.Release()
		return err
	}
	var out *change.Batch
	err = w.agg.Process(ctx, ext, func(b *change.Batch) error { out = b; return nil })
	if err != nil || out == nil {
		return err
	}
	defer out.Release()
	ends := out.Column(1)
	var hashes []uint64
	if ss == nil {
		groupCols := make([]int, w.groups)
		for i := range groupCols {
			groupCols[i] = 2 + i
		}
		hashes = w.hashGroups(out, groupCols)
	}
	var rows []int
	var realEnds []int64 // sessions: the ends of the rows passed on
	var wb state.Batch
	var key []byte
	for r, op := range out.Ops() {
		end, _ := timeAt(ends, r)
		if ss != nil {
			// The inner key holds a session's start twice: its end moves.
			key = w.innerKey(key[:0], out, r)
			if end, ok := ss.ends[string(key)]; ok && end <= wm && !ss.changed[string(key)] {
				rows = append(rows, r)
				realEnds = append(realEnds, end)
			}
			continue
		}
		if end <= wm {
			rows = append(rows, r)
		}
		if op == change.Insert {
			// A new window group: emitted at its end (or now, through rows, when a
			// late row opens it), freed after its lateness.
			key = appendSigned(append(key[:0], encPresent), end)
			key = w.innerKey(key, out, r)
			v := owner(hashes, r)
			if end > wm {
				wb.Put(w.nsFire, key, v)
			}
			wb.Put(w.nsExpire, key, v)
		}
	}
	if err := w.cfg.State.Apply(&wb); err != nil {
		return fmt.Errorf("stream: window aggregate %s: %w", w.cfg.ID, err)
	}
	var pass *change.Batch
	switch {
	case len(rows) == 0:
		return nil
	case len(rows) == out.Len():
		out.Retain()
		pass = out
	default:
		if pass, err = takeRows(mem, out, rows, pick(out.Ops(), rows)); err != nil {
			return err
		}
	}
	if ss != nil {
		if pass, err = w.withEnds(pass, realEnds); err != nil {
			return err
		}
	}
	return emit(pass)
}

// withEnds replaces b's window_end column (taking over b).
func (w *WindowAggregate) withEnds(b *change.Batch, ends []int64) (*change.Batch, error) {
	defer b.Release()
	rec := b.Record()
	cols := make([]arrow.Array, rec.NumCols())
	for i := range cols {
		cols[i] = rec.Column(i)
	}
	cols[1] = timeArray(w.cfg.Mem, w.ttype, ends)
	defer cols[1].Release()
	out, err := change.NewBatch(b.Schema(), array.NewRecordBatch(rec.Schema(), cols, rec.NumRows()), b.Ops())
	if err != nil {
		return nil, fmt.Errorf("stream: window aggregate %s: %w", w.cfg.ID, err)
	}
	return out, nil
}

func pick(ops []change.Op, rows []int) []change.Op {
	out := make([]change.Op, len(rows))
	for i, r := range rows {
		out[i] = ops[r]
	}
	return out
}

// innerKey appends the inner aggregate's group key of output row r: window start,
// end and the group columns.
func (w *WindowAggregate) innerKey(dst []byte, out *change.Batch, r int) []byte {
	for c := range 2 + w.groups {
		dst = appendKey(dst, out.Column(c), r)
	}
	return dst
}

// timeArray builds a column of the time type from ticks.
func timeArray(mem memory.Allocator, t arrow.DataType, v []int64) arrow.Array {
	switch t := t.(type) {
	case *arrow.TimestampType:
		b := array.NewTimestampBuilder(mem, t)
		defer b.Release()
		b.Reserve(len(v))
		for _, x := range v {
			b.UnsafeAppend(arrow.Timestamp(x))
		}
		return b.NewArray()
	default:
		b := array.NewDate32Builder(mem)
		defer b.Release()
		b.Reserve(len(v))
		for _, x := range v {
			b.UnsafeAppend(arrow.Date32(x))
		}
		return b.NewArray()
	}
}

// windowKey appends a window's start and end as the inner aggregate keys them.
func windowKey(dst []byte, start, end int64) []byte {
	dst = appendSigned(append(dst, encPresent), start)
	return appendSigned(append(dst, encPresent), end)
}

// fire emits the window groups whose end the watermark wm (ticks) has reached and
// frees the ones past their lateness.
func (w *WindowAggregate) fire(wm int64, emit Emit) error {
	if wm == math.MinInt64 {
		return nil
	}
	var limit []byte
	if wm < math.MaxInt64 {
		limit = appendSigned([]byte{encPresent}, wm+1)
	}
	due, err := w.keys(w.nsFire, limit)
	if err != nil {
		return err
	}
	var wb state.Batch
	b := change.NewBuilder(w.cfg.Mem, w.Schema())
	defer b.Release()
	row := make(change.Row, w.Schema().NumFields())
	for _, k := range due {
		wb.Delete(w.nsFire, k)
		g, err := w.agg.load(k[9:])
		if err != nil {
			return err
		}
		if g.old == nil {
			continue // every row retracted
		}
		if err := w.agg.row(row, g); err != nil {
			return err
		}
		if w.cfg.Windows.kind == session {
			row[1] = change.Int(int64(binary.BigEndian.Uint64(k[1:9]) ^ (1 << 63)))
		}
		if err := b.Append(change.Insert, row); err != nil {
			return fmt.Errorf("stream: window aggregate %s: %w", w.cfg.ID, err)
		}
	}
	limit = nil
	if free := satAdd(wm, -w.late); free < math.MaxInt64 {
		limit = appendSigned([]byte{encPresent}, free+1)
	}
	gone, err := w.keys(w.nsExpire, limit)
	if err != nil {
		return err
	}
	for _, k := range gone {
		wb.Delete(w.nsExpire, k)
		if err := w.free(&wb, k[9:]); err != nil {
			return err
		}
	}
	if err := w.cfg.State.Apply(&wb); err != nil {
		return fmt.Errorf("stream: window aggregate %s: %w", w.cfg.ID, err)
	}
	if b.Len() == 0 {
		return nil
	}
	return emit(b.NewBatch())
}

// keys returns the keys of the timer index ns below limit (nil: all), copied,
// that this partition owns.
func (w *WindowAggregate) keys(ns string, limit []byte) ([][]byte, error) {
	it := w.cfg.State.Scan(ns, nil, limit)
	defer it.Close()
	var out [][]byte
	for it.Next() {
		if w.owns(it.Value()) {
			out = append(out, bytes.Clone(it.Key()))
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("stream: window aggregate %s: %w", w.cfg.ID, err)
	}
	return out, nil
}

// free deletes a window group's state (key: start, end, group key).
func (w *WindowAggregate) free(wb *state.Batch, key []byte) error {
	wb.Delete(w.agg.nsGroup, key)
	for _, m := range w.agg.ms {
		ks, err := w.prefixKeys(m.ns, key)
		if err != nil {
			return err
		}
		for _, k := range ks {
			wb.Delete(m.ns, k)
		}
	}
	if w.cfg.Windows.kind == session {
		wb.Delete(w.nsSess, append(bytes.Clone(key[18:]), key[:9]...))
	}
	return nil
}

func (w *WindowAggregate) prefixKeys(ns string, prefix []byte) ([][]byte, error) {
	it := w.cfg.State.ScanPrefix(ns, prefix)
	defer it.Close()
	var out [][]byte
	for it.Next() {
		out = append(out, bytes.Clone(it.Key()))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("stream: window aggregate %s: %w", w.cfg.ID, err)
	}
	return out, nil
}
