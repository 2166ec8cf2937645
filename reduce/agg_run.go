package reduce

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/strata-data/strata/change"
)

// aggRun is an aggregate's groups in memory: the key table, the row count and each
// aggregate's state per group, and the multisets.
type aggRun struct {
	a     *HashAggregate
	raw   *groupKeys // group keys of input rows
	part  *groupKeys // group keys of partial rows
	t     *keyTable
	rows  []int64
	accs  []accumulator // per aggregate (nil for CountStar)
	ms    []*multiset
	gids  []int32
	signs []int64
	acct  account
	done  bool
}

func (a *HashAggregate) newRun() *aggRun {
	budget := a.cfg.Budget
	r := &aggRun{a: a, acct: account{budget: budget}}
	r.raw = newGroupKeys(a.layout, a.mask, a.groupBy, budget)
	cols := make([]int, len(a.groupBy))
	for i := range cols {
		cols[i] = i
	}
	r.part = newGroupKeys(a.layout, a.mask, cols, budget)
	r.init()
	return r
}

// init makes the table, states and multisets empty.
func (r *aggRun) init() {
	a := r.a
	r.t = newKeyTable(a.layout, a.cfg.Budget)
	r.ms = r.ms[:0]
	for i := range a.ms {
		r.ms = append(r.ms, newMultiset(&a.ms[i], a.cfg.Budget))
	}
	r.accs = r.accs[:0]
	for i := range a.aggs {
		r.accs = append(r.accs, r.newAcc(&a.aggs[i]))
	}
	r.rows = nil
	r.count()
}

func (r *aggRun) newAcc(sp *aggSpec) accumulator {
	switch sp.Func {
	case CountStar:
		return nil
	case Count:
		return &countAcc{}
	case Sum, Avg:
		if d, ok := sp.in.(*arrow.Decimal128Type); ok {
			return &sum128{sp: sp, scale: d.Scale, decimal: true}
		}
		if id := sp.in.ID(); id == arrow.FLOAT32 || id == arrow.FLOAT64 {
			return &sumFloat{sp: sp}
		}
		return &sum128{sp: sp}
	}
	if sp.ms >= 0 {
		return &msAgg{sp: sp, m: r.ms[sp.ms]}
	}
	_, kind := keyClass(sp.in)
	return newMinMax(sp, newKeyLayout([]keyKind{kind}))
}

// count keeps the budget's count of the states.
func (r *aggRun) count() {
	n := 8*int64(cap(r.rows)+cap(r.signs)) + 4*int64(cap(r.gids))
	for _, acc := range r.accs {
		if acc != nil {
			n += acc.bytes()
		}
	}
	r.acct.set(n)
}

// reset empties the run (the loaded keys of a batch stay).
func (r *aggRun) reset() {
	r.t.release()
	for _, m := range r.ms {
		m.release()
	}
	r.init()
}

func (r *aggRun) release() {
	if r.done {
		return
	}
	r.done = true
	r.t.release()
	for _, m := range r.ms {
		m.release()
	}
	r.raw.release()
	r.part.release()
	r.accs, r.rows, r.gids, r.signs = nil, nil, nil, nil
	r.acct.set(0)
}

// prepare checks b's schema and loads its group keys; partial says b holds partial rows.
func (r *aggRun) prepare(b *change.Batch) (gk *groupKeys, partial bool, err error) {
	switch s := b.Schema(); {
	case s.Equal(r.a.cfg.Schema):
		gk = r.raw
	case s.Equal(r.a.partial):
		gk, partial = r.part, true
	default:
		return nil, false, fmt.Errorf("reduce: aggregate input batch has schema %s, want %s (or the partial schema)", s, r.a.cfg.Schema)
	}
	gk.load(b)
	return gk, partial, nil
}

// groups finds or adds the group of every row whose keys gk holds.
func (r *aggRun) groups(gk *groupKeys) []int32 {
	n := gk.k.n
	if cap(r.gids) < n {
		r.gids = make([]int32, n, max(n, 2*cap(r.gids)))
	}
	gids := r.gids[:n]
	r.t.insert(gk.k, gids)
	r.grow(r.t.Len())
	return gids
}

func (r *aggRun) grow(groups int) {
	r.rows = growTo(r.rows, groups)
	for _, acc := range r.accs {
		if acc != nil {
			acc.grow(groups)
		}
	}
	for _, m := range r.ms {
		m.grow(groups)
	}
	r.count()
}

// signsOf returns each row's sign (nil when every row adds).
func (r *aggRun) signsOf(ops []change.Op) []int64 {
	retract := false
	for _, op := range ops {
		if op.IsRetraction() {
			retract = true
			break
		}
	}
	if !retract {
		return nil
	}
	if cap(r.signs) < len(ops) {
		r.signs = make([]int64, len(ops), max(len(ops), 2*cap(r.signs)))
	}
	s := r.signs[:len(ops)]
	for i, op := range ops {
		s[i] = sign(op)
	}
	return s
}

// take aggregates b (input or partial rows; the caller keeps b). When b could take
// the budget over its limit, it calls full first, which makes room (spills, emits).
func (r *aggRun) take(b *change.Batch, full func() error) error {
	return r.takeWith(b, full, nil)
}

// takeWith is take that calls before with the rows' groups once they are known, before
// the rows change their states.
func (r *aggRun) takeWith(b *change.Batch, full func() error, before func(gids []int32) error) error {
	if b.Len() == 0 {
		return nil
	}
	gk, partial, err := r.prepare(b)
	if err != nil {
		return err
	}
	if r.a.limited() && r.t.Len() > 0 && r.over(b, gk) {
		if err := full(); err != nil {
			return err
		}
	}
	gids := r.groups(gk)
	if before != nil {
		if err := before(gids); err != nil {
			return err
		}
	}
	return r.apply(b, gids, partial)
}

// apply adds the rows of b to their groups gids.
func (r *aggRun) apply(b *change.Batch, gids []int32, partial bool) error {
	a := r.a
	signs := r.signsOf(b.Ops())
	if partial {
		for i, v := range b.Column(a.rowsCol).(*array.Int64).Int64Values() {
			r.rows[gids[i]] += v * signOf(signs, i)
		}
		cols := b.Record().Columns()
		for i, acc := range r.accs {
			sp := &a.aggs[i]
			if n := len(stateTypes(sp)); acc != nil && n > 0 {
				if err := acc.merge(cols[sp.state:sp.state+n], gids, signs); err != nil {
					return err
				}
			}
		}
		for _, m := range r.ms {
			m.merge(b, m.spec.value, gids, signs)
		}
		r.count()
		return nil
	}
	if a.cfg.InsertOnly && signs != nil {
		for i, op := range b.Ops() {
			if op.IsRetraction() {
				return fmt.Errorf("reduce: aggregate: InsertOnly, but an input row is %s (row %d of a batch)", op, i)
			}
		}
	}
	for i, g := range gids {
		r.rows[g] += signOf(signs, i)
	}
	for i, acc := range r.accs {
		if sp := &a.aggs[i]; acc != nil && sp.col >= 0 {
			if err := acc.update(b.Column(sp.col), gids, signs); err != nil {
				return err
			}
		}
	}
	for _, m := range r.ms {
		m.update(b, m.spec.col, gids, signs)
	}
	r.count()
	return nil
}

// bytes is the run's memory.
func (r *aggRun) bytes() int64 {
	n := r.acct.n + r.t.bytes()
	for _, m := range r.ms {
		n += m.bytes()
	}
	return n
}

// perGroup is the state bytes per group, for estimates.
func (r *aggRun) perGroup() int64 {
	n := int64(8)
	for _, acc := range r.accs {
		if acc != nil {
			n += acc.perGroup()
		}
	}
	for _, m := range r.ms {
		n += 8 + 9*int64(b2i(m.spec.minMax))
	}
	return n
}

// strBytes is the bytes of the string and binary columns cols of b.
func strBytes(b *change.Batch, cols []int) int64 {
	var n int64
	for _, c := range cols {
		if id := b.Column(c).DataType().ID(); id == arrow.STRING || id == arrow.BINARY {
			col := byteColOf(b.Column(c))
			n += int64(col.offs[len(col.offs)-1] - col.offs[0])
		}
	}
	return n
}

// minRun is what a run may always hold: below it, spilling would not make room for
// anything (a limit this small is exceeded by the spill's own buffers anyway).
const minRun = 256 << 10

// outRowBytes estimates the Arrow bytes of an output or partial row.
func (r *aggRun) outRowBytes() int64 {
	n := 16 * int64(r.a.partial.NumFields())
	if g := r.t.Len(); g > 0 {
		for s := range r.t.arena {
			n += int64(len(r.t.arena[s])) / int64(g)
		}
	}
	return n
}

// over reports whether taking in b, whose keys gk holds, could take the budget over
// its limit, keeping room to spill or emit a batch. The growth as if every row were a
// new group is tried first; near the limit, the new keys are counted.
func (r *aggRun) over(b *change.Batch, gk *groupKeys) bool {
	a := r.a
	n := b.Len()
	limit := a.cfg.Budget.Limit()
	if r.bytes() < minRun {
		return false
	}
	reserve := writeScratch(limit) + int64(min(a.cfg.BatchRows, r.t.Len()))*r.outRowBytes()
	used := a.cfg.Budget.Allocated() + reserve
	var keyCols []int
	if gk == r.raw {
		keyCols = a.groupBy
	} else {
		keyCols = r.part.cols
	}
	keyStr := strBytes(b, keyCols)
	msGrowth := int64(0)
	for _, m := range r.ms {
		col := m.spec.col
		if gk != r.raw {
			col = m.spec.value
		}
		msGrowth += m.t.bytesAfter(n, strBytes(b, []int{col})) - m.t.bytes() + 8*int64(capAfter(len(m.cnt), cap(m.cnt), n)-cap(m.cnt))
	}
	growth := func(groups int) int64 {
		st := int64(capAfter(len(r.rows), cap(r.rows), groups)-cap(r.rows)) * r.perGroup()
		return r.t.bytesAfter(groups, keyStr) - r.t.bytes() + st + msGrowth
	}
	if used+growth(n) <= limit {
		return false
	}
	if cap(r.gids) < n {
		r.gids = make([]int32, n, max(n, 2*cap(r.gids)))
	}
	found := r.gids[:n]
	r.t.lookup(gk.k, found)
	fresh := 0
	for _, g := range found {
		if g < 0 {
			fresh++
		}
	}
	return used+growth(fresh) > limit
}

// outputBatch builds the output rows of groups gids, all with op.
func (r *aggRun) outputBatch(gids []int32, op change.Op) (*change.Batch, error) {
	a := r.a
	mem := a.cfg.Budget
	n := len(gids)
	cols := make([]arrow.Array, 0, a.out.NumFields())
	release := func() {
		for _, c := range cols {
			c.Release()
		}
	}
	cols = append(cols, r.keyColumns(gids)...)
	for i, acc := range r.accs {
		if acc == nil {
			cols = append(cols, int64Array(mem, gids, func(g int32) int64 { return max(r.rows[g], 0) }))
			continue
		}
		c, err := acc.output(mem, gids)
		if err != nil {
			release()
			return nil, fmt.Errorf("%w (output column %q)", err, a.aggs[i].out.Name)
		}
		cols = append(cols, c)
	}
	rec := array.NewRecordBatch(a.out.Arrow(), cols, int64(n))
	release()
	ops := make([]change.Op, n)
	for i := range ops {
		ops[i] = op
	}
	return change.NewBatch(a.out, rec, ops)
}

// keyColumns builds the group columns of groups gids (none outside the table: the
// one group of an aggregate without group columns).
func (r *aggRun) keyColumns(gids []int32) []arrow.Array {
	a := r.a
	out := make([]arrow.Array, len(a.groupBy))
	for i, c := range a.groupBy {
		p := a.layout.parts[i]
		out[i] = buildColumn(a.cfg.Budget, a.cfg.Schema.Field(c).Type, len(gids),
			func(j int) bool { return r.raw.isNull(r.t, i, int(gids[j])) },
			func(j int) normValue { return tableValue(r.t, p, int(gids[j])) })
	}
	return out
}

// final emits the final rows of the groups with rows (top: also the one row of an
// aggregate without group columns over no rows, as SQL has it).
func (r *aggRun) final(emit Emit, top bool) error {
	a := r.a
	global := len(a.groupBy) == 0
	if global && top && r.t.Len() == 0 {
		r.grow(1)
	}
	var ids []int32
	for g := range len(r.rows) {
		if r.rows[g] > 0 || global {
			ids = append(ids, int32(g))
		}
	}
	r.a.cfg.Budget.Reserve(4 * int64(cap(ids)))
	defer r.a.cfg.Budget.Unreserve(4 * int64(cap(ids)))
	for i := 0; i < len(ids); i += a.cfg.BatchRows {
		b, err := r.outputBatch(ids[i:min(i+a.cfg.BatchRows, len(ids))], change.Insert)
		if err != nil {
			return err
		}
		if err := emit(b); err != nil {
			return err
		}
	}
	return nil
}

// partialRows emits, as partial rows, the states of the groups keep accepts and the
// counts of their multisets' values.
func (r *aggRun) partialRows(keep func(g int) bool, emit Emit) error {
	a := r.a
	mem := a.cfg.Budget
	var ids []int32
	flush := func(entries *multiset, ents []int32) error {
		n := len(ids)
		if entries != nil {
			n = len(ents)
		}
		if n == 0 {
			return nil
		}
		gids := ids
		if entries != nil {
			gids = make([]int32, n)
			for i, e := range ents {
				gids[i] = entries.group(int(e))
			}
		}
		cols := r.keyColumns(gids)
		rows := int64Array(mem, gids, func(g int32) int64 { return r.rows[g] })
		if entries != nil {
			rows.Release()
			rows = int64Array(mem, gids, func(int32) int64 { return 0 })
		}
		cols = append(cols, rows)
		for i, acc := range r.accs {
			sp := &a.aggs[i]
			types := stateTypes(sp)
			if len(types) == 0 {
				continue
			}
			if entries == nil {
				cols = append(cols, acc.state(mem, gids)...)
				continue
			}
			for _, t := range types {
				cols = append(cols, neutral(mem, t, n, sp.Func == Min || sp.Func == Max))
			}
		}
		for _, m := range r.ms {
			if m != entries {
				cols = append(cols, array.MakeArrayOfNull(mem, m.spec.dt, n), int64Array(mem, gids, func(int32) int64 { return 0 }))
				continue
			}
			cols = append(cols, buildColumn(mem, m.spec.dt, n, func(int) bool { return false }, func(i int) normValue { return m.value(ents[i]) }),
				int64Array(mem, ents, func(e int32) int64 { return m.cnt[e] }))
		}
		rec := array.NewRecordBatch(a.partial.Arrow(), cols, int64(n))
		for _, c := range cols {
			c.Release()
		}
		ops := make([]change.Op, n)
		b, err := change.NewBatch(a.partial, rec, ops)
		if err != nil {
			rec.Release()
			return err
		}
		return emit(b)
	}
	for g := range r.t.Len() {
		if !keep(g) {
			continue
		}
		if ids = append(ids, int32(g)); len(ids) == a.cfg.BatchRows {
			if err := flush(nil, nil); err != nil {
				return err
			}
			ids = ids[:0]
		}
	}
	if err := flush(nil, nil); err != nil {
		return err
	}
	for _, m := range r.ms {
		var ents []int32
		for e, c := range m.cnt {
			if c == 0 || !keep(int(m.group(e))) {
				continue
			}
			if ents = append(ents, int32(e)); len(ents) == a.cfg.BatchRows {
				if err := flush(m, ents); err != nil {
					return err
				}
				ents = ents[:0]
			}
		}
		if err := flush(m, ents); err != nil {
			return err
		}
	}
	return nil
}

// neutral is a state column that adds nothing: zeros, or NULLs for min and max.
func neutral(mem *change.Budget, t arrow.DataType, n int, null bool) arrow.Array {
	if null {
		return array.MakeArrayOfNull(mem, t, n)
	}
	b := array.NewBuilder(mem, t)
	defer b.Release()
	b.AppendEmptyValues(n)
	return b.NewArray()
}
