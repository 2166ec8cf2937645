package reduce

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// A key column is normalized to int64 words (every integer width, booleans, dates,
// times and timestamps to one word, floats to the bits of a canonical float64, decimals
// to two words) or to a byte string (string and binary), so that one compare loop per
// word serves every key type, and equal keys of different widths (int32 and int64)
// compare and hash equal.
type keyKind uint8

const (
	kindWord keyKind = iota
	kindFloat
	kindDecimal
	kindBytes
)

// keyPart is where one key column lives in the normalized layout.
type keyPart struct {
	kind keyKind
	word int // first word (kindWord, kindFloat: one; kindDecimal: two)
	str  int // string slot (kindBytes)
}

// keyLayout is the normalized layout of a (multi-column) key.
type keyLayout struct {
	parts []keyPart
	words int
	strs  int
}

// keyClass names the values a key column of type t holds, for checking that the two
// sides of a join compare like with like. Integers of every width are one class
// (uint64 apart: its upper half is not an int64); decimals must agree on scale, times
// and timestamps on unit.
func keyClass(t arrow.DataType) (string, keyKind) {
	switch t := t.(type) {
	case *arrow.Decimal128Type:
		return fmt.Sprintf("decimal(scale %d)", t.Scale), kindDecimal
	case *arrow.Time32Type:
		return "time " + t.Unit.String(), kindWord
	case *arrow.Time64Type:
		return "time " + t.Unit.String(), kindWord
	case *arrow.TimestampType:
		return "timestamp " + t.Unit.String(), kindWord
	}
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32:
		return "integer", kindWord
	case arrow.UINT64:
		return "uint64", kindWord
	case arrow.FLOAT32, arrow.FLOAT64:
		return "float", kindFloat
	case arrow.STRING, arrow.BINARY:
		return "string/binary", kindBytes
	case arrow.BOOL:
		return "bool", kindWord
	case arrow.DATE32:
		return "date", kindWord
	}
	return t.String(), kindWord
}

// newKeyLayout returns the layout of keys whose columns have the given kinds.
func newKeyLayout(kinds []keyKind) *keyLayout {
	l := &keyLayout{parts: make([]keyPart, len(kinds))}
	for i, k := range kinds {
		l.parts[i] = keyPart{kind: k, word: l.words, str: l.strs}
		switch k {
		case kindBytes:
			l.strs++
		case kindDecimal:
			l.words += 2
		default:
			l.words++
		}
	}
	return l
}

// byteCol is a string or binary key column of a batch: Arrow offsets and data.
type byteCol struct {
	offs []int32
	data []byte
}

func byteColOf(a arrow.Array) byteCol {
	c := byteCol{offs: arrow.GetOffsets[int32](a.Data(), 1)}
	if buf := a.Data().Buffers()[2]; buf != nil {
		c.data = buf.Bytes()
	}
	return c
}

func (c byteCol) at(r int) []byte { return c.data[c.offs[r]:c.offs[r+1]] }

// batchKeys holds the normalized key columns of one batch and their hashes. Word
// columns of 8-byte integer types point into the batch's memory (valid while it
// lives); the others are converted into buffers reused from batch to batch.
type batchKeys struct {
	layout *keyLayout
	n      int
	words  [][]int64
	bufs   [][]int64
	strs   []byteCol
	null   []bool // row has a NULL key column; nil when no row has
	nulls  []bool // buffer behind null
	hash   []uint64
	acct   account

	// scratch of keyTable.lookup, here rather than in the table so that goroutines
	// can probe one table at once, each with its own batchKeys
	pos []uint64
	sel []int32
	// rows looked up through a Bloom filter, and found
	probed, found int
}

func newBatchKeys(l *keyLayout, budget *change.Budget) *batchKeys {
	return &batchKeys{
		layout: l, words: make([][]int64, l.words), bufs: make([][]int64, l.words),
		strs: make([]byteCol, l.strs), acct: account{budget: budget},
	}
}

// loadColumn normalizes the n values of a, key part p, into k's words or strings.
func (k *batchKeys) loadColumn(a arrow.Array, p keyPart, n int) {
	switch p.kind {
	case kindWord:
		k.words[p.word] = k.intWords(a, p.word, n)
	case kindFloat:
		k.words[p.word] = k.floatWords(a, p.word, n)
	case kindDecimal:
		lo, hi := k.buf(p.word, n), k.buf(p.word+1, n)
		for r, v := range arrow.GetValues[decimal128.Num](a.Data(), 1) {
			lo[r], hi[r] = int64(v.LowBits()), v.HighBits()
		}
		k.words[p.word], k.words[p.word+1] = lo, hi
	case kindBytes:
		k.strs[p.str] = byteColOf(a)
	}
}

// load normalizes the key columns cols of b and hashes them.
func (k *batchKeys) load(b *change.Batch, cols []int) {
	n := b.Len()
	k.n = n
	k.null = nil
	for i, c := range cols {
		a := b.Column(c)
		if a.NullN() > 0 {
			k.markNulls(a, n)
		}
		k.loadColumn(a, k.layout.parts[i], n)
	}
	k.hashKeys(b, cols)
	k.count()
}

func (k *batchKeys) count() {
	k.acct.set(int64(cap(k.nulls)) + 8*int64(cap(k.hash)) + 8*int64(cap(k.pos)) + 4*int64(cap(k.sel)) + k.bufBytes())
}

func (k *batchKeys) bufBytes() int64 {
	var n int64
	for _, b := range k.bufs {
		n += 8 * int64(cap(b))
	}
	return n
}

// buf returns the reusable buffer of word w, n long.
func (k *batchKeys) buf(w, n int) []int64 {
	if cap(k.bufs[w]) < n {
		k.bufs[w] = make([]int64, n, max(n, 2*cap(k.bufs[w])))
	}
	return k.bufs[w][:n]
}

func (k *batchKeys) markNulls(a arrow.Array, n int) {
	if k.null == nil {
		if cap(k.nulls) < n {
			k.nulls = make([]bool, n, max(n, 2*cap(k.nulls)))
		}
		k.null = k.nulls[:n]
		clear(k.null)
	}
	bm, off := a.NullBitmapBytes(), a.Data().Offset()
	for r := range n {
		if bitutil.BitIsNotSet(bm, off+r) {
			k.null[r] = true
		}
	}
}

// intWords returns the integer-like column a as int64 words.
func (k *batchKeys) intWords(a arrow.Array, w, n int) []int64 {
	switch a.DataType().ID() {
	case arrow.INT64, arrow.UINT64, arrow.TIME64, arrow.TIMESTAMP:
		return arrow.GetValues[int64](a.Data(), 1)
	}
	out := k.buf(w, n)
	switch a := a.(type) {
	case *array.Int32:
		widen(out, a.Int32Values())
	case *array.Date32:
		widen(out, arrow.GetValues[int32](a.Data(), 1))
	case *array.Time32:
		widen(out, arrow.GetValues[int32](a.Data(), 1))
	case *array.Int16:
		widen(out, a.Int16Values())
	case *array.Int8:
		widen(out, a.Int8Values())
	case *array.Uint32:
		widen(out, a.Uint32Values())
	case *array.Uint16:
		widen(out, a.Uint16Values())
	case *array.Uint8:
		widen(out, a.Uint8Values())
	case *array.Boolean:
		for r := range out {
			out[r] = 0
			if a.Value(r) {
				out[r] = 1
			}
		}
	default:
		panic(fmt.Sprintf("reduce: key column of type %s", a.DataType())) // newJoinSpec checks types
	}
	return out
}

func widen[T int8 | int16 | int32 | uint8 | uint16 | uint32](out []int64, in []T) {
	for r, v := range in {
		out[r] = int64(v)
	}
}

// canonicalNaN is the one NaN all NaNs hash and compare as.
const canonicalNaN = 0x7ff8000000000000

// floatWords returns the float column a as the bits of canonical float64s: -0 is 0 and
// every NaN is one NaN, so that keys equal as SQL compares them for grouping and
// joining (PostgreSQL: NaN = NaN) have equal bits.
func (k *batchKeys) floatWords(a arrow.Array, w, n int) []int64 {
	out := k.buf(w, n)
	canon := func(f float64) int64 {
		switch {
		case f == 0:
			return 0
		case f != f:
			return canonicalNaN
		}
		return int64(math.Float64bits(f))
	}
	switch a := a.(type) {
	case *array.Float64:
		for r, f := range a.Float64Values() {
			out[r] = canon(f)
		}
	case *array.Float32:
		for r, f := range a.Float32Values() {
			out[r] = canon(float64(f))
		}
	}
	return out
}

// avalanche is murmur3's finalizer: every bit of the result depends on every bit of
// h. It remixes key hashes with a seed for grace partitions.
func avalanche(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// hashKeys hashes the normalized keys (k.words and k.strs, loaded from the key columns
// cols of b), so that keys the table finds equal hash alike: integers of every width
// as int64, canonical floats, string and binary alike. Keys of words only are mixed
// word by word, a column at a time, without a call per row; keys with a string are
// hashed by shuffle.HashKeys over the columns. The table takes slots from the low bits
// and tags from the high ones; these hashes never leave the process.
func (k *batchKeys) hashKeys(b *change.Batch, cols []int) {
	if cap(k.hash) < k.n {
		k.hash = make([]uint64, k.n, max(k.n, 2*cap(k.hash)))
	}
	k.hash = k.hash[:k.n]
	if len(k.strs) > 0 {
		shuffle.HashKeys(b, cols, k.hash)
		return
	}
	hashWords(k.words, k.hash)
}

// hashWords hashes rows of int64 words: each word folded in by a round of xxHash64,
// the result finished by avalanche, so that every bit depends on every key bit. The
// first word starts the hashes and the last finishes them in the same pass.
func hashWords(words [][]int64, h []uint64) {
	const p1, p2 = 0x9e3779b185ebca87, 0xc2b2ae3d27d4eb4f
	last := len(words) - 1
	if last < 0 { // no key columns: one key
		clear(h)
		return
	}
	for i, w := range words[0][:len(h)] {
		x := bits.RotateLeft64(p1^uint64(w)*p2, 31) * p1
		if last == 0 {
			x = avalanche(x)
		}
		h[i] = x
	}
	for j := 1; j <= last; j++ {
		ws := words[j][:len(h)]
		if j < last {
			for i, w := range ws {
				h[i] = bits.RotateLeft64(h[i]^uint64(w)*p2, 31) * p1
			}
			continue
		}
		for i, w := range ws {
			h[i] = avalanche(bits.RotateLeft64(h[i]^uint64(w)*p2, 31) * p1)
		}
	}
}

// release gives back what the buffers counted.
func (k *batchKeys) release() {
	k.bufs = make([][]int64, len(k.bufs))
	k.hash, k.nulls, k.null, k.pos, k.sel = nil, nil, nil, nil, nil
	k.acct.set(0)
}

// account keeps the budget's count of a structure's Go-heap bytes in step with it.
type account struct {
	budget *change.Budget
	n      int64
}

// set makes the count n bytes.
func (a *account) set(n int64) {
	if a.budget != nil && n != a.n {
		a.budget.Reserve(n - a.n)
	}
	a.n = n
}

// keyTable is a flat open-addressing hash table of distinct keys, numbered 0, 1, ...
// (groups) in insertion order. A slot is 8 bytes: the upper 32 bits of the key's hash
// as a tag, and the group plus one (0: empty); slots are probed linearly and kept at
// most half full, doubling as keys arrive. Keys are stored normalized, column by
// column, so a probe compares a whole batch one key word at a time; rows with a NULL in
// any key column are neither inserted nor found. A key of one word (any single key
// column but a string or a decimal) is also kept in the slot, after its tag, so that a
// probe touches one cache line, not two. Its memory is counted in the budget.
type keyTable struct {
	layout *keyLayout
	slots  []uint64 // stride words per slot
	stride uint64   // 2 when the key word is inline, else 1
	mask   uint64
	hashes []uint64  // per group
	words  [][]int64 // per key word, per group
	arena  [][]byte  // per string column: the strings of all groups, back to back
	ends   [][]int64 // per string column, per group: where its string ends in arena
	// bloom, when set (seal), is a blocked Bloom filter of the keys: a probe that misses
	// it skips the slots, which for a large table are not in cache. nil while keys are
	// inserted.
	bloom []uint64
	acct  account
}

// bloomMinBytes is the size of slots from which a sealed table keeps a Bloom filter.
const bloomMinBytes = 1 << 18

// bloomBits returns the block (of blocks) and the two bits that hash h sets.
func bloomBits(h uint64, blocks int) (int, uint64) {
	return int((h * 0x9e3779b97f4a7c15 >> 32) * uint64(blocks) >> 32), 1<<(h>>32&63) | 1<<(h>>38&63)
}

// seal marks the table complete: no key is inserted until the next insert, which drops
// what seal built. A large table builds its Bloom filter, about 8 bits a key.
func (t *keyTable) seal() {
	t.bloom = nil
	if 8*len(t.slots) < bloomMinBytes {
		return
	}
	t.bloom = make([]uint64, max(len(t.hashes)/8, 1))
	for _, h := range t.hashes {
		b, m := bloomBits(h, len(t.bloom))
		t.bloom[b] |= m
	}
	t.count()
}

// useBloom reports whether a lookup of k checks the Bloom filter first: while the
// table has one and most of k's probes so far missed.
func (t *keyTable) useBloom(k *batchKeys) bool {
	return t.bloom != nil && (k.probed < 1<<14 || 2*k.found < k.probed)
}

const minSlots = 64

func newKeyTable(l *keyLayout, budget *change.Budget) *keyTable {
	t := &keyTable{
		layout: l, words: make([][]int64, l.words), arena: make([][]byte, l.strs),
		ends: make([][]int64, l.strs), acct: account{budget: budget},
	}
	t.stride = 1
	if l.words == 1 && l.strs == 0 {
		t.stride = 2
	}
	t.slots = make([]uint64, minSlots*t.stride)
	t.mask = minSlots - 1
	t.count()
	return t
}

// numSlots returns the number of slots.
func (t *keyTable) numSlots() int { return len(t.slots) / int(max(t.stride, 1)) }

// Len returns the number of distinct keys.
func (t *keyTable) Len() int { return len(t.hashes) }

// bytes returns the table's Go-heap bytes.
func (t *keyTable) bytes() int64 {
	n := 8*int64(cap(t.slots)) + 8*int64(cap(t.hashes)) + 8*int64(cap(t.bloom))
	for _, w := range t.words {
		n += 8 * int64(cap(w))
	}
	for i := range t.arena {
		n += int64(cap(t.arena[i])) + 8*int64(cap(t.ends[i]))
	}
	return n
}

func (t *keyTable) count() { t.acct.set(t.bytes()) }

// bytesAfter bounds the table's bytes after inserting rows more rows holding strBytes
// bytes of key strings, as if every row were a new key.
func (t *keyTable) bytesAfter(rows int, strBytes int64) int64 {
	groups := len(t.hashes) + rows
	slots := max(t.numSlots(), minSlots)
	for groups*2 > slots {
		slots *= 2
	}
	if t.layout.words == 1 && t.layout.strs == 0 {
		slots *= 2 // the inline key word
	}
	gcap := max(cap(t.hashes), 1)
	for gcap < groups {
		gcap *= 2
	}
	n := 8*int64(slots) + 8*int64(gcap)*int64(1+len(t.words))
	for i := range t.arena {
		acap := max(int64(cap(t.arena[i])), 1)
		for acap < int64(len(t.arena[i]))+strBytes {
			acap *= 2
		}
		n += acap + 8*int64(gcap)
	}
	return n
}

// insert finds or adds the key of every row of k, writing its group to groups[r]
// (-1 for a row with a NULL key).
func (t *keyTable) insert(k *batchKeys, groups []int32) {
	t.bloom = nil
	if t.stride == 2 {
		t.insertInline(k, groups)
		return
	}
	for r := 0; r < k.n; r++ {
		if k.null != nil && k.null[r] {
			groups[r] = -1
			continue
		}
		h := k.hash[r]
		tag := h >> 32
		p := h & t.mask
		for {
			e := t.slots[p]
			if e == 0 {
				g := t.add(k, r, h)
				t.slots[p] = tag<<32 | uint64(g+1)
				groups[r] = int32(g)
				if 2*len(t.hashes) > t.numSlots() {
					t.grow()
				}
				break
			}
			if e>>32 == tag && t.equal(int(e&math.MaxUint32)-1, k, r) {
				groups[r] = int32(e&math.MaxUint32) - 1
				break
			}
			p = (p + 1) & t.mask
		}
	}
	t.count()
}

// insertInline is insert for keys of one word, kept in the slots.
func (t *keyTable) insertInline(k *batchKeys, groups []int32) {
	kw := k.words[0]
	for r := 0; r < k.n; r++ {
		if k.null != nil && k.null[r] {
			groups[r] = -1
			continue
		}
		h := k.hash[r]
		tag := h >> 32
		p := h & t.mask
		for {
			e := t.slots[2*p]
			if e == 0 {
				// t.add, inlined for the one word
				g := len(t.hashes)
				if g == cap(t.hashes) {
					t.growGroups(max(2*g, 16))
				}
				t.hashes = append(t.hashes, h)
				t.words[0] = append(t.words[0], kw[r])
				t.slots[2*p], t.slots[2*p+1] = tag<<32|uint64(g+1), uint64(kw[r])
				groups[r] = int32(g)
				if 2*len(t.hashes) > t.numSlots() {
					t.grow()
				}
				break
			}
			if e>>32 == tag && int64(t.slots[2*p+1]) == kw[r] {
				groups[r] = int32(e&math.MaxUint32) - 1
				break
			}
			p = (p + 1) & t.mask
		}
	}
	t.count()
}

// reserve sizes the table for n keys, so that inserting them does not grow it.
func (t *keyTable) reserve(n int) {
	if n > cap(t.hashes) {
		t.growGroups(n)
	}
	slots := t.numSlots()
	for 2*n > slots {
		slots *= 2
	}
	if slots > t.numSlots() {
		t.rehash(slots)
	}
	t.count()
}

// add appends row r's key as a new group.
func (t *keyTable) add(k *batchKeys, r int, h uint64) int {
	g := len(t.hashes)
	if g == cap(t.hashes) {
		t.growGroups(max(2*g, 16))
	}
	t.hashes = append(t.hashes, h)
	for w := range t.words {
		t.words[w] = append(t.words[w], k.words[w][r])
	}
	for s := range t.arena {
		b := k.strs[s].at(r)
		if len(t.arena[s])+len(b) > cap(t.arena[s]) {
			a := make([]byte, len(t.arena[s]), max(2*cap(t.arena[s]), len(t.arena[s])+len(b), 256))
			copy(a, t.arena[s])
			t.arena[s] = a
		}
		t.arena[s] = append(t.arena[s], b...)
		t.ends[s] = append(t.ends[s], int64(len(t.arena[s])))
	}
	return g
}

// growGroups doubles the per-group arrays together, so growth is by doubling and
// bytesAfter can predict it.
func (t *keyTable) growGroups(c int) {
	t.hashes = regrow(&uint64Slabs, t.hashes, c)
	for w := range t.words {
		t.words[w] = regrow(&int64Slabs, t.words[w], c)
	}
	for s := range t.ends {
		t.ends[s] = grown(t.ends[s], c)
	}
}

func grown[T any](s []T, c int) []T {
	out := make([]T, len(s), c)
	copy(out, s)
	return out
}

// grow doubles the slots.
func (t *keyTable) grow() { t.rehash(2 * t.numSlots()) }

// rehash re-places every group by its stored hash into n slots.
func (t *keyTable) rehash(n int) {
	slots := uint64Slabs.get(n * int(t.stride))[:n*int(t.stride)]
	clear(slots)
	mask := uint64(n - 1)
	for g, h := range t.hashes {
		p := h & mask
		for slots[p*t.stride] != 0 {
			p = (p + 1) & mask
		}
		slots[p*t.stride] = h>>32<<32 | uint64(g+1)
		if t.stride == 2 {
			slots[2*p+1] = uint64(t.words[0][g])
		}
	}
	uint64Slabs.put(t.slots)
	t.slots, t.mask = slots, mask
}

// str returns group g's string of string column s.
func (t *keyTable) str(s, g int) []byte {
	start := int64(0)
	if g > 0 {
		start = t.ends[s][g-1]
	}
	return t.arena[s][start:t.ends[s][g]]
}

// equal reports whether group g's key is row r's.
func (t *keyTable) equal(g int, k *batchKeys, r int) bool {
	for w, ws := range t.words {
		if ws[g] != k.words[w][r] {
			return false
		}
	}
	for s := range t.arena {
		if string(t.str(s, g)) != string(k.strs[s].at(r)) {
			return false
		}
	}
	return true
}

// lookup writes the group of every row of k to groups[r], -1 when the key is absent or
// has a NULL. It works a batch at a time: first every row walks the slots to its first
// tag match, then the candidates are compared one key word (or string) at a time for
// the whole batch, and only rows whose candidate differed walk on. It only reads the
// table (its scratch is k's), so goroutines may look up in one table at once.
func (t *keyTable) lookup(k *batchKeys, groups []int32) {
	if t.stride == 2 {
		t.lookupInline(k, groups)
		return
	}
	n := k.n
	if cap(k.pos) < n {
		k.pos = make([]uint64, n, max(n, 2*cap(k.pos)))
		k.sel = make([]int32, n, max(n, 2*cap(k.sel)))
		k.count()
	}
	pos, sel := k.pos[:n], k.sel[:0]
	bloom := t.useBloom(k)
	for r := range n {
		if k.null != nil && k.null[r] {
			groups[r] = -1
			continue
		}
		if bloom {
			if b, m := bloomBits(k.hash[r], len(t.bloom)); t.bloom[b]&m != m {
				groups[r] = -1
				continue
			}
		}
		pos[r] = k.hash[r] & t.mask
		sel = append(sel, int32(r))
	}
	if bloom {
		defer k.countFound(groups[:n])
	}
	slots, mask := t.slots, t.mask
	for len(sel) > 0 {
		cand := sel[:0]
		for _, r := range sel {
			tag := k.hash[r] >> 32
			p := pos[r]
			for {
				e := slots[p]
				if e == 0 {
					groups[r] = -1
					break
				}
				if e>>32 == tag {
					groups[r] = int32(e&math.MaxUint32) - 1
					pos[r] = p
					cand = append(cand, r)
					break
				}
				p = (p + 1) & mask
			}
		}
		for w, ws := range t.words {
			kw := k.words[w]
			for _, r := range cand {
				if g := groups[r]; g >= 0 && ws[g] != kw[r] {
					groups[r] = -2
				}
			}
		}
		for s := range t.arena {
			for _, r := range cand {
				if g := groups[r]; g >= 0 && string(t.str(s, int(g))) != string(k.strs[s].at(int(r))) {
					groups[r] = -2
				}
			}
		}
		sel = cand[:0]
		for _, r := range cand {
			if groups[r] == -2 {
				pos[r] = (pos[r] + 1) & mask
				sel = append(sel, r)
			}
		}
	}
}

// lookupInline is lookup for keys of one word, kept in the slots: a row's walk
// compares the key where it finds the tag, so there is no second pass.
func (t *keyTable) lookupInline(k *batchKeys, groups []int32) {
	slots, mask, kw := t.slots, t.mask, k.words[0]
	bloom := t.bloom
	if !t.useBloom(k) {
		bloom = nil
	} else {
		defer k.countFound(groups[:k.n])
	}
	for r := range k.n {
		if k.null != nil && k.null[r] {
			groups[r] = -1
			continue
		}
		h := k.hash[r]
		if bloom != nil {
			if b, m := bloomBits(h, len(bloom)); bloom[b]&m != m {
				groups[r] = -1
				continue
			}
		}
		tag, p := h>>32, h&mask
		for {
			e := slots[2*p]
			if e == 0 {
				groups[r] = -1
				break
			}
			if e>>32 == tag && int64(slots[2*p+1]) == kw[r] {
				groups[r] = int32(e&math.MaxUint32) - 1
				break
			}
			p = (p + 1) & mask
		}
	}
}

// countFound adds a lookup's rows and those found to k's count.
func (k *batchKeys) countFound(groups []int32) {
	k.probed += len(groups)
	for _, g := range groups {
		if g >= 0 {
			k.found++
		}
	}
}

// release frees the table and gives its bytes back to the budget.
func (t *keyTable) release() {
	uint64Slabs.put(t.slots)
	uint64Slabs.put(t.hashes)
	for _, w := range t.words {
		int64Slabs.put(w)
	}
	*t = keyTable{layout: t.layout, acct: t.acct}
	t.acct.set(0)
}
