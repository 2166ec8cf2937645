package reduce

import (
	"math/bits"
	"sync"
)

// slabPool keeps the large arrays that hash tables let go (a key table's slots,
// hashes and key words; a join table's row lists), by capacity, for the next table to
// take. A process that joins or aggregates again and again (a plan's many joins, a
// query run repeatedly, a join per partition) would otherwise take fresh memory for
// every table, which the operating system faults in and zeroes page by page: a
// million-key table is ~70 MB, and faulting it in cost as much as filling it. A
// sync.Pool lets the collector drop what no table took back within a cycle or two.
type slabPool[T any] struct {
	classes [64]sync.Pool // by the floor of log2 of the capacity
}

// minSlab is the smallest capacity (in elements) worth keeping: smaller arrays come
// from the allocator's caches cheaply.
const minSlab = 1 << 14

var (
	uint64Slabs slabPool[uint64]
	int64Slabs  slabPool[int64]
	int32Slabs  slabPool[int32]
)

// get returns an empty slice of capacity exactly n (the budget counts capacities);
// its memory holds whatever it held before.
func (p *slabPool[T]) get(n int) []T {
	if n < minSlab {
		return make([]T, 0, n)
	}
	c := bits.Len(uint(n)) - 1 // 2^c <= n
	for _, k := range []int{c, c + 1} {
		v := p.classes[k].Get()
		if v == nil {
			continue
		}
		s := *(v.(*[]T))
		if cap(s) >= n {
			return s[:0:n]
		}
		p.classes[k].Put(v)
	}
	return make([]T, 0, n)
}

// put gives s back for reuse; s must not be used after.
func (p *slabPool[T]) put(s []T) {
	if cap(s) < minSlab {
		return
	}
	s = s[:0]
	p.classes[bits.Len(uint(cap(s)))-1].Put(&s)
}

// regrow is grown with the arrays taken from and given back to p.
func regrow[T any](p *slabPool[T], s []T, c int) []T {
	out := append(p.get(c), s...)
	p.put(s)
	return out
}
