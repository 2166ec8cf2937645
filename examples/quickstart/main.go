package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/plan"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/silver"
	"github.com/strata-data/strata/sink"
	"github.com/strata-data/strata/state"
	"github.com/strata-data/strata/stream"
)

// config is what the flags set.
type config struct {
	lake   string
	seed   int64
	rate   float64
	events int
}

func main() {
	var c config
	duration := flag.Duration("duration", 10*time.Second, "how long to run (0: until Ctrl-C or -events)")
	flag.StringVar(&c.lake, "lake", "strata-data", "directory of the bronze lake (created; a later run resumes it)")
	flag.Float64Var(&c.rate, "rate", 5000, "events per second the generator emits (0: as fast as possible)")
	flag.IntVar(&c.events, "events", 0, "stop after this many events of the stream (0: no limit)")
	flag.Int64Var(&c.seed, "seed", 1, "generator seed; the same seed gives the same events")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if err := run(ctx, os.Stdout, c); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run ingests the generator's stream into the lake, printing a line per second, then
// lists the lake's latest commits and verifies it.
func run(ctx context.Context, out io.Writer, c config) error {
	reg := prometheus.NewRegistry()
	cdcMetrics, lakeMetrics := cdc.NewMetrics(reg), bronze.NewMetrics(reg)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := bronze.OpenDir(c.lake)
	if err != nil {
		return err
	}
	dead, err := cdc.NewFileDeadLetters(c.lake + "/deadletters")
	if err != nil {
		return err
	}
	defer dead.Close()
	// From the 10 000th event on, orders have a new column (discount): silver reads
	// older rows through the new schema, and the streaming mart's source projects
	// every event onto the schemas its operators were built for.
	src := cdc.NewGenerator(cdc.GeneratorConfig{Seed: c.seed, Rate: c.rate, Events: c.events, TxMetadata: true,
		AddColumnAt: 10_000, Metrics: cdcMetrics, DeadLetters: dead})
	defer src.Close()

	var (
		mu   sync.Mutex
		last bronze.IngestStats
	)
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // one summary line per second
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var prev int64
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				mu.Lock()
				s := last
				mu.Unlock()
				fmt.Fprintf(out, "%5.0fs  %8d events committed  %7d events/s  %4d commits  lake at %s\n",
					time.Since(start).Seconds(), s.Events, s.Events-prev, s.Commits, s.Position)
				prev = s.Events
			}
		}
	}()
	st, err := bronze.Ingest(ctx, bronze.IngestConfig{
		Source:         src,
		Writer:         bronze.WriterConfig{Store: store},
		DeadLetters:    dead,
		CDCMetrics:     cdcMetrics,
		Metrics:        lakeMetrics,
		CommitInterval: 500 * time.Millisecond,
		Logger:         logger,
		Progress: func(s bronze.IngestStats) {
			mu.Lock()
			last = s
			mu.Unlock()
		},
	})
	close(done)
	wg.Wait()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "done in %.1fs: %d transactions, %d events (%.0f events/s) in %d commits; lake at %s\n",
		st.Elapsed.Seconds(), st.Txs, st.Events, float64(st.Events)/max(st.Elapsed.Seconds(), 1e-9), st.Commits, st.Position)
	if err := report(ctx, out, store, c.lake); err != nil {
		return err
	}
	// What follows works on what is committed: an interrupted ingest is not a reason to
	// stop short of silver and the mart.
	ctx = context.WithoutCancel(ctx)
	if err := applySilver(ctx, out, store, logger, reg); err != nil {
		return err
	}
	batch, err := sqlMart(ctx, out, store)
	if err != nil {
		return err
	}
	printMart(out, "revenue per customer segment per day (SQL over silver)", batch)
	streamed, err := streamMart(ctx, out, store, c.lake, logger)
	if err != nil {
		return err
	}
	printMart(out, "the same mart maintained by streaming (joins and aggregate over keyed state)", streamed)
	if diff := diffMarts(batch, streamed); diff != "" {
		return fmt.Errorf("the SQL mart and the streaming mart disagree: %s", diff)
	}
	fmt.Fprintf(out, "\nthe SQL mart and the streaming mart agree: %d rows\n", len(batch))
	return nil
}

// streamMart maintains the mart incrementally: the lake's transactions, in commit
// order, flow through orders ⋈ customers ⋈ payments and a group-by into a Parquet
// table. State and the source position are checkpointed under the lake, so a later
// run continues where this one stopped instead of starting over.
func streamMart(ctx context.Context, out io.Writer, store bronze.Store, dir string, logger *slog.Logger) ([]martRow, error) {
	start := time.Now()
	fmt.Fprintf(out, "\nstreaming mart: following the lake's transactions through orders ⋈ customers ⋈ payments ...\n")
	schemas, err := tableSchemas(ctx, store)
	if err != nil {
		return nil, err
	}
	be, err := state.NewMemory(state.MemoryConfig{})
	if err != nil {
		return nil, err
	}
	defer be.Close()
	orders, customers, payments := schemas["public.orders"], schemas["public.customers"], schemas["public.payments"]
	oc := func() (*stream.Join, error) {
		return stream.NewJoin(stream.JoinConfig{ID: "oc", Left: orders, Right: customers,
			LeftKeys: []string{"customer_id"}, RightKeys: []string{"id"}, RightPrefix: "c_", State: be})
	}
	j1, err := oc()
	if err != nil {
		return nil, err
	}
	ocp := func() (*stream.Join, error) {
		return stream.NewJoin(stream.JoinConfig{ID: "ocp", Left: j1.Schema(), Right: payments,
			LeftKeys: []string{"id"}, RightKeys: []string{"order_id"}, RightPrefix: "p_", State: be})
	}
	j2, err := ocp()
	if err != nil {
		return nil, err
	}
	agg := func() (stream.Node, error) {
		proj, err := stream.NewProject(j2.Schema(), []string{"segment", "order_date", "id", "p_amount"})
		if err != nil {
			return nil, err
		}
		a, err := stream.NewAggregate(stream.AggregateConfig{ID: "mart", Schema: proj.Schema(),
			GroupBy: []string{"segment", "order_date"},
			Aggs:    []reduce.Agg{{Func: reduce.CountDistinct, Column: "id"}, {Func: reduce.Sum, Column: "p_amount"}},
			State:   be})
		if err != nil {
			return nil, err
		}
		return stream.Single(j2.Schema(), stream.Chain(proj, a)), nil
	}
	last, err := agg()
	if err != nil {
		return nil, err
	}
	const prefix = "gold/revenue_streaming"
	pq, err := sink.OpenParquet(ctx, sink.ParquetConfig{Store: store, Prefix: prefix, Schema: last.Schema()})
	if err != nil {
		return nil, err
	}
	defer pq.Close()
	src, err := stream.NewCDCSource(stream.CDCSourceConfig{Source: bronze.NewSource(bronze.SourceConfig{Store: store}),
		Tables: []string{"public.orders", "public.customers", "public.payments"}, Schemas: schemas})
	if err != nil {
		return nil, err
	}
	df, err := stream.NewDataflow(stream.DataflowConfig{
		Source: src,
		Stages: []stream.Stage{
			{Name: "orders-customers", Inputs: []stream.StageInput{{Table: "public.orders", Key: []string{"customer_id"}},
				{Table: "public.customers", Key: []string{"id"}}}, Build: func(int) (stream.Node, error) { return oc() }},
			{Name: "payments", Inputs: []stream.StageInput{{Stage: "orders-customers", Key: []string{"id"}},
				{Table: "public.payments", Key: []string{"order_id"}}}, Build: func(int) (stream.Node, error) { return ocp() }},
			{Name: "mart", Inputs: []stream.StageInput{{Stage: "payments", Key: []string{"segment", "order_date"}}},
				Build: func(int) (stream.Node, error) { return agg() }},
		},
		Sink:          pq,
		State:         be,
		EpochTxs:      1000,
		CheckpointDir: filepath.Join(dir, "stream-checkpoints"),
		Logger:        logger,
	})
	if err != nil {
		return nil, err
	}
	if err := df.Run(ctx); err != nil {
		return nil, fmt.Errorf("streaming mart: %w", err)
	}
	var rows []martRow
	_, err = sink.ReadParquet(ctx, store, prefix, last.Schema(), nil, func(b *change.Batch) {
		defer b.Release()
		for i := range b.Len() {
			rows = append(rows, martRow{segment: b.Column(0).ValueStr(i), day: b.Column(1).ValueStr(i),
				orders: b.Column(2).(*array.Int64).Value(i), revenue: decimalText(b.Column(3), i)})
		}
	})
	if err != nil {
		return nil, err
	}
	sortMart(rows)
	id, pos := df.LastCheckpoint()
	fmt.Fprintf(out, "streaming mart: %d rows in %.2fs, checkpoint %d at %s\n", len(rows), time.Since(start).Seconds(), id, pos)
	return rows, nil
}

// tableSchemas returns the latest schema of each table of the lake.
func tableSchemas(ctx context.Context, store bronze.Store) (map[string]*change.Schema, error) {
	m, err := bronze.OpenManifest(ctx, store)
	if err != nil {
		return nil, err
	}
	reg, err := m.Schemas()
	if err != nil {
		return nil, err
	}
	out := map[string]*change.Schema{}
	for _, t := range reg.Tables() {
		if v, ok := reg.Latest(t); ok {
			out[t] = v.Schema
		}
	}
	return out, nil
}

// decimalText is the exact text of a decimal cell, at its column's scale.
func decimalText(a arrow.Array, i int) string {
	d := a.(*array.Decimal128)
	return change.FormatDecimal(d.Value(i), d.DataType().(*arrow.Decimal128Type).Scale)
}

// diffMarts names the first difference between two sorted marts ("" when equal).
func diffMarts(a, b []martRow) string {
	for i := range max(len(a), len(b)) {
		switch {
		case i >= len(a):
			return fmt.Sprintf("streaming has an extra row %+v", b[i])
		case i >= len(b):
			return fmt.Sprintf("streaming lacks row %+v", a[i])
		case a[i] != b[i]:
			return fmt.Sprintf("SQL %+v, streaming %+v", a[i], b[i])
		}
	}
	return ""
}

// applySilver brings every silver table up to date with the lake (resuming from what
// an earlier run applied) and prints each table's latest snapshot.
func applySilver(ctx context.Context, out io.Writer, store bronze.Store, logger *slog.Logger, reg prometheus.Registerer) error {
	a, err := silver.NewApplier(silver.ApplierConfig{Store: store, Compact: true, Logger: logger, Metrics: silver.NewMetrics(reg)})
	if err != nil {
		return err
	}
	start := time.Now()
	st, err := a.CatchUp(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nsilver: %d row changes applied in %.1fs\n", st.Changes, time.Since(start).Seconds())
	for _, name := range a.Names() {
		t, _ := a.Table(name)
		snap, _ := t.Latest()
		fmt.Fprintf(out, "  %-18s %8d rows  snapshot %-4d through %s\n", name, snap.Rows, snap.ID, snap.Position)
	}
	return nil
}

// martSQL is the gold mart: paid revenue per customer segment per order day.
const martSQL = `
SELECT c.segment, o.order_date AS day, count(DISTINCT o.id) AS orders, sum(p.amount) AS revenue
FROM payments p
JOIN orders o ON p.order_id = o.id
JOIN customers c ON o.customer_id = c.id
GROUP BY c.segment, o.order_date`

// martRow is one row of the mart, keyed by (segment, day).
type martRow struct {
	segment, day string
	orders       int64
	revenue      string // exact decimal text
}

// sqlMart computes the mart in batch: SQL over the lake's silver tables.
func sqlMart(ctx context.Context, out io.Writer, store bronze.Store) ([]martRow, error) {
	start := time.Now()
	res, err := plan.Query(ctx, plan.NewLakeCatalog(store), martSQL)
	if err != nil {
		return nil, fmt.Errorf("mart: %w", err)
	}
	defer res.Release()
	var rows []martRow
	for _, rec := range res.Batches {
		for i := range int(rec.NumRows()) {
			rows = append(rows, martRow{
				segment: rec.Column(0).ValueStr(i),
				day:     rec.Column(1).ValueStr(i),
				orders:  rec.Column(2).(*array.Int64).Value(i),
				revenue: decimalText(rec.Column(3), i),
			})
		}
	}
	sortMart(rows)
	fmt.Fprintf(out, "\nSQL mart: %d rows in %.2fs\n", len(rows), time.Since(start).Seconds())
	return rows, nil
}

func sortMart(rows []martRow) {
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].day != rows[j].day {
			return rows[i].day < rows[j].day
		}
		return rows[i].segment < rows[j].segment
	})
}

// printMart prints the mart's latest days.
func printMart(out io.Writer, title string, rows []martRow) {
	fmt.Fprintf(out, "%s, latest days:\n", title)
	fmt.Fprintf(out, "  %-10s  %-12s  %7s  %14s\n", "day", "segment", "orders", "revenue")
	for _, r := range rows[max(0, len(rows)-12):] {
		fmt.Fprintf(out, "  %-10s  %-12s  %7d  %14s\n", r.day, r.segment, r.orders, r.revenue)
	}
}

// report lists the lake's latest commits and its totals, verified.
func report(ctx context.Context, out io.Writer, store bronze.Store, dir string) error {
	r, err := bronze.OpenReader(context.WithoutCancel(ctx), store)
	if err != nil {
		return err
	}
	commits := r.Manifest().Commits()
	fmt.Fprintf(out, "\nbronze lake %s: %d commits; the latest:\n", dir, len(commits))
	for _, c := range commits[max(0, len(commits)-5):] {
		var events int64
		tables := map[string]bool{}
		for _, f := range c.Files {
			events += f.Rows
			tables[f.Table] = true
		}
		names := make([]string, 0, len(tables))
		for t := range tables {
			names = append(names, t)
		}
		sort.Strings(names)
		fmt.Fprintf(out, "  commit %-5d %s  %6d transactions  %7d events  %s  position %s\n",
			c.ID, c.Time.Format(time.TimeOnly), c.Txs, events, strings.Join(names, ","), c.Position)
	}
	rep, err := r.Verify(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "verified: %d events in %d tables, %d files, %d duplicate positions\n", rep.Events, rep.Tables, rep.Files, rep.DuplicatePositions)
	fmt.Fprintf(out, "next: go run ./cmd/strata bronze replay --lake %s | head\n", dir)
	return nil
}
