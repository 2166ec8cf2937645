package cdc

import (
	"math/rand/v2"
	"testing"
)

// Less compares fields itself, for speed: it must agree with Compare, also when some
// fields are equal.
func TestPositionLessMatchesCompare(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 9))
	f := func() uint64 { return []uint64{0, 1, 2, 1 << 63, ^uint64(0)}[r.IntN(5)] }
	for range 20000 {
		p := Position{f(), f(), f()}
		q := Position{f(), f(), f()}
		if got, want := p.Less(q), p.Compare(q) < 0; got != want {
			t.Fatalf("%v.Less(%v) = %v, Compare says %v", p, q, got, want)
		}
	}
}
