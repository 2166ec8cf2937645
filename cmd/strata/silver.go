package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/silver"
)

const silverHelp = `
Reads and maintains the silver tables of a lake (keyed, versioned Parquet tables
applied from bronze; "strata ingest" maintains them unless --silver=false):
  ls       one line per table (latest snapshot, position, rows, files), or with
           --table one line per snapshot of that table
  dump     prints a table's rows as of a snapshot (--as-of ID, or --at POSITION;
           default the latest), ordered by primary key: CSV with a header row,
           RFC 4180 quoting, NULL as an empty field and the empty string as "",
           dates YYYY-MM-DD, timestamps RFC 3339, decimals exact, bytes base64;
           or JSON, one object per row
  apply    applies what bronze has committed since the silver tables' positions
  compact  rewrites each table's live rows into fresh files, dropping delete files`

func runSilver(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs := newFlags("silver", "ls|dump|apply|compact --lake DIR [flags]", silverHelp)
		if st, done := fs.parse(args, stdout, stderr); done {
			return st
		}
		fs.usage(stderr)
		return 1
	}
	sub, args := args[0], args[1:]
	fs := newFlags("silver "+sub, "--lake DIR [flags]", silverHelp)
	lake := fs.String("lake", "", "lake directory (required)")
	table := fs.String("table", "", "the table")
	var asOf *uint64
	var at, format *string
	batch := new(int)
	switch sub {
	case "ls", "compact":
	case "apply":
		batch = fs.Int("batch-changes", 200_000, "publish a snapshot per table once this many row events are pending")
	case "dump":
		asOf = fs.Uint64("as-of", 0, "snapshot id to read (default: the latest)")
		at = fs.String("at", "", "read the table as of this bronze commit position (hex/hex/hex)")
		format = fs.String("format", "csv", "csv or json")
	default:
		fmt.Fprintf(stderr, "strata silver: unknown command %q (ls, dump, apply, compact)\n", sub)
		return 1
	}
	if st, done := fs.parse(args, stdout, stderr); done {
		return st
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "strata silver %s: %v\n", sub, err)
		return 1
	}
	if *lake == "" || fs.NArg() > 0 {
		return fail(fmt.Errorf("--lake is required, and nothing else"))
	}
	if _, err := os.Stat(*lake); err != nil {
		return fail(err)
	}
	store, err := bronze.OpenDir(*lake)
	if err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch sub {
	case "ls":
		err = silverLs(ctx, store, *table, stdout)
	case "dump":
		if *table == "" {
			return fail(fmt.Errorf("--table is required"))
		}
		if *format != "csv" && *format != "json" {
			return fail(fmt.Errorf("--format %q: want csv or json", *format))
		}
		err = silverDump(ctx, store, *table, *asOf, *at, *format, stdout)
	case "apply":
		var a *silver.Applier
		if a, err = silver.NewApplier(silver.ApplierConfig{Store: store, Compact: true, BatchChanges: *batch}); err == nil {
			var st silver.ApplyStats
			st, err = a.CatchUp(ctx)
			fmt.Fprintf(stdout, "applied %d transactions (%d row events) in %d snapshots; silver at %s\n", st.Txs, st.Changes, st.Snapshots, st.Position)
		}
	case "compact":
		err = silverCompact(ctx, store, *table, stdout)
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

// openSilver opens an existing silver table.
func openSilver(ctx context.Context, store bronze.Store, name string) (*silver.Table, error) {
	t, err := silver.Open(ctx, store, name, silver.Config{})
	if err != nil {
		return nil, err
	}
	if _, ok := t.Latest(); !ok {
		names, _ := silver.Tables(ctx, store)
		return nil, fmt.Errorf("%w: %q (the lake has: %s)", silver.ErrNotFound, name, strings.Join(names, ", "))
	}
	return t, nil
}

func silverLs(ctx context.Context, store bronze.Store, table string, stdout io.Writer) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if table != "" {
		t, err := openSilver(ctx, store, table)
		if err != nil {
			return err
		}
		fmt.Fprintln(tw, "SNAPSHOT\tTIME\tOP\tPOSITION\tTXS\tCHANGES\tROWS\tADDED\tREMOVED\tDELETE FILES\tSCHEMA")
		for _, s := range t.Snapshots() {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\tv%d\n", s.ID, s.Time.Format(time.RFC3339), s.Op, s.Position,
				s.Txs, s.Changes, s.Rows, len(s.Added), len(s.Removed), len(s.Deletes), s.SchemaVersion)
		}
		return tw.Flush()
	}
	names, err := silver.Tables(ctx, store)
	if err != nil {
		return err
	}
	fmt.Fprintln(tw, "TABLE\tSNAPSHOTS\tPOSITION\tROWS\tFILES\tDELETE FILES\tBYTES\tSCHEMA")
	for _, n := range names {
		t, err := openSilver(ctx, store, n)
		if err != nil {
			return err
		}
		s, _ := t.Latest()
		files, dels, size := t.Files()
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%d\tv%d (%s)\n", n, s.ID, s.Position, s.Rows, files, dels, size, s.SchemaVersion, t.Schema())
	}
	return tw.Flush()
}

func silverCompact(ctx context.Context, store bronze.Store, table string, stdout io.Writer) error {
	names := []string{table}
	if table == "" {
		var err error
		if names, err = silver.Tables(ctx, store); err != nil {
			return err
		}
	}
	for _, n := range names {
		t, err := openSilver(ctx, store, n)
		if err != nil {
			return err
		}
		s, ok, err := t.Compact(ctx)
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintf(stdout, "%s: nothing to compact\n", n)
			continue
		}
		fmt.Fprintf(stdout, "%s: snapshot %d: %d rows in %d files (was %d files)\n", n, s.ID, s.Rows, len(s.Added), len(s.Removed))
	}
	return nil
}

func silverDump(ctx context.Context, store bronze.Store, table string, asOf uint64, at, format string, stdout io.Writer) error {
	t, err := openSilver(ctx, store, table)
	if err != nil {
		return err
	}
	if at != "" {
		p, err := cdc.ParsePosition(at)
		if err != nil {
			return err
		}
		s, err := t.SnapshotAt(p)
		if err != nil {
			return err
		}
		asOf = s.ID
	}
	sc, err := t.Scan(ctx, silver.ScanOptions{AsOf: asOf})
	if err != nil {
		return err
	}
	schema := sc.Schema()
	type keyed struct {
		key []byte
		row change.Row
	}
	var rows []keyed
	for b, err := range sc.All() {
		if err != nil {
			return err
		}
		for _, r := range b.Rows() {
			rows = append(rows, keyed{silver.AppendKey(nil, schema, r), r})
		}
	}
	slices.SortFunc(rows, func(a, b keyed) int { return bytes.Compare(a.key, b.key) })
	w := bufio.NewWriterSize(stdout, 64<<10)
	fields := schema.Fields()
	var buf []byte
	if format == "csv" {
		buf = buf[:0]
		for i, f := range fields {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendCSV(buf, []byte(f.Name), false)
		}
		buf = append(buf, '\n')
		w.Write(buf)
	}
	var cell []byte
	for _, kr := range rows {
		r := kr.row
		buf = buf[:0]
		if format == "json" {
			buf = append(buf, '{')
			for i, f := range fields {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = change.AppendJSON(append(change.AppendJSON(buf, change.Str(f.Name), nil), ':'), r[i], f.Type)
			}
			buf = append(buf, '}', '\n')
		} else {
			for i, f := range fields {
				if i > 0 {
					buf = append(buf, ',')
				}
				if r[i].IsNull() {
					continue
				}
				cell = silver.AppendText(cell[:0], r[i], f.Type)
				buf = appendCSV(buf, cell, len(cell) == 0)
			}
			buf = append(buf, '\n')
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return w.Flush()
}

// appendCSV appends one CSV field, RFC 4180: quoted (with quotes doubled) when it holds
// a comma, a quote, CR or LF, or when quote is set (an empty string, told from NULL).
func appendCSV(dst, field []byte, quote bool) []byte {
	if !quote && !bytes.ContainsAny(field, ",\"\r\n") {
		return append(dst, field...)
	}
	dst = append(dst, '"')
	for _, c := range field {
		if c == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

// silverFollower applies bronze commits to the silver tables while an ingest runs.
type silverFollower struct {
	a      *silver.Applier
	cancel context.CancelFunc
	done   chan error
}

type silverStats struct {
	silver.ApplyStats
	tables int
}

func followSilver(ctx context.Context, store bronze.Store, logger *slog.Logger) (*silverFollower, error) {
	a, err := silver.NewApplier(silver.ApplierConfig{Store: store, Compact: true, Logger: logger})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	f := &silverFollower{a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { f.done <- a.Run(ctx) }()
	return f, nil
}

func (f *silverFollower) stop() error {
	f.cancel()
	return <-f.done
}

// finish stops following and catches up with everything bronze has committed.
func (f *silverFollower) finish(ctx context.Context) (silverStats, error) {
	if err := f.stop(); err != nil {
		return silverStats{}, err
	}
	st, err := f.a.CatchUp(ctx)
	if err != nil {
		return silverStats{}, err
	}
	return silverStats{st, len(f.a.Names())}, nil
}
