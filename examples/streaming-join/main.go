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

// revenueStages: orders ⟕ customers on customer_id (partitioned by customer),
// ⋈ payments on order_id (partitioned by order), then revenue per segment
// (partitioned by segment).
func revenueStages(sc map[string]*change.Schema, be state.Backend) ([]stream.Stage, error) {
	oc := func() (*stream.Join, error) {
		return stream.NewJoin(stream.JoinConfig{ID: "oc", Type: reduce.LeftJoin, Left: sc["public.orders"],
			Right: sc["public.customers"], LeftKeys: []string{"customer_id"}, RightKeys: []string{"id"},
			RightPrefix: "c_", State: be})
	}
	j1, err := oc()
	if err != nil {
		return nil, err
	}
	ocp := func() (*stream.Join, error) {
		return stream.NewJoin(stream.JoinConfig{ID: "ocp", Left: j1.Schema(), Right: sc["public.payments"],
			LeftKeys: []string{"id"}, RightKeys: []string{"order_id"}, RightPrefix: "p_", State: be})
	}
	j2, err := ocp()
	if err != nil {
		return nil, err
	}
	agg := func() (stream.Node, error) {
		proj, err := stream.NewProject(j2.Schema(), []string{"segment", "p_amount"})
		if err != nil {
			return nil, err
		}
		a, err := stream.NewAggregate(stream.AggregateConfig{ID: "revenue", Schema: proj.Schema(),
			GroupBy: []string{"segment"}, State: be,
			Aggs: []reduce.Agg{{Func: reduce.Sum, Column: "p_amount", As: "revenue"}, {Func: reduce.CountStar, As: "payments"}}})
		if err != nil {
			return nil, err
		}
		return stream.Single(j2.Schema(), stream.Chain(proj, a)), nil
	}
	return []stream.Stage{
		{Name: "orders-customers", Build: func(int) (stream.Node, error) { return oc() },
			Inputs: []stream.StageInput{{Table: "public.orders", Key: []string{"customer_id"}}, {Table: "public.customers", Key: []string{"id"}}}},
		{Name: "payments", Build: func(int) (stream.Node, error) { return ocp() },
			Inputs: []stream.StageInput{{Stage: "orders-customers", Key: []string{"id"}}, {Table: "public.payments", Key: []string{"order_id"}}}},
		{Name: "revenue", Build: func(int) (stream.Node, error) { return agg() },
			Inputs: []stream.StageInput{{Stage: "payments", Key: []string{"segment"}}}},
	}, nil
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
