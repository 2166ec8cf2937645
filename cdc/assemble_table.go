package cdc

import "hash/maphash"

// txTable finds transactions by key. It is open addressing with linear probing over
// (hash, transaction) pairs kept at most half full: looking up a key that is absent,
// which every new transaction does, usually reads one cache line, and removing a key
// needs only its hash, not the transaction (long out of cache by then). A Go map of
// the ~20 000 keys an assembler remembers costs several cache misses per transaction.
type txTable struct {
	seed  maphash.Seed
	slots []txSlot // a power of two long
	n     int
	big   int // what a long run holds: past a few hundred keys, room for it is made at once
}

type txSlot struct {
	h uint64 // 0: empty
	t *txn
}

// newTxTable returns a table that will hold up to about max keys.
func newTxTable(max int) txTable { return txTable{seed: maphash.MakeSeed(), big: max} }

// hash is never 0, which marks an empty slot.
func (m *txTable) hash(key string) uint64 { return maphash.String(m.seed, key) | 1 }

// get returns the transaction of key (nil if none) and the key's hash.
func (m *txTable) get(key string) (*txn, uint64) {
	h := m.hash(key)
	if m.n == 0 {
		return nil, h
	}
	mask := uint64(len(m.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.h == 0 {
			return nil, h
		}
		if s.h == h && s.t.key == key {
			return s.t, h
		}
	}
}

// put adds t, whose key (of hash h) is not in the table.
func (m *txTable) put(h uint64, t *txn) {
	if 2*(m.n+1) > len(m.slots) {
		m.grow()
	}
	m.insert(h, t)
	m.n++
}

func (m *txTable) insert(h uint64, t *txn) {
	mask := uint64(len(m.slots) - 1)
	i := h & mask
	for m.slots[i].h != 0 {
		i = (i + 1) & mask
	}
	m.slots[i] = txSlot{h, t}
}

func (m *txTable) grow() {
	old := m.slots
	n := max(64, 2*len(old))
	if n >= 1024 && n < 2*m.big {
		// a long run will reach it: one rehash of a few hundred keys, not a dozen of ever more
		for n < 2*m.big {
			n *= 2
		}
	}
	m.slots = make([]txSlot, n)
	for _, s := range old {
		if s.h != 0 {
			m.insert(s.h, s.t)
		}
	}
}

// del removes t, whose key has hash h, shifting back the entries after it that would
// otherwise no longer be found.
func (m *txTable) del(h uint64, t *txn) {
	if m.n == 0 {
		return
	}
	mask := uint64(len(m.slots) - 1)
	i := h & mask
	for m.slots[i].t != t {
		if m.slots[i].h == 0 {
			return
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; m.slots[j].h != 0; j = (j + 1) & mask {
		// the entry at j may move to the hole at i unless its home slot lies after i
		// (cyclically, up to j)
		home := m.slots[j].h & mask
		if i <= j && (home <= i || home > j) || i > j && home <= i && home > j {
			m.slots[i] = m.slots[j]
			i = j
		}
	}
	m.slots[i] = txSlot{}
	m.n--
}
