package stream_test

import (
	"context"
	"io"
	"math"
	"os"
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

// pacedSource hands out its first warm transactions at once, then the rest on a
// schedule of rate events per second (math.Inf(1): at once too), recording when
// each of those was due, in commit order.
type pacedSource struct {
	sliceSource
	warm  int
	rate  float64
	start time.Time
	rows  int
	mu    sync.Mutex
	due   []dueTx
}

type dueTx struct {
	pos cdc.Position
	at  time.Time
}

func (s *pacedSource) Next(ctx context.Context) (stream.TxBatches, error) {
	if s.i < s.warm {
		return s.sliceSource.Next(ctx)
	}
	if s.start.IsZero() {
		s.start = time.Now()
	}
	due := s.start.Add(time.Duration(float64(s.rows) / s.rate * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		time.Sleep(d)
	}
	tx, err := s.sliceSource.Next(ctx)
	if err != nil {
		return tx, err
	}
	for _, b := range tx.Batches {
		s.rows += b.Len()
	}
	s.mu.Lock()
	s.due = append(s.due, dueTx{tx.Commit, due})
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
	for ; s.next < len(s.src.due) && !pos.Less(s.src.due[s.next].pos); s.next++ {
		s.lat = append(s.lat, now.Sub(s.src.due[s.next].at))
	}
	s.src.mu.Unlock()
	return nil
}
func (s *latencySink) Flush(context.Context) error { return nil }
func (s *latencySink) Close() error                { return nil }

// BenchmarkRevenueLatency: the pruned revenue flow (memory state, one
// partition); after the first third of the workload (unpaced), the rest is fed at
// a fixed rate (STRATA_BENCH_RATE events/s, default half the rate of the best of
// three unpaced runs of that part) and the latency from each transaction being
// due to its epoch's output at the sink is reported. Epochs of one transaction,
// and adaptive ones of 1 to 64.
func BenchmarkRevenueLatency(b *testing.B) { benchLatency(b, revenueStagesPruned) }

// BenchmarkRevenueLatencyEager: the same with the eager plan.
func BenchmarkRevenueLatencyEager(b *testing.B) { benchLatency(b, revenueStagesOf(stream.PlanEager)) }

func benchLatency(b *testing.B, stagesOf func(map[string]*change.Schema, state.Backend, memory.Allocator) []stream.Stage) {
	const events = 20000
	txs, _ := readTxs(b, events)
	defer func() {
		for i := range txs {
			txs[i].Release()
		}
	}()
	// The first third (mostly inserts: the tables filling up, each change costing
	// up to three times a later one) runs unpaced, as a pipeline's initial load
	// would; the rest, in steady state, is paced and measured.
	warm := len(txs) / 3
	rows := 0
	for _, tx := range txs[warm:] {
		for _, bt := range tx.Batches {
			rows += bt.Len()
		}
	}
	sc := shopSchemas(b)
	for _, ep := range [][2]int{{1, 0}, {1, 64}} {
		epoch, maxEpoch := ep[0], ep[1]
		b.Run(epochName(epoch, maxEpoch), func(b *testing.B) {
			run := func(rate float64) *latencySink {
				be := openBackendB(b, "memory")
				defer be.Close()
				src := &pacedSource{sliceSource: sliceSource{txs: txs}, warm: warm, rate: rate}
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
				best := time.Duration(math.MaxInt64)
				for range 3 {
					out := run(math.Inf(1))
					best = min(best, out.last.Sub(out.src.start))
				}
				rate = float64(rows) / best.Seconds() / 2
			}
			var lat []time.Duration
			for range b.N {
				lat = append(lat, run(rate).lat...)
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
