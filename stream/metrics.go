package stream

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a Dataflow's Prometheus figures: what the source delivered, what each
// stage took in, emitted and spent, what reached the sink, and the checkpoints. Create
// them once with NewMetrics and share them between dataflows (each labels its figures
// with DataflowConfig.Name); a nil *Metrics counts nothing.
type Metrics struct {
	txs, srcRows   *prometheus.CounterVec
	rowsIn         *prometheus.CounterVec
	rowsOut        *prometheus.CounterVec
	busy           *prometheus.CounterVec
	sinkRows       *prometheus.CounterVec
	epochs         *prometheus.CounterVec
	checkpoints    *prometheus.CounterVec
	ckptFailures   *prometheus.CounterVec
	ckptSeconds    *prometheus.HistogramVec
	lastCheckpoint *prometheus.GaugeVec
	watermark      *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	flow, stage := []string{"dataflow"}, []string{"dataflow", "stage"}
	m := &Metrics{
		txs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_stream_source_transactions_total",
			Help: "Source transactions the dataflow read."}, flow),
		srcRows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_stream_source_rows_total",
			Help: "Row changes in the source transactions the dataflow read."}, flow),
		rowsIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_stream_stage_rows_in_total",
			Help: "Row changes a stage processed (all partitions)."}, stage),
		rowsOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_stream_stage_rows_out_total",
			Help: "Row changes a stage emitted (all partitions)."}, stage),
		busy: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_stream_stage_busy_seconds_total",
			Help: "Time a stage's partitions spent processing (emitting downstream included): busy/elapsed near the partition count means the stage is the bottleneck."}, stage),
		sinkRows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_stream_sink_rows_total",
			Help: "Row changes written to the sink."}, flow),
		epochs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_stream_epochs_total",
			Help: "Epochs (barriers) that reached the sink."}, flow),
		checkpoints: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_stream_checkpoints_total",
			Help: "Checkpoints completed (state snapshot, sink committed, source acked)."}, flow),
		ckptFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_stream_checkpoint_failures_total",
			Help: "Checkpoints that failed."}, flow),
		ckptSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "strata_stream_checkpoint_seconds",
			Help:    "Time from a checkpoint's barrier leaving the source to the checkpoint completing.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, flow),
		lastCheckpoint: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "strata_stream_last_checkpoint_id",
			Help: "Id of the latest completed checkpoint."}, flow),
		watermark: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "strata_stream_watermark_seconds",
			Help: "The source's latest event-time watermark, as Unix seconds."}, flow),
	}
	if reg != nil {
		reg.MustRegister(m.txs, m.srcRows, m.rowsIn, m.rowsOut, m.busy, m.sinkRows, m.epochs,
			m.checkpoints, m.ckptFailures, m.ckptSeconds, m.lastCheckpoint, m.watermark)
	}
	return m
}

// flowMetrics are one dataflow's figures, resolved once per label set.
type flowMetrics struct {
	txs, srcRows, sinkRows, epochs, checkpoints, ckptFailures prometheus.Counter
	ckptSeconds                                               prometheus.Observer
	lastCheckpoint, watermark                                 prometheus.Gauge
	stages                                                    []stageMetrics
}

type stageMetrics struct {
	in, out, busy prometheus.Counter
}

// forFlow resolves m's figures for a dataflow and its stages (nil for a nil m).
func (m *Metrics) forFlow(name string, stages []Stage) *flowMetrics {
	if m == nil {
		return nil
	}
	f := &flowMetrics{
		txs: m.txs.WithLabelValues(name), srcRows: m.srcRows.WithLabelValues(name),
		sinkRows: m.sinkRows.WithLabelValues(name), epochs: m.epochs.WithLabelValues(name),
		checkpoints: m.checkpoints.WithLabelValues(name), ckptFailures: m.ckptFailures.WithLabelValues(name),
		ckptSeconds: m.ckptSeconds.WithLabelValues(name), lastCheckpoint: m.lastCheckpoint.WithLabelValues(name),
		watermark: m.watermark.WithLabelValues(name),
	}
	for _, s := range stages {
		f.stages = append(f.stages, stageMetrics{in: m.rowsIn.WithLabelValues(name, s.Name),
			out: m.rowsOut.WithLabelValues(name, s.Name), busy: m.busy.WithLabelValues(name, s.Name)})
	}
	return f
}

func (f *flowMetrics) source(rows int) {
	if f != nil {
		f.txs.Inc()
		f.srcRows.Add(float64(rows))
	}
}

func (f *flowMetrics) stage(s, in, out int, busy time.Duration) {
	if f != nil {
		st := &f.stages[s]
		st.in.Add(float64(in))
		st.out.Add(float64(out))
		st.busy.Add(busy.Seconds())
	}
}

func (f *flowMetrics) sink(rows int) {
	if f != nil {
		f.sinkRows.Add(float64(rows))
	}
}

func (f *flowMetrics) epoch() {
	if f != nil {
		f.epochs.Inc()
	}
}

func (f *flowMetrics) checkpointed(id uint64, took time.Duration, err error) {
	if f == nil {
		return
	}
	if err != nil {
		f.ckptFailures.Inc()
		return
	}
	f.checkpoints.Inc()
	f.ckptSeconds.Observe(took.Seconds())
	f.lastCheckpoint.Set(float64(id))
}

func (f *flowMetrics) watermarked(unixNano int64) {
	if f != nil {
		f.watermark.Set(float64(unixNano) / 1e9)
	}
}
