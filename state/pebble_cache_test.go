package state

import (
	"fmt"
	"testing"
)

// Blocks read are kept in the block cache even when the memtables are as large
// as CacheSize: Pebble charges memtables to its cache, which left no room for
// blocks (every read went to the files).
func TestPebbleBlockCacheHoldsBlocks(t *testing.T) {
	p, err := OpenPebble(PebbleConfig{Dir: t.TempDir(), CacheSize: 8 << 20, MemTableSize: 4 << 20,
		Config: Config{SweepInterval: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Enough writes that the memtables have grown to their full size.
	var b Batch
	for i := range 200000 {
		b.Put("ns", fmt.Appendf(nil, "key-%06d", i), make([]byte, 100))
		if b.Len() == 1000 {
			if err := p.Apply(&b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	for range 2 {
		for i := 0; i < 20000; i += 7 {
			if _, ok, err := p.Get("ns", fmt.Appendf(nil, "key-%06d", i), nil); err != nil || !ok {
				t.Fatalf("get %d: %v %v", i, ok, err)
			}
		}
	}
	m := p.db.Metrics()
	if m.BlockCache.Count == 0 || m.BlockCache.Hits < m.BlockCache.Misses {
		t.Fatalf("block cache holds %d blocks, %d hits and %d misses after reading the same keys twice",
			m.BlockCache.Count, m.BlockCache.Hits, m.BlockCache.Misses)
	}
}
