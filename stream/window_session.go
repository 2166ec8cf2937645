package stream

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/state"
)

// span is a session's bounds in ticks, [start, end).
type span struct{ start, end int64 }

// sess is a session of a group while a batch is assigned: its bounds and the
// stored sessions merged into it (none for one the batch opened).
type sess struct {
	span
	orig []span
}

func (s *sess) unchanged() bool { return len(s.orig) == 1 && s.orig[0] == s.span }

type sessGroup struct {
	key   []byte // the group key
	owner []byte // timer index value: the group's hash (see owns)
	list  []*sess
}

// loadSessions reads a group's stored sessions ("ID/s": group key and start →
// end).
func (w *WindowAggregate) loadSessions(key []byte) (*sessGroup, error) {
	g := &sessGroup{key: key}
	it := w.cfg.State.ScanPrefix(w.nsSess, key)
	defer it.Close()
	for it.Next() {
		k, v := it.Key()[len(key):], it.Value()
		if len(k) != 9 || k[0] != encPresent || len(v) != 8 {
			return nil, fmt.Errorf("%w: window aggregate %s: malformed session entry", state.ErrCorrupt, w.cfg.ID)
		}
		sp := span{int64(binary.BigEndian.Uint64(k[1:]) ^ (1 << 63)), int64(binary.BigEndian.Uint64(v))}
		g.list = append(g.list, &sess{span: sp, orig: []span{sp}})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("stream: window aggregate %s: %w", w.cfg.ID, err)
	}
	return g, nil
}

// assignSessions assigns a batch's rows to sessions (watermark wm in ticks),
// merging and extending sessions in the backend and emitting the retraction of
// emitted sessions that merge. It returns the late rows and the window keys of
// the sessions it changed or opened, which are not emitted yet.
func (w *WindowAggregate) assignSessions(in *change.Batch, wm int64, as *assigned, emit Emit) ([]int, map[string]bool, error) {
	tc := in.Column(w.tcol)
	ops := in.Ops()
	groups := map[string]*sessGroup{}
	var order []*sessGroup
	rowGroup := make([]*sessGroup, len(ops))
	isLate := make([]bool, len(ops))
	var kbuf []byte
	hashes := w.hashGroups(in, w.cols[:w.groups])
	for r, op := range ops {
		t, ok := timeAt(tc, r)
		if !ok {
			isLate[r] = true
			continue
		}
		kbuf = kbuf[:0]
		for _, c := range w.cols[:w.groups] {
			kbuf = appendKey(kbuf, in.Column(c), r)
		}
		g := groups[string(kbuf)]
		if g == nil {
			var err error
			if g, err = w.loadSessions(bytes.Clone(kbuf)); err != nil {
				return nil, nil, err
			}
			g.owner = owner(hashes, r)
			groups[string(g.key)] = g
			order = append(order, g)
		}
		rowGroup[r] = g
		if op.IsRetraction() {
			continue
		}
		lo, hi := t, satAdd(t, w.gap)
		var hit []*sess
		rest := make([]*sess, 0, len(g.list)+1)
		for _, s := range g.list {
			if s.start <= hi && s.end >= lo {
				hit = append(hit, s)
			} else {
				rest = append(rest, s)
			}
		}
		if len(hit) == 0 && w.expired(hi, wm) {
			isLate[r] = true
			continue
		}
		n := &sess{span: span{lo, hi}}
		for _, s := range hit {
			n.start, n.end = min(n.start, s.start), max(n.end, s.end)
			n.orig = append(n.orig, s.orig...)
		}
		g.list = append(rest, n)
	}
	var late []int
	for r, op := range ops {
		if isLate[r] {
			late = append(late, r)
			continue
		}
		t, _ := timeAt(tc, r)
		var in *sess
		for _, s := range rowGroup[r].list {
			if s.start <= t && t < s.end {
				in = s
				break
			}
		}
		switch {
		case in != nil:
			as.add(r, in.start, in.end, op)
		case w.expired(satAdd(t, w.gap), wm):
			late = append(late, r) // its session is freed
		default:
			return nil, nil, fmt.Errorf("%w: window aggregate %s: retraction of a row (time %d) in no session", ErrInput, w.cfg.ID, t)
		}
	}
	changed := map[string]bool{}
	var wb state.Batch
	retract := change.NewBuilder(w.cfg.Mem, w.Schema())
	defer retract.Release()
	row := make(change.Row, w.Schema().NumFields())
	var key []byte
	for _, g := range order {
		for _, s := range g.list {
			if s.unchanged() {
				continue
			}
			nkey := append(windowKey(nil, s.start, s.end), g.key...)
			changed[string(nkey)] = true
			skey := appendSigned(append(bytes.Clone(g.key), encPresent), s.start)
			srcs := make([][]byte, len(s.orig))
			fired := make([]bool, len(s.orig))
			for i, o := range s.orig {
				srcs[i] = append(windowKey(nil, o.start, o.end), g.key...)
				fired[i] = o.end <= wm
				if o.start != s.start {
					wb.Delete(w.nsSess, appendSigned(append(append(key[:0], g.key...), encPresent), o.start))
				}
				key = appendSigned(append(key[:0], encPresent), o.end)
				key = append(key, srcs[i]...)
				wb.Delete(w.nsFire, key)
				wb.Delete(w.nsExpire, key)
				key = key[:0]
			}
			if err := w.mergeGroups(&wb, nkey, srcs, fired, retract, row); err != nil {
				return nil, nil, err
			}
			wb.Put(w.nsSess, skey, binary.BigEndian.AppendUint64(nil, uint64(s.end)))
			key = appendSigned(append(key[:0], encPresent), s.end)
			key = append(key, nkey...)
			wb.Put(w.nsFire, key, g.owner)
			wb.Put(w.nsExpire, key, g.owner)
		}
	}
	if err := w.cfg.State.Apply(&wb); err != nil {
		return nil, nil, fmt.Errorf("stream: window aggregate %s: %w", w.cfg.ID, err)
	}
	if retract.Len() > 0 {
		if err := emit(retract.NewBatch()); err != nil {
			return nil, nil, err
		}
	}
	return late, changed, nil
}

// mergeGroups merges the window groups srcs (inner aggregate keys) into the new
// group dst, moving their multisets, and deletes them; the ones already emitted
// (fired) are retracted into retract.
func (w *WindowAggregate) mergeGroups(wb *state.Batch, dst []byte, srcs [][]byte, fired []bool, retract *change.Builder, row change.Row) error {
	a := w.agg
	g := &group{key: dst, accs: make([]acc, len(a.aggs))}
	found := false
	for i, sk := range srcs {
		sg, err := a.load(sk)
		if err != nil {
			return err
		}
		if sg.old == nil {
			continue // every row retracted: no multiset entries either
		}
		found = true
		if fired[i] {
			if err := a.row(row, sg); err != nil {
				return err
			}
			if err := retract.Append(change.Delete, row); err != nil {
				return fmt.Errorf("stream: window aggregate %s: %w", w.cfg.ID, err)
			}
		}
		wb.Delete(a.nsGroup, sk)
		g.rows += sg.rows
		for j := range a.aggs {
			d, s := &g.accs[j], &sg.accs[j]
			switch a.aggs[j].Func {
			case reduce.Count:
				d.n += s.n
			case reduce.Sum, reduce.Avg:
				d.n += s.n
				d.sum = d.sum.Add(s.sum)
				d.fsum += s.fsum
				d.pinf += s.pinf
				d.ninf += s.ninf
				d.nan += s.nan
			}
		}
	}
	if !found {
		return nil
	}
	for m := range a.ms {
		ns := a.ms[m].ns
		counts := map[string]int64{}
		for _, sk := range srcs {
			it := w.cfg.State.ScanPrefix(ns, sk)
			for it.Next() {
				c, n := binary.Varint(it.Value())
				if n <= 0 {
					it.Close()
					return fmt.Errorf("%w: window aggregate %s: malformed multiset count", state.ErrCorrupt, w.cfg.ID)
				}
				counts[string(it.Key()[len(sk):])] += c
				wb.Delete(ns, bytes.Clone(it.Key()))
			}
			if err := it.Close(); err != nil {
				return fmt.Errorf("stream: window aggregate %s: %w", w.cfg.ID, err)
			}
			if err := it.Err(); err != nil {
				return fmt.Errorf("stream: window aggregate %s: %w", w.cfg.ID, err)
			}
		}
		var least []byte // the first value in the multiset's order
		for suf, c := range counts {
			wb.Put(ns, append(bytes.Clone(dst), suf...), binary.AppendVarint(nil, c))
			if least == nil || suf < string(least) {
				least = []byte(suf)
			}
		}
		for j := range a.aggs {
			op, ac := &a.aggs[j], &g.accs[j]
			switch {
			case op.Func == reduce.CountDistinct && op.asc == m:
				ac.n = int64(len(counts))
			case op.Func == reduce.Min && op.asc == m:
				ac.has, ac.ext = least != nil, least
			case op.Func == reduce.Max && op.dsc == m && least != nil:
				ac.has, ac.ext = true, invert(nil, least)
			}
		}
	}
	wb.Put(a.nsGroup, dst, a.encodeState(nil, g))
	return nil
}
