package state_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/strata-data/strata/state"
)

func TestMetricsFollowStats(t *testing.T) {
	for _, kind := range []string{"memory", "pebble"} {
		t.Run(kind, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := state.NewMetrics(reg)
			now := time.Unix(1000, 0)
			cfg := state.Config{Metrics: m, Name: kind, SweepInterval: -1, Now: func() time.Time { return now }}
			var b state.Backend
			var err error
			if kind == "memory" {
				b, err = state.NewMemory(state.MemoryConfig{Config: cfg})
			} else {
				b, err = state.OpenPebble(state.PebbleConfig{Config: cfg, Dir: t.TempDir()})
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			_ = b.Put("a", []byte("k1"), []byte("vvv"))
			_ = b.Put("a", []byte("k2"), []byte("vvv"))
			_ = b.PutTTL("gone", []byte("k"), []byte("v"), time.Second)
			if _, err := b.Stats(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := value(t, m.Keys(kind, "a")); got != 2 {
				t.Fatalf("keys gauge = %v, want 2", got)
			}
			if got := value(t, m.Bytes(kind, "a")); got != 10 {
				t.Fatalf("bytes gauge = %v, want 10", got)
			}
			now = now.Add(2 * time.Second)
			if _, err := b.Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := series(t, reg, "strata_state_keys"); n != 1 {
				t.Fatalf("%d namespaces reported after the sweep emptied one, want 1", n)
			}
			if got := value(t, m.Expired(kind)); got != 1 {
				t.Fatalf("expired counter = %v, want 1", got)
			}
		})
	}
}

// The background sweeper reclaims expired entries without a Sweep call: its
// reclaimed-entries counter moves.
func TestBackgroundSweep(t *testing.T) {
	for _, kind := range []string{"memory", "pebble"} {
		t.Run(kind, func(t *testing.T) {
			m := state.NewMetrics(nil)
			cfg := state.Config{SweepInterval: 10 * time.Millisecond, Metrics: m, Name: kind}
			var b state.Backend
			var err error
			if kind == "memory" {
				b, err = state.NewMemory(state.MemoryConfig{Config: cfg})
			} else {
				b, err = state.OpenPebble(state.PebbleConfig{Config: cfg, Dir: t.TempDir()})
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			_ = b.PutTTL("n", []byte("k"), []byte("v"), time.Millisecond)
			_ = b.Put("n", []byte("stay"), []byte("v"))
			deadline := time.Now().Add(5 * time.Second)
			for value(t, m.Expired(kind)) != 1 {
				if time.Now().After(deadline) {
					t.Fatal("expired entry not reclaimed by the background sweeper in 5 s")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if got := value(t, m.Keys(kind, "n")); got != 1 {
				t.Fatalf("keys after background sweep = %v, want 1", got)
			}
		})
	}
}
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

func series(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return len(f.Metric)
		}
	}
	return 0
}
