// Package statetest is a conformance suite for state.Backend implementations, in
// the spirit of net/http/httptest: run it on your own backend with
//
//	func TestMyBackend(t *testing.T) {
//		statetest.Run(t, func(t *testing.T, now func() time.Time) state.Backend {
//			b, err := mybackend.Open(t.TempDir(), now)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return b
//		})
//	}
package statetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/strata-data/strata/state"
)

// NewBackend opens a new, empty backend that decides expiry by now. Each call must
// return an independent backend (its own directory). The suite closes it.
type NewBackend func(t *testing.T, now func() time.Time) state.Backend

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, newBackend NewBackend) {
	t.Run("CRUD", func(t *testing.T) { testCRUD(t, newBackend) })
	t.Run("Namespaces", func(t *testing.T) { testNamespaces(t, newBackend) })
	t.Run("Scans", func(t *testing.T) { testScans(t, newBackend) })
	t.Run("ScanWhileWriting", func(t *testing.T) { testScanWhileWriting(t, newBackend) })
	t.Run("Batch", func(t *testing.T) { testBatch(t, newBackend) })
	t.Run("TTL", func(t *testing.T) { testTTL(t, newBackend) })
	t.Run("Stats", func(t *testing.T) { testStats(t, newBackend) })
	t.Run("CheckpointRestore", func(t *testing.T) { testCheckpointRestore(t, newBackend) })
	t.Run("CheckpointWhileWriting", func(t *testing.T) { testCheckpointWhileWriting(t, newBackend) })
	t.Run("Close", func(t *testing.T) { testClose(t, newBackend) })
}

// clock is a manual clock for the suite.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func open(t *testing.T, nb NewBackend) (state.Backend, *clock) {
	t.Helper()
	c := newClock()
	b := nb(t, c.Now)
	if b == nil {
		t.Fatal("statetest: NewBackend returned nil")
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, c
}

type kv struct{ k, v string }

// collect drains an iterator, copying what it yields.
func collect(t *testing.T, it state.Iterator) []kv {
	t.Helper()
	var out []kv
	for it.Next() {
		out = append(out, kv{string(it.Key()), string(it.Value())})
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterator: %v", err)
	}
	if err := it.Close(); err != nil {
		t.Fatalf("iterator close: %v", err)
	}
	return out
}

func get(t *testing.T, b state.Backend, ns, key string) (string, bool) {
	t.Helper()
	v, ok, err := b.Get(ns, []byte(key), nil)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", ns, key, err)
	}
	return string(v), ok
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantGet(t *testing.T, b state.Backend, ns, key, want string, wantOK bool) {
	t.Helper()
	v, ok := get(t, b, ns, key)
	if ok != wantOK || v != want {
		t.Fatalf("Get(%q, %q) = %q, %v; want %q, %v", ns, key, v, ok, want, wantOK)
	}
}

func testCRUD(t *testing.T, nb NewBackend) {
	b, _ := open(t, nb)
	wantGet(t, b, "ns", "k", "", false)
	key, val := []byte("k"), []byte("v1")
	must(t, b.Put("ns", key, val))
	key[0], val[0] = 'x', 'x' // the backend must have copied them
	wantGet(t, b, "ns", "k", "v1", true)
	wantGet(t, b, "ns", "x", "", false)
	must(t, b.Put("ns", []byte("k"), []byte("v2")))
	wantGet(t, b, "ns", "k", "v2", true)

	// Get appends to dst.
	got, ok, err := b.Get("ns", []byte("k"), []byte("pre:"))
	if err != nil || !ok || string(got) != "pre:v2" {
		t.Fatalf("Get with dst = %q, %v, %v; want \"pre:v2\"", got, ok, err)
	}
	// Empty key and empty value are ordinary.
	must(t, b.Put("ns", nil, []byte("empty key")))
	must(t, b.Put("ns", []byte("e"), nil))
	wantGet(t, b, "ns", "", "empty key", true)
	wantGet(t, b, "ns", "e", "", true)

	must(t, b.Delete("ns", []byte("k")))
	wantGet(t, b, "ns", "k", "", false)
	must(t, b.Delete("ns", []byte("k"))) // deleting a missing key is fine
	must(t, b.Delete("other", []byte("k")))

	if err := b.Put("", []byte("k"), []byte("v")); !errors.Is(err, state.ErrNamespace) {
		t.Fatalf("Put with empty namespace: %v, want ErrNamespace", err)
	}
	if _, _, err := b.Get("", []byte("k"), nil); !errors.Is(err, state.ErrNamespace) {
		t.Fatalf("Get with empty namespace: %v, want ErrNamespace", err)
	}
	if err := b.Delete("", []byte("k")); !errors.Is(err, state.ErrNamespace) {
		t.Fatalf("Delete with empty namespace: %v, want ErrNamespace", err)
	}
	it := b.Scan("", nil, nil)
	if it.Next() || !errors.Is(it.Err(), state.ErrNamespace) {
		t.Fatalf("Scan with empty namespace: err %v, want ErrNamespace", it.Err())
	}
	_ = it.Close()

	// Large values round-trip.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<14)
	must(t, b.Put("ns", []byte("big"), big))
	g, ok, err := b.Get("ns", []byte("big"), nil)
	if err != nil || !ok || !bytes.Equal(g, big) {
		t.Fatalf("big value: ok %v err %v equal %v", ok, err, bytes.Equal(g, big))
	}
}

func testNamespaces(t *testing.T, nb NewBackend) {
	b, _ := open(t, nb)
	// Names that are prefixes of each other or of keys must not collide.
	names := []string{"a", "ab", "a\x00", "b", "\x01a", "join-1/left", "join-1/left/x"}
	for i, ns := range names {
		for j := range 5 {
			must(t, b.Put(ns, fmt.Appendf(nil, "k%d", j), fmt.Appendf(nil, "%s:%d:%d", ns, i, j)))
		}
		must(t, b.Put(ns, []byte("b"), []byte(ns)))
	}
	for i, ns := range names {
		got := collect(t, b.Scan(ns, nil, nil))
		var want []kv
		want = append(want, kv{"b", ns})
		for j := range 5 {
			want = append(want, kv{fmt.Sprintf("k%d", j), fmt.Sprintf("%s:%d:%d", ns, i, j)})
		}
		if !slices.Equal(got, want) {
			t.Fatalf("namespace %q holds %q, want %q", ns, got, want)
		}
		if got := collect(t, b.ScanPrefix(ns, []byte("k"))); len(got) != 5 {
			t.Fatalf("namespace %q prefix k: %d entries, want 5", ns, len(got))
		}
	}
	must(t, b.Delete("a", []byte("b")))
	wantGet(t, b, "a", "b", "", false)
	wantGet(t, b, "ab", "b", "ab", true)
	wantGet(t, b, "a\x00", "b", "a\x00", true)
	if got := collect(t, b.Scan("absent", nil, nil)); len(got) != 0 {
		t.Fatalf("absent namespace scan: %q", got)
	}
}

// model is a reference: a sorted map.
type model map[string]string

func (m model) rangeScan(start, end []byte) []kv {
	var out []kv
	for k, v := range m {
		if start != nil && k < string(start) {
			continue
		}
		if end != nil && k >= string(end) {
			continue
		}
		out = append(out, kv{k, v})
	}
	slices.SortFunc(out, func(a, b kv) int { return bytes.Compare([]byte(a.k), []byte(b.k)) })
	return out
}

func (m model) prefixScan(p []byte) []kv {
	var out []kv
	for _, e := range m.rangeScan(nil, nil) {
		if bytes.HasPrefix([]byte(e.k), p) {
			out = append(out, e)
		}
	}
	return out
}

var alphabet = []byte{0x00, 0x01, 'a', 'b', 0x7f, 0x80, 0xfe, 0xff}

func randKey(r *rand.Rand, maxLen int) []byte {
	n := r.IntN(maxLen + 1)
	k := make([]byte, n)
	for i := range k {
		k[i] = alphabet[r.IntN(len(alphabet))]
	}
	return k
}

func testScans(t *testing.T, nb NewBackend) {
	b, _ := open(t, nb)
	r := rand.New(rand.NewPCG(1, 2))
	m := model{}
	// Enough keys to cross any chunking an implementation does.
	for i := range 3000 {
		k := randKey(r, 6)
		v := fmt.Sprintf("v%d", i)
		if r.IntN(5) == 0 {
			must(t, b.Delete("s", k))
			delete(m, string(k))
			continue
		}
		must(t, b.Put("s", k, []byte(v)))
		m[string(k)] = v
		must(t, b.Put("t", k, []byte("other")))
	}
	if got, want := collect(t, b.Scan("s", nil, nil)), m.rangeScan(nil, nil); !slices.Equal(got, want) {
		t.Fatalf("full scan: %d entries, want %d (first diff %s)", len(got), len(want), firstDiff(got, want))
	}
	for range 300 {
		start, end := randKey(r, 3), randKey(r, 3)
		switch r.IntN(4) {
		case 0:
			start = nil
		case 1:
			end = nil
		}
		got, want := collect(t, b.Scan("s", start, end)), m.rangeScan(start, end)
		if !slices.Equal(got, want) {
			t.Fatalf("Scan(%x, %x): %d entries, want %d (first diff %s)", start, end, len(got), len(want), firstDiff(got, want))
		}
		p := randKey(r, 3)
		if r.IntN(8) == 0 {
			p = []byte{0xff, 0xff}
		}
		got, want = collect(t, b.ScanPrefix("s", p)), m.prefixScan(p)
		if !slices.Equal(got, want) {
			t.Fatalf("ScanPrefix(%x): %d entries, want %d (first diff %s)", p, len(got), len(want), firstDiff(got, want))
		}
	}
	// An iterator need not be exhausted; Close twice is harmless; the key and value
	// copied out stay right.
	it := b.Scan("s", nil, nil)
	if !it.Next() {
		t.Fatal("scan of a full namespace is empty")
	}
	first := m.rangeScan(nil, nil)[0]
	if string(it.Key()) != first.k || string(it.Value()) != first.v {
		t.Fatalf("first entry %q=%q, want %q=%q", it.Key(), it.Value(), first.k, first.v)
	}
	must(t, it.Close())
	_ = it.Close()
	if it.Next() {
		t.Fatal("Next after Close returned true")
	}
	// range-over-func adapter.
	n := 0
	it = b.ScanPrefix("s", nil)
	for range state.All(it) {
		n++
	}
	if it.Err() != nil || n != len(m) {
		t.Fatalf("All yielded %d entries (err %v), want %d", n, it.Err(), len(m))
	}
}

func firstDiff(got, want []kv) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d: got %q=%q want %q=%q", i, got[i].k, got[i].v, want[i].k, want[i].v)
		}
	}
	return fmt.Sprintf("lengths %d vs %d", len(got), len(want))
}

// testScanWhileWriting checks that iterating while other goroutines write is safe
// and still yields keys in strictly increasing order within bounds; keys never
// touched by the writers are all seen.
func testScanWhileWriting(t *testing.T, nb NewBackend) {
	b, _ := open(t, nb)
	for i := range 500 {
		must(t, b.Put("w", fmt.Appendf(nil, "stable-%04d", i), []byte("s")))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		r := rand.New(rand.NewPCG(3, 4))
		for ctx.Err() == nil {
			k := fmt.Appendf(nil, "stable-%04d-x%d", r.IntN(500), r.IntN(3))
			if r.IntN(2) == 0 {
				_ = b.Put("w", k, []byte("x"))
			} else {
				_ = b.Delete("w", k)
			}
		}
	})
	for range 20 {
		it := b.ScanPrefix("w", []byte("stable-"))
		var prev []byte
		stable := 0
		for it.Next() {
			k := it.Key()
			if prev != nil && bytes.Compare(prev, k) >= 0 {
				cancel()
				t.Fatalf("keys out of order: %q then %q", prev, k)
			}
			prev = append(prev[:0], k...)
			if len(k) == len("stable-0000") {
				stable++
			}
		}
		if err := it.Err(); err != nil {
			cancel()
			t.Fatal(err)
		}
		_ = it.Close()
		if stable != 500 {
			cancel()
			t.Fatalf("saw %d of the 500 untouched keys", stable)
		}
	}
	cancel()
	wg.Wait()
}

func testBatch(t *testing.T, nb NewBackend) {
	b, _ := open(t, nb)
	must(t, b.Put("n1", []byte("gone"), []byte("x")))
	var bt state.Batch
	key := []byte("a")
	bt.Put("n1", key, []byte("1"))
	key[0] = 'z' // the batch copied it
	bt.Put("n2", []byte("a"), []byte("2"))
	bt.Delete("n1", []byte("gone"))
	bt.Put("n1", []byte("later"), []byte("first"))
	bt.Put("n1", []byte("later"), []byte("second")) // later writes win
	bt.Put("n1", []byte("put-del"), []byte("x"))
	bt.Delete("n1", []byte("put-del"))
	bt.Delete("n1", []byte("del-put"))
	bt.Put("n1", []byte("del-put"), []byte("back"))
	if bt.Len() != 9 {
		t.Fatalf("Len = %d, want 9", bt.Len())
	}
	must(t, b.Apply(&bt))
	wantGet(t, b, "n1", "a", "1", true)
	wantGet(t, b, "n1", "z", "", false)
	wantGet(t, b, "n2", "a", "2", true)
	wantGet(t, b, "n1", "gone", "", false)
	wantGet(t, b, "n1", "later", "second", true)
	wantGet(t, b, "n1", "put-del", "", false)
	wantGet(t, b, "n1", "del-put", "back", true)

	// A batch with an invalid entry applies nothing.
	bt.Reset()
	if bt.Len() != 0 {
		t.Fatal("Reset left entries")
	}
	bt.Put("n1", []byte("never"), []byte("x"))
	bt.Put("", []byte("bad"), []byte("x"))
	if err := b.Apply(&bt); !errors.Is(err, state.ErrNamespace) {
		t.Fatalf("Apply with an empty namespace: %v, want ErrNamespace", err)
	}
	wantGet(t, b, "n1", "never", "", false)

	// An empty batch is fine; a reused batch holds only new writes.
	bt.Reset()
	must(t, b.Apply(&bt))
	bt.Put("n3", []byte("k"), []byte("v"))
	must(t, b.Apply(&bt))
	wantGet(t, b, "n3", "k", "v", true)
	wantGet(t, b, "n1", "never", "", false)
}

func testTTL(t *testing.T, nb NewBackend) {
	b, c := open(t, nb)
	must(t, b.PutTTL("t", []byte("short"), []byte("s"), time.Second))
	must(t, b.PutTTL("t", []byte("long"), []byte("l"), time.Hour))
	must(t, b.Put("t", []byte("forever"), []byte("f")))
	must(t, b.PutTTL("t", []byte("zero"), []byte("z"), 0)) // no expiry
	must(t, b.PutTTL("t", []byte("renewed"), []byte("r1"), time.Second))
	must(t, b.PutTTL("t", []byte("madepermanent"), []byte("p1"), time.Second))
	must(t, b.Put("t", []byte("madetemporary"), []byte("m")))
	var bt state.Batch
	bt.PutTTL("t", []byte("batched"), []byte("b"), 2*time.Second)
	must(t, b.Apply(&bt))

	c.Advance(500 * time.Millisecond)
	wantGet(t, b, "t", "short", "s", true)
	must(t, b.PutTTL("t", []byte("renewed"), []byte("r2"), time.Second)) // now expires at 1.5 s
	must(t, b.Put("t", []byte("madepermanent"), []byte("p2")))
	must(t, b.PutTTL("t", []byte("madetemporary"), []byte("m2"), time.Second))

	c.Advance(600 * time.Millisecond) // 1.1 s
	wantGet(t, b, "t", "short", "", false)
	wantGet(t, b, "t", "renewed", "r2", true)
	wantGet(t, b, "t", "madepermanent", "p2", true)
	wantGet(t, b, "t", "batched", "b", true)
	want := []kv{{"batched", "b"}, {"forever", "f"}, {"long", "l"}, {"madepermanent", "p2"},
		{"madetemporary", "m2"}, {"renewed", "r2"}, {"zero", "z"}}
	if got := collect(t, b.Scan("t", nil, nil)); !slices.Equal(got, want) {
		t.Fatalf("scan at 1.1 s = %q, want %q", got, want)
	}

	c.Advance(time.Second) // 2.1 s
	want = []kv{{"forever", "f"}, {"long", "l"}, {"madepermanent", "p2"}, {"zero", "z"}}
	if got := collect(t, b.Scan("t", nil, nil)); !slices.Equal(got, want) {
		t.Fatalf("scan at 2.1 s = %q, want %q", got, want)
	}
	if got := collect(t, b.ScanPrefix("t", []byte("s"))); len(got) != 0 {
		t.Fatalf("prefix scan sees expired entries: %q", got)
	}
	// A Put over an expired entry makes it live again.
	must(t, b.Put("t", []byte("short"), []byte("s2")))
	wantGet(t, b, "t", "short", "s2", true)

	n, err := b.Sweep(context.Background())
	must(t, err)
	if n != 3 { // renewed, madetemporary, batched
		t.Fatalf("Sweep removed %d entries, want 3", n)
	}
	st, err := b.Stats(context.Background())
	must(t, err)
	if len(st) != 1 || st[0].Keys != 5 {
		t.Fatalf("Stats after sweep = %+v, want 5 keys in t", st)
	}
	if n, err := b.Sweep(context.Background()); err != nil || n != 0 {
		t.Fatalf("second Sweep removed %d (%v), want 0", n, err)
	}
	c.Advance(2 * time.Hour)
	n, err = b.Sweep(context.Background())
	must(t, err)
	if n != 1 {
		t.Fatalf("Sweep after 2 h removed %d, want 1 (long)", n)
	}
	wantGet(t, b, "t", "forever", "f", true)
}

func testStats(t *testing.T, nb NewBackend) {
	b, _ := open(t, nb)
	ctx := context.Background()
	st, err := b.Stats(ctx)
	must(t, err)
	if len(st) != 0 {
		t.Fatalf("Stats of an empty backend = %+v", st)
	}
	for i := range 100 {
		must(t, b.Put("x", fmt.Appendf(nil, "%03d", i), []byte("vv")))
	}
	must(t, b.Put("w", []byte("k"), []byte("value")))
	must(t, b.Put("x", []byte("000"), []byte("vvvv"))) // overwrite: one key, new size
	must(t, b.Delete("x", []byte("099")))
	st, err = b.Stats(ctx)
	must(t, err)
	want := []state.NamespaceStats{{Namespace: "w", Keys: 1, Bytes: 6}, {Namespace: "x", Keys: 99, Bytes: 99*5 + 2}}
	if !slices.Equal(st, want) {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
	must(t, b.Delete("w", []byte("k")))
	st, err = b.Stats(ctx)
	must(t, err)
	if len(st) != 1 || st[0].Namespace != "x" {
		t.Fatalf("Stats after emptying w = %+v, want only x", st)
	}
}

// dump reads every given namespace completely.
func dump(t *testing.T, b state.Backend, names []string) map[string][]kv {
	t.Helper()
	out := map[string][]kv{}
	for _, ns := range names {
		if got := collect(t, b.Scan(ns, nil, nil)); len(got) > 0 {
			out[ns] = got
		}
	}
	return out
}

func equalDump(a, b map[string][]kv) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func testCheckpointRestore(t *testing.T, nb NewBackend) {
	ctx := context.Background()
	b, c := open(t, nb)
	r := rand.New(rand.NewPCG(5, 6))
	names := []string{"p", "q", "q2"}
	for i := range 2000 {
		ns := names[r.IntN(len(names))]
		must(t, b.Put(ns, randKey(r, 8), fmt.Appendf(nil, "%d", i)))
	}
	must(t, b.PutTTL("p", []byte("ttl"), []byte("t"), time.Minute))
	want := dump(t, b, names)

	root := t.TempDir()
	cp := filepath.Join(root, "cp1")
	must(t, b.Checkpoint(ctx, cp))
	if err := b.Checkpoint(ctx, cp); !errors.Is(err, state.ErrCheckpointExists) {
		t.Fatalf("Checkpoint into an existing directory: %v, want ErrCheckpointExists", err)
	}
	// Changes after the checkpoint are not in it.
	must(t, b.Put("p", []byte("after"), []byte("x")))
	must(t, b.Put("new", []byte("after"), []byte("x")))
	for _, e := range want["q"][:10] {
		must(t, b.Delete("q", []byte(e.k)))
	}

	// Restore into a fresh backend...
	b2, c2 := open(t, nb)
	must(t, b2.Put("junk", []byte("k"), []byte("v"))) // replaced by the restore
	must(t, b2.Restore(ctx, cp))
	if got := dump(t, b2, append(names, "junk", "new")); !equalDump(got, want) {
		t.Fatal("restored backend differs from the checkpointed one")
	}
	// ... where the entry with a TTL keeps its expiry time.
	c2.Advance(30 * time.Second)
	wantGet(t, b2, "p", "ttl", "t", true)
	c2.Advance(31 * time.Second)
	wantGet(t, b2, "p", "ttl", "", false)
	// The restored backend works normally.
	must(t, b2.Put("p", []byte("post"), []byte("restore")))
	wantGet(t, b2, "p", "post", "restore", true)

	// ... and into the backend that took it, rolling it back.
	must(t, b.Restore(ctx, cp))
	if got := dump(t, b, append(names, "new")); !equalDump(got, want) {
		t.Fatal("backend rolled back to its checkpoint differs from it")
	}
	_ = c
	// The checkpoint itself is unchanged by restoring from it and writing on.
	b3, _ := open(t, nb)
	must(t, b3.Restore(ctx, cp))
	if got := dump(t, b3, append(names, "new")); !equalDump(got, want) {
		t.Fatal("second restore of the same checkpoint differs")
	}
	// A checkpoint of an empty backend restores to empty.
	e, _ := open(t, nb)
	must(t, e.Checkpoint(ctx, filepath.Join(root, "empty")))
	must(t, b3.Restore(ctx, filepath.Join(root, "empty")))
	if got := dump(t, b3, append(names, "new")); len(got) != 0 {
		t.Fatalf("restore of an empty checkpoint left %d namespaces", len(got))
	}
	// A directory that is not a checkpoint is refused, and the backend keeps its state.
	bad := filepath.Join(root, "bad")
	must(t, os.MkdirAll(bad, 0o755))
	must(t, os.WriteFile(filepath.Join(bad, "junk"), []byte("junk"), 0o644))
	if err := b.Restore(ctx, bad); err == nil {
		t.Fatal("Restore of a directory that is not a checkpoint succeeded")
	}
	if got := dump(t, b, append(names, "new")); !equalDump(got, want) {
		t.Fatal("failed Restore changed the backend")
	}
	if err := b.Restore(ctx, filepath.Join(root, "missing")); err == nil {
		t.Fatal("Restore of a missing directory succeeded")
	}
}

// testCheckpointWhileWriting takes checkpoints while a writer applies batches, each
// of which moves a window of keys forward and sets a counter; every restored
// checkpoint must hold exactly the window its counter names.
func testCheckpointWhileWriting(t *testing.T, nb NewBackend) {
	ctx := context.Background()
	b, _ := open(t, nb)
	const window = 5
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var werr error
	wg.Go(func() {
		var bt state.Batch
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			bt.Reset()
			bt.Put("ctr", []byte("n"), fmt.Appendf(nil, "%d", i))
			bt.Put("win", fmt.Appendf(nil, "%08d", i), fmt.Appendf(nil, "%d", i))
			if i > window {
				bt.Delete("win", fmt.Appendf(nil, "%08d", i-window))
			}
			if err := b.Apply(&bt); err != nil {
				werr = err
				return
			}
		}
	})
	root := t.TempDir()
	var dirs []string
	for i := range 5 {
		time.Sleep(20 * time.Millisecond)
		d := filepath.Join(root, fmt.Sprint(i))
		if err := b.Checkpoint(ctx, d); err != nil {
			close(stop)
			wg.Wait()
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	close(stop)
	wg.Wait()
	must(t, werr)
	last := 0
	for _, d := range dirs {
		r, _ := open(t, nb)
		must(t, r.Restore(ctx, d))
		v, ok := get(t, r, "ctr", "n")
		if !ok {
			t.Fatalf("checkpoint %s has no counter", d)
		}
		var n int
		fmt.Sscan(v, &n)
		if n < last {
			t.Fatalf("checkpoint %s counter %d went back from %d", d, n, last)
		}
		last = n
		var want []kv
		for i := max(1, n-window+1); i <= n; i++ {
			want = append(want, kv{fmt.Sprintf("%08d", i), fmt.Sprint(i)})
		}
		if got := collect(t, r.Scan("win", nil, nil)); !slices.Equal(got, want) {
			t.Fatalf("checkpoint %s at counter %d holds window %q, want %q", d, n, got, want)
		}
		_ = r.Close()
	}
	if last == 0 {
		t.Fatal("no batch was applied before the checkpoints")
	}
}

func testClose(t *testing.T, nb NewBackend) {
	ctx := context.Background()
	b, _ := open(t, nb)
	must(t, b.Put("c", []byte("k"), []byte("v")))
	must(t, b.Close())
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, state.ErrClosed) {
			t.Fatalf("%s after Close: %v, want ErrClosed", what, err)
		}
	}
	_, _, err := b.Get("c", []byte("k"), nil)
	check("Get", err)
	check("Put", b.Put("c", []byte("k"), []byte("v")))
	check("PutTTL", b.PutTTL("c", []byte("k"), []byte("v"), time.Second))
	check("Delete", b.Delete("c", []byte("k")))
	var bt state.Batch
	bt.Put("c", []byte("k"), []byte("v"))
	check("Apply", b.Apply(&bt))
	it := b.Scan("c", nil, nil)
	if it.Next() {
		t.Fatal("Scan after Close yielded an entry")
	}
	check("Scan", it.Err())
	_ = it.Close()
	_, err = b.Sweep(ctx)
	check("Sweep", err)
	_, err = b.Stats(ctx)
	check("Stats", err)
	check("Checkpoint", b.Checkpoint(ctx, filepath.Join(t.TempDir(), "cp")))
}
