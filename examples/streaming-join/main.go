package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/state"
	"github.com/strata-data/strata/stream"
)

func main() {
	events := flag.Int("events", 20000, "data change events to generate (0: unlimited)")
	seed := flag.Int64("seed", 1, "generator seed")
	rate := flag.Float64("rate", 0, "events per second (0: as fast as possible)")
	every := flag.Int("every", 500, "print the result every N transactions")
	partitions := flag.Int("partitions", 0, "goroutines per stage (0: one per core)")
	stateDir := flag.String("state", "", "Pebble state and checkpoints under this directory (default: in memory, no checkpoints)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *events, *seed, *rate, *every, *partitions, *stateDir); err != nil {
		fmt.Fprintln(os.Stderr, "streaming-join:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, events int, seed int64, rate float64, every, partitions int, stateDir string) (err error) {
	gcfg := cdc.GeneratorConfig{Seed: seed, Events: events, Rate: rate, TxMetadata: true, AddColumnAt: -1}
	schemas, err := tableSchemas(ctx, gcfg)
	if err != nil {
		return err
	}
	var be state.Backend
	var ckpt string
	if stateDir != "" {
		be, err = state.OpenPebble(state.PebbleConfig{Dir: filepath.Join(stateDir, "state")})
		ckpt = filepath.Join(stateDir, "checkpoints")
	} else {
		be, err = state.NewMemory(state.MemoryConfig{})
	}
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, be.Close()) }()
	stages, err := revenueStages(schemas, be)
	if err != nil {
		return err
	}
	src, err := stream.NewCDCSource(stream.CDCSourceConfig{Source: cdc.NewGenerator(gcfg),
		Tables: []string{"public.orders", "public.customers", "public.payments"}})
	if err != nil {
		return err
	}
	out := &printSink{w: w, every: every, table: map[string]string{}}
	df, err := stream.NewDataflow(stream.DataflowConfig{Source: src, Stages: stages, Sink: out, State: be,
		Partitions: partitions, CheckpointDir: ckpt})
	if err != nil {
		return err
	}
	if err := df.Run(ctx); err != nil {
		return err
	}
	fmt.Fprintln(w, "final:")
	out.print()
	return nil
}

// tableSchemas reads the generator's table schemas off its first events.
func tableSchemas(ctx context.Context, cfg cdc.GeneratorConfig) (map[string]*change.Schema, error) {
	cfg.Rate, cfg.Events = 0, 0
	g := cdc.NewGenerator(cfg)
	if err := g.Open(ctx, cdc.Position{}); err != nil {
		return nil, err
	}
	defer g.Close()
	out := map[string]*change.Schema{}
	for len(out) < 3 {
		ev, err := g.Read(ctx)
		if err != nil {
			return nil, err
		}
		if ev.Schema != nil {
			out[ev.Table] = ev.Schema
		}
	}
	return out, nil
}

// revenueStages: orders ⟕ customers on customer_id ⋈ payments on order_id, then
// revenue per segment. JoinAggregate plans it with eager aggregation: payments
// are summed per order below the first join and per customer below the second
// (partitioned by those keys), so a customer's segment change moves one partial
// row instead of one row per payment of the customer.
func revenueStages(sc map[string]*change.Schema, be state.Backend) ([]stream.Stage, error) {
	q, err := stream.NewJoinAggregate(stream.JoinAggregateConfig{ID: "revenue", State: be,
		Inputs: []stream.JoinInput{
			{Name: "o", Table: "public.orders", Schema: sc["public.orders"]},
			{Name: "c", Table: "public.customers", Schema: sc["public.customers"], Type: reduce.LeftJoin,
				To: "o", ToKeys: []string{"customer_id"}, Keys: []string{"id"}},
			{Name: "p", Table: "public.payments", Schema: sc["public.payments"],
				To: "o", ToKeys: []string{"id"}, Keys: []string{"order_id"}},
		},
		GroupBy: []string{"c.segment"},
		Aggs: []reduce.Agg{{Func: reduce.Sum, Column: "p.amount", As: "revenue"},
			{Func: reduce.CountStar, As: "payments"}}})
	if err != nil {
		return nil, err
	}
	if !q.Eager() {
		return nil, fmt.Errorf("revenue query planned without eager aggregation: %s", q.NotEager())
	}
	return q.Stages(), nil
}

// printSink keeps the current result by segment and prints it every few
// transactions (positions).
type printSink struct {
	w          io.Writer
	every, txs int
	last       cdc.Position
	table      map[string]string
}

func (s *printSink) Write(ctx context.Context, b *change.Batch, pos cdc.Position) error {
	defer b.Release()
	if pos != s.last {
		s.last = pos
		if s.txs++; s.txs%s.every == 0 {
			fmt.Fprintf(s.w, "after %d transactions (at %s):\n", s.txs, pos)
			s.print()
		}
	}
	for i, op := range b.Ops() {
		row := b.Row(i)
		seg := "(no customer)"
		if !row[0].IsNull() {
			seg = row[0].AsString()
		}
		if op.IsRetraction() {
			delete(s.table, seg)
			continue
		}
		scale := b.Schema().Field(1).Type.(*arrow.Decimal128Type).Scale
		s.table[seg] = fmt.Sprintf("revenue %s from %d payments",
			change.FormatDecimal(row[1].AsDecimal(), scale), row[2].AsInt())
	}
	return nil
}

func (s *printSink) print() {
	segs := slices.Sorted(func(yield func(string) bool) {
		for k := range s.table {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range segs {
		fmt.Fprintf(s.w, "  %-14s %s\n", k, s.table[k])
	}
}

func (s *printSink) Flush(context.Context) error { return nil }
func (s *printSink) Close() error                { return nil }
