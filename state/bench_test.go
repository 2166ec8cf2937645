package state_test

import (
	"encoding/binary"
	"testing"

	"github.com/strata-data/strata/internal/cputime"
	"github.com/strata-data/strata/state"
)

const benchKeys = 100_000

func benchBackends(b *testing.B, fn func(b *testing.B, be state.Backend)) {
	b.Run("memory", func(b *testing.B) {
		be, err := state.NewMemory(state.MemoryConfig{Config: state.Config{SweepInterval: -1}})
		if err != nil {
			b.Fatal(err)
		}
		defer be.Close()
		withCPU(b, func() { fn(b, be) })
	})
	b.Run("pebble", func(b *testing.B) {
		be, err := state.OpenPebble(state.PebbleConfig{Dir: b.TempDir(), Config: state.Config{SweepInterval: -1}})
		if err != nil {
			b.Fatal(err)
		}
		defer be.Close()
		withCPU(b, func() { fn(b, be) })
	})
}

// withCPU reports the process's CPU time per op besides wall time: on a shared
// machine the wall time mostly measures the neighbours. It counts from the start,
// so it includes the load phase; ops are many, loads are 100k entries once.
func withCPU(b *testing.B, run func()) {
	c0 := cputime.Process()
	run()
	cputime.Report(b, c0, b.N, "ops")
}

func benchKey(dst []byte, i uint64) []byte {
	// Spread keys so consecutive i are not neighbours in the tree.
	return binary.BigEndian.AppendUint64(dst[:0], i*0x9E3779B97F4A7C15)
}

func load(b *testing.B, be state.Backend, n int) {
	var bt state.Batch
	var k []byte
	val := make([]byte, 32)
	for i := range n {
		k = benchKey(k, uint64(i))
		bt.Put("bench", k, val)
		if bt.Len() == 1000 {
			if err := be.Apply(&bt); err != nil {
				b.Fatal(err)
			}
			bt.Reset()
		}
	}
	if err := be.Apply(&bt); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPut writes 8-byte keys with 32-byte values, one Put each.
func BenchmarkPut(b *testing.B) {
	benchBackends(b, func(b *testing.B, be state.Backend) {
		val := make([]byte, 32)
		var k []byte
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k = benchKey(k, uint64(i%benchKeys))
			if err := be.Put("bench", k, val); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkApplyBatch writes batches of 100 puts.
func BenchmarkApplyBatch100(b *testing.B) {
	benchBackends(b, func(b *testing.B, be state.Backend) {
		val := make([]byte, 32)
		var k []byte
		var bt state.Batch
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			bt.Reset()
			for j := range 100 {
				k = benchKey(k, uint64((i*100+j)%benchKeys))
				bt.Put("bench", k, val)
			}
			if err := be.Apply(&bt); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/put")
	})
}

// BenchmarkGet reads present keys of a 100k-entry namespace.
func BenchmarkGet(b *testing.B) {
	benchBackends(b, func(b *testing.B, be state.Backend) {
		load(b, be, benchKeys)
		var k, v []byte
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k = benchKey(k, uint64(i%benchKeys))
			var ok bool
			var err error
			v, ok, err = be.Get("bench", k, v[:0])
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
}

// BenchmarkGetMissing reads absent keys (the bloom filters' case for Pebble).
func BenchmarkGetMissing(b *testing.B) {
	benchBackends(b, func(b *testing.B, be state.Backend) {
		load(b, be, benchKeys)
		var k, v []byte
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k = benchKey(k, uint64(benchKeys+i))
			v, _, _ = be.Get("bench", k, v[:0])
		}
	})
}

// BenchmarkScan100 reads 100 consecutive entries from a random start.
func BenchmarkScan100(b *testing.B) {
	benchBackends(b, func(b *testing.B, be state.Backend) {
		load(b, be, benchKeys)
		var k []byte
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k = benchKey(k, uint64(i%benchKeys))
			it := be.Scan("bench", k, nil)
			n := 0
			for n < 100 && it.Next() {
				n++
			}
			if err := it.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/entry")
	})
}
