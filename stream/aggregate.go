package stream

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/state"
)

// AggregateConfig configures NewAggregate.
type AggregateConfig struct {
	// ID names the operator; its state namespaces are "ID/...". Required, unique
	// among the operators sharing a backend.
	ID string
	// Schema is the input's schema; required.
	Schema *change.Schema
	// GroupBy names the grouping columns (none: one group over every row).
	GroupBy []string
	// Aggs are the aggregates, in output order after the group columns, with
	// reduce's functions, names and output types.
	Aggs []reduce.Agg
	// State holds the groups; required.
	State state.Backend
	// Mem allocates output batches (default memory.DefaultAllocator).
	Mem memory.Allocator
}

// Validate reports whether the configuration can work.
func (c AggregateConfig) Validate() error {
	if c.ID == "" {
		return fmt.Errorf("%w: aggregate: ID is required", ErrConfig)
	}
	if c.State == nil {
		return fmt.Errorf("%w: aggregate %s: State is required", ErrConfig, c.ID)
	}
	if c.Schema == nil {
		return fmt.Errorf("%w: aggregate %s: Schema is required", ErrConfig, c.ID)
	}
	return nil
}

// Aggregate is an incremental group-by over a change stream, its groups in a
// state.Backend. After each input batch it emits the changes of the groups the
// batch touched: +I for a new group, -U and +U (old row, new row) for a group whose
// state changed, -D for a group whose rows all retracted. Its output equals
// reduce.HashAggregate's over the current input rows (same columns and types):
// count, sum and avg add and subtract; count distinct, min and max keep a count per
// (group, value) in state, so a delete undoes its insert exactly.
//
// State: namespace "ID/g" maps a group's key to its state (row count and each
// aggregate's accumulator, including its current min or max); "ID/m<col>a" and
// "ID/m<col>d" hold the multiset of a column's values per group, keyed by group key
// and the value's order-preserving encoding (inverted in the "d" one, so the first
// entry under a group is its max). A min or max is re-read from its multiset only
// when its current value is retracted to a count of zero.
type Aggregate struct {
	cfg     AggregateConfig
	out     *change.Schema
	groupBy []int
	gkinds  []encKind
	aggs    []aggOp
	ms      []multiset
	nsGroup string
	names   []string

	// Scratch reused from batch to batch (nothing that outlives a Process call):
	// per-batch allocations dominate small batches.
	deltas         []msDeltas
	arena          []byte
	groups         map[string]*group
	order          []*group
	bld            *change.Builder // empty between calls
	wb             state.Batch
	oldRow, newRow change.Row
	og             group

	// final, when set, maps each row the aggregate computes to the row it emits
	// (schema emitAs) in the same step: JoinAggregate's last mapping, without a
	// batch of its own. finOld and finNew hold the mapped rows.
	final          func(dst, src change.Row) error
	emitAs         *change.Schema
	finOld, finNew change.Row
}

// setFinal makes a emit f(row) of schema out instead of each row it computes.
func (a *Aggregate) setFinal(out *change.Schema, f func(dst, src change.Row) error) {
	a.emitAs, a.final = out, f
	a.finOld = make(change.Row, out.NumFields())
	a.finNew = make(change.Row, out.NumFields())
}

type aggOp struct {
	reduce.Agg
	col      int // input column, -1 for count(*)
	in       arrow.DataType
	out      arrow.DataType
	kind     encKind // of the input column
	float    bool    // sum/avg over floats
	inScale  int32   // sum/avg over decimals
	outScale int32
	asc, dsc int // multisets used (-1: none)
}

type multiset struct {
	col  int
	desc bool
	ns   string
}

// NewAggregate checks cfg and returns the operator.
func NewAggregate(cfg AggregateConfig) (*Aggregate, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Mem == nil {
		cfg.Mem = memory.DefaultAllocator
	}
	// reduce resolves the aggregates: one set of rules for names and output types.
	ref, err := reduce.NewHashAggregate(reduce.AggregateConfig{Schema: cfg.Schema, GroupBy: cfg.GroupBy,
		Aggs: cfg.Aggs, Mode: reduce.AggChanges})
	if err != nil {
		return nil, fmt.Errorf("%w: aggregate %s: %w", ErrConfig, cfg.ID, err)
	}
	a := &Aggregate{cfg: cfg, nsGroup: cfg.ID + "/g"}
	a.names = append(a.names, a.nsGroup)
	fields := ref.Schema().Fields()
	if a.out, err = change.NewSchema(fields, cfg.GroupBy...); err != nil {
		return nil, fmt.Errorf("%w: aggregate %s: %w", ErrConfig, cfg.ID, err)
	}
	for _, g := range cfg.GroupBy {
		c := cfg.Schema.FieldIndex(g)
		k, err := encKindOf(cfg.Schema.Field(c).Type)
		if err != nil {
			return nil, fmt.Errorf("%w: aggregate %s: group-by column %q: %w", ErrConfig, cfg.ID, g, err)
		}
		a.groupBy = append(a.groupBy, c)
		a.gkinds = append(a.gkinds, k)
	}
	for i, ag := range cfg.Aggs {
		op := aggOp{Agg: ag, col: -1, asc: -1, dsc: -1, out: fields[len(cfg.GroupBy)+i].Type}
		if ag.Func != reduce.CountStar {
			op.col = cfg.Schema.FieldIndex(ag.Column)
			op.in = cfg.Schema.Field(op.col).Type
			if op.kind, err = encKindOf(op.in); err != nil {
				return nil, fmt.Errorf("%w: aggregate %s: %s(%s): %w", ErrConfig, cfg.ID, ag.Func, ag.Column, err)
			}
		}
		switch ag.Func {
		case reduce.Sum, reduce.Avg:
			op.float = op.kind == encFloat
			if d, ok := op.in.(*arrow.Decimal128Type); ok {
				op.inScale = d.Scale
			}
			if d, ok := op.out.(*arrow.Decimal128Type); ok {
				op.outScale = d.Scale
			}
		case reduce.Min, reduce.CountDistinct:
			op.asc = a.multiset(op.col, false)
		case reduce.Max:
			op.dsc = a.multiset(op.col, true)
		}
		a.aggs = append(a.aggs, op)
	}
	return a, nil
}

func (a *Aggregate) multiset(col int, desc bool) int {
	for i, m := range a.ms {
		if m.col == col && m.desc == desc {
			return i
		}
	}
	dir := "a"
	if desc {
		dir = "d"
	}
	ns := fmt.Sprintf("%s/m%d%s", a.cfg.ID, col, dir)
	a.ms = append(a.ms, multiset{col: col, desc: desc, ns: ns})
	a.names = append(a.names, ns)
	return len(a.ms) - 1
}

// Schema implements Operator: the group columns (the key) and one per aggregate.
func (a *Aggregate) Schema() *change.Schema {
	if a.emitAs != nil {
		return a.emitAs
	}
	return a.out
}

// Namespaces implements Stateful.
func (a *Aggregate) Namespaces() []string { return slices.Clone(a.names) }

// acc is one aggregate's accumulator for one group.
type acc struct {
	n      int64          // values counted (count, sum, avg, count distinct: distinct values)
	sum    decimal128.Num // integer and decimal sums
	fsum   float64
	pinf   int64
	ninf   int64
	nan    int64
	has    bool   // min/max: a value exists
	ext    []byte // min/max: its encoding (ascending form)
	rescan bool   // min/max: the current value was retracted away
}

type group struct {
	key     []byte
	old     []byte // state before the batch; nil for a new group
	rows    int64
	accs    []acc
	touched bool
}

// msDelta is the net change of one (group, value) count in a multiset.
type msDelta struct {
	g     *group
	k     string // group key and the value's ascending encoding (in the arena)
	delta int64
}

// val is the value's encoding, read-only (it aliases the arena).
func (d *msDelta) val() []byte { return unsafe.Slice(unsafe.StringData(d.k), len(d.k))[len(d.g.key):] }

// msDeltas are one multiset's changes in a batch; reused from batch to batch.
type msDeltas struct {
	idx  map[string]int32
	list []msDelta
}

// intern copies b into the batch's arena and returns it as a string. Arena bytes
// are never rewritten while the batch is processed, so the string stays valid.
func (a *Aggregate) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(a.arena)-len(a.arena) < len(b) {
		a.arena = make([]byte, 0, max(64<<10, len(b)))
	}
	start := len(a.arena)
	a.arena = append(a.arena, b...)
	return unsafe.String(&a.arena[start], len(b))
}

// Process implements Operator.
func (a *Aggregate) Process(ctx context.Context, in *change.Batch, emit Emit) error {
	defer in.Release()
	if err := checkSchema("aggregate "+a.cfg.ID, a.cfg.Schema, in); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if a.groups == nil {
		a.groups = map[string]*group{}
	}
	clear(a.groups)
	groups, order := a.groups, a.order[:0]
	defer func() { clear(order); a.order = order[:0] }()
	if a.deltas == nil {
		a.deltas = make([]msDeltas, len(a.ms))
		for i := range a.deltas {
			a.deltas[i].idx = map[string]int32{}
		}
	}
	deltas := a.deltas
	for i := range deltas {
		clear(deltas[i].idx)
		deltas[i].list = deltas[i].list[:0]
	}
	a.arena = a.arena[:0]
	var kbuf, mk []byte
	ops := in.Ops()
	cols := make([]arrow.Array, in.Record().NumCols())
	for i := range cols {
		cols[i] = in.Column(i)
	}
	for r, op := range ops {
		sign := int64(1)
		if op.IsRetraction() {
			sign = -1
		}
		kbuf = kbuf[:0]
		for _, c := range a.groupBy {
			kbuf = appendKey(kbuf, cols[c], r)
		}
		g := groups[string(kbuf)]
		if g == nil {
			k := a.intern(kbuf)
			var err error
			if g, err = a.load(unsafe.Slice(unsafe.StringData(k), len(k))); err != nil {
				return err
			}
			groups[k] = g
			order = append(order, g)
		}
		g.rows += sign
		for i := range a.aggs {
			op := &a.aggs[i]
			if op.col < 0 {
				continue
			}
			col := cols[op.col]
			if col.IsNull(r) {
				continue
			}
			ac := &g.accs[i]
			switch op.Func {
			case reduce.Count:
				ac.n += sign
			case reduce.Sum, reduce.Avg:
				ac.n += sign
				addValue(ac, op, col, r, sign)
			}
		}
		for m := range a.ms {
			col := cols[a.ms[m].col]
			if col.IsNull(r) {
				continue
			}
			mk = appendKey(append(mk[:0], g.key...), col, r)
			ds := &deltas[m]
			if i, ok := ds.idx[string(mk)]; ok { // no allocation for a lookup
				ds.list[i].delta += sign
				continue
			}
			k := a.intern(mk)
			ds.idx[k] = int32(len(ds.list))
			ds.list = append(ds.list, msDelta{g: g, k: k, delta: sign})
		}
	}
	if err := a.applyMultisets(deltas); err != nil {
		return err
	}
	// Re-read the min or max of groups whose current one was retracted away.
	for _, g := range order {
		for i := range a.aggs {
			if ac := &g.accs[i]; ac.rescan {
				if err := a.rescan(g, i); err != nil {
					return err
				}
			}
		}
	}
	return a.finish(order, emit)
}

// addValue adds sign × the value at row r to a sum.
func addValue(ac *acc, op *aggOp, col arrow.Array, r int, sign int64) {
	if op.float {
		var f float64
		switch c := col.(type) {
		case *array.Float32:
			f = float64(c.Value(r))
		case *array.Float64:
			f = c.Value(r)
		}
		switch {
		case math.IsInf(f, 1):
			ac.pinf += sign
		case math.IsInf(f, -1):
			ac.ninf += sign
		case f != f:
			ac.nan += sign
		default:
			ac.fsum += f * float64(sign)
		}
		return
	}
	var v decimal128.Num
	switch c := col.(type) {
	case *array.Decimal128:
		v = c.Value(r)
	case *array.Uint8:
		v = decimal128.FromU64(uint64(c.Value(r)))
	case *array.Uint16:
		v = decimal128.FromU64(uint64(c.Value(r)))
	case *array.Uint32:
		v = decimal128.FromU64(uint64(c.Value(r)))
	case *array.Uint64:
		v = decimal128.FromU64(c.Value(r))
	case *array.Int8:
		v = decimal128.FromI64(int64(c.Value(r)))
	case *array.Int16:
		v = decimal128.FromI64(int64(c.Value(r)))
	case *array.Int32:
		v = decimal128.FromI64(int64(c.Value(r)))
	case *array.Int64:
		v = decimal128.FromI64(c.Value(r))
	}
	if sign < 0 {
		ac.sum = ac.sum.Sub(v)
	} else {
		ac.sum = ac.sum.Add(v)
	}
}

// load reads a group's state, or starts an empty one. key is kept (read-only).
func (a *Aggregate) load(key []byte) (*group, error) {
	g := &group{key: key, accs: make([]acc, len(a.aggs))}
	v, ok, err := a.cfg.State.Get(a.nsGroup, key, nil)
	if err != nil {
		return nil, fmt.Errorf("stream: aggregate %s: %w", a.cfg.ID, err)
	}
	if !ok {
		return g, nil
	}
	g.old = v
	if err := a.decodeState(g, v); err != nil {
		return nil, err
	}
	return g, nil
}

// The group state: rows (varint), then per aggregate its accumulator:
// count, count distinct: n; sum/avg: n, then 16 bytes of sum or 8 of float sum and
// the counts of +Inf, -Inf and NaN; min/max: a has-byte and the value's encoding
// (uvarint length first). Integers are varints.
func (a *Aggregate) encodeState(dst []byte, g *group) []byte {
	dst = binary.AppendVarint(dst, g.rows)
	for i := range a.aggs {
		op, ac := &a.aggs[i], &g.accs[i]
		switch op.Func {
		case reduce.Count, reduce.CountDistinct:
			dst = binary.AppendVarint(dst, ac.n)
		case reduce.Sum, reduce.Avg:
			dst = binary.AppendVarint(dst, ac.n)
			if op.float {
				dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(ac.fsum))
				dst = binary.AppendVarint(dst, ac.pinf)
				dst = binary.AppendVarint(dst, ac.ninf)
				dst = binary.AppendVarint(dst, ac.nan)
			} else {
				dst = binary.LittleEndian.AppendUint64(dst, uint64(ac.sum.HighBits()))
				dst = binary.LittleEndian.AppendUint64(dst, ac.sum.LowBits())
			}
		case reduce.Min, reduce.Max:
			if !ac.has {
				dst = append(dst, 0)
				continue
			}
			dst = append(dst, 1)
			dst = binary.AppendUvarint(dst, uint64(len(ac.ext)))
			dst = append(dst, ac.ext...)
		}
	}
	return dst
}

func (a *Aggregate) decodeState(g *group, v []byte) error {
	bad := func() error {
		return fmt.Errorf("%w: aggregate %s: malformed group state", state.ErrCorrupt, a.cfg.ID)
	}
	vint := func() (int64, bool) {
		x, n := binary.Varint(v)
		if n <= 0 {
			return 0, false
		}
		v = v[n:]
		return x, true
	}
	u64 := func() (uint64, bool) {
		if len(v) < 8 {
			return 0, false
		}
		x := binary.LittleEndian.Uint64(v)
		v = v[8:]
		return x, true
	}
	var ok bool
	if g.rows, ok = vint(); !ok {
		return bad()
	}
	for i := range a.aggs {
		op, ac := &a.aggs[i], &g.accs[i]
		switch op.Func {
		case reduce.Count, reduce.CountDistinct:
			if ac.n, ok = vint(); !ok {
				return bad()
			}
		case reduce.Sum, reduce.Avg:
			if ac.n, ok = vint(); !ok {
				return bad()
			}
			if op.float {
				var bits uint64
				bits, ok1 := u64()
				p, ok2 := vint()
				n, ok3 := vint()
				x, ok4 := vint()
				if !ok1 || !ok2 || !ok3 || !ok4 {
					return bad()
				}
				ac.fsum, ac.pinf, ac.ninf, ac.nan = math.Float64frombits(bits), p, n, x
			} else {
				hi, ok1 := u64()
				lo, ok2 := u64()
				if !ok1 || !ok2 {
					return bad()
				}
				ac.sum = decimal128.New(int64(hi), lo)
			}
		case reduce.Min, reduce.Max:
			if len(v) == 0 {
				return bad()
			}
			has := v[0] == 1
			v = v[1:]
			if !has {
				continue
			}
			n, w := binary.Uvarint(v)
			if w <= 0 || uint64(len(v)-w) < n {
				return bad()
			}
			ac.has, ac.ext = true, v[w:w+int(n):w+int(n)] // v is the group's own copy
			v = v[w+int(n):]
		}
	}
	if len(v) != 0 {
		return bad()
	}
	return nil
}

// applyMultisets writes the batch's net count changes, keeping count distinct and
// each group's current min and max up to date.
func (a *Aggregate) applyMultisets(deltas []msDeltas) error {
	var wb state.Batch
	var key, cur []byte
	for m := range deltas {
		ms := &a.ms[m]
		// Apply in key order: deterministic, and sequential for the backend.
		list := deltas[m].list
		slices.SortFunc(list, func(x, y msDelta) int { return strings.Compare(x.k, y.k) })
		for di := range list {
			d := &list[di]
			if d.delta == 0 {
				continue
			}
			val := d.val()
			key = append(key[:0], d.g.key...)
			if ms.desc {
				key = invert(key, val)
			} else {
				key = append(key, val...)
			}
			var err error
			var ok bool
			cur, ok, err = a.cfg.State.Get(ms.ns, key, cur[:0])
			if err != nil {
				return fmt.Errorf("stream: aggregate %s: %w", a.cfg.ID, err)
			}
			var c0 int64
			if ok {
				c0, _ = binary.Varint(cur)
			}
			c1 := c0 + d.delta
			if c1 < 0 {
				return fmt.Errorf("%w: aggregate %s: retraction of a value the group does not hold (column %s)",
					ErrInput, a.cfg.ID, a.cfg.Schema.Field(ms.col).Name)
			}
			if c1 == 0 {
				wb.Delete(ms.ns, key)
			} else {
				wb.Put(ms.ns, key, binary.AppendVarint(nil, c1))
			}
			for i := range a.aggs {
				op := &a.aggs[i]
				if op.asc != m && op.dsc != m {
					continue
				}
				ac := &d.g.accs[i]
				switch op.Func {
				case reduce.CountDistinct:
					if c0 == 0 && c1 > 0 {
						ac.n++
					} else if c0 > 0 && c1 == 0 {
						ac.n--
					}
				case reduce.Min, reduce.Max:
					better := func() bool {
						c := bytes.Compare(val, ac.ext)
						return op.Func == reduce.Min && c < 0 || op.Func == reduce.Max && c > 0
					}
					if c1 > 0 && !ac.rescan && (!ac.has || better()) {
						ac.has, ac.ext = true, val
					} else if c1 == 0 && ac.has && bytes.Equal(val, ac.ext) {
						ac.rescan = true
					}
				}
			}
		}
	}
	if err := a.cfg.State.Apply(&wb); err != nil {
		return fmt.Errorf("stream: aggregate %s: %w", a.cfg.ID, err)
	}
	return nil
}

// rescan reads a group's min or max from its multiset.
func (a *Aggregate) rescan(g *group, i int) error {
	op, ac := &a.aggs[i], &g.accs[i]
	m := op.asc
	if op.Func == reduce.Max {
		m = op.dsc
	}
	it := a.cfg.State.ScanPrefix(a.ms[m].ns, g.key)
	defer it.Close()
	ac.has, ac.ext, ac.rescan = false, nil, false
	if it.Next() {
		v := it.Key()[len(g.key):]
		if a.ms[m].desc {
			ac.ext = invert(nil, v)
		} else {
			ac.ext = slices.Clone(v)
		}
		ac.has = true
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("stream: aggregate %s: %w", a.cfg.ID, err)
	}
	return nil
}

// finish writes the touched groups' states and emits their changes.
func (a *Aggregate) finish(order []*group, emit Emit) error {
	if a.bld == nil {
		a.bld = change.NewBuilder(a.cfg.Mem, a.Schema())
		a.oldRow = make(change.Row, a.out.NumFields())
		a.newRow = make(change.Row, a.out.NumFields())
		a.og.accs = make([]acc, len(a.aggs))
	}
	b, wb, oldRow, newRow := a.bld, &a.wb, a.oldRow, a.newRow
	if a.final != nil {
		oldRow, newRow = a.finOld, a.finNew
	}
	wb.Reset()
	err := func() error {
		var buf []byte
		for _, g := range order {
			if g.rows < 0 {
				return fmt.Errorf("%w: aggregate %s: more rows retracted than inserted in a group", ErrInput, a.cfg.ID)
			}
			if g.rows == 0 {
				wb.Delete(a.nsGroup, g.key)
				if g.old == nil {
					continue
				}
			} else {
				buf = a.encodeState(buf[:0], g)
				if bytes.Equal(buf, g.old) {
					continue // nothing changed
				}
				wb.Put(a.nsGroup, g.key, buf)
			}
			if g.old != nil {
				og := &a.og
				og.key = g.key
				clear(og.accs)
				if err := a.decodeState(og, g.old); err != nil {
					return err
				}
				if err := a.row(a.oldRow, og); err != nil {
					return err
				}
				if a.final != nil {
					if err := a.final(oldRow, a.oldRow); err != nil {
						return err
					}
				}
			}
			if g.rows > 0 {
				if err := a.row(a.newRow, g); err != nil {
					return err
				}
				if a.final != nil {
					if err := a.final(newRow, a.newRow); err != nil {
						return err
					}
				}
			}
			var err error
			switch {
			case g.old == nil:
				err = b.Append(change.Insert, newRow)
			case g.rows == 0:
				err = b.Append(change.Delete, oldRow)
			default:
				if err = b.Append(change.UpdateBefore, oldRow); err == nil {
					err = b.Append(change.UpdateAfter, newRow)
				}
			}
			if err != nil {
				return fmt.Errorf("stream: aggregate %s: %w", a.cfg.ID, err)
			}
		}
		if err := a.cfg.State.Apply(wb); err != nil {
			return fmt.Errorf("stream: aggregate %s: %w", a.cfg.ID, err)
		}
		return nil
	}()
	wb.Reset()
	if b.Len() == 0 {
		return err
	}
	out := b.NewBatch()
	if err != nil {
		out.Release()
		return err
	}
	return emit(out)
}

// row computes a group's output row.
func (a *Aggregate) row(dst change.Row, g *group) error {
	k := g.key
	for i, kind := range a.gkinds {
		v, rest, err := decodeKey(kind, k)
		if err != nil {
			return fmt.Errorf("%w: aggregate %s: group key: %w", state.ErrCorrupt, a.cfg.ID, err)
		}
		dst[i], k = asType(v, a.cfg.Schema.Field(a.groupBy[i]).Type), rest
	}
	for i := range a.aggs {
		v, err := a.value(&a.aggs[i], &g.accs[i], g.rows)
		if err != nil {
			return err
		}
		dst[len(a.gkinds)+i] = v
	}
	return nil
}

func (a *Aggregate) value(op *aggOp, ac *acc, rows int64) (change.Value, error) {
	switch op.Func {
	case reduce.CountStar:
		return change.Int(rows), nil
	case reduce.Count, reduce.CountDistinct:
		return change.Int(ac.n), nil
	case reduce.Min, reduce.Max:
		if !ac.has {
			return change.Null(), nil
		}
		v, _, err := decodeKey(op.kind, ac.ext)
		if err != nil {
			return v, fmt.Errorf("%w: aggregate %s: %s(%s): %w", state.ErrCorrupt, a.cfg.ID, op.Func, op.Column, err)
		}
		return asType(v, op.in), nil
	}
	// Sum and avg, as reduce computes them.
	if ac.n <= 0 {
		return change.Null(), nil
	}
	if op.float {
		v := ac.fsum
		switch {
		case ac.nan > 0 || ac.pinf > 0 && ac.ninf > 0:
			v = math.NaN()
		case ac.pinf > 0:
			v = math.Inf(1)
		case ac.ninf > 0:
			v = math.Inf(-1)
		}
		if op.Func == reduce.Avg {
			v /= float64(ac.n)
		}
		return change.Float(v), nil
	}
	if op.out.ID() == arrow.INT64 {
		if ac.sum.HighBits() != int64(ac.sum.LowBits())>>63 {
			return change.Value{}, fmt.Errorf("stream: aggregate %s: sum(%s) = %s overflows int64", a.cfg.ID, op.Column, ac.sum.BigInt())
		}
		return change.Int(int64(ac.sum.LowBits())), nil
	}
	v := ac.sum
	if op.Func == reduce.Avg {
		var ok bool
		if v, ok = divRound(v, ac.n, op.outScale-op.inScale); !ok {
			return change.Value{}, fmt.Errorf("stream: aggregate %s: avg(%s) does not fit decimal(38, %d)", a.cfg.ID, op.Column, op.outScale)
		}
	}
	if !v.FitsInPrecision(38) {
		return change.Value{}, fmt.Errorf("stream: aggregate %s: %s(%s) = %s does not fit 38 digits", a.cfg.ID, op.Func, op.Column, v.BigInt())
	}
	return change.Decimal(v), nil
}

// divRound is sum / n with k more decimal places, rounded half away from zero (as
// PostgreSQL's numeric division and reduce's avg); false if it does not fit 38 digits.
func divRound(sum decimal128.Num, n int64, k int32) (decimal128.Num, bool) {
	neg := sum.Sign() < 0
	abs := sum.Abs()
	dn := decimal128.FromI64(n)
	q, r := abs.Div(dn)
	if k > 0 {
		if q.Greater(decimal128.GetMaxValue(38 - k)) {
			return decimal128.Num{}, false
		}
		m := decimal128.GetScaleMultiplier(int(k))
		f, fr := r.Mul(m).Div(dn)
		q = q.Mul(m).Add(f)
		r = fr
	}
	if r.Add(r).GreaterEqual(dn) {
		q = q.Add(decimal128.FromI64(1))
	}
	if neg {
		q = q.Negate()
	}
	return q, q.FitsInPrecision(38)
}

// asType gives a decoded value the kind its column's builder takes.
func asType(v change.Value, t arrow.DataType) change.Value {
	if t.ID() == arrow.STRING && v.Kind() == change.KindBytes {
		return change.Str(string(v.AsBytes()))
	}
	return v
}
