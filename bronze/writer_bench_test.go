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
		if err := asm.Add(ctx, &ev); err != nil {
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

// BenchmarkWriterDir appends the generator workload to a directory lake (real fsyncs):
// Avro encoding (snappy), file puts, manifest commits. Two commit cadences: Ingest's
// default (every 50 000 events) and small commits (every 2000 transactions, ~2700
// events), where the fsyncs of four puts per commit dominate.
func BenchmarkWriterDir(b *testing.B) {
	txs := assembled(b, 100000)
	events := 0
	for _, tx := range txs {
		events += len(tx.Events)
	}
	for _, every := range []struct {
		name   string
		events int
	}{{"commit=50000events", 50000}, {"commit=2000tx", 0}} {
		b.Run(every.name, func(b *testing.B) {
			ctx := context.Background()
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
				pending := 0
				for j, tx := range txs {
					if err := w.Append(tx); err != nil {
						b.Fatal(err)
					}
					pending += len(tx.Events)
					if every.events > 0 && pending >= every.events || every.events == 0 && j%2000 == 1999 {
						if _, err := w.Commit(ctx); err != nil {
							b.Fatal(err)
						}
						pending = 0
					}
				}
				if _, err := w.Commit(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkReplay replays a directory lake of the generator workload in global commit
// order: reads, sha256 checks, Avro decoding (snappy) and the merge across tables.
func BenchmarkReplay(b *testing.B) {
	txs := assembled(b, 200000)
	ctx := context.Background()
	store, err := bronze.OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	w, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	for j, tx := range txs {
		if err := w.Append(tx); err != nil {
			b.Fatal(err)
		}
		if j%20000 == 19999 {
			if _, err := w.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := w.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	r, err := bronze.OpenReader(ctx, store)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		for _, err := range r.Replay(ctx, bronze.ReplayOptions{}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
