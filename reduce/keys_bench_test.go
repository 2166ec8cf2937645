package reduce

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
)

// int64KeyBatches returns n random int64 keys (from a domain of distinct values) as
// batches of 4096 rows, and the same keys as a slice.
func int64KeyBatches(b *testing.B, n int, distinct int64, seed uint64) ([]*change.Batch, []int64) {
	s := change.MustSchema([]arrow.Field{change.NotNull("k", arrow.PrimitiveTypes.Int64)})
	rng := rand.New(rand.NewPCG(seed, 1))
	keys := make([]int64, n)
	for i := range keys {
		keys[i] = rng.Int64N(distinct) * 0x9e3779b1
	}
	var out []*change.Batch
	for start := 0; start < n; start += 4096 {
		part := keys[start:min(start+4096, n)]
		bld := array.NewInt64Builder(memory.DefaultAllocator)
		bld.AppendValues(part, nil)
		col := bld.NewArray()
		bld.Release()
		rec := array.NewRecordBatch(s.Arrow(), []arrow.Array{col}, int64(len(part)))
		col.Release()
		bt, err := change.NewBatch(s, rec, make([]change.Op, len(part)))
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, bt)
	}
	b.Cleanup(func() {
		for _, bt := range out {
			bt.Release()
		}
	})
	return out, keys
}

// BenchmarkKeyTable: building a table of distinct int64 keys from batches, and
// probing it, against a Go map[int64]int32 doing the same from a []int64.
func BenchmarkKeyTable(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000, 10_000_000} {
		build, keys := int64KeyBatches(b, n, int64(n), 1)
		probe, pkeys := int64KeyBatches(b, n, int64(2*n), 2) // about half are found
		l := newKeyLayout([]keyKind{kindWord})
		for _, sized := range []bool{false, true} {
			name := "insert"
			if sized {
				name = "insert-sized" // the size known in advance, as a join's build side is
			}
			b.Run(fmt.Sprintf("flat/%s/%d", name, n), func(b *testing.B) {
				groups := make([]int32, 4096)
				for b.Loop() {
					tab, bk := newKeyTable(l, nil), newBatchKeys(l, nil)
					if sized {
						tab.reserve(n)
					}
					for _, bt := range build {
						bk.load(bt, []int{0})
						tab.insert(bk, groups[:bt.Len()])
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
			b.Run(fmt.Sprintf("gomap/%s/%d", name, n), func(b *testing.B) {
				for b.Loop() {
					var m map[int64]int32
					if sized {
						m = make(map[int64]int32, n)
					} else {
						m = make(map[int64]int32)
					}
					for _, k := range keys {
						if _, ok := m[k]; !ok {
							m[k] = int32(len(m))
						}
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
		tab, bk := newKeyTable(l, nil), newBatchKeys(l, nil)
		groups := make([]int32, 4096)
		for _, bt := range build {
			bk.load(bt, []int{0})
			tab.insert(bk, groups[:bt.Len()])
		}
		m := make(map[int64]int32)
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				m[k] = int32(len(m))
			}
		}
		b.Run(fmt.Sprintf("flat/lookup/%d", n), func(b *testing.B) {
			for b.Loop() {
				for _, bt := range probe {
					bk.load(bt, []int{0})
					tab.lookup(bk, groups[:bt.Len()])
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
		b.Run(fmt.Sprintf("gomap/lookup/%d", n), func(b *testing.B) {
			for b.Loop() {
				for i, k := range pkeys {
					g, ok := m[k]
					if !ok {
						g = -1
					}
					groups[i&4095] = g
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
