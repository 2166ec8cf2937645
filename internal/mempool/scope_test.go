package mempool

import (
	"testing"
	"unsafe"
)

// A scope recycles while open; after Close a freed buffer keeps its bytes and is
// not handed out again.
func TestScopeStopsRecyclingWhenClosed(t *testing.T) {
	if Guarded {
		t.Skip("the guard unmaps instead of recycling (TestGuardFaultsOnReadAfterFree)")
	}
	s := NewScope()
	reused := false
	b := s.Allocate(100_000)
	for range 10 { // a collection between Put and Get may drop the buffer: retry
		s.Free(b)
		c := s.Allocate(100_000)
		if unsafe.SliceData(c) == unsafe.SliceData(b) {
			reused = true
			break
		}
		b = c
	}
	if !reused {
		t.Fatal("an open scope never handed a freed buffer out again")
	}
	s.Close()
	d := s.Allocate(100_000)
	d[0] = 9
	s.Free(d)
	for range 10 {
		if e := s.Allocate(100_000); unsafe.SliceData(e) == unsafe.SliceData(d) {
			t.Fatal("a buffer freed after Close was handed out again")
		}
	}
	if d[0] != 9 {
		t.Fatal("a buffer freed after Close was overwritten")
	}
	g := s.Reallocate(300_000, s.Allocate(100_000)[:10])
	if len(g) != 300_000 {
		t.Fatalf("Reallocate after Close: %d bytes", len(g))
	}
}
