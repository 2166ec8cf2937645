package bronze

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-data/strata/cdc"
)

// IngestConfig configures Ingest.
type IngestConfig struct {
	// Source is read from the lake's last committed position (required). A cdc.TxSource
	// hands over whole transactions; any other source is assembled.
	Source cdc.Source
	// Writer configures the lake writer (Store is required).
	Writer WriterConfig
	// Assembler bounds transaction assembly; its DeadLetters and Metrics, and the
	// writer's, default to the ones below.
	Assembler cdc.AssemblerConfig
	// DeadLetters receives what cannot be assembled or stored. Without it, such an
	// event stops the ingest with an error.
	DeadLetters cdc.DeadLetters
	// CDCMetrics counts assembly; Metrics counts what reaches the lake (both optional).
	CDCMetrics *cdc.Metrics
	Metrics    *Metrics
	// CommitEvents commits once this many events are pending (default 50 000),
	// CommitBytes once the pending events would take about this many bytes in files
	// (default 32 MiB; estimated from the bytes per event of the commits so far), and
	// CommitInterval once the oldest pending transaction is this old (default 1 s):
	// files are rolled by size or by age, whichever comes first. A commit also happens
	// whenever the source is idle.
	CommitEvents   int
	CommitBytes    int64
	CommitInterval time.Duration
	// ExitWhenIdle returns once the source is idle and everything read is committed,
	// instead of polling for more.
	ExitWhenIdle bool
	// IdleWait is how long to wait after the source reports cdc.ErrIdle (default 50 ms).
	IdleWait time.Duration
	// Logger gets a debug line per commit and a summary at the end (default
	// slog.Default()).
	Logger *slog.Logger
	// Progress, when set, is called after every commit.
	Progress func(IngestStats)
	// Now is the clock for arrival times and commit ages (default time.Now).
	Now func() time.Time
}

// IngestStats counts what an Ingest call did.
type IngestStats struct {
	Events  int64 // events committed to the lake
	Txs     int64 // transactions committed
	Commits int64
	Bytes   int64 // bytes of files written
	// Position is the lake's position: where the source resumes next time.
	Position cdc.Position
	// Skipped counts transactions the source delivered again at or before the lake's
	// position (a redelivery after a crash between commit and ack), dropped.
	Skipped int64
	Elapsed time.Duration
}

// Metrics are the lake's Prometheus counters.
type Metrics struct {
	commits  prometheus.Counter
	events   prometheus.Counter
	txs      prometheus.Counter
	bytes    prometheus.Counter
	files    prometheus.Counter
	commitS  prometheus.Histogram
	position prometheus.Gauge
}

// NewMetrics registers the lake's metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		commits: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_bronze_commits_total",
			Help: "Commits published to the bronze manifest."}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_bronze_events_total",
			Help: "Events committed to the bronze lake."}),
		txs: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_bronze_transactions_total",
			Help: "Transactions committed to the bronze lake."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_bronze_bytes_total",
			Help: "Bytes of event files committed."}),
		files: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_bronze_files_total",
			Help: "Event files committed."}),
		commitS: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strata_bronze_commit_seconds",
			Help: "Time to write a commit's files and publish it.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		position: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strata_bronze_position_major",
			Help: "Major component of the lake's committed position (a PostgreSQL LSN for PostgreSQL sources)."}),
	}
	if reg != nil {
		reg.MustRegister(m.commits, m.events, m.txs, m.bytes, m.files, m.commitS, m.position)
	}
	return m
}

func (m *Metrics) committed(c *Commit, d time.Duration) {
	if m == nil {
		return
	}
	m.commits.Inc()
	m.txs.Add(float64(c.Txs))
	for _, f := range c.Files {
		m.events.Add(float64(f.Rows))
		m.bytes.Add(float64(f.Bytes))
		m.files.Inc()
	}
	m.commitS.Observe(d.Seconds())
	m.position.Set(float64(c.Position.Major))
}

// Ingest runs source -> (assembly) -> lake until the source ends (io.EOF), the
// context is cancelled, or, with ExitWhenIdle, the source is idle. It opens the
// writer (cleaning what a crashed run left), opens the source after the lake's
// position, appends whole transactions, and commits in groups; the source is acked
// with a commit's position only once the commit is durable. Stopping at any instant,
// a SIGKILL included, loses nothing and doubles nothing: the next Ingest resumes after
// the last commit. On cancellation what is already assembled is committed before
// returning; transactions still incomplete are read again next time.
func Ingest(ctx context.Context, cfg IngestConfig) (IngestStats, error) {
	if cfg.Source == nil {
		return IngestStats{}, errors.New("bronze: IngestConfig.Source is required")
	}
	if cfg.CommitEvents <= 0 {
		cfg.CommitEvents = 50_000
	}
	if cfg.CommitBytes <= 0 {
		cfg.CommitBytes = 32 << 20
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = time.Second
	}
	if cfg.IdleWait <= 0 {
		cfg.IdleWait = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Assembler.DeadLetters == nil {
		cfg.Assembler.DeadLetters = cfg.DeadLetters
	}
	if cfg.Assembler.Metrics == nil {
		cfg.Assembler.Metrics = cfg.CDCMetrics
	}
	if cfg.Writer.DeadLetters == nil {
		cfg.Writer.DeadLetters = cfg.DeadLetters
	}
	if cfg.Writer.Metrics == nil {
		cfg.Writer.Metrics = cfg.CDCMetrics
	}
	if err := cfg.Assembler.Validate(); err != nil {
		return IngestStats{}, err
	}
	w, err := OpenWriter(ctx, cfg.Writer)
	if err != nil {
		return IngestStats{}, err
	}
	from := w.Position()
	if err := cfg.Source.Open(ctx, from); err != nil {
		return IngestStats{}, fmt.Errorf("bronze: open source after %s: %w", from, err)
	}
	in := &ingest{cfg: cfg, w: w, start: cfg.Now(), bytesDue: cfg.CommitEvents}
	in.stats.Position = from
	err = in.run(ctx)
	in.stats.Elapsed = cfg.Now().Sub(in.start)
	cfg.Logger.Debug("bronze: ingest stopped", "events", in.stats.Events, "transactions", in.stats.Txs,
		"commits", in.stats.Commits, "bytes", in.stats.Bytes, "position", in.stats.Position.String(),
		"skipped", in.stats.Skipped, "elapsed", in.stats.Elapsed.Round(time.Millisecond), "err", err)
	return in.stats, err
}

type ingest struct {
	cfg     IngestConfig
	w       *Writer
	asm     *cdc.Assembler
	start   time.Time
	pending int // events appended since the last commit
	// held are the assembled transactions the writer references until its next commit;
	// their memory goes back to the assembler then.
	held []cdc.Tx
	// bytesDue is the number of pending events estimated to fill CommitBytes, from
	// the bytes per event written so far (until the first commit: CommitEvents).
	bytesDue int
	oldest   time.Time // when the first pending transaction was appended
	stats    IngestStats
}

func (in *ingest) run(ctx context.Context) error {
	txs, _ := in.cfg.Source.(cdc.TxSource)
	var batches cdc.BatchReader
	if txs == nil {
		in.asm = cdc.NewAssembler(in.cfg.Assembler)
		batches, _ = in.cfg.Source.(cdc.BatchReader)
	}
	// Whatever ends the loop, commit what is whole: on cancellation with a context that
	// still works, so a graceful stop keeps its work.
	final := func(err error) error {
		if in.asm != nil && errors.Is(err, io.EOF) {
			if ferr := in.asm.Flush(ctx); ferr != nil {
				return ferr
			}
			if aerr := in.drain(ctx); aerr != nil {
				return aerr
			}
		}
		cerr := in.commit(context.WithoutCancel(ctx))
		if errors.Is(err, io.EOF) || (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) && ctx.Err() != nil {
			return cerr
		}
		return errors.Join(err, cerr)
	}
	for {
		if err := ctx.Err(); err != nil {
			return final(err)
		}
		var err error
		now := in.cfg.Now()
		if txs != nil {
			var tx cdc.Tx
			if tx, err = txs.ReadTx(ctx); err == nil {
				err = in.append(tx)
			}
		} else if batches != nil {
			// A run of events decoded ahead into the assembler's room, then assembled
			// one by one, committing as after each Read.
			evs := in.asm.Reserve(cdc.DecodeAhead)
			var n int
			if n, err = batches.ReadBatch(ctx, evs); err == nil {
				evs = evs[:n]
				for i := range evs {
					if err = in.add(ctx, &evs[i], now); err != nil {
						break
					}
					if i < len(evs)-1 && in.commitDue(now) {
						if err = in.commit(ctx); err != nil {
							return final(err)
						}
					}
				}
			}
		} else {
			var ev cdc.Event
			if ev, err = in.cfg.Source.Read(ctx); err == nil {
				err = in.add(ctx, &ev, now)
			}
		}
		switch {
		case err == nil:
			if in.commitDue(now) {
				if err := in.commit(ctx); err != nil {
					return final(err)
				}
			}
		case errors.Is(err, cdc.ErrIdle):
			if in.asm != nil {
				if err := in.asm.Idle(ctx); err != nil {
					return final(err)
				}
				if err := in.drain(ctx); err != nil {
					return final(err)
				}
			}
			if err := in.commit(ctx); err != nil {
				return final(err)
			}
			if in.cfg.ExitWhenIdle && (in.asm == nil || in.asm.Open() == 0) {
				return nil
			}
			select {
			case <-ctx.Done():
			case <-time.After(in.cfg.IdleWait):
			}
		default:
			return final(err)
		}
	}
}

// add assembles one event read at now and appends what it completes.
func (in *ingest) add(ctx context.Context, ev *cdc.Event, now time.Time) error {
	if ev.Arrival.IsZero() {
		ev.Arrival = now
	}
	if err := in.asm.Add(ctx, ev); err != nil {
		return err
	}
	return in.drain(ctx)
}

// commitDue reports whether the pending events are to be committed now.
func (in *ingest) commitDue(now time.Time) bool {
	return in.pending >= in.cfg.CommitEvents || in.pending >= in.bytesDue ||
		in.pending > 0 && now.Sub(in.oldest) >= in.cfg.CommitInterval
}

// drain appends the transactions the assembler has ready.
func (in *ingest) drain(ctx context.Context) error {
	for tx, ok := in.asm.Next(); ok; tx, ok = in.asm.Next() {
		if err := in.append(tx); err != nil {
			return err
		}
	}
	return nil
}

func (in *ingest) append(tx cdc.Tx) error {
	if pos := in.w.lastPosition(); !pos.IsZero() && !pos.Less(tx.Commit) {
		in.stats.Skipped++
		return nil
	}
	if err := in.w.Append(tx); err != nil {
		return err
	}
	if in.asm != nil {
		in.held = append(in.held, tx)
	}
	if in.pending == 0 {
		in.oldest = in.cfg.Now()
	}

	in.pending += len(tx.Events)
	return nil
}

// commit publishes what is pending and acks the source with the commit's position.
func (in *ingest) commit(ctx context.Context) error {
	if in.w.Pending() == 0 {
		return nil
	}
	t0 := time.Now()
	c, err := in.w.Commit(ctx)
	if err != nil {
		return err
	}
	d := time.Since(t0)
	for i, tx := range in.held { // the writer holds no reference to them any more
		in.asm.Release(tx)
		in.held[i] = cdc.Tx{}
	}
	in.held = in.held[:0]
	in.cfg.Metrics.committed(&c, d)
	in.stats.Commits++
	in.stats.Txs += c.Txs
	for _, f := range c.Files {
		in.stats.Events += f.Rows
		in.stats.Bytes += f.Bytes
	}
	in.stats.Position = c.Position
	in.pending = 0
	if in.stats.Events > 0 && in.stats.Bytes > 0 {
		perEvent := float64(in.stats.Bytes) / float64(in.stats.Events)
		in.bytesDue = max(1, int(float64(in.cfg.CommitBytes)/perEvent))
	}
	in.cfg.Logger.Debug("bronze: commit", "id", c.ID, "transactions", c.Txs, "files", len(c.Files),
		"position", c.Position.String(), "took", d)
	if in.cfg.Progress != nil {
		s := in.stats
		s.Elapsed = in.cfg.Now().Sub(in.start)
		in.cfg.Progress(s)
	}
	if err := in.cfg.Source.Ack(ctx, c.Position); err != nil {
		// The commit is durable; a failed ack only means the source may redeliver,
		// which the next run skips.
		return fmt.Errorf("bronze: ack %s after commit %d: %w", c.Position, c.ID, err)
	}
	return nil
}

// lastPosition returns the position of the last transaction appended, committed or not.
func (w *Writer) lastPosition() cdc.Position {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastPos
}
