package state

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/google/btree"
)

// MemoryConfig configures NewMemory; its zero value works.
type MemoryConfig struct {
	Config
}

// Validate reports whether the configuration is usable.
func (c MemoryConfig) Validate() error { return c.Config.Validate() }

// Memory is the in-memory Backend: one copy-on-write B-tree per namespace (so a
// checkpoint clones them in O(namespaces) under the lock and writes the clones out
// while writers go on) and an index of entries by expiry, from which Sweep
// removes the expired ones without scanning the rest. Stored bytes are immutable:
// Put stores copies, so iterators hand out stored slices without copying.
type Memory struct {
	cfg MemoryConfig

	mu     sync.RWMutex
	closed bool
	ns     map[string]*memNS
	exp    *btree.BTreeG[expItem] // entries with an expiry, by (exp, ns, key)

	sweeper *sweeper
}

type memItem struct {
	// pre is the key's first 8 bytes, big-endian, zero-padded: most comparisons
	// end on it without following the key pointer (a cache miss per node level).
	pre      uint64
	key, val []byte
	exp      int64 // Unix ns, 0: none
}

func keyPrefix(k []byte) uint64 {
	if len(k) >= 8 {
		return binary.BigEndian.Uint64(k)
	}
	var b [8]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:])
}

func probe(k []byte) memItem { return memItem{pre: keyPrefix(k), key: k} }

type expItem struct {
	exp int64
	ns  string
	key []byte
}

type memNS struct {
	tree        *btree.BTreeG[memItem]
	keys, bytes int64
}

const memDegree = 32

func lessMem(a, b memItem) bool {
	if a.pre != b.pre {
		return a.pre < b.pre
	}
	return bytes.Compare(a.key, b.key) < 0
}

func lessExp(a, b expItem) bool {
	if a.exp != b.exp {
		return a.exp < b.exp
	}
	if a.ns != b.ns {
		return a.ns < b.ns
	}
	return bytes.Compare(a.key, b.key) < 0
}

// NewMemory returns an empty in-memory backend.
func NewMemory(cfg MemoryConfig) (*Memory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.ensureDefaults()
	m := &Memory{cfg: cfg, ns: map[string]*memNS{}, exp: btree.NewG(memDegree, lessExp)}
	m.sweeper = startSweeper(cfg.SweepInterval, func(ctx context.Context) {
		if _, err := m.Sweep(ctx); err != nil && err != ErrClosed {
			m.cfg.Logger.Error("state: sweep failed", "backend", m.cfg.Name, "err", err)
		}
	})
	return m, nil
}

// Get implements Backend.
func (m *Memory) Get(ns string, key, dst []byte) ([]byte, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return dst, false, ErrClosed
	}
	t := m.ns[ns]
	if t == nil {
		return dst, false, checkNS(ns)
	}
	it, ok := t.tree.Get(probe(key))
	if !ok || (it.exp != 0 && expired(it.exp, m.cfg.Now().UnixNano())) {
		return dst, false, nil
	}
	return append(dst, it.val...), true, nil
}

// Put implements Backend.
func (m *Memory) Put(ns string, key, value []byte) error { return m.PutTTL(ns, key, value, 0) }

// PutTTL implements Backend.
func (m *Memory) PutTTL(ns string, key, value []byte, ttl time.Duration) error {
	if err := checkNS(ns); err != nil {
		return err
	}
	exp := expiry(m.cfg.Now, ttl)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.put(ns, key, value, exp)
	return nil
}

// put stores copies of key and value; one allocation holds both.
func (m *Memory) put(ns string, key, value []byte, exp int64) {
	t := m.ns[ns]
	if t == nil {
		t = &memNS{tree: btree.NewG(memDegree, lessMem)}
		m.ns[ns] = t
	}
	buf := make([]byte, len(key)+len(value))
	copy(buf, key)
	copy(buf[len(key):], value)
	it := memItem{key: buf[:len(key):len(key)], val: buf[len(key):], exp: exp, pre: keyPrefix(key)}
	old, replaced := t.tree.ReplaceOrInsert(it)
	if replaced {
		t.bytes -= int64(len(old.key) + len(old.val))
		if old.exp != 0 {
			m.exp.Delete(expItem{exp: old.exp, ns: ns, key: old.key})
		}
	} else {
		t.keys++
	}
	t.bytes += int64(len(buf))
	if exp != 0 {
		m.exp.ReplaceOrInsert(expItem{exp: exp, ns: ns, key: it.key})
	}
}

// Delete implements Backend.
func (m *Memory) Delete(ns string, key []byte) error {
	if err := checkNS(ns); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.del(ns, key)
	return nil
}

func (m *Memory) del(ns string, key []byte) {
	t := m.ns[ns]
	if t == nil {
		return
	}
	old, ok := t.tree.Delete(probe(key))
	if !ok {
		return
	}
	t.keys--
	t.bytes -= int64(len(old.key) + len(old.val))
	if old.exp != 0 {
		m.exp.Delete(expItem{exp: old.exp, ns: ns, key: old.key})
	}
	if t.keys == 0 {
		delete(m.ns, ns)
	}
}

// Apply implements Backend: the whole batch is applied under the write lock.
func (m *Memory) Apply(b *Batch) error {
	for i := range b.Len() {
		if len(b.Entry(i).Namespace) == 0 {
			return fmt.Errorf("%w: empty name in batch entry %d", ErrNamespace, i)
		}
	}
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for i := range b.Len() {
		e := b.Entry(i)
		switch e.Op {
		case OpPut:
			var exp int64
			if e.TTL > 0 {
				exp = now.Add(e.TTL).UnixNano()
			}
			m.put(string(e.Namespace), e.Key, e.Value, exp)
		case OpDelete:
			m.del(string(e.Namespace), e.Key)
		}
	}
	return nil
}

// Scan implements Backend.
func (m *Memory) Scan(ns string, start, end []byte) Iterator {
	it := &memIter{m: m, ns: ns, next: slices.Clone(start), end: slices.Clone(end), pos: -1}
	if it.next == nil {
		it.next = []byte{}
	}
	it.err = checkNS(ns)
	it.now = m.cfg.Now().UnixNano()
	return it
}

// ScanPrefix implements Backend.
func (m *Memory) ScanPrefix(ns string, prefix []byte) Iterator {
	if len(prefix) == 0 {
		return m.Scan(ns, nil, nil)
	}
	it := m.Scan(ns, prefix, nil).(*memIter)
	it.end = prefixEnd(prefix)
	return it
}

// memIter reads the tree in chunks under the read lock, resuming after the last
// key it saw, so writers are never blocked for long and iteration is safe while
// the tree changes.
type memIter struct {
	m        *Memory
	ns       string
	next     []byte // where the next chunk starts; nil: no more chunks
	end      []byte
	now      int64
	chunk    []memItem
	pos      int
	err      error
	closed   bool
	finished bool
}

const memChunk = 64

func (it *memIter) Next() bool {
	if it.err != nil || it.closed || it.finished {
		return false
	}
	it.pos++
	if it.pos < len(it.chunk) {
		return true
	}
	if it.next == nil {
		it.finished = true
		return false
	}
	it.fill()
	it.pos = 0
	if len(it.chunk) == 0 {
		it.finished = true
		return false
	}
	return true
}

func (it *memIter) fill() {
	it.chunk = it.chunk[:0]
	it.m.mu.RLock()
	defer it.m.mu.RUnlock()
	if it.m.closed {
		it.err = ErrClosed
		return
	}
	t := it.m.ns[it.ns]
	if t == nil {
		it.next = nil
		return
	}
	more := false
	visit := func(e memItem) bool {
		if len(it.chunk) == memChunk {
			more = true
			return false
		}
		if e.exp == 0 || !expired(e.exp, it.now) {
			it.chunk = append(it.chunk, e)
		}
		return true
	}
	if it.end != nil {
		t.tree.AscendRange(probe(it.next), probe(it.end), visit)
	} else {
		t.tree.AscendGreaterOrEqual(probe(it.next), visit)
	}
	if more && len(it.chunk) > 0 {
		last := it.chunk[len(it.chunk)-1].key
		it.next = append(append(it.next[:0:0], last...), 0) // the least key after last
	} else {
		it.next = nil
	}
}

func (it *memIter) Key() []byte   { return it.chunk[it.pos].key }
func (it *memIter) Value() []byte { return it.chunk[it.pos].val }
func (it *memIter) Err() error    { return it.err }
func (it *memIter) Close() error {
	it.closed = true
	it.chunk = nil
	return nil
}

// Sweep implements Backend: it pops expired entries off the expiry index.
func (m *Memory) Sweep(ctx context.Context) (int, error) {
	removed := 0
	for {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		now := m.cfg.Now().UnixNano()
		n, more, err := m.sweepSome(now, 4096)
		removed += n
		if err != nil {
			return removed, err
		}
		if !more {
			break
		}
	}
	// Sizes first: whoever sees the expired count grow sees the sizes after the sweep.
	_, err := m.Stats(ctx)
	m.cfg.Metrics.swept(m.cfg.Name, removed)
	return removed, err
}

func (m *Memory) sweepSome(now int64, limit int) (n int, more bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, false, ErrClosed
	}
	for n < limit {
		e, ok := m.exp.Min()
		if !ok || !expired(e.exp, now) {
			return n, false, nil
		}
		m.del(e.ns, e.key) // removes e from the index too
		n++
	}
	return n, true, nil
}

// Stats implements Backend; it is O(namespaces).
func (m *Memory) Stats(ctx context.Context) ([]NamespaceStats, error) {
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return nil, ErrClosed
	}
	out := make([]NamespaceStats, 0, len(m.ns))
	for name, t := range m.ns {
		out = append(out, NamespaceStats{Namespace: name, Keys: t.keys, Bytes: t.bytes})
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b NamespaceStats) int { return cmpString(a.Namespace, b.Namespace) })
	m.cfg.Metrics.observe(m.cfg.Name, out)
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// The memory checkpoint is one file: a magic, then records (uvarint namespace
// length, namespace, uvarint key length, key, uvarint value length, value, varint
// expiry), then a zero namespace length, the record count (8 bytes) and a CRC-32C
// of everything before it (4 bytes), all little-endian.
const (
	memFile  = "state.mem"
	memMagic = "STRATA-STATE-MEM-1\n"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checkpoint implements Backend: the trees are cloned (copy-on-write) under the
// lock, so the snapshot is consistent, and written out after it is released.
func (m *Memory) Checkpoint(ctx context.Context, dir string) error {
	type snap struct {
		name string
		tree *btree.BTreeG[memItem]
	}
	m.mu.Lock() // Clone must not run concurrently with itself.
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	snaps := make([]snap, 0, len(m.ns))
	for name, t := range m.ns {
		snaps = append(snaps, snap{name, t.tree.Clone()})
	}
	m.mu.Unlock()
	now := m.cfg.Now().UnixNano()
	slices.SortFunc(snaps, func(a, b snap) int { return cmpString(a.name, b.name) })
	return publishDir(dir, func(tmp string) error {
		if err := os.Mkdir(tmp, 0o755); err != nil {
			return fmt.Errorf("state: checkpoint %s: %w", dir, err)
		}
		f, err := os.Create(filepath.Join(tmp, memFile))
		if err != nil {
			return fmt.Errorf("state: checkpoint %s: %w", dir, err)
		}
		defer f.Close()
		crc := crc32.New(castagnoli)
		w := bufio.NewWriterSize(f, 1<<16)
		out := func(p []byte) { _, _ = w.Write(p); _, _ = crc.Write(p) }
		var hdr [3 * binary.MaxVarintLen64]byte
		out([]byte(memMagic))
		var count uint64
		for _, s := range snaps {
			if err := ctx.Err(); err != nil {
				return err
			}
			s.tree.Ascend(func(e memItem) bool {
				if e.exp != 0 && expired(e.exp, now) {
					return true
				}
				h := binary.AppendUvarint(hdr[:0], uint64(len(s.name)))
				out(h)
				out([]byte(s.name))
				out(binary.AppendUvarint(hdr[:0], uint64(len(e.key))))
				out(e.key)
				out(binary.AppendUvarint(hdr[:0], uint64(len(e.val))))
				out(e.val)
				out(binary.AppendVarint(hdr[:0], e.exp))
				count++
				return true
			})
		}
		out([]byte{0})
		out(binary.LittleEndian.AppendUint64(hdr[:0], count))
		_, _ = w.Write(binary.LittleEndian.AppendUint32(hdr[:0], crc.Sum32()))
		if err := w.Flush(); err != nil {
			return fmt.Errorf("state: checkpoint %s: %w", dir, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("state: checkpoint %s: %w", dir, err)
		}
		return f.Close()
	})
}

// Restore implements Backend.
func (m *Memory) Restore(ctx context.Context, dir string) error {
	path := filepath.Join(dir, memFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("state: restore %s: %w", dir, err)
	}
	corrupt := func(what string) error { return fmt.Errorf("%w: %s: %s", ErrCorrupt, path, what) }
	if len(data) < len(memMagic)+13 || string(data[:len(memMagic)]) != memMagic {
		return corrupt("bad header")
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return corrupt("checksum mismatch")
	}
	fresh := &Memory{ns: map[string]*memNS{}, exp: btree.NewG(memDegree, lessExp)}
	p := body[len(memMagic):]
	field := func() ([]byte, bool) {
		n, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n {
			return nil, false
		}
		f := p[k : k+int(n)]
		p = p[k+int(n):]
		return f, true
	}
	var count uint64
	for {
		if len(p) > 0 && p[0] == 0 {
			p = p[1:]
			break
		}
		ns, ok1 := field()
		key, ok2 := field()
		val, ok3 := field()
		if !ok1 || !ok2 || !ok3 {
			return corrupt(fmt.Sprintf("record %d truncated", count))
		}
		exp, k := binary.Varint(p)
		if k <= 0 {
			return corrupt(fmt.Sprintf("record %d truncated", count))
		}
		p = p[k:]
		fresh.put(string(ns), key, val, exp)
		count++
		if count%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	if len(p) != 8 || binary.LittleEndian.Uint64(p) != count {
		return corrupt("record count mismatch")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.ns, m.exp = fresh.ns, fresh.exp
	return nil
}

// Close implements Backend.
func (m *Memory) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.ns, m.exp = nil, nil
	m.mu.Unlock()
	m.sweeper.close()
	return nil
}
