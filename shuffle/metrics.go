package shuffle

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the shuffle's Prometheus counters. Create them once with NewMetrics and
// share them between shuffles; a nil *Metrics counts nothing.
type Metrics struct {
	bytes        prometheus.Counter
	spilledBytes prometheus.Counter
	spillFiles   prometheus.Counter
}

// NewMetrics creates the shuffle metrics and registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_shuffle_bytes_total",
			Help: "Arrow bytes of the batches written to shuffles."}),
		spilledBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_shuffle_spilled_bytes_total",
			Help: "Bytes of shuffle spill files written to local disk (compressed)."}),
		spillFiles: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_shuffle_spill_files_total",
			Help: "Shuffle spill files written."}),
	}
	if reg != nil {
		reg.MustRegister(m.bytes, m.spilledBytes, m.spillFiles)
	}
	return m
}

func (m *Metrics) shuffled(bytes int64) {
	if m != nil {
		m.bytes.Add(float64(bytes))
	}
}

func (m *Metrics) spilled(bytes, files int64) {
	if m != nil {
		m.spilledBytes.Add(float64(bytes))
		m.spillFiles.Add(float64(files))
	}
}
