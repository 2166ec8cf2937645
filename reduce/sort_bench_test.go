package reduce_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/shuffle"
)

// int64Batches builds n rows of s, whose columns are all int64, in batches of 4096,
// column by column with fill(col, row).
func int64Batches(s *change.Schema, n int, fill func(col, row int) int64) []*change.Batch {
	var out []*change.Batch
	for start := 0; start < n; start += 4096 {
		m := min(4096, n-start)
		cols := make([]arrow.Array, s.NumFields())
		for c := range cols {
			b := array.NewInt64Builder(memory.DefaultAllocator)
			b.Reserve(m)
			for r := range m {
				b.UnsafeAppend(fill(c, start+r))
			}
			cols[c] = b.NewArray()
			b.Release()
		}
		rec := array.NewRecordBatch(s.Arrow(), cols, int64(m))
		for _, c := range cols {
			c.Release()
		}
		batch, err := change.NewBatch(s, rec, make([]change.Op, m))
		if err != nil {
			panic(err)
		}
		out = append(out, batch)
	}
	return out
}

var benchSortSchema = change.MustSchema([]arrow.Field{
	change.NotNull("key", arrow.PrimitiveTypes.Int64),
	change.NotNull("payload", arrow.PrimitiveTypes.Int64),
})

// runReducer runs r over batches (replayed) once, dropping the output.
func runReducer(b *testing.B, r reduce.Reducer, batches []*change.Batch) {
	err := r.Reduce(context.Background(), []shuffle.Stream{&replay{batches: batches}}, func(out *change.Batch) error {
		out.Release()
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSort sorts 1M rows by a random int64 key: in memory, and externally under
// a 16 MiB budget (the input is 16 MB).
func BenchmarkSort(b *testing.B) {
	const n = 1_000_000
	rng := rand.New(rand.NewPCG(1, 1))
	batches := int64Batches(benchSortSchema, n, func(col, row int) int64 {
		if col == 0 {
			return rng.Int64()
		}
		return int64(row)
	})
	for _, bc := range []struct {
		name  string
		limit int64
	}{{"memory", 0}, {"external-16MiB", 16 << 20}} {
		b.Run(bc.name, func(b *testing.B) {
			budget := change.NewBudget(bc.limit, nil)
			s, err := reduce.NewSort(reduce.SortConfig{Schema: benchSortSchema, Keys: []reduce.SortKey{{Column: "key"}}, Budget: budget, SpillDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				runReducer(b, s, batches)
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkTopN keeps the 100 largest of 1M random int64 keys.
func BenchmarkTopN(b *testing.B) {
	const n = 1_000_000
	rng := rand.New(rand.NewPCG(2, 2))
	batches := int64Batches(benchSortSchema, n, func(col, row int) int64 {
		if col == 0 {
			return rng.Int64()
		}
		return int64(row)
	})
	s, err := reduce.NewSort(reduce.SortConfig{Schema: benchSortSchema, Keys: []reduce.SortKey{{Column: "key", Desc: true}}, Limit: 100})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		runReducer(b, s, batches)
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}
