package cdc

import (
	"math/bits"
	"math/rand/v2"
)

// txTable finds transactions by key. It is open addressing with linear probing over
// (hash, transaction) pairs kept at most half full: looking up a key that is absent
// usually reads one cache line, and removing a key needs only its hash, not the
// transaction. The assembler keeps its buffered transactions in one (small, so in
// cache) and each generation of finished ones in another.
type txTable struct {
	seed  uint64
	slots []txSlot // a power of two long
	n     int
	big   int // what a long run holds: past a few hundred keys, room for it is made at once
}

type txSlot struct {
	h uint64 // 0: empty
	t *txn
}

// newTxTable returns a table that will hold up to about max keys.
func newTxTable(max int) txTable { return txTable{seed: rand.Uint64(), big: max} }

// hash is never 0, which marks an empty slot. It is a seeded multiply-fold hash written
// out here rather than a call of maphash: it runs for every new transaction, and
// maphash's calls down to the runtime are code the decoder evicts between two Adds.
func (m *txTable) hash(key string) uint64 {
	h := m.seed ^ uint64(len(key))*hashK1
	for len(key) >= 8 {
		w := uint64(key[0]) | uint64(key[1])<<8 | uint64(key[2])<<16 | uint64(key[3])<<24 |
			uint64(key[4])<<32 | uint64(key[5])<<40 | uint64(key[6])<<48 | uint64(key[7])<<56
		h = hashMix(h ^ w)
		key = key[8:]
	}
	// the last 0 to 7 bytes, read whole: two overlapping words of four, or three bytes
	var w uint64
	switch n := len(key); {
	case n >= 4:
		w = uint64(le32(key)) | uint64(le32(key[n-4:]))<<32
	case n > 0:
		w = uint64(key[0]) | uint64(key[n>>1])<<8 | uint64(key[n-1])<<16
	}
	// The low bits pick the slot: marking the hash as not 0 in the lowest one would leave
	// every even slot without keys of its own.
	return hashMix(h^w) | 1<<63
}

func le32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

const (
	hashK1 = 0xa0761d6478bd642f
	hashK2 = 0xe7037ed1a0b428db
)

// hashMix folds the 128-bit product of x with a constant, whose high half depends on
// every bit of x.
func hashMix(x uint64) uint64 {
	hi, lo := bits.Mul64(x^hashK1, hashK2)
	return hi ^ lo
}

// get returns the transaction of key (nil if none) and the key's hash.
func (m *txTable) get(key string) (*txn, uint64) {
	h := m.hash(key)
	return m.find(h, key), h
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

// find returns the transaction of key, whose hash is h (nil if none).
func (m *txTable) find(h uint64, key string) *txn {
	if m.n == 0 {
		return nil
	}
	mask := uint64(len(m.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.h == 0 {
			return nil
		}
		if s.h == h && s.t.key == key {
			return s.t
		}
	}
}

// reset empties the table, keeping its memory.
func (m *txTable) reset() {
	clear(m.slots)
	m.n = 0
}

// finished remembers transactions by key after they left the buffer, so that late and
// re-sent events of them are recognized: at least per of them, the most recent. It has
// two generations, each an exact table behind a Bloom filter; once the newer holds per
// keys, the older is forgotten at once and starts again empty. Looking up a key that was
// never finished, which every new transaction does, reads one word of each filter
// (small enough to stay in cache) rather than a slot of a table of tens of thousands.
// Keys enter the newer table in batches: each insertion misses the cache, and a batch
// lets those misses overlap.
type finished struct {
	gens    [2]finGen
	cur     int // the generation added to
	per     int
	ticks   int      // transactions finished since the newer generation began
	n       int      // keys remembered
	words   int      // in a filter, made on the first add: often nothing is added
	pending []txSlot // in the newer generation's filter and order, not yet in its table
	sink    uint64
}

// finBatch is how many keys enter a table at once.
const finBatch = 32

type finGen struct {
	filter []uint64 // a Bloom filter with one word per key: four bits of it
	tab    txTable
	order  []*txn // as added, to hand back once forgotten
}

func newFinished(per int) *finished {
	words := 64
	for words < per/8 { // about 13 bits per key when full: ~1% false positives
		words *= 2
	}
	f := &finished{per: per, words: words}
	for i := range f.gens {
		f.gens[i] = finGen{tab: newTxTable(per)}
	}
	return f
}

// filterWord returns the index of h's word in a filter of n words, and h's bits in it.
func filterWord(h uint64, n int) (int, uint64) {
	return int(h>>40) & (n - 1), 1<<(h>>8&63) | 1<<(h>>14&63) | 1<<(h>>20&63) | 1<<(h>>26&63)
}

// tick counts a transaction finished and not added: generations last per transactions
// finished, whether they were added or not. When that forgets the older generation, it
// passes each of its transactions to forget.
func (f *finished) tick(forget func(*txn)) {
	f.ticks++
	if f.ticks >= f.per {
		f.roll(forget)
	}
}

// roll forgets the older generation and makes it the newer, empty.
func (f *finished) roll(forget func(*txn)) {
	f.flush()
	f.cur ^= 1
	f.ticks = 0
	g := &f.gens[f.cur]
	if len(g.order) == 0 {
		return
	}
	f.n -= len(g.order)
	for i, old := range g.order {
		forget(old)
		g.order[i] = nil
	}
	g.order = g.order[:0]
	clear(g.filter)
	g.tab.reset()
}

// add remembers t, whose key has hash h and is not remembered. When that forgets the
// older generation, it passes each of its transactions to forget.
func (f *finished) add(h uint64, t *txn, forget func(*txn)) {
	f.tick(forget)
	f.n++
	g := &f.gens[f.cur]
	if g.filter == nil {
		g.filter = make([]uint64, f.words)
	}
	i, bits := filterWord(h, len(g.filter))
	g.filter[i] |= bits
	g.order = append(g.order, t)
	f.pending = append(f.pending, txSlot{h, t})
	if len(f.pending) == finBatch {
		f.flush()
	}
}

// flush puts the pending keys in the newer generation's table: first it reads the slot
// each is likely to take, loads that do not wait on one another, then it puts them.
func (f *finished) flush() {
	if len(f.pending) == 0 {
		return
	}
	tab := &f.gens[f.cur].tab
	if n := len(tab.slots); n > 0 {
		var x uint64
		for _, p := range f.pending {
			x += tab.slots[p.h&uint64(n-1)].h
		}
		f.sink += x
	}
	for _, p := range f.pending {
		tab.put(p.h, p.t)
	}
	f.pending = f.pending[:0]
}

// get returns the remembered transaction of key, whose hash is h (nil if none).
func (f *finished) get(h uint64, key string) *txn {
	if f.n == 0 {
		return nil
	}
	for k := range f.gens {
		g := &f.gens[k]
		if g.filter == nil {
			continue
		}
		if i, bits := filterWord(h, len(g.filter)); g.filter[i]&bits == bits {
			if t := g.tab.find(h, key); t != nil {
				return t
			}
			if k == f.cur {
				for _, p := range f.pending {
					if p.h == h && p.t.key == key {
						return p.t
					}
				}
			}
		}
	}
	return nil
}
