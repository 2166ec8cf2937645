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

// finished must find each of the last per keys added (pending or in a table, whatever
// its filter holds), never a key it forgot, and hand each forgotten key back once.
func TestFinishedRemembersTheLastKeys(t *testing.T) {
	const per = 1500
	f := newFinished(per)
	h := newTxTable(0) // for the hash
	var all []*txn
	forgot := map[*txn]int{}
	for i := range 10 * per {
		x := &txn{key: "k" + strconv.Itoa(i)}
		x.h = h.hash(x.key)
		f.add(x.h, x, func(t *txn) { forgot[t]++ })
		all = append(all, x)
		if i%97 != 0 && i != 10*per-1 {
			continue
		}
		for j, y := range all {
			got := f.get(y.h, y.key)
			switch {
			case j > i-per:
				require.Same(t, y, got, "after %d adds: key %d of the last %d lost", i+1, j, per)
			case forgot[y] > 0:
				require.Nil(t, got, "after %d adds: key %d found after it was forgotten", i+1, j)
			case got != nil:
				require.Same(t, y, got)
			}
			require.LessOrEqual(t, forgot[y], 1)
		}
		require.Nil(t, f.get(h.hash("absent"), "absent"))
	}
	require.Greater(t, len(forgot), 7*per, "generations are forgotten whole")
}

// Transactions finished but not added (tick) age the generations too: what was added is
// forgotten once per transactions have finished after the newer generation began.
func TestFinishedTicksAge(t *testing.T) {
	const per = 100
	f := newFinished(per)
	h := newTxTable(0)
	x := &txn{key: "k"}
	x.h = h.hash(x.key)
	forgot := 0
	forget := func(*txn) { forgot++ }
	f.add(x.h, x, forget)
	for range per - 1 {
		f.tick(forget)
	}
	require.Same(t, x, f.get(x.h, x.key), "the newer generation is the older now")
	for range per - 1 {
		f.tick(forget)
	}
	require.Same(t, x, f.get(x.h, x.key))
	require.Zero(t, forgot)
	f.tick(forget)
	require.Nil(t, f.get(x.h, x.key))
	require.Equal(t, 1, forgot)
	require.Zero(t, f.n)
}

// The table's hash must tell apart keys that differ in one byte or in length, and spread
// the keys transactions have (decimal ids, GTIDs) over the low bits that pick a slot.
func TestTxTableHashSpreads(t *testing.T) {
	m := newTxTable(0)
	seen := map[uint64]string{}
	add := func(k string) {
		h := m.hash(k)
		require.NotZero(t, h)
		if o, ok := seen[h]; ok && o != k {
			t.Fatalf("%q and %q hash alike", o, k)
		}
		seen[h] = k
	}
	base := []byte("3E11FA47-71CA-11E1-9E33-C80AA9429562:123")
	for n := 0; n <= len(base); n++ {
		add(string(base[:n]))
		for i := range n {
			for _, c := range []byte{0, 1, 'a', 0x80} {
				k := []byte(string(base[:n]))
				if k[i] != c {
					k[i] = c
					add(string(k))
				}
			}
		}
	}
	const slots = 1 << 16
	used := map[uint64]bool{}
	for i := range slots {
		add(strconv.Itoa(770 + i))
		used[m.hash(strconv.Itoa(770+i))&(slots-1)] = true
	}
	// slots keys thrown at random into slots slots fill 1-1/e of them (63 %)
	require.Greater(t, len(used), slots*6/10, "decimal keys crowd the low bits")
}
