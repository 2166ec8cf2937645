package plan

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// bufferPool is a job's Arrow allocator when Options.Allocator is not set: Go memory,
// like memory.GoAllocator, but buffers of 2^poolMinShift bytes and more come in size
// classes, and a buffer freed while the job runs is kept and handed out again. A
// query's operators allocate and free a batch's worth of column buffers per batch
// (16K rows: 64-256 KiB each). From the Go heap each of them is a large object that
// the runtime zeroes, often on pages its scavenger has returned to the system and
// that fault in again, and that the garbage collector sweeps. A reused buffer is
// still cleared (Arrow's allocators hand out zeroed memory and Arrow code relies on
// it), but it is mapped and often in cache.
//
// Inside the job a buffer is reused once it is freed, as with memory.Mallocator: a
// slice of it must not be used after its release. Once the job is released (close),
// freed buffers are left to the garbage collector, as memory.GoAllocator does, so a
// caller who keeps a string of a query's result after releasing the result sees it
// unchanged.
//
// Built with the tag strata_poison, freed buffers are overwritten, and every buffer
// from 64 bytes up is pooled, so that tests that read released memory see garbage.
type bufferPool struct {
	closed atomic.Bool
	free   [(poolMaxShift-poolMinShift)*poolSteps + 1]sync.Pool // of *[]byte, per class
}

const (
	poolMaxShift = 26 // 64 MiB: larger buffers are not pooled
	poolSteps    = 4  // classes per power of two: 1, 1.25, 1.5, 1.75 × 2^k
	poolAlign    = 64 // as memory.GoAllocator aligns
)

func newBufferPool() *bufferPool { return &bufferPool{} }

// sizeClass returns the class of a buffer of n bytes and the capacity of its
// buffers, or -1 when n is outside the pooled range.
func sizeClass(n int) (int, int) {
	if n < 1<<poolMinShift || n > 1<<poolMaxShift {
		return -1, 0
	}
	k := bits.Len(uint(n)) - 1 // 2^k <= n < 2^(k+1)
	step := 1 << k / poolSteps
	q := (n - 1<<k + step - 1) / step // 0..poolSteps
	if q == poolSteps {
		k, q = k+1, 0
	}
	return (k-poolMinShift)*poolSteps + q, 1<<k + q*(1<<k/poolSteps)
}

// classOf returns the class whose buffers have capacity c, or -1.
func classOf(c int) int {
	cl, size := sizeClass(c)
	if size != c {
		return -1
	}
	return cl
}

// Allocate implements memory.Allocator.
func (p *bufferPool) Allocate(size int) []byte {
	c, full := sizeClass(size)
	if c < 0 {
		full = size
	} else if b, ok := p.free[c].Get().(*[]byte); ok {
		buf := (*b)[:size]
		clear(buf)
		return buf
	}
	raw := make([]byte, full+poolAlign)
	shift := int(-uintptr(unsafe.Pointer(unsafe.SliceData(raw)))) & (poolAlign - 1)
	return raw[shift : shift+size : shift+full]
}

// Reallocate implements memory.Allocator.
func (p *bufferPool) Reallocate(size int, b []byte) []byte {
	if cap(b) >= size {
		if size > len(b) {
			clear(b[len(b):size])
		}
		return b[:size]
	}
	nb := p.Allocate(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

// Free implements memory.Allocator.
func (p *bufferPool) Free(b []byte) {
	c := classOf(cap(b))
	if c < 0 || p.closed.Load() {
		return
	}
	b = b[:cap(b)]
	if poolPoison {
		for i := range b {
			b[i] = 0xa5
		}
	}
	p.free[c].Put(&b)
}

// close stops reuse: buffers freed from now on are left to the garbage collector (as
// are those in the pool, with it).
func (p *bufferPool) close() { p.closed.Store(true) }

var _ memory.Allocator = (*bufferPool)(nil)
