package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-data/strata/cdc"
)

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long to run (0: until Ctrl-C or -events)")
	rate := flag.Float64("rate", 20000, "events per second the generator emits (0: as fast as possible)")
	events := flag.Int("events", 0, "stop after this many events (0: no limit)")
	seed := flag.Int64("seed", 1, "generator seed; the same seed gives the same events")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if err := run(ctx, os.Stdout, *seed, *rate, *events); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// stats is what the summary line reports; the pipeline loop writes, the ticker reads.
type stats struct {
	mu      sync.Mutex
	txs     int64
	events  int64
	byTable map[string]int64
}

func (s *stats) add(tx *cdc.Tx) {
	s.mu.Lock()
	s.txs++
	s.events += int64(len(tx.Events))
	for i := range tx.Events {
		s.byTable[tx.Events[i].Table]++
	}
	s.mu.Unlock()
}

func (s *stats) snapshot() (int64, int64, map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int64, len(s.byTable))
	for k, v := range s.byTable {
		m[k] = v
	}
	return s.txs, s.events, m
}

func run(ctx context.Context, out io.Writer, seed int64, rate float64, events int) error {
	reg := prometheus.NewRegistry()
	metrics := cdc.NewMetrics(reg)
	dead := cdc.NewMemoryDeadLetters()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	src := cdc.NewGenerator(cdc.GeneratorConfig{Seed: seed, Rate: rate, Events: events, TxMetadata: true, Metrics: metrics, DeadLetters: dead})
	if err := src.Open(ctx, cdc.Position{}); err != nil {
		return err
	}
	defer src.Close()
	asm := cdc.NewAssembler(cdc.AssemblerConfig{Metrics: metrics, DeadLetters: dead, Logger: logger})

	st := &stats{byTable: map[string]int64{}}
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // one summary line per second
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var lastTx, lastEv int64
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				txs, evs, _ := st.snapshot()
				fmt.Fprintf(out, "%5.0fs  %7d tx/s  %8d events/s  open tx %d  dead letters %d\n",
					time.Since(start).Seconds(), txs-lastTx, evs-lastEv, asm.Open(), dead.Len())
				lastTx, lastEv = txs, evs
			}
		}
	}()

	err := pump(ctx, src, asm, st)
	close(done)
	wg.Wait()
	if err != nil {
		return err
	}

	elapsed := time.Since(start)
	txs, evs, byTable := st.snapshot()
	tables := make([]string, 0, len(byTable))
	for t := range byTable {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	parts := make([]string, len(tables))
	for i, t := range tables {
		parts[i] = fmt.Sprintf("%s %d", t, byTable[t])
	}
	fmt.Fprintf(out, "done in %.1fs: %d transactions, %d events (%.0f events/s), last commit %s; %s; dead letters %d\n",
		elapsed.Seconds(), txs, evs, float64(evs)/elapsed.Seconds(), asm.LastCommit(), strings.Join(parts, ", "), dead.Len())
	return nil
}

// pump reads the source into the assembler and acks each whole transaction once it has
// been handled, until the context ends or the source is exhausted.
func pump(ctx context.Context, src cdc.Source, asm *cdc.Assembler, st *stats) error {
	drain := func() error {
		for {
			tx, ok := asm.Next()
			if !ok {
				return nil
			}
			st.add(&tx)
			if err := src.Ack(ctx, tx.Commit); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
	for {
		ev, err := src.Read(ctx)
		switch {
		case err == nil:
			if err := asm.Add(ctx, ev); err != nil {
				return err
			}
		case errors.Is(err, cdc.ErrIdle):
			if err := asm.Idle(ctx); err != nil {
				return err
			}
		case errors.Is(err, io.EOF):
			if err := asm.Flush(ctx); err != nil {
				return err
			}
			return drain()
		case ctx.Err() != nil:
			return drain() // Ctrl-C or -duration: stop cleanly after what is complete
		default:
			return err
		}
		if err := drain(); err != nil {
			return err
		}
	}
}
