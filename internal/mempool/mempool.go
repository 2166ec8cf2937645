// Package mempool holds an Arrow allocator that recycles buffers: a buffer given
// back by Free is handed out again by a later Allocate of its size class, without
// waiting for a garbage collection.
//
// Why: with Go's allocator (memory.GoAllocator) a released Arrow buffer is garbage
// that is reused only after the next collection, and the next collection comes when
// the heap has grown to twice its live size. An operator that emits and releases
// batches at a steady rate therefore touches fresh pages (a page fault each, ~10 µs
// per 4 KiB) until the heap reaches its goal, which for a process holding a large
// live set takes many batches. Recycling keeps an operator's working set at the
// batches it has in flight.
//
// The price is that a buffer must not be read after its last Release: with Go's
// allocator such a read saw the old bytes (the collector kept them alive), with this
// one it sees another batch's. This is the Arrow contract (arrow-go's mallocator frees
// for real too), but Go's allocator never enforced it. A program that keeps a string
// from String.Value past the batch's Release must copy it (strings.Clone). Built with
// the tag mempoolguard, Default is a guard allocator (see Guard) that makes every
// buffer inaccessible when freed, so that tests find any read after Release; the tag
// also makes memory.DefaultAllocator the guard, to check every consumer.
//
// Buffers of fewer than MinPooled bytes come from the Go heap and are not recycled;
// buffers above MaxPooled neither. The pool keeps free buffers in sync.Pools, so idle
// buffers are dropped over two garbage collections, as a sync.Pool drops anything.
package mempool

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

const (
	minShift = 12
	maxShift = 28
	// MinPooled is the smallest size that is pooled; smaller buffers come from the
	// Go heap.
	MinPooled = 1 << minShift
	// MaxPooled is the largest size class; larger buffers come from the Go heap.
	MaxPooled = 1 << maxShift
	// Size classes: MinPooled, then four per power of two (steps of a quarter), so a
	// buffer wastes at most a quarter of its class.
	nClasses  = (maxShift-minShift)*4 + 1
	alignment = 64 // as arrow's allocators align
)

// classOf returns the size class of a buffer of size bytes (MinPooled < size <=
// MaxPooled gives 1..nClasses-1; size <= MinPooled gives 0) and the class's size.
func classOf(size int) (int, int) {
	if size <= MinPooled {
		return 0, MinPooled
	}
	e := bits.Len(uint(size-1)) - 1 // 2^e < size <= 2^(e+1)
	step := 1 << (e - 2)
	j := (size - 1<<e + step - 1) / step // 1..4
	return (e-minShift)*4 + j, 1<<e + j*step
}

// classSize returns the size of class c.
func classSize(c int) int {
	if c == 0 {
		return MinPooled
	}
	e := (c-1)/4 + minShift
	j := (c-1)%4 + 1
	return 1<<e + j*(1<<(e-2))
}

// Pool is a recycling memory.Allocator, safe for concurrent use. Allocate returns
// zeroed memory, as Go's allocator and arrow-go's mallocator do (builders rely on it).
// Its zero value is not usable: call New.
type Pool struct {
	classes [nClasses]sync.Pool // of unsafe.Pointer to the first byte of a buffer of the class's size
	stats   struct{ allocs, reused, frees atomic.Int64 }
}

// New returns an empty pool.
func New() *Pool { return &Pool{} }

// Allocate implements memory.Allocator.
func (p *Pool) Allocate(size int) []byte {
	if size < MinPooled || size > MaxPooled {
		return goAllocate(size)
	}
	c, n := classOf(size)
	p.stats.allocs.Add(1)
	if ptr, ok := p.classes[c].Get().(unsafe.Pointer); ok {
		p.stats.reused.Add(1)
		b := unsafe.Slice((*byte)(ptr), n)[:size]
		clear(b)
		return b
	}
	return goAllocate(n)[:size]
}

// Reallocate implements memory.Allocator.
func (p *Pool) Reallocate(size int, b []byte) []byte {
	if cap(b) >= size {
		if size > len(b) {
			clear(b[len(b):size]) // the class's tail may hold an earlier user's bytes
		}
		return b[:size]
	}
	out := p.Allocate(size)
	copy(out, b)
	p.Free(b)
	return out
}

// Free implements memory.Allocator: b (as Allocate or Reallocate returned it) goes
// back to its class, to be handed out again.
func (p *Pool) Free(b []byte) {
	n := cap(b)
	if n < MinPooled || n > MaxPooled {
		return
	}
	c, cn := classOf(n)
	if cn != n { // not one of ours (a Go-heap buffer of an odd size): the collector's
		return
	}
	p.stats.frees.Add(1)
	p.classes[c].Put(unsafe.Pointer(unsafe.SliceData(b)))
}

// Stats counts the pooled allocations, how many of them reused a freed buffer, and
// the frees that gave one back.
type Stats struct{ Allocs, Reused, Frees int64 }

// Stats returns the pool's counts so far.
func (p *Pool) Stats() Stats {
	return Stats{Allocs: p.stats.allocs.Load(), Reused: p.stats.reused.Load(), Frees: p.stats.frees.Load()}
}

// goAllocate returns size bytes of zeroed Go-heap memory aligned to 64 bytes, with
// capacity size (so Free can tell the classes' buffers by their capacity).
func goAllocate(size int) []byte {
	buf := make([]byte, size+alignment)
	shift := (alignment - int(uintptr(unsafe.Pointer(unsafe.SliceData(buf))))%alignment) % alignment
	return buf[shift : shift+size : shift+size]
}

var _ memory.Allocator = (*Pool)(nil)
