package reduce

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/order"
	"github.com/strata-data/strata/shuffle"
)

// MergeJoinConfig configures a MergeJoin.
type MergeJoinConfig struct {
	// Type is the join type (default InnerJoin).
	Type JoinType
	// Left and Right are the schemas of the two inputs; required.
	Left, Right *change.Schema
	// LeftKeys and RightKeys name the key columns, compared pairwise for equality, as
	// for a HashJoin: a NULL in any key column matches nothing, and pairs must be of one
	// class (integers of any width, floats, decimals of one scale, strings and binary,
	// ...).
	LeftKeys, RightKeys []string
	// Sorted says the inputs already arrive sorted by their key columns, ascending,
	// NULLS LAST, in the order of Sort (NaN after every number, strings and binaries by
	// bytes). Otherwise the join sorts them first, with an external Sort each. A sorted
	// input found out of order is an error.
	Sorted bool
	// Output lists the output columns (nil: every left column, then every right column
	// except for semi and anti joins, clashing right names prefixed with RightPrefix).
	Output []Column
	// RightPrefix renames clashing right columns of the default output ("right_").
	RightPrefix string
	// Budget counts the join's memory: its sorts, the right rows of one key it holds,
	// its output batches (nil: uncounted). Inputs should allocate from it too.
	Budget *change.Budget
	// BatchRows is the number of rows per output batch, at most (default
	// DefaultBatchRows).
	BatchRows int
	// SpillDir is where the sorts and a key's rows too many to hold spill (default
	// os.TempDir()).
	SpillDir string
	// SpillCodec compresses spill files (default LZ4).
	SpillCodec shuffle.Codec
}

// MergeJoin is the sort-merge join reducer: it sorts its two inputs by their keys
// (unless they come sorted) and walks them together. The right rows of one key are
// held (and spilled when they outgrow their share of the budget) while the left rows
// of that key stream past them, so duplicates on both sides give their cross product
// in bounded memory. Output ops follow the join's rules for change streams (see
// JoinType): for insert-only inputs, the output is the SQL join, all inserts.
//
// Memory: with a budget limit, each sort's final merge gets a quarter of it (merging
// its runs down to one when two do not fit) and the right rows of one key another
// quarter; see Sort for the slack under a limit below a few MiB.
type MergeJoin struct {
	cfg   MergeJoinConfig
	spec  *joinSpec
	sorts [2]*Sort
	// per key part: compare words as unsigned (uint64 keys)
	unsigned      []bool
	spilledGroups atomic.Int64
}

// MergeJoinStats are a merge join's totals over its runs so far.
type MergeJoinStats struct {
	// Left and Right are the totals of the sorts of the two inputs (zero when they
	// come sorted).
	Left, Right SortStats
	// SpilledGroups counts the keys whose right rows outgrew their share of the budget
	// and were joined from a spill file.
	SpilledGroups int64
}

// NewMergeJoin checks cfg and returns the join.
func NewMergeJoin(cfg MergeJoinConfig) (*MergeJoin, error) {
	spec, err := newJoinSpec(joinOptions{
		typ: cfg.Type, left: cfg.Left, right: cfg.Right, leftKeys: cfg.LeftKeys, rightKeys: cfg.RightKeys,
		output: cfg.Output, rightPrefix: cfg.RightPrefix, batchRows: cfg.BatchRows, budget: cfg.Budget,
	})
	if err != nil {
		return nil, err
	}
	if cfg.SpillCodec > shuffle.Uncompressed {
		return nil, fmt.Errorf("%w: unknown spill codec %d", ErrJoinConfig, cfg.SpillCodec)
	}
	j := &MergeJoin{cfg: cfg, spec: spec}
	for _, c := range spec.keys[0] {
		j.unsigned = append(j.unsigned, cfg.Left.Field(c).Type.ID() == arrow.UINT64)
	}
	if !cfg.Sorted {
		for side, s := range [2]*change.Schema{cfg.Left, cfg.Right} {
			names := [2][]string{cfg.LeftKeys, cfg.RightKeys}[side]
			keys := make([]SortKey, len(names))
			for i, n := range names {
				keys[i] = SortKey{Column: n}
			}
			srt, err := NewSort(SortConfig{Schema: s, Keys: keys, BatchRows: spec.batchRows, Budget: spec.budget,
				SpillDir: cfg.SpillDir, SpillCodec: cfg.SpillCodec})
			if err != nil {
				return nil, err
			}
			j.sorts[side] = srt
		}
	}
	return j, nil
}

// Schema returns the schema of the output batches.
func (j *MergeJoin) Schema() *change.Schema { return j.spec.out }

// Stats returns the join's totals so far.
func (j *MergeJoin) Stats() MergeJoinStats {
	st := MergeJoinStats{SpilledGroups: j.spilledGroups.Load()}
	if j.sorts[0] != nil {
		st.Left, st.Right = j.sorts[0].Stats(), j.sorts[1].Stats()
	}
	return st
}

// Reduce joins in[0] (left) with in[1] (right).
func (j *MergeJoin) Reduce(ctx context.Context, in []shuffle.Stream, emit Emit) error {
	if len(in) != 2 {
		return fmt.Errorf("reduce: a join takes 2 inputs, got %d", len(in))
	}
	limit := j.spec.budget.Limit()
	streams := [2]shuffle.Stream{in[0], in[1]}
	if !j.cfg.Sorted {
		for side := range 2 {
			// The first sort may use the whole budget while it reads; each keeps a
			// quarter for its merge, beside the other's and the held rows of a key.
			run := limit
			if side == 1 {
				run = limit - limit/4
			}
			s, err := j.sorts[side].sorted(ctx, checkedStream{in[side], j.spec, side}, run, limit/4)
			if err != nil {
				return err
			}
			streams[side] = s
			defer s.Close()
		}
	}
	m := &mergeJoiner{j: j, spec: j.spec, groupLimit: limit / 4}
	m.init(streams, emit)
	defer m.release()
	return m.run(ctx)
}

// checkedStream checks each batch of an input against the join's schema for it, so a
// wrong input fails with the join's error rather than the sort's.
type checkedStream struct {
	shuffle.Stream
	spec *joinSpec
	side int
}

func (s checkedStream) Next(ctx context.Context) (*change.Batch, error) {
	b, err := s.Stream.Next(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.spec.checkBatch(s.side, b); err != nil {
		b.Release()
		return nil, err
	}
	if !b.Schema().Equal(s.spec.in[s.side]) {
		// Same columns and types, other metadata: the sort wants its own schema.
		nb, err := change.NewBatch(s.spec.in[s.side], b.Record(), b.Ops())
		if err != nil {
			b.Release()
			return nil, err
		}
		b.Record().Retain()
		b.Release()
		b = nb
	}
	return b, nil
}

// keyRow is one row's normalized key: a batch's keys and the row, with where to find
// its NULLs (the key columns, or flags of a copied key).
type keyRow struct {
	k     *batchKeys
	cols  []arrow.Array
	nulls []bool
	row   int
}

func (r keyRow) null(p int) bool {
	if r.cols != nil {
		return r.cols[p].IsNull(r.row)
	}
	return r.nulls != nil && r.nulls[p]
}

// hasNull reports whether a key column is NULL: such a key matches nothing.
func (r keyRow) hasNull() bool {
	for p := range r.k.layout.parts {
		if r.null(p) {
			return true
		}
	}
	return false
}

// compare orders two keys as the sorts order them: column by column, ascending, NULLS
// LAST. Keys of the two sides compare through their normalized words.
func (j *MergeJoin) compare(a, b keyRow) int {
	for p, part := range j.spec.layout.parts {
		an, bn := a.null(p), b.null(p)
		switch {
		case an && bn:
			continue
		case an:
			return 1
		case bn:
			return -1
		}
		var c int
		switch part.kind {
		case kindWord:
			x, y := a.k.words[part.word][a.row], b.k.words[part.word][b.row]
			if j.unsigned[p] {
				c = cmp.Compare(uint64(x), uint64(y))
			} else {
				c = cmp.Compare(x, y)
			}
		case kindFloat:
			c = order.CompareFloat(math.Float64frombits(uint64(a.k.words[part.word][a.row])),
				math.Float64frombits(uint64(b.k.words[part.word][b.row])))
		case kindDecimal:
			c = cmp.Compare(a.k.words[part.word+1][a.row], b.k.words[part.word+1][b.row])
			if c == 0 {
				c = cmp.Compare(uint64(a.k.words[part.word][a.row]), uint64(b.k.words[part.word][b.row]))
			}
		case kindBytes:
			c = bytes.Compare(a.k.strs[part.str].at(a.row), b.k.strs[part.str].at(b.row))
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// copyKey copies a row's key into dst (reusing its memory), to compare with later rows
// once the row's batch is gone.
func copyKey(dst *keyRow, src keyRow, l *keyLayout) {
	if dst.k == nil {
		dst.k = &batchKeys{layout: l, words: make([][]int64, l.words), strs: make([]byteCol, l.strs)}
		for w := range dst.k.words {
			dst.k.words[w] = make([]int64, 1)
		}
		for s := range dst.k.strs {
			dst.k.strs[s].offs = make([]int32, 2)
		}
		dst.nulls = make([]bool, len(l.parts))
	}
	dst.k.n, dst.row, dst.cols = 1, 0, nil
	for p, part := range l.parts {
		dst.nulls[p] = src.null(p)
		if dst.nulls[p] {
			continue
		}
		switch part.kind {
		case kindBytes:
			s := &dst.k.strs[part.str]
			s.data = append(s.data[:0], src.k.strs[part.str].at(src.row)...)
			s.offs[1] = int32(len(s.data))
		case kindDecimal:
			dst.k.words[part.word+1][0] = src.k.words[part.word+1][src.row]
			fallthrough
		default:
			dst.k.words[part.word][0] = src.k.words[part.word][src.row]
		}
	}
}

// mjCursor reads one sorted input a batch at a time.
type mjCursor struct {
	side   int
	stream shuffle.Stream
	keys   *batchKeys
	cols   []arrow.Array
	b      *change.Batch
	ops    []change.Op
	row, n int
	done   bool
	last   keyRow // the previous batch's last key, to check the order of a sorted input
	rows   int64
}

func (c *mjCursor) key() keyRow { return keyRow{k: c.keys, cols: c.cols, row: c.row} }

// mergeJoiner is one run of a MergeJoin.
type mergeJoiner struct {
	j          *MergeJoin
	spec       *joinSpec
	e          *emitter
	cur        [2]*mjCursor
	lsrcs      [1]*change.Batch
	rsrcs      []*change.Batch // the right cursor's batch, and batches a group holds
	ridx       int             // the right cursor's batch in rsrcs
	groupLimit int64
	g          mjGroup
	// which rows the join type emits
	pairs, leftAlone, rightAlone, semi bool
}

// mjGroup is the right rows of one key: segments of batches in rsrcs, or a spill file.
type mjGroup struct {
	key     keyRow
	segs    []mjSeg
	held    int64 // Arrow bytes of the batches held
	sum     int64 // net sign of the rows
	w       *shuffle.SpillWriter
	file    shuffle.SpillFile
	spilled bool
}

type mjSeg struct{ src, from, to int }

func (m *mergeJoiner) init(streams [2]shuffle.Stream, emit Emit) {
	m.e = newEmitter(m.spec, emit)
	for side := range 2 {
		m.cur[side] = &mjCursor{side: side, stream: streams[side], keys: newBatchKeys(m.spec.layout, m.spec.budget),
			cols: make([]arrow.Array, len(m.spec.keys[side]))}
	}
	t := m.spec.typ
	m.pairs = t <= FullJoin
	m.leftAlone = t == LeftJoin || t == FullJoin || t == AntiJoin
	m.rightAlone = t == RightJoin || t == FullJoin
	m.semi = t == SemiJoin
}

// load reads c's next non-empty batch (the caller has let go of the previous one).
func (m *mergeJoiner) load(ctx context.Context, c *mjCursor) error {
	for {
		b, err := c.stream.Next(ctx)
		if errors.Is(err, io.EOF) {
			c.done, c.b, c.n, c.row = true, nil, 0, 0
			return nil
		}
		if err != nil {
			return err
		}
		if m.j.cfg.Sorted {
			if err := m.spec.checkBatch(c.side, b); err != nil {
				b.Release()
				return err
			}
		}
		if b.Len() == 0 {
			b.Release()
			continue
		}
		c.b, c.ops, c.row, c.n = b, b.Ops(), 0, b.Len()
		for i, col := range m.spec.keys[c.side] {
			c.cols[i] = b.Column(col)
		}
		c.keys.load(b, m.spec.keys[c.side])
		if m.j.cfg.Sorted {
			if err := m.checkOrder(c); err != nil {
				return err
			}
		}
		c.rows += int64(c.n)
		return nil
	}
}

// checkOrder verifies that a sorted input's batch is in order, also after the last
// row of the previous batch.
func (m *mergeJoiner) checkOrder(c *mjCursor) error {
	prev := c.last
	for r := range c.n {
		cur := keyRow{k: c.keys, cols: c.cols, row: r}
		if (r > 0 || prev.k != nil) && m.j.compare(prev, cur) > 0 {
			return fmt.Errorf("reduce: merge join: %s input is not sorted by its keys at row %d", sideName(c.side), c.rows+int64(r))
		}
		prev = cur
	}
	copyKey(&c.last, prev, m.spec.layout)
	return nil
}

// advance moves c to its next row, flushing the output and letting go of its batch at
// the batch's end, unless a group holds it.
func (m *mergeJoiner) advance(ctx context.Context, c *mjCursor, held bool) error {
	if c.row++; c.row < c.n {
		return nil
	}
	if !held {
		if err := m.e.flush(); err != nil {
			return err
		}
		c.b.Release()
		if c.side == 1 {
			m.rsrcs = append(m.rsrcs[:m.ridx], m.rsrcs[m.ridx+1:]...)
		}
	}
	c.b = nil
	err := m.load(ctx, c)
	m.setSources(c)
	return err
}

// setSources makes c's batch the emitter's source of its side (none at its end: only
// NULL-padded rows reference that side then).
func (m *mergeJoiner) setSources(c *mjCursor) {
	if c.side == 0 {
		m.lsrcs[0] = c.b
		m.e.srcs[0] = m.lsrcs[:]
		if c.b == nil {
			m.e.srcs[0] = nil
		}
		return
	}
	if c.b != nil {
		m.ridx = len(m.rsrcs)
		m.rsrcs = append(m.rsrcs, c.b)
	}
	m.e.srcs[1] = m.rsrcs
}

func (m *mergeJoiner) run(ctx context.Context) error {
	l, r := m.cur[0], m.cur[1]
	for _, c := range m.cur {
		err := m.load(ctx, c)
		m.setSources(c)
		if err != nil {
			return err
		}
	}
	for !l.done || !r.done {
		c := -1
		switch {
		case l.done:
			c = 1
		case !r.done:
			c = m.j.compare(l.key(), r.key())
		}
		switch {
		case c < 0 || c == 0 && l.key().hasNull():
			// The left row matches nothing.
			if m.leftAlone {
				if err := m.e.add(rowRef(0, l.row), nullRef, aloneOp(l.ops[l.row])); err != nil {
					return err
				}
			}
			if err := m.advance(ctx, l, false); err != nil {
				return err
			}
		case c > 0:
			if m.rightAlone {
				if err := m.e.add(nullRef, rowRef(m.ridx, r.row), aloneOp(r.ops[r.row])); err != nil {
					return err
				}
			}
			if err := m.advance(ctx, r, false); err != nil {
				return err
			}
		default:
			if err := m.group(ctx); err != nil {
				return err
			}
		}
	}
	return m.e.flush()
}

// group joins the rows of the key under both cursors: it collects the right rows of
// the key, streams the left rows of the key past them, then lets them go.
func (m *mergeJoiner) group(ctx context.Context) error {
	if err := m.collect(ctx); err != nil {
		return err
	}
	l := m.cur[0]
	g := &m.g
	matched := g.sum > 0
	var leftSum int64
	for !l.done && m.j.compare(l.key(), g.key) == 0 {
		if g.spilled {
			// A left batch's rows of the key against every spilled right row.
			end := l.row
			for end < l.n && m.j.compare(keyRow{k: l.keys, cols: l.cols, row: end}, g.key) == 0 {
				end++
			}
			if err := m.pairsFromFile(ctx, l, end); err != nil {
				return err
			}
			for ; l.row < end; l.row++ {
				leftSum += sign(l.ops[l.row])
				if err := m.leftOnly(l, matched); err != nil {
					return err
				}
			}
			l.row--
		} else {
			lop := l.ops[l.row]
			leftSum += sign(lop)
			if m.pairs {
				lref := rowRef(0, l.row)
				for _, s := range g.segs {
					ops := m.rsrcs[s.src].Ops()
					for row := s.from; row < s.to; row++ {
						if err := m.e.add(lref, rowRef(s.src, row), pairOp(lop, ops[row])); err != nil {
							return err
						}
					}
				}
			}
			if err := m.leftOnly(l, matched); err != nil {
				return err
			}
		}
		if err := m.advance(ctx, l, false); err != nil {
			return err
		}
	}
	if m.rightAlone && leftSum <= 0 {
		if err := m.rightOnly(ctx); err != nil {
			return err
		}
	}
	return m.dropGroup()
}

// leftOnly emits l's current row alone, if the join type emits it given whether the
// right rows of its key matched.
func (m *mergeJoiner) leftOnly(l *mjCursor, matched bool) error {
	if m.leftAlone && !matched || m.semi && matched {
		return m.e.add(rowRef(0, l.row), nullRef, aloneOp(l.ops[l.row]))
	}
	return nil
}

// collect gathers the right rows equal to the right cursor's key into the group,
// leaving the cursor after them. Batches it spans stay held, until they outgrow the
// group's share of the budget: then the group goes to a spill file.
func (m *mergeJoiner) collect(ctx context.Context) error {
	r := m.cur[1]
	g := &m.g
	copyKey(&g.key, r.key(), m.spec.layout)
	for {
		from := r.row
		for r.row < r.n && (r.row == from || m.j.compare(r.key(), g.key) == 0) {
			g.sum += sign(r.ops[r.row])
			r.row++
		}
		seg := mjSeg{src: m.ridx, from: from, to: r.row}
		if r.row < r.n {
			if g.spilled {
				return m.spillSeg(seg)
			}
			g.segs = append(g.segs, seg)
			return nil
		}
		// The key may go on in the next batch: hold this one.
		r.row--
		if g.spilled {
			if err := m.spillSeg(seg); err != nil {
				return err
			}
		} else {
			g.segs = append(g.segs, seg)
			g.held += shuffle.BatchBytes(r.b)
		}
		if !g.spilled && m.groupLimit > 0 && g.held > m.groupLimit {
			if err := m.spillGroup(); err != nil {
				return err
			}
		}
		if err := m.advance(ctx, r, !g.spilled); err != nil {
			return err
		}
		if r.done || m.j.compare(r.key(), g.key) != 0 {
			return nil
		}
	}
}

// spillGroup moves the group's rows held so far to a spill file and lets go of their
// batches (the right cursor's own stays, the cursor lets go of it when it moves on).
func (m *mergeJoiner) spillGroup() error {
	g := &m.g
	cfg := &m.j.cfg
	w, err := shuffle.CreateSpill(cfg.SpillDir, m.spec.in[1], shuffle.SpillOptions{Codec: cfg.SpillCodec, Mem: m.spec.budget, Concurrency: 1})
	if err != nil {
		return err
	}
	g.w, g.spilled = w, true
	m.j.spilledGroups.Add(1)
	for _, s := range g.segs {
		if err := m.spillSeg(s); err != nil {
			return err
		}
	}
	g.segs = g.segs[:0]
	return m.releaseHeld()
}

// spillSeg writes a segment to the group's spill file.
func (m *mergeJoiner) spillSeg(s mjSeg) error {
	b := m.rsrcs[s.src]
	rec := b.Record().NewSlice(int64(s.from), int64(s.to))
	part, err := change.NewBatch(b.Schema(), rec, b.Ops()[s.from:s.to])
	if err != nil {
		rec.Release()
		return err
	}
	err = m.g.w.Write(part)
	part.Release()
	return err
}

// releaseHeld lets go of the batches the group held (all but the cursor's).
func (m *mergeJoiner) releaseHeld() error {
	if len(m.rsrcs) <= 1 {
		return nil
	}
	if err := m.e.flush(); err != nil {
		return err
	}
	cur := m.rsrcs[m.ridx]
	for i, b := range m.rsrcs {
		if i != m.ridx {
			b.Release()
		}
	}
	m.rsrcs = append(m.rsrcs[:0], cur)
	m.ridx = 0
	m.e.srcs[1] = m.rsrcs
	m.g.held = 0
	return nil
}

// finishFile ends the group's spill file, once.
func (m *mergeJoiner) finishFile() error {
	g := &m.g
	if g.w == nil {
		return nil
	}
	f, err := g.w.Finish()
	g.w = nil
	if err != nil {
		return err
	}
	g.file = f
	return nil
}

// eachSpilled calls fn with each batch of the group's spill file, as source src of
// the right side; the output is flushed before each batch is let go.
func (m *mergeJoiner) eachSpilled(ctx context.Context, fn func(b *change.Batch, src int) error) error {
	if err := m.finishFile(); err != nil {
		return err
	}
	st, err := m.g.file.Open(m.spec.budget)
	if err != nil {
		return err
	}
	defer st.Close()
	for {
		b, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		src := len(m.rsrcs)
		m.rsrcs = append(m.rsrcs, b)
		m.e.srcs[1] = m.rsrcs
		err = fn(b, src)
		if ferr := m.e.flush(); err == nil {
			err = ferr
		}
		m.rsrcs = m.rsrcs[:src]
		m.e.srcs[1] = m.rsrcs
		b.Release()
		if err != nil {
			return err
		}
	}
}

// pairsFromFile emits the pairs of the left rows l.row..end-1 with the spilled rows.
func (m *mergeJoiner) pairsFromFile(ctx context.Context, l *mjCursor, end int) error {
	if !m.pairs {
		return nil
	}
	return m.eachSpilled(ctx, func(b *change.Batch, src int) error {
		rops := b.Ops()
		for lr := l.row; lr < end; lr++ {
			lop := l.ops[lr]
			for rr := range b.Len() {
				if err := m.e.add(rowRef(0, lr), rowRef(src, rr), pairOp(lop, rops[rr])); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// rightOnly emits every right row of the group alone.
func (m *mergeJoiner) rightOnly(ctx context.Context) error {
	g := &m.g
	if g.spilled {
		return m.eachSpilled(ctx, func(b *change.Batch, src int) error {
			for rr, op := range b.Ops() {
				if err := m.e.add(nullRef, rowRef(src, rr), aloneOp(op)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for _, s := range g.segs {
		ops := m.rsrcs[s.src].Ops()
		for row := s.from; row < s.to; row++ {
			if err := m.e.add(nullRef, rowRef(s.src, row), aloneOp(ops[row])); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropGroup lets go of the group's rows.
func (m *mergeJoiner) dropGroup() error {
	g := &m.g
	err := m.releaseHeld()
	if g.w != nil {
		g.w.Abort()
		g.w = nil
	}
	if g.spilled && g.file.Path != "" {
		if rerr := g.file.Remove(); err == nil {
			err = rerr
		}
	}
	g.segs, g.sum, g.held, g.spilled, g.file = g.segs[:0], 0, 0, false, shuffle.SpillFile{}
	return err
}

// release lets go of everything the run holds, dropping output not yet emitted.
func (m *mergeJoiner) release() {
	m.e.release()
	m.dropGroup()
	for _, b := range m.rsrcs {
		b.Release()
	}
	m.rsrcs = nil
	if l := m.cur[0]; l != nil && l.b != nil {
		l.b.Release()
	}
	for _, c := range m.cur {
		if c != nil {
			c.keys.release()
		}
	}
}
