//go:build !mempoolguard

package mempool

import "github.com/apache/arrow-go/v18/arrow/memory"

var def = New()

// Default returns the process's shared pool. Built with the tag mempoolguard, it is a
// Guard instead (and memory.DefaultAllocator is that Guard too).
func Default() memory.Allocator { return def }

// Guarded reports whether the package was built with the tag mempoolguard.
const Guarded = false

// newScoped is a Scope's allocator.
func newScoped() memory.Allocator { return New() }
