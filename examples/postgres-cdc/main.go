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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc/postgres"
)

// config is what the flags set.
type config struct {
	dsn, lake, publication, slot string
	tables                       []string
	exitWhenIdle                 bool
	snapshot                     postgres.SnapshotMode
}

func main() {
	var c config
	flag.StringVar(&c.dsn, "dsn", "", "PostgreSQL connection URL or DSN (required), e.g. postgres://user@host:5432/db")
	flag.StringVar(&c.lake, "lake", "strata-pg-lake", "directory of the bronze lake (created; a later run resumes it)")
	flag.StringVar(&c.publication, "publication", postgres.DefaultPublication, "publication to stream (created when missing)")
	flag.StringVar(&c.slot, "slot", postgres.DefaultSlot, "logical replication slot (created when missing)")
	tables := flag.String("tables", "", "comma-separated tables to publish when the publication is created (default: all tables)")
	flag.BoolVar(&c.exitWhenIdle, "exit-when-idle", false, "stop once everything the server has is in the lake")
	duration := flag.Duration("duration", 0, "stop after this long (0: until Ctrl-C)")
	snapshot := flag.String("snapshot", "initial", "initial (read the tables first), never, or when_needed (also take a new snapshot when the slot is lost or cannot be decoded)")
	flag.Parse()
	if c.dsn == "" {
		fmt.Fprintln(os.Stderr, "postgres-cdc: -dsn is required (a database with wal_level=logical)")
		flag.Usage()
		os.Exit(2)
	}
	if *tables != "" {
		c.tables = strings.Split(*tables, ",")
	}
	var err error
	if c.snapshot, err = postgres.ParseSnapshotMode(*snapshot); err != nil {
		fmt.Fprintln(os.Stderr, "postgres-cdc:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if err := run(ctx, os.Stdout, c); err != nil {
		fmt.Fprintln(os.Stderr, "postgres-cdc:", err)
		os.Exit(1)
	}
}

// run streams the database into the lake, printing a line per second, then verifies
// the lake.
func run(ctx context.Context, out io.Writer, c config) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := bronze.OpenDir(c.lake)
	if err != nil {
		return err
	}
	src := postgres.NewSource(postgres.Config{DSN: c.dsn, Publication: c.publication, Slot: c.slot, Tables: c.tables, Snapshot: c.snapshot, Logger: logger})
	defer src.Close()

	var (
		mu   sync.Mutex
		last bronze.IngestStats
	)
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
				fmt.Fprintf(out, "%8d changes committed  %7d/s  %4d commits  lake at %s\n", s.Events, s.Events-prev, s.Commits, s.Position)
				prev = s.Events
			}
		}
	}()
	st, err := bronze.Ingest(ctx, bronze.IngestConfig{
		Source:       src,
		Writer:       bronze.WriterConfig{Store: store},
		ExitWhenIdle: c.exitWhenIdle,
		Logger:       logger,
		Progress: func(s bronze.IngestStats) {
			mu.Lock()
			last = s
			mu.Unlock()
		},
	})
	close(done)
	wg.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	fmt.Fprintf(out, "done: %d changes in %d transactions, %d commits; lake at %s\n", st.Events, st.Txs, st.Commits, st.Position)
	r, err := bronze.OpenReader(context.WithoutCancel(ctx), store)
	if err != nil {
		return err
	}
	rep, err := r.Verify(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "verified: %d events in %d commits\n", rep.Events, rep.Commits)
	return nil
}
