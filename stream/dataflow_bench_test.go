package stream_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/state"
	"github.com/strata-data/strata/stream"
)

// sliceSource replays transactions read beforehand, so a benchmark measures the
// dataflow and not the generator's JSON decoding.
type sliceSource struct {
	txs []stream.TxBatches
	i   int
}

func (s *sliceSource) Open(ctx context.Context, from cdc.Position) error {
	s.i = 0
	for s.i < len(s.txs) && !from.Less(s.txs[s.i].Commit) {
		s.i++
	}
	return nil
}

func (s *sliceSource) Next(ctx context.Context) (stream.TxBatches, error) {
	if s.i == len(s.txs) {
		return stream.TxBatches{}, io.EOF
	}
	tx := s.txs[s.i]
	s.i++
	out := stream.TxBatches{Commit: tx.Commit, Tables: tx.Tables}
	for _, b := range tx.Batches {
		b.Retain()
		out.Batches = append(out.Batches, b)
	}
	return out, nil
}

func (s *sliceSource) Ack(context.Context, cdc.Position) error { return nil }
func (s *sliceSource) Close() error                            { return nil }

func readTxs(b testing.TB, events int) ([]stream.TxBatches, int) {
	ctx := context.Background()
	gc := genConfig(events)
	gc.Customers = 1000 // the generator's default: a customer has a few orders, not hundreds
	src, err := stream.NewCDCSource(stream.CDCSourceConfig{Source: cdc.NewGenerator(gc)})
	if err != nil {
		b.Fatal(err)
	}
	if err := src.Open(ctx, cdc.Position{}); err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	var txs []stream.TxBatches
	rows := 0
	for {
		tx, err := src.Next(ctx)
		if err == io.EOF {
			return txs, rows
		}
		if err != nil {
			b.Fatal(err)
		}
		for _, bt := range tx.Batches {
			rows += bt.Len()
		}
		txs = append(txs, tx)
	}
}

// BenchmarkRevenueDataflow: orders ⟕ customers ⋈ payments → revenue per segment on
// the generator workload, one partition; events/s counts source row changes.
func BenchmarkRevenueDataflow(b *testing.B) { benchRevenue(b, revenueStages) }

// BenchmarkRevenueDataflowPruned: the same with each table projected to the
// columns the flow reads before the joins (projection pushdown).
func BenchmarkRevenueDataflowPruned(b *testing.B) { benchRevenue(b, revenueStagesPruned) }

// BenchmarkRevenueDataflowEager: the same query planned by JoinAggregate with
// eager aggregation (payments summed per order, then per customer, below the
// joins).
func BenchmarkRevenueDataflowEager(b *testing.B) { benchRevenue(b, revenueStagesOf(stream.PlanEager)) }

func benchRevenue(b *testing.B, stagesOf func(map[string]*change.Schema, state.Backend, memory.Allocator) []stream.Stage) {
	const events = 20000
	txs, rows := readTxs(b, events)
	defer func() {
		for i := range txs {
			txs[i].Release()
		}
	}()
	sc := shopSchemas(b)
	for _, backend := range []string{"memory", "pebble"} {
		for _, ep := range epochConfigs {
			epoch, maxEpoch := ep[0], ep[1]
			b.Run(backend+"/"+epochName(epoch, maxEpoch), func(b *testing.B) {
				cpu0 := cpuTime()
				var keys, bytes int64
				epochs := 0
				for range b.N {
					be := openBackendB(b, backend)
					out := &recordSink{}
					df, err := stream.NewDataflow(stream.DataflowConfig{Source: &sliceSource{txs: txs},
						Stages: stagesOf(sc, be, nil), Sink: out, State: be, Partitions: 1, EpochTxs: epoch, MaxEpochTxs: maxEpoch})
					if err != nil {
						b.Fatal(err)
					}
					if err := df.Run(context.Background()); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					epochs = 0 // with output: an epoch's writes share its position
					for i, w := range out.writes {
						if i == 0 || w.pos != out.writes[i-1].pos {
							epochs++
						}
					}
					keys, bytes = stateSize(b, be)
					if st, err := be.Stats(context.Background()); err == nil {
						for _, ns := range st {
							b.Logf("state %s: %d keys, %.1f B/key", ns.Namespace, ns.Keys, float64(ns.Bytes)/float64(max(ns.Keys, 1)))
						}
					}
					be.Close()
					b.StartTimer()
				}
				cpu := cpuTime() - cpu0 // Stats is in it, a small part
				// The state at the end: keys over every namespace, and their
				// logical size (key and value bytes) per key.
				b.ReportMetric(float64(keys), "state-keys")
				b.ReportMetric(float64(bytes)/float64(keys), "state-B/key")
				b.ReportMetric(float64(len(txs))/float64(epochs), "txs/epoch-with-output")
				b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
				// The machine is shared: events per second of this process's CPU
				// time (all goroutines) is the steadier figure.
				b.ReportMetric(float64(rows)*float64(b.N)/cpu.Seconds(), "events/cpu-s")
			})
		}
	}
}

// epochConfigs are the epochs the benchmarks run: {EpochTxs, MaxEpochTxs}.
var epochConfigs = [][2]int{{1, 0}, {64, 0}, {1, 64}}

// epochName is "epoch=N" for fixed epochs, "epoch=N-M" for adaptive ones.
func epochName(epoch, maxEpoch int) string {
	if maxEpoch > epoch {
		return "epoch=" + itoa(epoch) + "-" + itoa(maxEpoch)
	}
	return "epoch=" + itoa(epoch)
}

// stateSize sums the backend's entries and their logical bytes.
func stateSize(b *testing.B, be state.Backend) (keys, bytes int64) {
	st, err := be.Stats(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for _, ns := range st {
		keys += ns.Keys
		bytes += ns.Bytes
	}
	return keys, bytes
}

// pacedSource hands out the first warm transactions of src at once, then the rest
// on a schedule of rate row changes per second (math.Inf(1): at once too),
// recording when each of those was due, in commit order. A transaction is due when
// the rows before it have had their time; the wait is before src reads it, so what
// src does to produce it (decoding, assembly) counts in its latency.
type pacedSource struct {
	src      stream.BatchSource
	warm     int
	rate     float64
	n        int // transactions handed out
	lastWarm cdc.Position
	drained  chan struct{} // closed by the sink once lastWarm's epoch is out
	wait     *waiter
	start    time.Time
	rows     int // of the paced part, handed out
	mu       sync.Mutex
	due      []dueTx
}

type dueTx struct {
	pos  cdc.Position
	at   time.Time
	read time.Time
}

func (s *pacedSource) Open(ctx context.Context, from cdc.Position) error {
	return s.src.Open(ctx, from)
}
func (s *pacedSource) Ack(ctx context.Context, upTo cdc.Position) error { return s.src.Ack(ctx, upTo) }
func (s *pacedSource) Close() error                                     { return s.src.Close() }

func (s *pacedSource) Next(ctx context.Context) (stream.TxBatches, error) {
	if s.n < s.warm {
		s.n++
		tx, err := s.src.Next(ctx)
		s.lastWarm = tx.Commit
		return tx, err
	}
	if s.start.IsZero() {
		// Let the flow finish the initial load first (up to a read-ahead's worth of
		// it can be queued), or the first paced transactions wait behind it. The
		// load's last transactions may change no output: then give up waiting.
		s.mu.Lock()
		s.drained = make(chan struct{})
		s.mu.Unlock()
		select {
		case <-s.drained:
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return stream.TxBatches{}, ctx.Err()
		}
		s.start = time.Now()
	}
	due := s.start.Add(time.Duration(float64(s.rows) / s.rate * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		if s.wait == nil {
			w, err := newWaiter()
			if err != nil {
				return stream.TxBatches{}, err
			}
			s.wait = w
		}
		if err := s.wait.sleep(d); err != nil {
			return stream.TxBatches{}, err
		}
	}
	tx, err := s.src.Next(ctx)
	if err != nil {
		return tx, err
	}
	s.n++
	for _, b := range tx.Batches {
		s.rows += b.Len()
	}
	s.mu.Lock()
	s.due = append(s.due, dueTx{tx.Commit, due, time.Now()})
	s.mu.Unlock()
	return tx, nil
}

// latencySink records, for every transaction up to a write's position (the
// epoch's last), the time since it was due. A transaction whose epoch had no
// output is counted at the next write.
type latencySink struct {
	src  *pacedSource
	next int // first transaction of src.due not written yet
	lat  []time.Duration
	last time.Time // of the last write
}

func (s *latencySink) Write(ctx context.Context, b *change.Batch, pos cdc.Position) error {
	b.Release()
	now := time.Now()
	s.last = now
	s.src.mu.Lock()
	if d := s.src.drained; d != nil && s.src.start.IsZero() && !pos.Less(s.src.lastWarm) {
		close(d)
		s.src.drained = nil
	}
	for ; s.next < len(s.src.due) && !pos.Less(s.src.due[s.next].pos); s.next++ {
		s.lat = append(s.lat, now.Sub(s.src.due[s.next].at))
	}
	s.src.mu.Unlock()
	return nil
}

func (s *latencySink) Flush(context.Context) error { return nil }
func (s *latencySink) Close() error                { return nil }

// writeLatencyTrace writes, per paced transaction, its index and when it was due,
// read by the flow and output (ms from the start of pacing), then the end of each
// garbage collection's pause in that time ("gc MS"): where a tail comes from.
func writeLatencyTrace(b *testing.B, name string, out *latencySink) {
	w, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	ms := func(t time.Time) float64 { return float64(t.Sub(out.src.start)) / 1e6 }
	for i, l := range out.lat {
		d := out.src.due[i]
		fmt.Fprintf(w, "%d %.3f %.3f %.3f\n", i, ms(d.at), ms(d.read), ms(d.at.Add(l)))
	}
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	for _, e := range st.PauseEnd {
		if t := time.Unix(0, int64(e)); t.After(out.src.start) {
			fmt.Fprintf(w, "gc %.3f\n", ms(t))
		}
	}
}

// BenchmarkRevenueLatency: the pruned revenue flow (memory state, one
// partition) fed by the generator through decoding and assembly; after the first
// third of the workload (unpaced, then drained), the rest is fed at a fixed rate
// (STRATA_BENCH_RATE events/s, default half the rate of the best of three unpaced
// runs of that part) and the latency from each transaction being due to its
// epoch's output at the sink is reported. Epochs of one transaction, and adaptive
// ones of 1 to 64. STRATA_BENCH_TRACE=FILE writes each transaction's timeline (see
// writeLatencyTrace).
//
// Run it with -cpu 2: one partition, its source's read-ahead and the garbage
// collector then have two cores. With -cpu 1 a collection's mark phase takes a
// quarter of the only core (plus write barriers and the scavenger) for 10-18 ms
// at a time, the flow falls behind for that long, and p99 is about that.
func BenchmarkRevenueLatency(b *testing.B) { benchLatency(b, revenueStagesPruned) }

// BenchmarkRevenueLatencyEager: the same with the eager plan.
func BenchmarkRevenueLatencyEager(b *testing.B) { benchLatency(b, revenueStagesOf(stream.PlanEager)) }

func benchLatency(b *testing.B, stagesOf func(map[string]*change.Schema, state.Backend, memory.Allocator) []stream.Stage) {
	const events = 20000
	// The source generates, decodes and assembles as the flow reads, as a Kafka
	// consumer would: latency is from a transaction's events being due to its output,
	// and the process holds only the flow's state, not the whole input.
	gc := genConfig(events)
	gc.Customers = 1000
	txs, _ := readTxs(b, events)
	for i := range txs {
		txs[i].Release()
	}
	// The first third (mostly inserts: the tables filling up, each change costing
	// up to three times a later one) runs unpaced, as a pipeline's initial load
	// would; the rest, in steady state, is paced and measured.
	warm := len(txs) / 3
	txs = nil
	sc := shopSchemas(b)
	for _, ep := range [][2]int{{1, 0}, {1, 64}} {
		epoch, maxEpoch := ep[0], ep[1]
		b.Run(epochName(epoch, maxEpoch), func(b *testing.B) {
			run := func(rate float64) *latencySink {
				runtime.GC()
				be := openBackendB(b, "memory")
				defer be.Close()
				cs, err := stream.NewCDCSource(stream.CDCSourceConfig{Source: cdc.NewGenerator(gc)})
				if err != nil {
					b.Fatal(err)
				}
				src := &pacedSource{src: cs, warm: warm, rate: rate}
				out := &latencySink{src: src}
				df, err := stream.NewDataflow(stream.DataflowConfig{Source: src, Stages: stagesOf(sc, be, nil),
					Sink: out, State: be, Partitions: 1, EpochTxs: epoch, MaxEpochTxs: maxEpoch})
				if err != nil {
					b.Fatal(err)
				}
				if err := df.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
				if out.next < len(src.due)*9/10 { // the last ones may change no output
					b.Fatalf("latency of %d transactions recorded, want about %d", out.next, len(src.due))
				}
				return out
			}
			rate, _ := strconv.ParseFloat(os.Getenv("STRATA_BENCH_RATE"), 64)
			if rate <= 0 { // half the best of three unpaced runs of the measured part
				best, rows := time.Duration(math.MaxInt64), 0
				for range 3 {
					out := run(math.Inf(1))
					best, rows = min(best, out.last.Sub(out.src.start)), out.src.rows
				}
				rate = float64(rows) / best.Seconds() / 2
			}
			var lat []time.Duration
			for range b.N {
				out := run(rate)
				lat = append(lat, out.lat...)
				if f := os.Getenv("STRATA_BENCH_TRACE"); f != "" {
					writeLatencyTrace(b, f, out)
				}
			}
			slices.Sort(lat)
			q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
			b.ReportMetric(rate, "events/s-offered")
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(q(1), "max-ms")
		})
	}
}
