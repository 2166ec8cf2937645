package reduce

import (
	"cmp"
	"context"
	"errors"
	"io"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// mergeStream merges sorted runs (spill files) into one order: a binary heap of the
// runs' cursors, compared by their current rows' prefixes, then key columns, then run
// order (which keeps the merge stable). Output rows are references into the runs'
// current batches, gathered into a batch when it is full; a batch a cursor has
// finished stays held (retired) until then. It removes its runs' files when closed.
type mergeStream struct {
	sort    *Sort
	keys    []*sortKeyCol
	files   []shuffle.SpillFile
	curs    []*mergeCursor
	heap    []*mergeCursor
	slots   []*change.Batch // batches referenced: the cursors' current and retired ones
	free    []int           // unused slots
	retired []int
	refs    []uint64
	left    int // rows still to emit (a limit), or -1
	exact   bool
	tie     [2]func(x, y uint64) int // from key 0 and from key 1
	// scratch of flush
	dense []uint64
	srcs  []*change.Batch
	remap []int
	acct  account
	done  bool
}

// mergeCursor reads one run.
type mergeCursor struct {
	run    int
	stream shuffle.Stream
	b      *change.Batch
	slot   int
	row, n int
	pre    []uint64
	null   []bool // first key NULL, nil when none is
}

func newMergeStream(s *Sort, keys []*sortKeyCol, runs []shuffle.SpillFile) *mergeStream {
	m := &mergeStream{sort: s, keys: keys, files: runs, left: -1, acct: account{budget: s.cfg.Budget},
		tie: [2]func(x, y uint64) int{keysComparator(keys, 0), keysComparator(keys, 1)}}
	if s.cfg.Limit > 0 {
		m.left = s.cfg.Limit
	}
	return m
}

// open opens every run and fills the heap.
func (m *mergeStream) open(ctx context.Context) error {
	for i, f := range m.files {
		st, err := f.Open(m.sort.cfg.Budget)
		if err != nil {
			return err
		}
		c := &mergeCursor{run: i, stream: st, slot: -1}
		m.curs = append(m.curs, c)
		ok, err := m.load(ctx, c)
		if err != nil {
			return err
		}
		if ok {
			m.heap = append(m.heap, c)
		}
	}
	for i := len(m.heap)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
	return nil
}

// load reads c's next non-empty batch, retiring the one it held; false at the run's end.
func (m *mergeStream) load(ctx context.Context, c *mergeCursor) (bool, error) {
	if c.b != nil {
		m.retired = append(m.retired, c.slot)
		c.b, c.slot = nil, -1
	}
	for {
		b, err := c.stream.Next(ctx)
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if b.Len() == 0 {
			b.Release()
			continue
		}
		c.b, c.row, c.n = b, 0, b.Len()
		c.slot = m.slot(b)
		first := m.keys[0]
		a := b.Column(first.col)
		if cap(c.pre) < c.n {
			c.pre = make([]uint64, c.n)
			c.null = make([]bool, c.n)
			m.count()
		}
		c.pre = c.pre[:c.n]
		m.exact = first.Prefix(a, c.pre)
		if a.NullN() > 0 {
			c.null = c.null[:c.n]
			for i := range c.null {
				c.null[i] = a.IsNull(i)
			}
		} else {
			c.null = c.null[:0]
		}
		return true, nil
	}
}

// count keeps the budget's count of the cursors' scratch.
func (m *mergeStream) count() {
	var n int64
	for _, c := range m.curs {
		n += 9 * int64(cap(c.pre))
	}
	m.acct.set(n + 8*int64(cap(m.refs)+cap(m.dense)) + 8*int64(cap(m.remap)))
}

// slot stores b in a free slot and makes it a comparison source.
func (m *mergeStream) slot(b *change.Batch) int {
	var s int
	if n := len(m.free); n > 0 {
		s = m.free[n-1]
		m.free = m.free[:n-1]
		m.slots[s] = b
	} else {
		s = len(m.slots)
		m.slots = append(m.slots, b)
	}
	setSource(m.keys, s, b)
	return s
}

func (c *mergeCursor) isNull() bool { return len(c.null) > 0 && c.null[c.row] }

// compare orders the current rows of two cursors.
func (m *mergeStream) compare(a, b *mergeCursor) int {
	an, bn := a.isNull(), b.isNull()
	from := 0
	switch {
	case an && bn:
		from = 1
	case an != bn:
		if an == m.keys[0].NullsFirst() {
			return -1
		}
		return 1
	default:
		pa, pb := a.pre[a.row], b.pre[b.row]
		if pa != pb {
			return cmp.Compare(pa, pb)
		}
		if m.exact {
			from = 1
		}
	}
	if c := m.tie[from](mkRef(a.slot, a.row), mkRef(b.slot, b.row)); c != 0 {
		return c
	}
	return cmp.Compare(a.run, b.run)
}

func (m *mergeStream) down(i int) {
	h := m.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && m.compare(h[r], h[l]) < 0 {
			c = r
		}
		if m.compare(h[c], h[i]) >= 0 {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

func (m *mergeStream) Next(ctx context.Context) (*change.Batch, error) {
	return m.next(ctx, m.sort.cfg.BatchRows)
}

// next returns a batch of up to n rows.
func (m *mergeStream) next(ctx context.Context, n int) (*change.Batch, error) {
	if m.done {
		return nil, io.EOF
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.refs == nil {
		m.refs = make([]uint64, 0, n)
		m.count()
	}
	m.refs = m.refs[:0]
	for len(m.heap) > 0 && len(m.refs) < n && m.left != 0 && len(m.retired) < len(m.curs) {
		c := m.heap[0]
		m.refs = append(m.refs, mkRef(c.slot, c.row))
		if m.left > 0 {
			m.left--
		}
		if c.row++; c.row == c.n {
			ok, err := m.load(ctx, c)
			if err != nil {
				return nil, err
			}
			if !ok {
				last := len(m.heap) - 1
				m.heap[0] = m.heap[last]
				m.heap = m.heap[:last]
			}
		}
		if len(m.heap) > 0 {
			m.down(0)
		}
	}
	if len(m.refs) == 0 {
		m.Close()
		m.done = true
		return nil, io.EOF
	}
	b := m.flush()
	return b, nil
}

// flush gathers the pending rows and frees the retired slots.
func (m *mergeStream) flush() *change.Batch {
	// gather reads every source it is given: give it only the slots referenced.
	if len(m.remap) < len(m.slots) {
		m.remap = make([]int, len(m.slots))
	}
	for i := range m.remap {
		m.remap[i] = -1
	}
	m.srcs = m.srcs[:0]
	m.dense = m.dense[:0]
	for _, r := range m.refs {
		s := refSrc(r)
		if m.remap[s] < 0 {
			m.remap[s] = len(m.srcs)
			m.srcs = append(m.srcs, m.slots[s])
		}
		m.dense = append(m.dense, mkRef(m.remap[s], refPos(r)))
	}
	b := gatherRows(m.sort.cfg.Budget, m.sort.cfg.Schema, m.srcs, m.dense)
	clear(m.srcs)
	for _, s := range m.retired {
		m.slots[s].Release()
		m.slots[s] = nil
		m.free = append(m.free, s)
	}
	m.retired = m.retired[:0]
	m.count()
	return b
}

// Close releases the batches, closes the runs and removes their files.
func (m *mergeStream) Close() error {
	var err error
	for _, c := range m.curs {
		if c.stream != nil {
			if cerr := c.stream.Close(); err == nil {
				err = cerr
			}
		}
	}
	m.curs, m.heap = nil, nil
	for i, b := range m.slots {
		if b != nil {
			b.Release()
			m.slots[i] = nil
		}
	}
	m.slots, m.free, m.retired, m.refs = nil, nil, nil, nil
	for _, f := range m.files {
		if rerr := f.Remove(); err == nil {
			err = rerr
		}
	}
	m.files = nil
	m.acct.set(0)
	m.done = true
	return err
}
