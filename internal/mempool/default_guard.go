//go:build mempoolguard

package mempool

import "github.com/apache/arrow-go/v18/arrow/memory"

var def = NewGuard(20000)

// Every Arrow buffer allocated through the default allocator is checked too.
func init() { memory.DefaultAllocator = def }

// Default returns the process's shared pool. Built with the tag mempoolguard, it is a
// Guard instead (and memory.DefaultAllocator is that Guard too).
func Default() memory.Allocator { return def }

// Guarded reports whether the package was built with the tag mempoolguard.
const Guarded = true

// newScoped is a Scope's allocator.
func newScoped() memory.Allocator { return NewGuard(20000) }
