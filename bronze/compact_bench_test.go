package bronze_test

import (
	"context"
	"testing"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
)

// copyStore returns a memory store holding every object of src.
func copyStore(b *testing.B, ctx context.Context, src bronze.Store) *bronze.MemStore {
	dst := bronze.NewMemStore()
	names, err := src.List(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range names {
		data, err := src.Get(ctx, n)
		if err != nil {
			b.Fatal(err)
		}
		if err := dst.Put(ctx, n, data); err != nil {
			b.Fatal(err)
		}
	}
	return dst
}

// BenchmarkCompact compacts the generator's workload (100 000 events over three tables,
// committed every 500 transactions) from scratch in a memory store: reading and
// checking the Avro files, folding, sorting, and writing zstd Parquet. rows/s counts the
// change events folded per second.
func BenchmarkCompact(b *testing.B) {
	ctx := context.Background()
	txs := generatedTxs(b, cdc.GeneratorConfig{Seed: 7, Events: 100_000, AddColumnAt: -1}, false)
	base := bronze.NewMemStore()
	w, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: base})
	if err != nil {
		b.Fatal(err)
	}
	for i, tx := range txs {
		if err := w.Append(tx); err != nil {
			b.Fatal(err)
		}
		if i%500 == 499 {
			if _, err := w.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := w.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	var events, rows int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		store := copyStore(b, ctx, base)
		m, err := bronze.OpenManifest(ctx, store)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := bronze.Compact(ctx, m, bronze.CompactOptions{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range rep.Tables {
			events += t.Events
			rows += t.Snapshot.Rows
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(rows)/float64(b.N), "snapshot-rows/op")
}
