package bronze_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
)

// assembled returns the generator's workload as whole transactions.
func assembled(b *testing.B, events int) []cdc.Tx {
	ctx := context.Background()
	src := cdc.NewGenerator(cdc.GeneratorConfig{Seed: 7, Events: events})
	if err := src.Open(ctx, cdc.Position{}); err != nil {
		b.Fatal(err)
	}
	asm := cdc.NewAssembler(cdc.AssemblerConfig{DeadLetters: cdc.NewMemoryDeadLetters()})
	var txs []cdc.Tx
	for {
		ev, err := src.Read(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		if err := asm.Add(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	if err := asm.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	for tx, ok := asm.Next(); ok; tx, ok = asm.Next() {
		txs = append(txs, tx)
	}
	return txs
}

// BenchmarkWriterDir appends the generator workload to a directory lake (real fsyncs),
// committing every 2000 transactions: Avro encoding (snappy), file puts, manifest.
func BenchmarkWriterDir(b *testing.B) {
	txs := assembled(b, 100000)
	events := 0
	for _, tx := range txs {
		events += len(tx.Events)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		store, err := bronze.OpenDir(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		w, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: store})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for j, tx := range txs {
			if err := w.Append(tx); err != nil {
				b.Fatal(err)
			}
			if j%2000 == 1999 {
				if _, err := w.Commit(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		if _, err := w.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
}
