package silver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/cputime"
	"github.com/strata-data/strata/silver"
)

var benchSchema = change.MustSchema([]arrow.Field{
	change.NotNull("id", arrow.PrimitiveTypes.Int64),
	change.Col("customer_id", arrow.PrimitiveTypes.Int64),
	change.Col("status", arrow.BinaryTypes.String),
	change.Col("amount", &arrow.Decimal128Type{Precision: 12, Scale: 2}),
	change.Col("updated_at", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}),
}, "id")

var statuses = []string{"new", "paid", "shipped", "delivered", "cancelled"}

type benchGen struct {
	r   *rand.Rand
	pos uint64
}

func (g *benchGen) row(id int64) change.Row {
	return change.Row{change.Int(id), change.Int(g.r.Int64N(100_000)), change.Str(statuses[g.r.IntN(len(statuses))]),
		change.Decimal(decimal128.FromI64(g.r.Int64N(10_000_000))), change.Int(1_767_225_600_000_000 + int64(g.pos))}
}

// txs returns transactions of txSize events each, n events in all: inserts of ids
// [from, from+n) when insert, else updates of random ids below keys (the before image
// holding the key only, as REPLICA IDENTITY DEFAULT gives).
func (g *benchGen) txs(n, txSize int, insert bool, from, keys int64) []cdc.Tx {
	out := make([]cdc.Tx, 0, n/txSize+1)
	evs := make([]cdc.Event, n)
	for i := range evs {
		g.pos++
		ev := cdc.Event{Table: "public.orders", Schema: benchSchema, Pos: cdc.Position{Major: g.pos}}
		if insert {
			ev.Op, ev.After = cdc.OpCreate, g.row(from+int64(i))
		} else {
			id := g.r.Int64N(keys)
			ev.Op, ev.After = cdc.OpUpdate, g.row(id)
			ev.Before = change.Row{change.Int(id), change.Absent(), change.Absent(), change.Absent(), change.Absent()}
		}
		evs[i] = ev
	}
	for i := 0; i < n; i += txSize {
		j := min(i+txSize, n)
		out = append(out, cdc.Tx{ID: fmt.Sprint(i), Events: evs[i:j:j], Commit: evs[j-1].Pos})
	}
	return out
}

func benchStore(b *testing.B) *bronze.DirStore {
	s, err := bronze.OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkApplyUpdates applies update-heavy batches (200 000 row changes, 10 per
// transaction) to a table of 1M keys on a local directory store, fsync included.
// Run with -cpu 1 for the one-core figure; it reports row changes per second.
func BenchmarkApplyUpdates(b *testing.B) {
	ctx := context.Background()
	const keys, batch = 1_000_000, 200_000
	store := benchStore(b)
	tb, err := silver.Open(ctx, store, "public.orders", silver.Config{Compaction: silver.CompactPolicy{MaxFiles: -1, MaxDeadFraction: -1}})
	if err != nil {
		b.Fatal(err)
	}
	g := &benchGen{r: rand.New(rand.NewPCG(1, 1))}
	for i := int64(0); i < keys; i += batch {
		if _, err := tb.Apply(ctx, g.txs(batch, 1000, true, i, 0)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var applied int64
	var busy, cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		txs := g.txs(batch, 10, false, 0, keys)
		b.StartTimer()
		start, cpu0 := time.Now(), cputime.Process()
		if _, err := tb.Apply(ctx, txs); err != nil {
			b.Fatal(err)
		}
		busy += time.Since(start)
		cpu += cputime.Process() - cpu0
		applied += batch
	}
	b.ReportMetric(float64(applied)/busy.Seconds(), "changes/s")
	// On a shared machine the wall clock counts other processes' turns too: the CPU
	// time this process spent (one core with -cpu 1) is the steadier figure.
	b.ReportMetric(float64(applied)/cpu.Seconds(), "changes/cpu-s")
}

// benchRows is the size of the read benchmark's table: 10M rows by the issue, fewer
// by default on a shared machine (STRATA_SILVER_BENCH_ROWS sets it).
func benchRows() int {
	if s := os.Getenv("STRATA_SILVER_BENCH_ROWS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
	}
	return 2_000_000
}

// readTable builds a table of n keys in 10 applies of inserts, then 5 applies of
// n/20 updates each (so ~25% of the stored rows are dead, in 15 data files and 5
// delete files): the shape merge-on-read leaves before compaction.
func readTable(b *testing.B, n int) (*bronze.DirStore, *silver.Table) {
	ctx := context.Background()
	store := benchStore(b)
	tb, err := silver.Open(ctx, store, "public.orders", silver.Config{})
	if err != nil {
		b.Fatal(err)
	}
	g := &benchGen{r: rand.New(rand.NewPCG(2, 2))}
	step := n / 10
	for i := 0; i < n; i += step {
		if _, err := tb.Apply(ctx, g.txs(step, 1000, true, int64(i), 0)); err != nil {
			b.Fatal(err)
		}
	}
	for range 5 {
		if _, err := tb.Apply(ctx, g.txs(n/20, 100, false, 0, int64(n))); err != nil {
			b.Fatal(err)
		}
	}
	return store, tb
}

func scanAll(b *testing.B, tb *silver.Table) int64 {
	sc, err := tb.Scan(context.Background(), silver.ScanOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	var n int64
	for sc.Next() {
		n += int64(sc.Batch().Len())
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	return n
}

// readParquet reads every row of one Parquet file with pqarrow, as the scan does
// (same batch size, checksum not included): the yardstick.
func readParquet(b *testing.B, data []byte) int64 {
	pr, err := file.NewParquetReader(bytes.NewReader(data), file.WithReadProps(parquet.NewReaderProperties(memory.DefaultAllocator)))
	if err != nil {
		b.Fatal(err)
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, memory.DefaultAllocator)
	if err != nil {
		b.Fatal(err)
	}
	rr, err := fr.GetRecordReader(context.Background(), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer rr.Release()
	var n int64
	for rr.Next() {
		n += rr.RecordBatch().NumRows()
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		b.Fatal(err)
	}
	return n
}

// BenchmarkRead compares reading a table at its latest snapshot (merge-on-read: 15
// files, 25% dead rows skipped by position bitmaps; then after compaction) with
// reading the same rows from one compacted Parquet file. Each sub-benchmark reports
// rows/s; the ratio is the criterion (at most 1.5).
func BenchmarkRead(b *testing.B) {
	n := benchRows()
	store, tb := readTable(b, n)
	ctx := context.Background()
	b.Run(fmt.Sprintf("rows=%d/silver-merge-on-read", n), func(b *testing.B) {
		cpu0 := cputime.Process()
		for b.Loop() {
			if got := scanAll(b, tb); got != int64(n) {
				b.Fatalf("%d rows, want %d", got, n)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(n)*float64(b.N)/(cputime.Process()-cpu0).Seconds(), "rows/cpu-s")
	})
	if _, _, err := tb.Compact(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("rows=%d/silver-compacted", n), func(b *testing.B) {
		cpu0 := cputime.Process()
		for b.Loop() {
			if got := scanAll(b, tb); got != int64(n) {
				b.Fatalf("%d rows, want %d", got, n)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(n)*float64(b.N)/(cputime.Process()-cpu0).Seconds(), "rows/cpu-s")
	})
	s, _ := tb.Latest()
	if len(s.Added) != 1 {
		b.Fatalf("compaction wrote %d files", len(s.Added))
	}
	path := filepath.Join(store.Root(), filepath.FromSlash(s.Added[0].Name))
	b.Run(fmt.Sprintf("rows=%d/one-parquet-file", n), func(b *testing.B) {
		cpu0 := cputime.Process()
		for b.Loop() {
			data, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			if got := readParquet(b, data); got != int64(n) {
				b.Fatalf("%d rows, want %d", got, n)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(n)*float64(b.N)/(cputime.Process()-cpu0).Seconds(), "rows/cpu-s")
	})
}
