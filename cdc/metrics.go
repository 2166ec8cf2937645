package cdc

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the ingest counters. Create them once with NewMetrics and share them
// between the stages of one pipeline; a nil *Metrics counts nothing.
type Metrics struct {
	decoded     *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	deadLetters prometheus.Counter
	txAssembled prometheus.Counter
	txEvents    prometheus.Counter
	txOpen      prometheus.Gauge
	lag         prometheus.Gauge

	mu      sync.Mutex
	byTable map[string]prometheus.Counter
}

// NewMetrics creates the ingest metrics and registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		decoded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "strata", Subsystem: "cdc", Name: "events_decoded_total",
			Help: "Change events decoded, by table.",
		}, []string{"table"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "strata", Subsystem: "cdc", Name: "events_rejected_total",
			Help: "Records rejected, by reason (malformed, unknown_op, type, tx_count, tx_begin, tx_timeout, schema, other).",
		}, []string{"reason"}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strata", Subsystem: "cdc", Name: "dead_letters_total",
			Help: "Records written to dead letters.",
		}),
		txAssembled: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strata", Subsystem: "cdc", Name: "transactions_assembled_total",
			Help: "Whole transactions emitted in commit order.",
		}),
		txEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "strata", Subsystem: "cdc", Name: "transaction_events_total",
			Help: "Events inside emitted transactions.",
		}),
		txOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "strata", Subsystem: "cdc", Name: "transactions_open",
			Help: "Transactions buffered by the assembler, not yet complete or not yet in order.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "strata", Subsystem: "cdc", Name: "lag_seconds",
			Help: "Now minus the source commit time of the last emitted transaction.",
		}),
		byTable: map[string]prometheus.Counter{},
	}
	if reg != nil {
		reg.MustRegister(m.decoded, m.rejected, m.deadLetters, m.txAssembled, m.txEvents, m.txOpen, m.lag)
	}
	return m
}

// Decoded counts one decoded event of table.
func (m *Metrics) Decoded(table string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	c, ok := m.byTable[table]
	if !ok {
		c = m.decoded.WithLabelValues(table)
		m.byTable[table] = c
	}
	m.mu.Unlock()
	c.Inc()
}

// Rejected counts one rejected record, by the reason its error wraps.
func (m *Metrics) Rejected(err error) {
	if m == nil {
		return
	}
	m.rejected.WithLabelValues(reason(err)).Inc()
}

// DeadLettered counts one record written to dead letters.
func (m *Metrics) DeadLettered() {
	if m != nil {
		m.deadLetters.Inc()
	}
}

// Assembled counts one emitted transaction.
func (m *Metrics) Assembled(tx *Tx) {
	if m == nil {
		return
	}
	m.txAssembled.Inc()
	m.txEvents.Add(float64(len(tx.Events)))
}

// SetOpen sets the number of open transactions.
func (m *Metrics) SetOpen(n int) {
	if m != nil {
		m.txOpen.Set(float64(n))
	}
}

// SetLag sets the lag in seconds.
func (m *Metrics) SetLag(seconds float64) {
	if m != nil {
		m.lag.Set(seconds)
	}
}
