package mempool

import (
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Scope is an allocator for one job (a query, say): buffers freed while it is open
// are recycled as by a Pool (built with the tag mempoolguard, made inaccessible as
// by a Guard); buffers freed after Close are left to the garbage collector. A caller
// that keeps a string of a job's result past releasing it, after the job is over,
// sees it unchanged, as with Go's allocator, while the job's own batches recycle.
type Scope struct {
	a      memory.Allocator
	closed atomic.Bool
}

// NewScope returns an open scope.
func NewScope() *Scope { return &Scope{a: newScoped()} }

// Allocate implements memory.Allocator.
func (s *Scope) Allocate(size int) []byte { return s.a.Allocate(size) }

// Reallocate implements memory.Allocator.
func (s *Scope) Reallocate(size int, b []byte) []byte {
	if !s.closed.Load() {
		return s.a.Reallocate(size, b)
	}
	if cap(b) >= size {
		clear(b[len(b):size])
		return b[:size]
	}
	out := s.a.Allocate(size)
	copy(out, b)
	return out // b is left to the collector
}

// Free implements memory.Allocator.
func (s *Scope) Free(b []byte) {
	if !s.closed.Load() {
		s.a.Free(b)
	}
}

// Close ends recycling: buffers freed from now on are left to the collector.
func (s *Scope) Close() { s.closed.Store(true) }
