package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
)

const bronzeHelp = `
Reads a bronze lake:
  ls       one line per commit (or per file with --files)
  verify   checks every file's checksum, event count and range, and counts events,
           tables, commits and duplicate source positions; exits 1 on any problem
  replay   prints every event in commit order as normalized JSON, one per line
  compact  writes a Parquet snapshot per keyed table (latest row per key) as of the
           latest commit, starting from the previous snapshot
  retain   drops event files older than --older-than that a snapshot covers`

func runBronze(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs := newFlags("bronze", "ls|verify|replay|compact|retain --lake DIR [flags]", bronzeHelp)
		if st, done := fs.parse(args, stdout, stderr); done {
			return st
		}
		fs.usage(stderr)
		return 1
	}
	sub, args := args[0], args[1:]
	fs := newFlags("bronze "+sub, "--lake DIR [flags]", bronzeHelp)
	lake := fs.String("lake", "", "lake directory (required)")
	var tables stringList
	var files *bool
	var after, through *string
	var fromSnaps *bool
	var olderThan *time.Duration
	switch sub {
	case "ls":
		files = fs.Bool("files", false, "list files instead of commits")
		fs.Var(&tables, "table", "only this table (repeatable; with --files)")
	case "verify":
	case "replay":
		fs.Var(&tables, "table", "only this table (repeatable)")
		after = fs.String("after", "", "only transactions committed after this position (hex/hex/hex)")
		through = fs.String("through", "", "only transactions committed at or before this position")
		fromSnaps = fs.Bool("from-snapshots", false, "start each table at its latest snapshot (its rows as read events), then its later events")
	case "compact":
		fs.Var(&tables, "table", "only this table (repeatable)")
	case "retain":
		olderThan = fs.Duration("older-than", 0, "drop covered event files committed longer ago than this (required, e.g. 720h)")
	default:
		fmt.Fprintf(stderr, "strata bronze: unknown command %q (ls, verify, replay, compact, retain)\n", sub)
		return 1
	}
	if st, done := fs.parse(args, stdout, stderr); done {
		return st
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "strata bronze %s: %v\n", sub, err)
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
	r, err := bronze.OpenReader(ctx, store)
	if err != nil {
		return fail(err)
	}
	switch sub {
	case "ls":
		err = bronzeLs(r, stdout, *files, tables)
	case "verify":
		return bronzeVerify(ctx, r, stdout, stderr)
	case "replay":
		var opts bronze.ReplayOptions
		opts.Tables = tables
		for _, b := range []struct {
			s string
			p *cdc.Position
		}{{*after, &opts.After}, {*through, &opts.Through}} {
			if b.s != "" {
				if *b.p, err = cdc.ParsePosition(b.s); err != nil {
					return fail(err)
				}
			}
		}
		opts.FromSnapshots = *fromSnaps
		err = bronzeReplay(ctx, r, stdout, opts)
	case "compact":
		var rep bronze.CompactReport
		rep, err = bronze.Compact(ctx, r.Manifest(), bronze.CompactOptions{Tables: tables})
		for _, tc := range rep.Tables {
			if tc.Skipped != "" {
				fmt.Fprintf(stdout, "%s: skipped: %s\n", tc.Table, tc.Skipped)
				continue
			}
			fmt.Fprintf(stdout, "%s: snapshot of %d rows at commit %d (%d bytes) from %d events in %d files\n",
				tc.Table, tc.Snapshot.Rows, tc.Snapshot.CommitID, tc.Snapshot.Bytes, tc.Events, tc.Files)
		}
	case "retain":
		if *olderThan <= 0 {
			return fail(fmt.Errorf("--older-than is required and must be positive"))
		}
		var rep bronze.RetentionReport
		rep, err = bronze.Retain(ctx, r.Manifest(), bronze.RetentionOptions{OlderThan: *olderThan})
		fmt.Fprintf(stdout, "removed %d files (%d bytes) committed before %s; kept %d older files a snapshot does not cover\n",
			len(rep.Removed), rep.Bytes, rep.Cutoff.Format(time.RFC3339), len(rep.Kept))
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

func bronzeLs(r *bronze.Reader, stdout io.Writer, files bool, tables []string) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if files {
		fmt.Fprintln(tw, "COMMIT\tTABLE\tVERSION\tEVENTS\tBYTES\tMIN POSITION\tMAX POSITION\tFILE")
		for _, f := range r.Files(bronze.FileFilter{Tables: tables, WithRemoved: true}) {
			name := f.Name
			if f.Removed != 0 {
				name += fmt.Sprintf(" (removed in commit %d)", f.Removed)
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", f.CommitID, f.Table, f.SchemaVersion, f.Rows, f.Bytes, f.MinPos, f.MaxPos, name)
		}
		return tw.Flush()
	}
	fmt.Fprintln(tw, "COMMIT\tTIME\tTRANSACTIONS\tFILES\tEVENTS\tBYTES\tPOSITION\tNOTES")
	for _, c := range r.Manifest().Commits() {
		var events, bytes int64
		for _, f := range c.Files {
			events += f.Rows
			bytes += f.Bytes
		}
		var notes []string
		for _, s := range c.Schemas {
			notes = append(notes, fmt.Sprintf("schema %s v%d", s.Table, s.Version))
		}
		for _, s := range c.Snapshots {
			notes = append(notes, fmt.Sprintf("snapshot %s (%d rows)", s.Table, s.Rows))
		}
		if n := len(c.Removed); n > 0 {
			notes = append(notes, fmt.Sprintf("removed %d files", n))
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", c.ID, c.Time.Format(time.RFC3339), c.Txs, len(c.Files), events, bytes, c.Position, strings.Join(notes, "; "))
	}
	return tw.Flush()
}

func bronzeVerify(ctx context.Context, r *bronze.Reader, stdout, stderr io.Writer) int {
	rep, err := r.Verify(ctx)
	fmt.Fprintf(stdout, "events %d\ntables %d\ncommits %d\nfiles %d\nsnapshots %d\nduplicate positions %d\nout of order %d\n",
		rep.Events, rep.Tables, rep.Commits, rep.Files, rep.Snapshots, rep.DuplicatePositions, rep.OutOfOrder)
	status := 0
	if err != nil {
		fmt.Fprintf(stderr, "strata bronze verify: %v\n", err)
		status = 1
	}
	if rep.DuplicatePositions != 0 || rep.OutOfOrder != 0 {
		fmt.Fprintf(stderr, "strata bronze verify: %d duplicate positions, %d events out of commit order\n", rep.DuplicatePositions, rep.OutOfOrder)
		status = 1
	}
	if status == 0 {
		fmt.Fprintln(stdout, "ok")
	}
	return status
}

func bronzeReplay(ctx context.Context, r *bronze.Reader, stdout io.Writer, opts bronze.ReplayOptions) error {
	w := bufio.NewWriterSize(stdout, 64<<10)
	var buf []byte
	for ev, err := range r.Replay(ctx, opts) {
		if err != nil {
			w.Flush()
			return err
		}
		buf = append(cdc.AppendEventJSON(buf[:0], &ev), '\n')
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return w.Flush()
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }
