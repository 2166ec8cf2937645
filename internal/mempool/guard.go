//go:build unix

package mempool

import (
	"fmt"
	"sync"
	"syscall"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Guard is a debugging memory.Allocator that catches reads and writes of freed
// buffers: each buffer is its own memory mapping, and Free makes the mapping
// inaccessible (PROT_NONE), so that any later access faults (a crash, or a panic under
// debug.SetPanicOnFault). Freed mappings are unmapped only after quarantine more frees,
// as the kernel limits a process's mappings (vm.max_map_count, 65530 by default).
// Free panics on a buffer it did not hand out or already freed (nil excepted). Guard is slow (a system
// call per allocation and per free, a page at least per buffer): it is for tests, which
// get it as Default by building with the tag mempoolguard.
type Guard struct {
	mu         sync.Mutex
	live       map[uintptr][]byte // mapping by the address of its first byte
	quarantine [][]byte           // freed, inaccessible, oldest first
	max        int
}

// NewGuard returns a guard allocator that keeps up to quarantine freed mappings
// inaccessible before unmapping the oldest.
func NewGuard(quarantine int) *Guard {
	return &Guard{live: map[uintptr][]byte{}, max: quarantine}
}

// Allocate implements memory.Allocator.
func (g *Guard) Allocate(size int) []byte {
	m, err := syscall.Mmap(-1, 0, max(size, 1), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		panic(fmt.Sprintf("mempool: guard mmap of %d bytes: %v", size, err))
	}
	g.mu.Lock()
	g.live[uintptr(unsafe.Pointer(unsafe.SliceData(m)))] = m
	g.mu.Unlock()
	return m[:size:len(m)]
}

// Reallocate implements memory.Allocator. It always moves the buffer, so that a
// reference kept to the old one faults.
func (g *Guard) Reallocate(size int, b []byte) []byte {
	out := g.Allocate(size)
	copy(out, b)
	g.Free(b)
	return out
}

// Free implements memory.Allocator.
func (g *Guard) Free(b []byte) {
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if addr == 0 {
		return // a buffer that never allocated (arrow frees those too)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.live[addr]
	if !ok {
		panic(fmt.Sprintf("mempool: guard: free of %#x (%d bytes), not allocated or already freed", addr, len(b)))
	}
	delete(g.live, addr)
	if err := syscall.Mprotect(m, syscall.PROT_NONE); err != nil {
		panic(fmt.Sprintf("mempool: guard mprotect: %v", err))
	}
	g.quarantine = append(g.quarantine, m)
	if len(g.quarantine) > g.max {
		old := g.quarantine[0]
		g.quarantine = g.quarantine[1:]
		if err := syscall.Munmap(old); err != nil {
			panic(fmt.Sprintf("mempool: guard munmap: %v", err))
		}
	}
}

// Live returns the number of buffers allocated and not freed.
func (g *Guard) Live() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.live)
}

var _ memory.Allocator = (*Guard)(nil)
