package state

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"time"
)

// Errors returned by backends, matched with errors.Is.
var (
	// ErrClosed is returned by any operation on a closed backend.
	ErrClosed = errors.New("state: backend closed")
	// ErrNamespace is returned for an invalid (empty) namespace.
	ErrNamespace = errors.New("state: invalid namespace")
	// ErrCorrupt is returned by Restore when a checkpoint does not verify.
	ErrCorrupt = errors.New("state: corrupt checkpoint")
	// ErrCheckpointExists is returned by Checkpoint when the target directory exists.
	ErrCheckpointExists = errors.New("state: checkpoint directory exists")
)

// Backend is namespaced, ordered key-value state with per-entry TTL and
// checkpoints. All methods are safe for concurrent use, except Restore, which must
// not run concurrently with anything else on the backend (it is a start-up step).
//
// Point operations do not take a context: they run on local memory or disk and are
// not cancellable. Keys and values passed in are copied; the caller may reuse them.
type Backend interface {
	// Get appends the value stored under key in namespace ns to dst and returns it;
	// ok is false when there is none or it has expired. The result is the caller's.
	Get(ns string, key, dst []byte) (val []byte, ok bool, err error)
	// Put stores value under key, with no expiry.
	Put(ns string, key, value []byte) error
	// PutTTL stores value under key; it expires ttl after now (by the backend's
	// clock). ttl <= 0 means no expiry.
	PutTTL(ns string, key, value []byte, ttl time.Duration) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(ns string, key []byte) error
	// Scan iterates over the live entries of ns with start <= key < end, in key
	// order; a nil start means from the first key, a nil end up to the last.
	Scan(ns string, start, end []byte) Iterator
	// ScanPrefix iterates over the live entries of ns whose key has the prefix.
	ScanPrefix(ns string, prefix []byte) Iterator
	// Apply applies all of b's writes atomically: readers, scans and checkpoints
	// see all of them or none. b may be reused after Apply returns.
	Apply(b *Batch) error
	// Sweep reclaims expired entries now and returns how many it removed.
	Sweep(ctx context.Context) (int, error)
	// Stats reports the entries held per namespace, sorted by namespace. Entries
	// expired but not yet swept may still be counted: call Sweep first for exact
	// live figures. It refreshes the backend's metrics.
	Stats(ctx context.Context) ([]NamespaceStats, error)
	// Checkpoint writes a consistent snapshot into dir, which must not exist; it
	// is created (atomically: dir exists only once the snapshot is complete).
	// Writes may continue while it runs.
	Checkpoint(ctx context.Context, dir string) error
	// Restore replaces the backend's whole contents with the checkpoint in dir.
	// Entries keep their expiry times.
	Restore(ctx context.Context, dir string) error
	// Close releases the backend; later calls return ErrClosed, a second Close
	// returns nil. Iterators must be closed before the backend.
	Close() error
}

// Iterator walks entries in key order. It must be closed and need not be exhausted:
//
//	it := b.ScanPrefix("ns", p)
//	defer it.Close()
//	for it.Next() { use(it.Key(), it.Value()) }
//	if err := it.Err(); err != nil { ... }
//
// Key and Value are valid until the next call to Next or Close and must not be
// modified; copy them to keep them. Whether an open iterator sees writes made
// after it was created is unspecified.
type Iterator interface {
	Next() bool
	// Key is the entry's key within its namespace (without the namespace).
	Key() []byte
	Value() []byte
	// Err is the error that ended iteration, if any; it stays valid after Close.
	Err() error
	Close() error
}

// All adapts an iterator for range-over-func. It closes it when the loop ends;
// check it.Err() afterwards. The yielded slices follow Iterator's validity rule.
func All(it Iterator) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		defer it.Close()
		for it.Next() {
			if !yield(it.Key(), it.Value()) {
				return
			}
		}
	}
}

// NamespaceStats is the size of one namespace.
type NamespaceStats struct {
	Namespace string
	Keys      int64
	// Bytes is the logical size: key and value lengths summed (no overheads).
	Bytes int64
}

// Config is what every backend shares; its zero value works.
type Config struct {
	// Now is the clock that decides expiry (default time.Now). Tests inject one.
	Now func() time.Time
	// SweepInterval is how often expired entries are reclaimed in the background
	// (default one minute; negative: never, call Sweep yourself).
	SweepInterval time.Duration
	// Metrics receives size figures (nil: none). See NewMetrics.
	Metrics *Metrics
	// Logger gets the backend's own messages (default slog.Default()).
	Logger *slog.Logger
	// Name labels this backend's metrics (default "default").
	Name string
}

// Validate reports whether the configuration is usable.
func (c Config) Validate() error { return nil }

func (c *Config) ensureDefaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Name == "" {
		c.Name = "default"
	}
}

func checkNS(ns string) error {
	if ns == "" {
		return fmt.Errorf("%w: empty name", ErrNamespace)
	}
	return nil
}

// expiry turns a TTL into an absolute expiry in Unix nanoseconds (0: none).
func expiry(now func() time.Time, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return now().Add(ttl).UnixNano()
}

// expired reports whether an entry with expiry exp is dead at now (Unix ns).
func expired(exp, now int64) bool { return exp != 0 && exp <= now }

// prefixEnd is the smallest key greater than every key with prefix p (nil: none).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}
