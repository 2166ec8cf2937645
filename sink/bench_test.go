package sink_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/pgtest"
	"github.com/strata-data/strata/sink"
)

var benchSchema = change.MustSchema([]arrow.Field{
	change.NotNull("id", arrow.PrimitiveTypes.Int64),
	change.Col("segment", arrow.BinaryTypes.String),
	change.Col("day", arrow.FixedWidthTypes.Date32),
	change.Col("amount", &arrow.Decimal128Type{Precision: 18, Scale: 2}),
}, "id")

// benchBatches builds n rows of upsert-heavy changes over keys keys, in batches of 1024:
// a third inserts, the rest -U/+U pairs.
func benchBatches(b *testing.B, n, keys int) []*change.Batch {
	bl := change.NewBuilder(memory.DefaultAllocator, benchSchema)
	defer bl.Release()
	var out []*change.Batch
	segs := []string{"retail", "smb", "enterprise"}
	for i := 0; i < n; {
		id := int64(i*7919) % int64(keys)
		row := change.Row{change.Int(id), change.Str(segs[i%3]), change.Int(int64(20000 + i%365)), change.Decimal(decimal128.FromI64(int64(i)))}
		if i%3 == 0 {
			require.NoError(b, bl.Append(change.Insert, row))
			i++
		} else {
			require.NoError(b, bl.Append(change.UpdateBefore, row))
			require.NoError(b, bl.Append(change.UpdateAfter, row))
			i += 2
		}
		if bl.Len() >= 1024 {
			out = append(out, bl.NewBatch())
		}
	}
	if bl.Len() > 0 {
		out = append(out, bl.NewBatch())
	}
	return out
}

// runSink writes the batches (each its own position) and flushes every flushEvery.
func runSink(b *testing.B, s sink.Sink, batches []*change.Batch, flushEvery int) {
	ctx := context.Background()
	for i, bt := range batches {
		bt.Retain()
		if err := s.Write(ctx, bt, cdc.Position{Major: uint64(i + 1)}); err != nil {
			b.Fatal(err)
		}
		if i%flushEvery == flushEvery-1 {
			if err := s.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

func reportRows(b *testing.B, batches []*change.Batch) {
	rows := 0
	for _, bt := range batches {
		rows += bt.Len()
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkCSV(b *testing.B) {
	batches := benchBatches(b, 200_000, 50_000)
	for b.Loop() {
		s, _ := sink.NewCSV(io.Discard, sink.CSVConfig{})
		runSink(b, s, batches, 50)
	}
	reportRows(b, batches)
}

func BenchmarkParquet(b *testing.B) {
	batches := benchBatches(b, 200_000, 50_000)
	for b.Loop() {
		s, err := sink.OpenParquet(context.Background(), sink.ParquetConfig{Store: bronze.NewMemStore(), Prefix: "t", Schema: benchSchema})
		require.NoError(b, err)
		runSink(b, s, batches, 50) // 4 commits of the 50k-row table
	}
	reportRows(b, batches)
}

func BenchmarkKafka(b *testing.B) {
	brokers := newBroker(b, "bench")
	batches := benchBatches(b, 200_000, 50_000)
	for b.Loop() {
		s, err := sink.NewKafka(sink.KafkaConfig{Brokers: brokers, Topic: "bench", Schema: benchSchema})
		require.NoError(b, err)
		runSink(b, s, batches, 50)
		require.NoError(b, s.Close())
	}
	reportRows(b, batches)
}

func BenchmarkPostgres(b *testing.B) {
	dsn := pgtest.Shared(b).CreateDatabase(b)
	batches := benchBatches(b, 200_000, 50_000)
	n := 0
	for b.Loop() {
		n++
		s, err := sink.OpenPostgres(context.Background(), sink.PostgresConfig{DSN: dsn, Table: "bench", Schema: benchSchema,
			Name: fmt.Sprintf("bench-%d-%d", n, time.Now().UnixNano()), Logger: slog.New(slog.DiscardHandler)})
		require.NoError(b, err)
		runSink(b, s, batches, 50) // 4 transactions of 50k row changes
		require.NoError(b, s.Close())
	}
	reportRows(b, batches)
}
