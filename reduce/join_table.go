package reduce

import (
	"math"

	"github.com/strata-data/strata/change"
)

// emitMode says which rows of one side a pass emits alone (without a partner).
type emitMode uint8

const (
	emitNone      emitMode = iota
	emitUnmatched          // outer joins (NULL-padded) and anti joins
	emitMatched            // semi joins
)

// modes returns what a join of type typ emits when side build is in memory and the
// other side streams past it: pairs, and which rows of each side alone.
func modes(typ JoinType, build int) (pairs bool, buildMode, probeMode emitMode) {
	preserved := [2]bool{typ == LeftJoin || typ == FullJoin, typ == RightJoin || typ == FullJoin}
	switch typ {
	case SemiJoin, AntiJoin:
		mode := emitMatched
		if typ == AntiJoin {
			mode = emitUnmatched
		}
		if build == 0 {
			return false, mode, emitNone
		}
		return false, emitNone, mode
	}
	if preserved[build] {
		buildMode = emitUnmatched
	}
	if preserved[1-build] {
		probeMode = emitUnmatched
	}
	return true, buildMode, probeMode
}

// joinTable holds one side of a join in memory (the build side, or a chunk of it):
// its batches, a key table over their key columns, and per key (group) the chain of
// its rows, so a probe finds a key once and walks its rows.
type joinTable struct {
	spec    *joinSpec
	side    int
	keys    *keyTable // nil: no key columns (a nested-loop join without equi keys)
	bk      *batchKeys
	batches []*change.Batch
	arrow   int64 // bytes of the batches' buffers

	refs       []uint64 // rows with a non-NULL key (every row without keys), in order
	next       []int32  // per ref: the next ref of its group, -1 at the end
	head, tail []int32  // per group: its first and last ref
	bw         []int64  // per group: the net weight of its rows (when probe rows need it)
	pw         []int64  // per group: the net weight of the probe rows that found it
	rw         []int64  // per ref: the net weight of the probe rows that matched it
	nulls      []uint64 // rows with a NULL key (when they are emitted alone)

	trackBW, trackPW, trackRW, keepNulls bool
	retractions                          bool  // a row held is -U or -D
	dense                                int64 // denseRows' answer, -1 until asked after an add
	dict                                 tableDicts
	groups                               []int32 // scratch
	acct                                 account
}

// newJoinTable returns an empty table of side, for a pass with the given modes.
// perRow says that whether a row matched is decided row by row (a predicate, or no
// keys) rather than key by key.
func newJoinTable(spec *joinSpec, side int, buildMode, probeMode emitMode, perRow bool) *joinTable {
	perRow = perRow || len(spec.keys[side]) == 0
	t := &joinTable{
		spec: spec, side: side, acct: account{budget: spec.budget},
		trackBW:   probeMode != emitNone,
		trackPW:   buildMode != emitNone && !perRow,
		trackRW:   buildMode != emitNone && perRow,
		keepNulls: buildMode == emitUnmatched,
	}
	if len(spec.keys[side]) > 0 {
		t.keys = newKeyTable(spec.layout, spec.budget)
		t.bk = newBatchKeys(spec.layout, spec.budget)
	}
	return t
}

// push appends v, doubling the capacity when full, so that growth is predictable.
func push[T any](s []T, v T) []T {
	if len(s) == cap(s) {
		s = grown(s, max(2*cap(s), 16))
	}
	return append(s, v)
}

// capAfter is the capacity push leaves a slice of length n and capacity c after add more.
func capAfter(n, c, add int) int {
	for c < n+add {
		c = max(2*c, 16)
	}
	return c
}

// bytes returns the Go-heap bytes of the table's own arrays (not the key table's).
func (t *joinTable) bytes() int64 {
	n := 12*int64(cap(t.refs)) + 8*int64(cap(t.head)) + 8*int64(cap(t.nulls)) + 4*int64(cap(t.groups))
	if t.trackRW {
		n += 8 * int64(cap(t.rw))
	}
	if t.trackBW {
		n += 8 * int64(cap(t.bw))
	}
	if t.trackPW {
		n += 8 * int64(cap(t.pw))
	}
	return n
}

// growth bounds the bytes that adding rows more rows, with strBytes bytes of key
// strings, adds to the table (arrow bytes of the batches aside), as if every row had a
// new key.
func (t *joinTable) growth(rows int, strBytes int64) int64 {
	refs := int64(capAfter(len(t.refs), cap(t.refs), rows))
	groups := int64(capAfter(len(t.head), cap(t.head), rows))
	n := 12*refs + 8*groups + 8*int64(capAfter(len(t.nulls), cap(t.nulls), rows)) + 4*int64(max(cap(t.groups), rows))
	if t.trackRW {
		n += 8 * refs
	}
	if t.trackBW {
		n += 8 * groups
	}
	if t.trackPW {
		n += 8 * groups
	}
	n -= t.bytes()
	if t.keys != nil {
		n += t.keys.bytesAfter(rows, strBytes) - t.keys.bytes()
		n += int64(rows) * 8 * int64(1+t.spec.layout.words) // load scratch
	}
	return n
}

// keyStrBytes returns the bytes of b's string key columns of side.
func (s *joinSpec) keyStrBytes(side int, b *change.Batch) int64 {
	var n int64
	for i, c := range s.keys[side] {
		if s.layout.parts[i].kind == kindBytes {
			col := byteColOf(b.Column(c))
			n += int64(col.offs[len(col.offs)-1] - col.offs[0])
		}
	}
	return n
}

// reserve sizes the table for rows more rows, as growth estimated it.
func (t *joinTable) reserve(rows int) {
	if t.keys != nil {
		t.keys.reserve(t.keys.Len() + rows)
	}
	t.refs = regrow(&uint64Slabs, t.refs, capAfter(len(t.refs), cap(t.refs), rows))
	t.next = regrow(&int32Slabs, t.next, cap(t.refs))
	if t.trackRW {
		t.rw = grown(t.rw, cap(t.refs))
	}
	if t.keys != nil { // as many groups as rows, as growth counted
		groups := capAfter(len(t.head), cap(t.head), rows)
		t.head = regrow(&int32Slabs, t.head, groups)
		t.tail = regrow(&int32Slabs, t.tail, groups)
		if t.trackBW {
			t.bw = grown(t.bw, groups)
		}
		if t.trackPW {
			t.pw = grown(t.pw, groups)
		}
	}
	t.count()
}

// hasRetraction reports whether any op is -U or -D.
func hasRetraction(ops []change.Op) bool {
	for _, op := range ops {
		if op.IsRetraction() {
			return true
		}
	}
	return false
}

// add takes over b and indexes its rows.
func (t *joinTable) add(b *change.Batch) {
	if t.dict.ready.Load() != nil {
		panic("reduce: rows added to a join table after its dictionaries were built")
	}
	t.dense = -1
	bi := len(t.batches)
	t.batches = append(t.batches, b)
	t.arrow += batchBytes(b)
	n := b.Len()
	ops := b.Ops()
	t.retractions = t.retractions || hasRetraction(ops)
	if t.keys == nil {
		for r := range n {
			t.refs = push(t.refs, rowRef(bi, r))
			t.next = push(t.next, -1)
			if t.trackRW {
				t.rw = push(t.rw, 0)
			}
		}
		t.count()
		return
	}
	t.bk.load(b, t.spec.keys[t.side])
	if cap(t.groups) < n {
		t.groups = make([]int32, n, max(n, 2*cap(t.groups)))
	}
	groups := t.groups[:n]
	t.keys.insert(t.bk, groups)
	for r, g := range groups {
		ref := rowRef(bi, r)
		if g < 0 {
			if t.keepNulls {
				t.nulls = push(t.nulls, ref)
			}
			continue
		}
		i := int32(len(t.refs))
		t.refs = push(t.refs, ref)
		t.next = push(t.next, -1)
		if t.trackRW {
			t.rw = push(t.rw, 0)
		}
		if int(g) == len(t.head) {
			t.head = push(t.head, i)
			t.tail = push(t.tail, i)
			if t.trackBW {
				t.bw = push(t.bw, 0)
			}
			if t.trackPW {
				t.pw = push(t.pw, 0)
			}
		} else {
			t.next[t.tail[g]] = i
			t.tail[g] = i
		}
		if t.trackBW {
			t.bw[g] += sign(ops[r])
		}
	}
	t.count()
}

func (t *joinTable) count() { t.acct.set(t.bytes()) }

// rowsHeld returns the number of rows a pass can emit from the table.
func (t *joinTable) rowsHeld() int { return len(t.refs) + len(t.nulls) }

// keyBytes returns the key table's bytes.
func (t *joinTable) keyBytes() int64 {
	if t.keys == nil {
		return 0
	}
	return t.keys.bytes()
}

// op returns the op of the row ref refers to.
func (t *joinTable) op(ref uint64) change.Op { return t.batches[refBatch(ref)].Ops()[refRow(ref)] }

// release frees the batches and the table.
func (t *joinTable) release() {
	for _, b := range t.batches {
		b.Release()
	}
	t.batches = nil
	if t.keys != nil {
		t.keys.release()
		t.bk.release()
	}
	uint64Slabs.put(t.refs)
	int32Slabs.put(t.next)
	int32Slabs.put(t.head)
	int32Slabs.put(t.tail)
	t.refs, t.next, t.head, t.tail, t.bw, t.pw, t.rw, t.nulls, t.groups = nil, nil, nil, nil, nil, nil, nil, nil, nil
	t.acct.set(0)
	t.dict.acct.set(0)
}

// pass streams the other side's batches past a joinTable and emits what the join
// type asks for.
type pass struct {
	t                    *joinTable
	e                    *emitter
	pairs                bool
	buildMode, probeMode emitMode
	pred                 Predicate
	pk                   *batchKeys
	groups               []int32
	one                  [1]*change.Batch
	acct                 account
	emitted              int64 // pairs queued by pairsOf, for the table's dictionaries
}

// newPass returns a pass over t. With a predicate, or without keys, probe rows cannot
// be emitted alone (probeMode emitNone): whether one matched depends on every chunk.
func newPass(t *joinTable, e *emitter, pairs bool, buildMode, probeMode emitMode, pred Predicate) *pass {
	if (pred != nil || t.keys == nil) && probeMode != emitNone {
		panic("reduce: a row-by-row pass cannot emit probe rows alone")
	}
	p := &pass{t: t, e: e, pairs: pairs, buildMode: buildMode, probeMode: probeMode, pred: pred, acct: account{budget: t.spec.budget}}
	if t.keys != nil {
		p.pk = newBatchKeys(t.spec.layout, t.spec.budget)
	}
	return p
}

// add queues a pair of a build row and a probe row.
func (p *pass) pair(build, probe uint64, op change.Op) error {
	if p.t.side == 0 {
		return p.e.add(build, probe, op)
	}
	return p.e.add(probe, build, op)
}

// alone queues a row of side without a partner.
func (p *pass) alone(side int, ref uint64, op change.Op) error {
	if side == 0 {
		return p.e.add(ref, nullRef, op)
	}
	return p.e.add(nullRef, ref, op)
}

// probe joins batch b of the other side against the table; the caller keeps b, which
// the emitter no longer references when probe returns.
func (p *pass) probe(b *change.Batch) error {
	t := p.t
	side := 1 - t.side
	p.one[0] = b
	p.e.srcs[t.side], p.e.srcs[side] = t.batches, p.one[:]
	p.e.dicts[t.side], p.e.dicts[side] = t.dicts(p.emitted), nil
	defer func() { p.e.srcs[side], p.e.dicts[t.side] = nil, nil }()
	n := b.Len()
	ops := b.Ops()
	if t.keys == nil {
		for r := range n {
			for i := range t.refs {
				if err := p.candidate(int32(i), b, r); err != nil {
					return err
				}
			}
		}
		return p.e.flush()
	}
	p.pk.load(b, t.spec.keys[side])
	if cap(p.groups) < n {
		p.groups = make([]int32, n, max(n, 2*cap(p.groups)))
		p.acct.set(4 * int64(cap(p.groups)))
	}
	groups := p.groups[:n]
	t.keys.lookup(p.pk, groups)
	inserts := !t.retractions && !hasRetraction(ops)
	if p.pairs && p.pred == nil && !t.trackRW && !t.trackPW && p.probeMode == emitNone {
		if err := p.pairsOf(groups, ops, inserts); err != nil {
			return err
		}
		return p.e.flush()
	}
	for r, g := range groups {
		var matched int64
		if g >= 0 {
			if t.trackPW {
				t.pw[g] += sign(ops[r])
			}
			switch {
			case p.pairs && p.pred == nil && !t.trackRW:
				// The common case, without a call per pair; with no retraction on
				// either side every pair is an insert.
				pr := rowRef(0, r)
				for i := t.head[g]; i >= 0; i = t.next[i] {
					op := change.Insert
					if !inserts {
						op = pairOp(t.op(t.refs[i]), ops[r])
					}
					if err := p.pair(t.refs[i], pr, op); err != nil {
						return err
					}
				}
			case p.pairs || t.trackRW:
				for i := t.head[g]; i >= 0; i = t.next[i] {
					if err := p.candidate(i, b, r); err != nil {
						return err
					}
				}
			}
			if t.trackBW {
				matched = t.bw[g]
			}
		}
		if p.probeMode != emitNone && (p.probeMode == emitMatched) == (matched > 0) {
			if err := p.alone(side, rowRef(0, r), aloneOp(ops[r])); err != nil {
				return err
			}
		}
	}
	return p.e.flush()
}

// pairsOf queues the pairs of every probe row r whose key found group groups[r] (an
// inner join, or an outer one preserving the build side only: the common case). It
// appends to the emitter's queues directly, without a call per pair, and when every
// group holds one build row (a join on the build side's unique key) it skips the
// chains: group g's row is refs[g], and the loop's loads of it do not depend on one
// another, so the processor overlaps their cache misses.
func (p *pass) pairsOf(groups []int32, ops []change.Op, inserts bool) error {
	t, e := p.t, p.e
	bs, ps := t.side, 1-t.side
	limit := e.spec.batchRows
	refs := t.refs
	unique := len(t.refs) == len(t.head)
	dense := uint32(0)
	if unique {
		dense = t.denseRows()
	}
	for r := 0; r < len(groups); {
		bref, pref, eops := e.refs[bs], e.refs[ps], e.ops
		if unique {
			// Fill the output batch: rows of groups up to what it has room for.
			end := min(len(groups), r+limit-len(eops))
			for ; r < end; r++ {
				g := groups[r]
				if g < 0 {
					continue
				}
				var ref uint64
				if dense > 0 {
					bi := uint32(g) / dense
					ref = rowRef(int(bi), int(uint32(g)-bi*dense))
				} else {
					ref = refs[g]
				}
				op := change.Insert
				if !inserts {
					op = pairOp(t.op(ref), ops[r])
				}
				bref = append(bref, ref)
				pref = append(pref, rowRef(0, r))
				eops = append(eops, op)
			}
		} else {
			for ; r < len(groups); r++ {
				g := groups[r]
				if g < 0 {
					continue
				}
				for i := t.head[g]; i >= 0; i = t.next[i] {
					op := change.Insert
					if !inserts {
						op = pairOp(t.op(refs[i]), ops[r])
					}
					bref = append(bref, refs[i])
					pref = append(pref, rowRef(0, r))
					eops = append(eops, op)
					if len(eops) >= limit { // a key of many rows fills batches alone
						p.emitted += int64(len(eops) - len(e.ops))
						e.refs[bs], e.refs[ps], e.ops = bref, pref, eops
						if err := e.flush(); err != nil {
							return err
						}
						bref, pref, eops = e.refs[bs], e.refs[ps], e.ops
					}
				}
			}
		}
		p.emitted += int64(len(eops) - len(e.ops))
		e.refs[bs], e.refs[ps], e.ops = bref, pref, eops
		if len(eops) >= limit {
			if err := e.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// denseRows returns n > 0 when the table's groups are its rows in order, n to a
// batch: every key unique and not NULL, and every batch but the last n rows long.
// Then group g is row g%n of batch g/n, which pairsOf computes instead of loading
// refs[g] (a cache miss per probe row when the table is large).
func (t *joinTable) denseRows() uint32 {
	if t.dense < 0 {
		t.dense = int64(t.findDense())
	}
	return uint32(t.dense)
}

func (t *joinTable) findDense() uint32 {
	if len(t.batches) == 0 || len(t.refs) != len(t.head) || len(t.nulls) > 0 {
		return 0
	}
	n := t.batches[0].Len()
	rows := 0
	for i, b := range t.batches {
		if i < len(t.batches)-1 && b.Len() != n || b.Len() > n {
			return 0
		}
		rows += b.Len()
	}
	if n == 0 || rows != len(t.refs) || n > math.MaxUint32 {
		return 0
	}
	return uint32(n)
}

// candidate joins build row i (an index into refs) with probe row r of b, if the
// predicate holds.
func (p *pass) candidate(i int32, b *change.Batch, r int) error {
	t := p.t
	br := t.refs[i]
	if p.pred != nil {
		bv := RowView{b: t.batches[refBatch(br)], row: refRow(br)}
		pv := RowView{b: b, row: r}
		ok := false
		if t.side == 0 {
			ok = p.pred(bv, pv)
		} else {
			ok = p.pred(pv, bv)
		}
		if !ok {
			return nil
		}
	}
	op := b.Ops()[r]
	if t.trackRW {
		t.rw[i] += sign(op)
	}
	if p.pairs {
		return p.pair(br, rowRef(0, r), pairOp(t.op(br), op))
	}
	return nil
}

// finish emits the build rows the join type emits alone, once every probe row has
// been seen.
func (p *pass) finish() error {
	t := p.t
	if p.buildMode == emitNone {
		return nil
	}
	p.e.srcs[t.side], p.e.srcs[1-t.side] = t.batches, nil
	p.e.dicts[t.side], p.e.dicts[1-t.side] = t.dicts(p.emitted), nil
	defer func() { p.e.dicts[t.side] = nil }()
	want := p.buildMode == emitMatched
	if t.trackRW {
		for i, ref := range t.refs {
			if (t.rw[i] > 0) == want {
				if err := p.alone(t.side, ref, aloneOp(t.op(ref))); err != nil {
					return err
				}
			}
		}
	}
	for g, h := range t.head {
		if !t.trackPW {
			break
		}
		if (t.pw[g] > 0) != want {
			continue
		}
		for i := h; i >= 0; i = t.next[i] {
			if err := p.alone(t.side, t.refs[i], aloneOp(t.op(t.refs[i]))); err != nil {
				return err
			}
		}
	}
	if !want {
		for _, ref := range t.nulls {
			if err := p.alone(t.side, ref, aloneOp(t.op(ref))); err != nil {
				return err
			}
		}
	}
	return p.e.flush()
}

// release gives back the pass's scratch.
func (p *pass) release() {
	if p.pk != nil {
		p.pk.release()
	}
	p.groups = nil
	p.acct.set(0)
}

// batchBytes returns the bytes of a batch's Arrow buffers.
func batchBytes(b *change.Batch) int64 {
	var n int64
	for _, c := range b.Record().Columns() {
		for _, buf := range c.Data().Buffers() {
			if buf != nil {
				n += int64(buf.Len())
			}
		}
	}
	return n
}
