package cdc

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// txTable must find what a map finds through any mix of puts and deletes, including
// clusters that wrap around the end of its slots.
func TestTxTableMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	m := newTxTable(1000)
	ref := map[string]*txn{}
	var live []*txn
	for i := range 200000 {
		switch {
		case len(live) > 0 && (r.IntN(2) == 0 || len(live) > 3000):
			j := r.IntN(len(live))
			x := live[j]
			live[j] = live[len(live)-1]
			live = live[:len(live)-1]
			m.del(x.h, x)
			delete(ref, x.key)
		default:
			key := strconv.Itoa(r.IntN(20000))
			if _, ok := ref[key]; ok {
				break
			}
			x := &txn{key: key, h: m.hash(key)}
			m.put(x.h, x)
			ref[key] = x
			live = append(live, x)
		}
		if i%1999 == 0 {
			require.Equal(t, len(ref), m.n)
			for k := range 20000 {
				key := strconv.Itoa(k)
				if got, h := m.get(key); got != ref[key] || h != m.hash(key) {
					t.Fatalf("step %d: key %s found %p, want %p", i, key, got, ref[key])
				}
			}
		}
	}
	m.del(m.hash("absent"), &txn{key: "absent"}) // not there: nothing happens
	require.Equal(t, len(ref), m.n)
}
