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
// emitted sessions that change. It returns the late rows and the batch's sessions.
func (w *WindowAggregate) assignSessions(in *change.Batch, wm int64, as *assigned, emit Emit) ([]int, *batchSessions, error) {
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
			as.add(r, in.start, in.start, op)
		case w.expired(satAdd(t, w.gap), wm):
			late = append(late, r) // its session is freed
		default:
			return nil, nil, fmt.Errorf("%w: window aggregate %s: retraction of a row (time %d) in no session", ErrInput, w.cfg.ID, t)
		}
	}
	ss := &batchSessions{changed: map[string]bool{}, ends: map[string]int64{}}
	var wb state.Batch
	retract := change.NewBuilder(w.cfg.Mem, w.Schema())
	defer retract.Release()
	row := make(change.Row, w.Schema().NumFields())
	var key []byte
	for _, g := range order {
		for _, s := range g.list {
			ikey := append(windowKey(nil, s.start, s.start), g.key...)
			ss.ends[string(ikey)] = s.end
			if s.unchanged() {
				continue
			}
			ss.changed[string(ikey)] = true
			parts := make([]sessPart, len(s.orig))
			for i, o := range s.orig {
				parts[i] = sessPart{key: append(windowKey(nil, o.start, o.start), g.key...), end: o.end,
					fired: o.end <= wm, inPlace: o.start == s.start}
				if !parts[i].inPlace {
					wb.Delete(w.nsSess, appendSigned(append(append(key[:0], g.key...), encPresent), o.start))
				}
				key = appendSigned(append(key[:0], encPresent), o.end)
				key = append(key, parts[i].key...)
				wb.Delete(w.nsFire, key)
				wb.Delete(w.nsExpire, key)
			}
			if err := w.mergeGroups(&wb, ikey, parts, retract, row); err != nil {
				return nil, nil, err
			}
			key = appendSigned(append(append(key[:0], g.key...), encPresent), s.start)
			wb.Put(w.nsSess, key, binary.BigEndian.AppendUint64(nil, uint64(s.end)))
			key = appendSigned(append(key[:0], encPresent), s.end)
			key = append(key, ikey...)
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
	return late, ss, nil
}

// batchSessions are the sessions of the groups a batch touched, by inner key
// (start, start, group key: a session's window group stays put while its end
// moves): their ends, and the ones the batch changed or opened, which are emitted
// by the next fire, not updated in place.
type batchSessions struct {
	changed map[string]bool
	ends    map[string]int64
}

// sessPart is a stored session going into a changed one: its window group key,
// end, whether it was emitted, and whether the changed one keeps its key (same
// start).
type sessPart struct {
	key     []byte
	end     int64
	fired   bool
	inPlace bool
}

// mergeGroups merges the window groups of parts into the group dst, moving the
// multisets of the ones not in place, and retracts the rows of the ones emitted.
func (w *WindowAggregate) mergeGroups(wb *state.Batch, dst []byte, parts []sessPart, retract *change.Builder, row change.Row) error {
	a := w.agg
	g := &group{key: dst, accs: make([]acc, len(a.aggs))}
	moved := false
	for _, p := range parts {
		sg, err := a.load(p.key)
		if err != nil {
			return err
		}
		if sg.old == nil {
			continue // every row retracted: no multiset entries either
		}
		if p.fired {
			if err := a.row(row, sg); err != nil {
				return err
			}
			row[1] = change.Int(p.end)
			if err := retract.Append(change.Delete, row); err != nil {
				return fmt.Errorf("stream: window aggregate %s: %w", w.cfg.ID, err)
			}
		}
		if !p.inPlace {
			moved = true
			wb.Delete(a.nsGroup, p.key)
		}
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
			} // min, max and count distinct come from the merged multisets below

		}
	}
	if !moved {
		return nil // the group stays as it is
	}
	for m := range a.ms {
		ns := a.ms[m].ns
		counts := map[string]int64{}
		for _, p := range parts {
			sk := p.key
			it := w.cfg.State.ScanPrefix(ns, sk)
			for it.Next() {
				c, n := binary.Varint(it.Value())
				if n <= 0 {
					it.Close()
					return fmt.Errorf("%w: window aggregate %s: malformed multiset count", state.ErrCorrupt, w.cfg.ID)
				}
				counts[string(it.Key()[len(sk):])] += c
				if !p.inPlace {
					wb.Delete(ns, bytes.Clone(it.Key()))
				}
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
			case op.Func == reduce.Max && op.dsc == m:
				ac.has, ac.ext = least != nil, invert(nil, least)
			}
		}
	}
	wb.Put(a.nsGroup, dst, a.encodeState(nil, g))
	return nil
}
