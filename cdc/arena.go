package cdc

import (
	"unsafe"

	"github.com/strata-data/strata/change"
)

// arena hands out rows and strings carved from larger blocks, so that decoding an event
// costs a few allocations per hundred events instead of one per row and per string.
// Blocks are append-only and never reused: what was handed out stays valid and
// immutable for as long as anything refers to it (which keeps its block alive).
type arena struct {
	vals  []change.Value
	bytes []byte
}

const (
	arenaValues = 512      // values per block (20 KiB)
	arenaBytes  = 32 << 10 // bytes per block
	arenaBig    = arenaBytes / 8
)

// row returns n zero (NULL) values with cap == len, so an append cannot reach a neighbour.
func (a *arena) row(n int) change.Row {
	if n == 0 {
		return change.Row{} // an image without columns is still an image: never nil
	}
	if n > arenaValues/4 {
		return make(change.Row, n)
	}
	if len(a.vals) < n {
		a.vals = make([]change.Value, arenaValues)
	}
	r := a.vals[:n:n]
	a.vals = a.vals[n:]
	return r
}

// str copies b into the arena and returns it as a string.
func (a *arena) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > arenaBig {
		return string(b)
	}
	if cap(a.bytes)-len(a.bytes) < len(b) {
		a.bytes = make([]byte, 0, arenaBytes)
	}
	start := len(a.bytes)
	a.bytes = append(a.bytes, b...)
	return unsafe.String(&a.bytes[start], len(b))
}
