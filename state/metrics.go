package state

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the state backends' Prometheus figures. Create them once with
// NewMetrics and share them between backends (give each a distinct Config.Name);
// a nil *Metrics counts nothing. Sizes are refreshed by Stats and by every sweep.
type Metrics struct {
	keys    *prometheus.GaugeVec
	bytes   *prometheus.GaugeVec
	expired *prometheus.CounterVec

	mu   sync.Mutex
	seen map[string]map[string]bool // backend -> namespaces with gauges set
}

// NewMetrics creates the metrics and registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		keys: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "strata_state_keys",
			Help: "Entries held per state namespace (as of the last sweep or Stats call)."},
			[]string{"backend", "namespace"}),
		bytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "strata_state_bytes",
			Help: "Logical bytes (keys + values) held per state namespace (as of the last sweep or Stats call)."},
			[]string{"backend", "namespace"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_state_expired_total",
			Help: "Expired entries reclaimed by sweeps."}, []string{"backend"}),
		seen: map[string]map[string]bool{},
	}
	if reg != nil {
		reg.MustRegister(m.keys, m.bytes, m.expired)
	}
	return m
}

func (m *Metrics) observe(backend string, stats []NamespaceStats) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := make(map[string]bool, len(stats))
	for _, s := range stats {
		now[s.Namespace] = true
		m.keys.WithLabelValues(backend, s.Namespace).Set(float64(s.Keys))
		m.bytes.WithLabelValues(backend, s.Namespace).Set(float64(s.Bytes))
	}
	for ns := range m.seen[backend] {
		if !now[ns] {
			m.keys.DeleteLabelValues(backend, ns)
			m.bytes.DeleteLabelValues(backend, ns)
		}
	}
	m.seen[backend] = now
}

func (m *Metrics) swept(backend string, n int) {
	if m != nil && n > 0 {
		m.expired.WithLabelValues(backend).Add(float64(n))
	}
}

// Keys is the gauge of entries held by a backend's namespace.
func (m *Metrics) Keys(backend, namespace string) prometheus.Gauge {
	return m.keys.WithLabelValues(backend, namespace)
}

// Bytes is the gauge of logical bytes held by a backend's namespace.
func (m *Metrics) Bytes(backend, namespace string) prometheus.Gauge {
	return m.bytes.WithLabelValues(backend, namespace)
}

// Expired is the counter of expired entries a backend's sweeps reclaimed.
func (m *Metrics) Expired(backend string) prometheus.Counter {
	return m.expired.WithLabelValues(backend)
}
