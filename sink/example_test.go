package sink_test

import (
	"context"
	"fmt"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/sink"
)

// A CSV sink shows a change stream as it is, one line per row with its op.
func ExampleCSV() {
	s := change.MustSchema([]arrow.Field{
		change.NotNull("segment", arrow.BinaryTypes.String),
		change.Col("revenue", &arrow.Decimal128Type{Precision: 12, Scale: 2}),
	}, "segment")
	b, _ := change.FromRows(memory.DefaultAllocator, s, [][]any{
		{change.Insert, "retail", "10.00"},
		{change.UpdateBefore, "retail", "10.00"},
		{change.UpdateAfter, "retail", "12.50"},
		{change.Insert, "smb, EU", nil},
	})
	ctx := context.Background()
	out, _ := sink.NewCSV(os.Stdout, sink.CSVConfig{})
	defer out.Close()
	_ = out.Write(ctx, b, cdc.Position{Major: 0x10}) // the sink releases b
	_ = out.Flush(ctx)
	// Output:
	// op,segment,revenue
	// +I,retail,10.00
	// -U,retail,10.00
	// +U,retail,12.50
	// +I,"smb, EU",
}

// A streaming checkpoint drives every sink through the same three calls: PreCommitAt
// when its barrier arrives, CommitAt once the checkpoint is complete, and RecoverAt on
// restart. The Parquet sink is two-phase; a CSV, Kafka or PostgreSQL sink would flush
// at PreCommitAt.
func ExampleTwoPhase() {
	ctx := context.Background()
	s := change.MustSchema([]arrow.Field{
		change.NotNull("segment", arrow.BinaryTypes.String),
		change.Col("orders", arrow.PrimitiveTypes.Int64),
	}, "segment")
	store := bronze.NewMemStore()
	cfg := sink.ParquetConfig{Store: store, Prefix: "gold/orders_per_segment", Schema: s}
	var out sink.Sink
	out, _ = sink.OpenParquet(ctx, cfg)

	write := func(major uint64, rows ...[]any) {
		b, _ := change.FromRows(memory.DefaultAllocator, s, rows)
		_ = out.Write(ctx, b, cdc.Position{Major: major})
	}
	show := func() {
		m, _ := sink.ReadParquet(ctx, store, cfg.Prefix, s, nil, func(b *change.Batch) { fmt.Print(b) })
		fmt.Printf("(checkpoint %d, position %s)\n", m.Checkpoint, m.Position)
	}

	write(1, []any{change.Insert, "retail", 1}, []any{change.Insert, "smb", 1})
	_ = sink.PreCommitAt(ctx, out, 1) // barrier 1: durable, invisible
	write(2, []any{change.UpdateBefore, "retail", 1}, []any{change.UpdateAfter, "retail", 2})
	_ = sink.CommitAt(ctx, out, 1) // checkpoint 1 complete: visible
	show()
	_ = sink.PreCommitAt(ctx, out, 2)
	_ = out.Close() // crash before checkpoint 2's commit

	out, _ = sink.OpenParquet(ctx, cfg) // restart, restoring checkpoint 2
	_ = sink.RecoverAt(ctx, out, 2)
	show()
	fmt.Println("resume after", out.(sink.Resumer).Committed())
	// Output:
	// op | segment | orders
	// +I | retail | 1
	// +I | smb | 1
	// (checkpoint 1, position 1/0/0)
	// op | segment | orders
	// +I | retail | 2
	// +I | smb | 1
	// (checkpoint 2, position 2/0/0)
	// resume after 2/0/0
}
