package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/cdc/kafka"
	"github.com/strata-data/strata/cdc/postgres"
)

const ingestHelp = `
Reads change events from SRC and appends them, whole transactions in commit order, to
the bronze lake in DIR. A run resumes after what the lake already holds, so it can be
stopped (or killed) and started again without losing or doubling an event.

Sources:
  gen://?seed=N&events=N&rate=N&meta=1&customers=N   the built-in workload generator
  file://PATH.jsonl                                    Debezium JSON records, one per line
  kafka://HOST:PORT/TOPIC[,TOPIC]?group=G&tx=TXTOPIC   Debezium topics, as a consumer group
  lake://DIR                                           another bronze lake, replayed
  postgres://USER@HOST:PORT/DB?publication=P&slot=S&tables=a,b&snapshot=initial|never|when_needed
                                                       PostgreSQL logical replication (pgoutput);
                                                       the publication and slot are created when
                                                       missing (default names: strata), the tables
                                                       snapshotted first

With --silver (the default) the lake's silver tables follow: every keyed table is
applied from bronze as commits land, and caught up before ingest exits ("strata silver
ls" lists them). A restart resumes silver from its own manifests, so --silver=false
followed by "strata silver apply" gives the same tables.

Interrupt (Ctrl-C) commits what is whole and stops.`

func runIngest(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("ingest", "--from SRC --lake DIR [--duration D] [--exit-when-idle]", ingestHelp)
	from := fs.String("from", "", "source URL (required)")
	lake := fs.String("lake", "", "lake directory (required; created if missing)")
	duration := fs.Duration("duration", 0, "stop after this long (0: until the source ends)")
	exitIdle := fs.Bool("exit-when-idle", false, "stop once the source has nothing more and everything is committed")
	dlq := fs.String("dead-letters", "", "dead-letter directory (default LAKE/deadletters)")
	commitEvents := fs.Int("commit-events", 50_000, "commit once this many events are pending")
	commitBytes := fs.Int64("commit-bytes", 32<<20, "commit once the pending events would take about this many bytes in files")
	commitEvery := fs.Duration("commit-interval", time.Second, "commit once the oldest pending transaction is this old")
	codec := fs.String("codec", "snappy", "file compression: snappy, zstd or null")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	withSilver := fs.Bool("silver", true, "also maintain the lake's silver tables")
	if st, done := fs.parse(args, stdout, stderr); done {
		return st
	}
	if *from == "" || *lake == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "strata ingest: --from and --lake are required, and nothing else")
		fs.usage(stderr)
		return 1
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "strata ingest: %v\n", err)
		return 1
	}
	var opts bronze.AvroOptions
	switch *codec {
	case "snappy":
		opts.Codec = bronze.Snappy
	case "zstd":
		opts.Codec = bronze.Zstd
	case "null":
		opts.Codec = bronze.Null
	default:
		return fail(fmt.Errorf("--codec %q: want snappy, zstd or null", *codec))
	}
	store, err := bronze.OpenDir(*lake)
	if err != nil {
		return fail(err)
	}
	if *dlq == "" {
		*dlq = filepath.Join(*lake, "deadletters")
	}
	dls, err := cdc.NewFileDeadLetters(*dlq)
	if err != nil {
		return fail(err)
	}
	defer dls.Close()
	metrics := cdc.NewMetrics(nil)
	src, total, err := openSource(*from, dls, metrics)
	if err != nil {
		return fail(err)
	}
	defer src.Close()

	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx := sigCtx
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var sl *silverFollower
	if *withSilver {
		if sl, err = followSilver(sigCtx, store, logger); err != nil {
			return fail(err)
		}
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	bar := newProgress(stderr, total, *quiet)
	st, err := bronze.Ingest(ctx, bronze.IngestConfig{
		Source:         src,
		Writer:         bronze.WriterConfig{Store: store, Avro: opts},
		DeadLetters:    dls,
		CDCMetrics:     metrics,
		CommitEvents:   *commitEvents,
		CommitBytes:    *commitBytes,
		CommitInterval: *commitEvery,
		ExitWhenIdle:   *exitIdle,
		Logger:         logger,
		Progress:       bar.update,
	})
	bar.done()
	rate := 0.0
	if s := st.Elapsed.Seconds(); s > 0 {
		rate = float64(st.Events) / s
	}
	fmt.Fprintf(stdout, "ingested %d events in %d transactions, %d commits, %d bytes; lake at %s; %s (%.0f events/s)\n",
		st.Events, st.Txs, st.Commits, st.Bytes, st.Position, st.Elapsed.Round(time.Millisecond), rate)
	if st.Skipped > 0 {
		fmt.Fprintf(stdout, "skipped %d transactions the lake already held\n", st.Skipped)
	}
	if err != nil {
		if sl != nil {
			sl.stop()
		}
		return fail(err)
	}
	if sl != nil {
		sst, err := sl.finish(sigCtx)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "silver: %d tables applied through %s\n", sst.tables, sst.Position)
	}
	return 0
}

// openSource opens a source URL; total is the number of events it will produce, when
// known (for the progress bar).
func openSource(raw string, dls cdc.DeadLetters, m *cdc.Metrics) (src cdc.Source, total int64, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, 0, fmt.Errorf("--from %q: %v", raw, err)
	}
	q := u.Query()
	switch u.Scheme {
	case "gen":
		cfg := cdc.GeneratorConfig{DeadLetters: dls, Metrics: m}
		for k := range q {
			v := q.Get(k)
			var err error
			switch k {
			case "seed":
				cfg.Seed, err = strconv.ParseInt(v, 10, 64)
			case "events":
				cfg.Events, err = strconv.Atoi(v)
			case "rate":
				cfg.Rate, err = strconv.ParseFloat(v, 64)
			case "customers":
				cfg.Customers, err = strconv.Atoi(v)
			case "meta":
				cfg.TxMetadata, err = strconv.ParseBool(v)
			case "add_column_at":
				cfg.AddColumnAt, err = strconv.Atoi(v)
			case "server":
				cfg.Server = v
			default:
				return nil, 0, fmt.Errorf("--from %q: unknown parameter %q (seed, events, rate, customers, meta, add_column_at, server)", raw, k)
			}
			if err != nil {
				return nil, 0, fmt.Errorf("--from %q: parameter %s: %v", raw, k, err)
			}
		}
		if err := cfg.Validate(); err != nil {
			return nil, 0, fmt.Errorf("--from %q: %w", raw, err)
		}
		return cdc.NewGenerator(cfg), int64(cfg.Events), nil
	case "file":
		path := u.Path
		if u.Host != "" { // file://relative/path
			path = u.Host + u.Path
		}
		if path == "" {
			return nil, 0, fmt.Errorf("--from %q: no path", raw)
		}
		return cdc.NewFileSource(path, cdc.FileSourceConfig{DeadLetters: dls, Metrics: m, Follow: q.Get("follow") == "1"}), 0, nil
	case "kafka":
		topics := strings.Split(strings.Trim(u.Path, "/"), ",")
		if u.Host == "" || len(topics) == 0 || topics[0] == "" {
			return nil, 0, fmt.Errorf("--from %q: want kafka://HOST:PORT/TOPIC[,TOPIC]?group=G", raw)
		}
		group := q.Get("group")
		if group == "" {
			group = "strata-ingest"
		}
		s, err := kafka.NewSource(kafka.Config{Brokers: strings.Split(u.Host, ","), Topics: topics, TxTopic: q.Get("tx"),
			Group: group, DeadLetters: dls, Metrics: m})
		return s, 0, err
	case "postgres", "postgresql":
		cfg, err := postgres.ParseURL(raw)
		if err != nil {
			return nil, 0, fmt.Errorf("--from: %w", err)
		}
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		return postgres.NewSource(cfg), 0, nil
	case "lake":
		dir := u.Host + u.Path
		store, err := bronze.OpenDir(dir)
		if err != nil {
			return nil, 0, err
		}
		return bronze.NewSource(bronze.SourceConfig{Store: store, Follow: q.Get("follow") == "1"}), 0, nil
	}
	return nil, 0, fmt.Errorf("--from %q: unknown source scheme %q (gen, file, kafka, lake, postgres)", raw, u.Scheme)
}

// progress draws a one-line progress bar on a terminal; elsewhere it stays silent.
type progress struct {
	w     io.Writer
	total int64
	on    bool
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, total int64, quiet bool) *progress {
	p := &progress{w: w, total: total}
	if f, ok := w.(*os.File); ok && !quiet {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.on = true
		}
	}
	return p
}

func (p *progress) update(st bronze.IngestStats) {
	if !p.on || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	fmt.Fprint(p.w, "\r"+progressLine(st, p.total))
	p.drawn = true
}

// progressLine renders the bar: with a known total, a 30-column bar and a percentage.
func progressLine(st bronze.IngestStats, total int64) string {
	rate := 0.0
	if s := st.Elapsed.Seconds(); s > 0 {
		rate = float64(st.Events) / s
	}
	tail := fmt.Sprintf("%d events  %d commits  %.0f ev/s", st.Events, st.Commits, rate)
	if total <= 0 {
		return tail + "   "
	}
	frac := min(float64(st.Events)/float64(total), 1)
	n := int(frac * 30)
	return fmt.Sprintf("[%s%s] %3.0f%%  %s   ", strings.Repeat("=", n), strings.Repeat(" ", 30-n), frac*100, tail)
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
