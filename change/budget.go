package change

import (
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Budget is a memory budget: an Arrow allocator that counts the bytes it has handed out
// and their peak, against a limit that operators check to decide when to spill. Go-heap
// structures an operator keeps beside Arrow buffers (flat hash tables, row indexes) are
// counted through Reserve and Unreserve, so one number bounds both. A Budget is safe
// for concurrent use.
type Budget struct {
	mem   memory.Allocator
	limit int64
	cur   atomic.Int64
	peak  atomic.Int64
}

// NewBudget returns a budget of limit bytes (0: unlimited) over mem (nil: the default
// Go allocator).
func NewBudget(limit int64, mem memory.Allocator) *Budget {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return &Budget{mem: mem, limit: limit}
}

func (b *Budget) add(n int64) {
	c := b.cur.Add(n)
	for {
		p := b.peak.Load()
		if c <= p || b.peak.CompareAndSwap(p, c) {
			return
		}
	}
}

// Allocate implements memory.Allocator.
func (b *Budget) Allocate(size int) []byte {
	out := b.mem.Allocate(size)
	b.add(int64(len(out)))
	return out
}

// Reallocate implements memory.Allocator.
func (b *Budget) Reallocate(size int, buf []byte) []byte {
	old := len(buf)
	out := b.mem.Reallocate(size, buf)
	b.add(int64(len(out) - old))
	return out
}

// Free implements memory.Allocator.
func (b *Budget) Free(buf []byte) {
	b.add(-int64(len(buf)))
	b.mem.Free(buf)
}

// Reserve counts n bytes of Go-heap memory against the budget; Unreserve gives them back.
func (b *Budget) Reserve(n int64) { b.add(n) }

// Unreserve gives back n bytes counted by Reserve.
func (b *Budget) Unreserve(n int64) { b.add(-n) }

// Allocated returns the bytes counted now.
func (b *Budget) Allocated() int64 { return b.cur.Load() }

// Peak returns the most bytes counted at any time.
func (b *Budget) Peak() int64 { return b.peak.Load() }

// Limit returns the budget's limit in bytes (0: unlimited).
func (b *Budget) Limit() int64 { return b.limit }

// Fits reports whether n more bytes stay within the limit.
func (b *Budget) Fits(n int64) bool { return b.limit <= 0 || b.cur.Load()+n <= b.limit }

var _ memory.Allocator = (*Budget)(nil)
