package sink

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what sinks deliver, labelled by sink name. One Metrics serves every
// sink of a process; a nil *Metrics counts nothing.
type Metrics struct {
	rows    *prometheus.CounterVec
	batches *prometheus.CounterVec
	skipped *prometheus.CounterVec
	errors  *prometheus.CounterVec
	commits *prometheus.CounterVec
	commitS *prometheus.HistogramVec
}

// NewMetrics creates the sink metrics and registers them with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	l := []string{"sink"}
	m := &Metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_sink_rows_total",
			Help: "Rows delivered to the target (after netting), by sink."}, l),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_sink_batches_total",
			Help: "Change batches written to the sink, by sink."}, l),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_sink_skipped_batches_total",
			Help: "Replayed batches skipped because the target already held their position, by sink."}, l),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_sink_errors_total",
			Help: "Failed writes, flushes and commits, by sink."}, l),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_sink_commits_total",
			Help: "Flushes and commits that made rows visible in the target, by sink."}, l),
		commitS: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "strata_sink_commit_seconds",
			Help: "Time of a flush or commit, by sink.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, l),
	}
	if reg != nil {
		reg.MustRegister(m.rows, m.batches, m.skipped, m.errors, m.commits, m.commitS)
	}
	return m
}

// counters are one sink's children of Metrics; the zero value counts nothing.
type counters struct {
	rows, batches, skipped, errors, commits prometheus.Counter
	commitS                                 prometheus.Observer
}

func (m *Metrics) forSink(name string) counters {
	if m == nil {
		return counters{}
	}
	return counters{
		rows: m.rows.WithLabelValues(name), batches: m.batches.WithLabelValues(name),
		skipped: m.skipped.WithLabelValues(name), errors: m.errors.WithLabelValues(name),
		commits: m.commits.WithLabelValues(name), commitS: m.commitS.WithLabelValues(name),
	}
}

func (c counters) batch()         { inc(c.batches, 1) }
func (c counters) skip()          { inc(c.skipped, 1) }
func (c counters) wrote(rows int) { inc(c.rows, float64(rows)) }
func (c counters) committed(t0 time.Time) {
	inc(c.commits, 1)
	if c.commitS != nil {
		c.commitS.Observe(time.Since(t0).Seconds())
	}
}

// fail counts err (if any) and returns it.
func (c counters) fail(err error) error {
	if err != nil {
		inc(c.errors, 1)
	}
	return err
}

func inc(c prometheus.Counter, n float64) {
	if c != nil {
		c.Add(n)
	}
}
