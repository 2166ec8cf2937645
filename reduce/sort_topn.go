package reduce

import (
	"cmp"
	"context"
	"errors"
	"io"
	"slices"
	"unsafe"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// topEntry is a row kept by a top-N: its first key's prefix, whether that key is
// NULL, and its reference.
type topEntry struct {
	key, ref uint64
	null     bool
}

// topN keeps the first n rows of the order in a bounded max-heap (the root is the
// last row kept), so a row that does not beat the root costs one prefix compare. It
// keeps the batches its rows live in; when they hold more than 2n rows, the
// kept rows are gathered into fresh batches and the old ones released, so memory
// stays O(n).
type topN struct {
	sort       *Sort
	keys       []*sortKeyCol
	n          int
	exact      bool
	nullsFirst bool
	tie0, tie1 func(x, y uint64) int
	heap       []topEntry
	srcs       []*change.Batch
	held       int   // rows in srcs
	heldBytes  int64 // their Arrow bytes
	pre        []uint64
	acct       account
}

func newTopN(s *Sort, keys []*sortKeyCol) *topN {
	t := &topN{sort: s, keys: keys, n: s.cfg.Limit, nullsFirst: keys[0].NullsFirst(),
		tie0: rowComparator(keys, 0), tie1: rowComparator(keys, 1), acct: account{budget: s.cfg.Budget}}
	return t
}

// compare orders two kept rows.
func (t *topN) compare(a, b topEntry) int {
	switch {
	case a.null && b.null:
		return t.tie1(a.ref, b.ref)
	case a.null != b.null:
		if a.null == t.nullsFirst {
			return -1
		}
		return 1
	case a.key != b.key:
		return cmp.Compare(a.key, b.key)
	case t.exact:
		return t.tie1(a.ref, b.ref)
	}
	return t.tie0(a.ref, b.ref)
}

func (t *topN) read(ctx context.Context, in shuffle.Stream) error {
	for {
		b, err := in.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := t.add(b); err != nil {
			return err
		}
	}
}

// add offers the rows of b, taking it over.
func (t *topN) add(b *change.Batch) error {
	if err := t.sort.checkInput(b); err != nil {
		b.Release()
		return err
	}
	src := len(t.srcs)
	setSource(t.keys, src, b)
	first := t.keys[0]
	a := b.Column(first.col)
	if cap(t.pre) < b.Len() {
		t.pre = make([]uint64, b.Len())
	}
	pre := t.pre[:b.Len()]
	t.exact = first.Prefix(a, pre)
	kept := 0
	for row, k := range pre {
		e := topEntry{key: k, ref: mkRef(src, row), null: a.IsNull(row)}
		if e.null {
			e.key = 0
		}
		if len(t.heap) < t.n {
			t.push(e)
			kept++
			continue
		}
		if t.compare(e, t.heap[0]) < 0 {
			t.heap[0] = e
			t.down(0)
			kept++
		}
	}
	if kept == 0 {
		b.Release()
		return nil
	}
	t.srcs = append(t.srcs, b)
	t.held += b.Len()
	t.heldBytes += shuffle.BatchBytes(b)
	if t.held > 2*t.n {
		t.compact()
	}
	return nil
}

func (t *topN) push(e topEntry) {
	if len(t.heap) == cap(t.heap) {
		t.heap = slices.Grow(t.heap, max(16, len(t.heap)))
		t.acct.set(int64(unsafe.Sizeof(topEntry{})) * int64(cap(t.heap)))
	}
	t.heap = append(t.heap, e)
	i := len(t.heap) - 1
	for i > 0 {
		p := (i - 1) / 2
		if t.compare(t.heap[i], t.heap[p]) <= 0 {
			break
		}
		t.heap[i], t.heap[p] = t.heap[p], t.heap[i]
		i = p
	}
}

func (t *topN) down(i int) {
	h := t.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && t.compare(h[r], h[l]) > 0 {
			c = r
		}
		if t.compare(h[c], h[i]) <= 0 {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// sorted sorts the heap into order and returns the references.
func (t *topN) sorted() []uint64 {
	slices.SortFunc(t.heap, t.compare)
	refs := make([]uint64, len(t.heap))
	for i, e := range t.heap {
		refs[i] = e.ref
	}
	return refs
}

// compact gathers the kept rows, in order, into new batches and releases the old
// ones. The heap, in descending order, stays a max-heap.
func (t *topN) compact() {
	refs := t.sorted()
	var out []*change.Batch
	for i := 0; i < len(refs); i += t.sort.cfg.BatchRows {
		out = append(out, gatherRows(t.sort.cfg.Budget, t.sort.cfg.Schema, t.srcs, refs[i:min(i+t.sort.cfg.BatchRows, len(refs))]))
	}
	for _, b := range t.srcs {
		b.Release()
	}
	t.srcs, t.held, t.heldBytes = out, len(refs), 0
	for i, b := range out {
		setSource(t.keys, i, b)
		t.heldBytes += shuffle.BatchBytes(b)
	}
	slices.Reverse(t.heap)
	for i := range t.heap {
		j := len(t.heap) - 1 - i // position in order
		t.heap[i].ref = mkRef(j/t.sort.cfg.BatchRows, j%t.sort.cfg.BatchRows)
	}
}

// bytes is the memory the top-N holds.
func (t *topN) bytes() int64 { return t.heldBytes + t.acct.n }

// toRun returns the kept rows, in order, as a run to sort; t is left empty.
func (t *topN) toRun() *sortRun {
	t.compact()
	r := &sortRun{sort: t.sort, keys: t.keys, acct: account{budget: t.sort.cfg.Budget}}
	for _, b := range t.srcs {
		r.add(b)
	}
	t.srcs, t.heap = nil, nil
	t.acct.set(0)
	return r
}

// result returns the kept rows in order as a stream that takes over the batches.
func (t *topN) result() shuffle.Stream {
	refs := t.sorted()
	s := &orderedStream{schema: t.sort.cfg.Schema, mem: t.sort.cfg.Budget, batchRows: t.sort.cfg.BatchRows,
		srcs: t.srcs, refs: refs, acct: t.acct}
	s.acct.set(8 * int64(cap(refs)))
	t.srcs, t.heap, t.acct = nil, nil, account{}
	return s
}

func (t *topN) release() {
	for _, b := range t.srcs {
		b.Release()
	}
	t.srcs, t.heap = nil, nil
	t.acct.set(0)
}
