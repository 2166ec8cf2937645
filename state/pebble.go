package state

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// PebbleConfig configures OpenPebble. Dir is required; the rest defaults.
type PebbleConfig struct {
	Config
	// Dir is the database directory (created if missing).
	Dir string
	// CacheSize is the block cache in bytes (default 64 MiB). Pebble charges its
	// memtables to the same cache, so the cache is made 2 × MemTableSize larger:
	// otherwise memtables as large as the cache leave no room for blocks, and
	// every read goes to the files.
	CacheSize int64
	// BloomBitsPerKey sizes the bloom filters of every level (default 10, about
	// 1% false positives): most point reads of absent keys touch no block.
	BloomBitsPerKey int
	// MemTableSize is the size of one memtable in bytes (default 32 MiB).
	MemTableSize uint64
}

// Validate reports whether the configuration is usable.
func (c PebbleConfig) Validate() error {
	if c.Dir == "" {
		return errors.New("state: PebbleConfig.Dir is required")
	}
	if c.CacheSize < 0 || c.BloomBitsPerKey < 0 {
		return errors.New("state: PebbleConfig.CacheSize and BloomBitsPerKey must not be negative")
	}
	return c.Config.Validate()
}

func (c *PebbleConfig) ensureDefaults() {
	c.Config.ensureDefaults()
	if c.CacheSize == 0 {
		c.CacheSize = 64 << 20
	}
	if c.BloomBitsPerKey == 0 {
		c.BloomBitsPerKey = 10
	}
	if c.MemTableSize == 0 {
		c.MemTableSize = 32 << 20
	}
}

// Pebble is the persistent Backend on a Pebble database.
//
// A stored key is the namespace's length (uvarint), the namespace and the user's
// key, so namespaces are disjoint key ranges; a stored value is a one-byte header
// (0: no expiry; 1: followed by the expiry, 8 bytes big-endian Unix ns) and the
// user's value. Expired entries are skipped by reads at once and deleted by Sweep,
// a full scan that also refreshes the size figures (Pebble has no compaction filter
// to drop them while compacting). Writes are not synced one by one (the WAL is
// written, not fsynced): durability is what Checkpoint captures.
type Pebble struct {
	cfg PebbleConfig

	mu     sync.RWMutex // write-locked by Close and Restore, which replace db
	db     *pebble.DB
	closed bool
	// sweepMu is read-locked by writes and write-locked by a sweep's deletes.
	sweepMu sync.RWMutex

	sweeper *sweeper
	keyPool sync.Pool
}

// OpenPebble opens (or creates) the database in cfg.Dir.
func OpenPebble(cfg PebbleConfig) (*Pebble, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.ensureDefaults()
	p := &Pebble{cfg: cfg}
	db, err := p.open()
	if err != nil {
		return nil, err
	}
	p.db = db
	p.sweeper = startSweeper(cfg.SweepInterval, func(ctx context.Context) {
		if _, err := p.Sweep(ctx); err != nil && !errors.Is(err, ErrClosed) {
			p.cfg.Logger.Error("state: sweep failed", "backend", p.cfg.Name, "err", err)
		}
	})
	return p, nil
}

func (p *Pebble) open() (*pebble.DB, error) {
	// Pebble reserves cache space for the mutable and the flushing memtable.
	cache := pebble.NewCache(p.cfg.CacheSize + 2*int64(p.cfg.MemTableSize))
	defer cache.Unref() // the DB holds its own reference
	opts := &pebble.Options{
		Cache:        cache,
		MemTableSize: p.cfg.MemTableSize,
		Logger:       pebbleLogger{p.cfg.Logger.With("backend", p.cfg.Name)},
	}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(p.cfg.BloomBitsPerKey)
		opts.Levels[i].FilterType = pebble.TableFilter
	}
	db, err := pebble.Open(p.cfg.Dir, opts)
	if err != nil {
		return nil, fmt.Errorf("state: open pebble %s: %w", p.cfg.Dir, err)
	}
	return db, nil
}

// pebbleLogger routes Pebble's messages to slog: its chatty info lines at debug.
type pebbleLogger struct{ l *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	if l.l.Enabled(context.Background(), slog.LevelDebug) {
		l.l.Debug("pebble: " + fmt.Sprintf(format, args...))
	}
}
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.l.Error("pebble: " + fmt.Sprintf(format, args...))
}
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	l.l.Error(msg)
	panic(msg)
}

func nsPrefix(dst []byte, ns string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ns)))
	return append(dst, ns...)
}

// splitNS splits a stored key into namespace and user key.
func splitNS(k []byte) (ns, key []byte, ok bool) {
	n, w := binary.Uvarint(k)
	if w <= 0 || uint64(len(k)-w) < n {
		return nil, nil, false
	}
	return k[w : w+int(n)], k[w+int(n):], true
}

func (p *Pebble) keyBuf() *[]byte {
	if b, ok := p.keyPool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 128)
	return &b
}

const (
	hdrNone   = 0
	hdrExpiry = 1
)

// decodeValue returns the user value and expiry of a stored value.
func decodeValue(v []byte) (val []byte, exp int64, ok bool) {
	if len(v) == 0 {
		return nil, 0, false
	}
	switch v[0] {
	case hdrNone:
		return v[1:], 0, true
	case hdrExpiry:
		if len(v) < 9 {
			return nil, 0, false
		}
		return v[9:], int64(binary.BigEndian.Uint64(v[1:9])), true
	}
	return nil, 0, false
}

func encodeValue(dst, val []byte, exp int64) []byte {
	if exp == 0 {
		dst = append(dst, hdrNone)
	} else {
		dst = append(dst, hdrExpiry)
		dst = binary.BigEndian.AppendUint64(dst, uint64(exp))
	}
	return append(dst, val...)
}

// Get implements Backend.
func (p *Pebble) Get(ns string, key, dst []byte) ([]byte, bool, error) {
	if err := checkNS(ns); err != nil {
		return dst, false, err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return dst, false, ErrClosed
	}
	kb := p.keyBuf()
	k := append(nsPrefix((*kb)[:0], ns), key...)
	v, closer, err := p.db.Get(k)
	*kb = k
	p.keyPool.Put(kb)
	if errors.Is(err, pebble.ErrNotFound) {
		return dst, false, nil
	}
	if err != nil {
		return dst, false, fmt.Errorf("state: get %s: %w", ns, err)
	}
	defer closer.Close()
	val, exp, ok := decodeValue(v)
	if !ok {
		return dst, false, fmt.Errorf("%w: namespace %s: malformed stored value", ErrCorrupt, ns)
	}
	if exp != 0 && expired(exp, p.cfg.Now().UnixNano()) {
		return dst, false, nil
	}
	return append(dst, val...), true, nil
}

// Put implements Backend.
func (p *Pebble) Put(ns string, key, value []byte) error { return p.PutTTL(ns, key, value, 0) }

// PutTTL implements Backend.
func (p *Pebble) PutTTL(ns string, key, value []byte, ttl time.Duration) error {
	if err := checkNS(ns); err != nil {
		return err
	}
	exp := expiry(p.cfg.Now, ttl)
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	p.sweepMu.RLock()
	defer p.sweepMu.RUnlock()
	b := p.db.NewBatch()
	defer b.Close()
	kl := uvarintLen(len(ns)) + len(ns) + len(key)
	vl := 1 + len(value)
	if exp != 0 {
		vl += 8
	}
	op := b.SetDeferred(kl, vl) // sizes must be exact
	nsPrefix(op.Key[:0], ns)
	copy(op.Key[kl-len(key):], key)
	op.Value = encodeValue(op.Value[:0], value, exp)
	op.Finish()
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("state: put %s: %w", ns, err)
	}
	return nil
}

func uvarintLen(n int) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], uint64(n))
}

// Delete implements Backend.
func (p *Pebble) Delete(ns string, key []byte) error {
	if err := checkNS(ns); err != nil {
		return err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	p.sweepMu.RLock()
	defer p.sweepMu.RUnlock()
	kb := p.keyBuf()
	k := append(nsPrefix((*kb)[:0], ns), key...)
	err := p.db.Delete(k, pebble.NoSync)
	*kb = k
	p.keyPool.Put(kb)
	if err != nil {
		return fmt.Errorf("state: delete %s: %w", ns, err)
	}
	return nil
}

// Apply implements Backend with one Pebble batch, which Pebble applies atomically.
func (p *Pebble) Apply(b *Batch) error {
	for i := range b.Len() {
		if len(b.Entry(i).Namespace) == 0 {
			return fmt.Errorf("%w: empty name in batch entry %d", ErrNamespace, i)
		}
	}
	now := p.cfg.Now()
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	pb := p.db.NewBatch()
	defer pb.Close()
	var k, v []byte
	for i := range b.Len() {
		e := b.Entry(i)
		k = binary.AppendUvarint(k[:0], uint64(len(e.Namespace)))
		k = append(append(k, e.Namespace...), e.Key...)
		switch e.Op {
		case OpPut:
			var exp int64
			if e.TTL > 0 {
				exp = now.Add(e.TTL).UnixNano()
			}
			v = encodeValue(v[:0], e.Value, exp)
			_ = pb.Set(k, v, nil) // Set copies
		case OpDelete:
			_ = pb.Delete(k, nil)
		}
	}
	p.sweepMu.RLock()
	defer p.sweepMu.RUnlock()
	if err := pb.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("state: apply batch of %d: %w", b.Len(), err)
	}
	return nil
}

// Scan implements Backend.
func (p *Pebble) Scan(ns string, start, end []byte) Iterator {
	pre := nsPrefix(nil, ns)
	lo := append(slices.Clip(pre), start...)
	var hi []byte
	if end != nil {
		hi = append(slices.Clip(pre), end...)
	} else {
		hi = prefixEnd(pre)
	}
	return p.newIter(ns, len(pre), lo, hi)
}

// ScanPrefix implements Backend.
func (p *Pebble) ScanPrefix(ns string, prefix []byte) Iterator {
	pre := nsPrefix(nil, ns)
	lo := append(slices.Clip(pre), prefix...)
	return p.newIter(ns, len(pre), lo, prefixEnd(lo))
}

func (p *Pebble) newIter(ns string, strip int, lo, hi []byte) Iterator {
	it := &pebbleIter{strip: strip}
	if err := checkNS(ns); err != nil {
		it.err = err
		return it
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		it.err = ErrClosed
		return it
	}
	pi, err := p.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		it.err = fmt.Errorf("state: scan %s: %w", ns, err)
		return it
	}
	it.it, it.now, it.ns = pi, p.cfg.Now().UnixNano(), ns
	return it
}

// pebbleIter is a Pebble iterator over one namespace's key range that skips
// expired entries. Pebble iterators read a consistent point-in-time view.
type pebbleIter struct {
	it      *pebble.Iterator
	ns      string
	strip   int
	now     int64
	started bool
	val     []byte
	err     error
}

func (it *pebbleIter) Next() bool {
	if it.it == nil || it.err != nil {
		return false
	}
	for {
		var ok bool
		if !it.started {
			it.started = true
			ok = it.it.First()
		} else {
			ok = it.it.Next()
		}
		if !ok {
			if err := it.it.Error(); err != nil {
				it.err = fmt.Errorf("state: scan %s: %w", it.ns, err)
			}
			return false
		}
		raw, err := it.it.ValueAndErr()
		if err != nil {
			it.err = fmt.Errorf("state: scan %s: %w", it.ns, err)
			return false
		}
		val, exp, ok := decodeValue(raw)
		if !ok {
			it.err = fmt.Errorf("%w: namespace %s: malformed stored value", ErrCorrupt, it.ns)
			return false
		}
		if exp != 0 && expired(exp, it.now) {
			continue
		}
		it.val = val
		return true
	}
}

func (it *pebbleIter) Key() []byte   { return it.it.Key()[it.strip:] }
func (it *pebbleIter) Value() []byte { return it.val }
func (it *pebbleIter) Err() error    { return it.err }
func (it *pebbleIter) Close() error {
	if it.it == nil {
		return nil
	}
	err := it.it.Close()
	it.it = nil
	if err != nil && it.err == nil {
		it.err = fmt.Errorf("state: scan %s: %w", it.ns, err)
	}
	return err
}

// Sweep implements Backend: one scan of the whole database deletes expired
// entries (in batches) and refreshes the size figures.
func (p *Pebble) Sweep(ctx context.Context) (int, error) {
	stats, removed, err := p.scanAll(ctx, true)
	if err != nil {
		return removed, err
	}
	p.cfg.Metrics.observe(p.cfg.Name, stats) // sizes first, as in Memory.Sweep
	p.cfg.Metrics.swept(p.cfg.Name, removed)
	return removed, nil
}

// Stats implements Backend: a full scan, counting live entries only.
func (p *Pebble) Stats(ctx context.Context) ([]NamespaceStats, error) {
	stats, _, err := p.scanAll(ctx, false)
	if err != nil {
		return nil, err
	}
	p.cfg.Metrics.observe(p.cfg.Name, stats)
	return stats, nil
}

func (p *Pebble) scanAll(ctx context.Context, sweep bool) ([]NamespaceStats, int, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return nil, 0, ErrClosed
	}
	now := p.cfg.Now().UnixNano()
	it, err := p.db.NewIter(nil)
	if err != nil {
		return nil, 0, fmt.Errorf("state: sweep: %w", err)
	}
	defer it.Close()
	var stats []NamespaceStats
	removed := 0
	var cands [][]byte
	flush := func() error {
		n, err := p.purge(cands, now)
		removed += n
		cands = cands[:0]
		return err
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, removed, err
			}
		}
		ns, key, ok := splitNS(it.Key())
		raw, err := it.ValueAndErr()
		if err != nil {
			return nil, removed, fmt.Errorf("state: sweep: %w", err)
		}
		val, exp, vok := decodeValue(raw)
		if !ok || !vok {
			return nil, removed, fmt.Errorf("%w: malformed stored entry", ErrCorrupt)
		}
		if exp != 0 && expired(exp, now) {
			if sweep {
				cands = append(cands, slices.Clone(it.Key()))
				if len(cands) >= 1024 {
					if err := flush(); err != nil {
						return nil, removed, err
					}
				}
			}
			continue
		}
		if len(stats) == 0 || stats[len(stats)-1].Namespace != string(ns) {
			stats = append(stats, NamespaceStats{Namespace: string(ns)})
		}
		s := &stats[len(stats)-1]
		s.Keys++
		s.Bytes += int64(len(key) + len(val))
	}
	if err := it.Error(); err != nil {
		return nil, removed, fmt.Errorf("state: sweep: %w", err)
	}
	if err := flush(); err != nil {
		return nil, removed, err
	}
	slices.SortFunc(stats, func(a, b NamespaceStats) int { return cmpString(a.Namespace, b.Namespace) })
	return stats, removed, nil
}

// purge deletes those of keys that are still expired at now. Writers are held
// off (sweepMu) while it re-reads and deletes, so a Put racing with the sweep is
// never deleted in place of the expired entry it replaced.
func (p *Pebble) purge(keys [][]byte, now int64) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	p.sweepMu.Lock()
	defer p.sweepMu.Unlock()
	b := p.db.NewBatch()
	defer b.Close()
	for _, k := range keys {
		raw, closer, err := p.db.Get(k)
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("state: sweep: %w", err)
		}
		_, exp, ok := decodeValue(raw)
		closer.Close()
		if ok && exp != 0 && expired(exp, now) {
			_ = b.Delete(k, nil)
		}
	}
	n := int(b.Count())
	if err := b.Commit(pebble.NoSync); err != nil {
		return 0, fmt.Errorf("state: sweep: %w", err)
	}
	return n, nil
}

// Checkpoint implements Backend with Pebble's own checkpoint (sstables hard-linked,
// WAL flushed and copied), taken into a temporary directory that is renamed to dir.
func (p *Pebble) Checkpoint(ctx context.Context, dir string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	return publishDir(dir, func(tmp string) error {
		if err := p.db.Checkpoint(tmp, pebble.WithFlushedWAL()); err != nil {
			return fmt.Errorf("state: checkpoint %s: %w", dir, err)
		}
		return nil
	})
}

// Restore implements Backend: the checkpoint is copied beside the database
// directory, the database closed, the copy renamed into place, and reopened. The
// checkpoint directory itself is left untouched.
func (p *Pebble) Restore(ctx context.Context, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST-000001")); err != nil {
		if m, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*")); len(m) == 0 {
			return fmt.Errorf("%w: %s: no Pebble manifest", ErrCorrupt, dir)
		}
	}
	tmp := p.cfg.Dir + ".restore"
	_ = os.RemoveAll(tmp)
	if err := copyDir(ctx, dir, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("state: restore %s: %w", dir, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = os.RemoveAll(tmp)
		return ErrClosed
	}
	if err := p.db.Close(); err != nil {
		p.cfg.Logger.Error("state: closing pebble before restore", "err", err)
	}
	old := p.cfg.Dir + ".old"
	_ = os.RemoveAll(old)
	if err := os.Rename(p.cfg.Dir, old); err != nil {
		return p.reopenAfter(fmt.Errorf("state: restore %s: %w", dir, err))
	}
	if err := os.Rename(tmp, p.cfg.Dir); err != nil {
		_ = os.Rename(old, p.cfg.Dir)
		return p.reopenAfter(fmt.Errorf("state: restore %s: %w", dir, err))
	}
	_ = syncDir(filepath.Dir(p.cfg.Dir))
	db, err := p.open()
	if err != nil {
		// Put the previous database back rather than leave none.
		_ = os.RemoveAll(p.cfg.Dir)
		_ = os.Rename(old, p.cfg.Dir)
		return p.reopenAfter(fmt.Errorf("%w: %s: %w", ErrCorrupt, dir, err))
	}
	p.db = db
	_ = os.RemoveAll(old)
	return nil
}

// reopenAfter reopens the current directory after a failed restore; if even that
// fails the backend is closed.
func (p *Pebble) reopenAfter(cause error) error {
	db, err := p.open()
	if err != nil {
		p.closed = true
		p.db = nil
		return errors.Join(cause, err)
	}
	p.db = db
	return cause
}

func copyDir(ctx context.Context, src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.Type().IsRegular() {
			if e.IsDir() {
				if err := copyDir(ctx, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
					return err
				}
			}
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return syncDir(dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(0o644))
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Close implements Backend.
func (p *Pebble) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	db := p.db
	p.db = nil
	p.mu.Unlock()
	p.sweeper.close()
	if db == nil {
		return nil
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("state: close pebble %s: %w", p.cfg.Dir, err)
	}
	return nil
}
