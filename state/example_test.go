package state_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/strata-data/strata/state"
)

// Keyed state for a per-customer running total, with a TTL, a batch, a scan and a
// checkpoint restored into a Pebble backend.
func Example() {
	ctx := context.Background()
	mem, err := state.NewMemory(state.MemoryConfig{})
	if err != nil {
		panic(err)
	}
	defer mem.Close()

	var b state.Batch
	b.Put("revenue", []byte("cust-1"), []byte("120"))
	b.Put("revenue", []byte("cust-2"), []byte("75"))
	b.PutTTL("sessions", []byte("cust-1"), []byte("open"), time.Hour)
	if err := mem.Apply(&b); err != nil {
		panic(err)
	}
	v, ok, _ := mem.Get("revenue", []byte("cust-2"), nil)
	fmt.Println(string(v), ok)

	it := mem.ScanPrefix("revenue", []byte("cust-"))
	for k, v := range state.All(it) {
		fmt.Printf("%s=%s\n", k, v)
	}
	if err := it.Err(); err != nil {
		panic(err)
	}

	dir, _ := os.MkdirTemp("", "state-example")
	defer os.RemoveAll(dir)
	cp := filepath.Join(dir, "checkpoint-1")
	if err := mem.Checkpoint(ctx, cp); err != nil {
		panic(err)
	}
	// A checkpoint restores into a backend of the same kind.
	other, _ := state.NewMemory(state.MemoryConfig{})
	defer other.Close()
	if err := other.Restore(ctx, cp); err != nil {
		panic(err)
	}
	stats, _ := other.Stats(ctx)
	for _, s := range stats {
		fmt.Printf("%s: %d keys, %d bytes\n", s.Namespace, s.Keys, s.Bytes)
	}

	// The Pebble backend is the same interface on disk.
	db, err := state.OpenPebble(state.PebbleConfig{Dir: filepath.Join(dir, "db")})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	_ = db.Put("revenue", []byte("cust-3"), []byte("5"))
	v, ok, _ = db.Get("revenue", []byte("cust-3"), nil)
	fmt.Println(string(v), ok)
	// Output:
	// 75 true
	// cust-1=120
	// cust-2=75
	// revenue: 2 keys, 17 bytes
	// sessions: 1 keys, 10 bytes
	// 5 true
}
