package cputime

import (
	"testing"
	"time"
)

type metrics map[string]float64

func (m metrics) ReportMetric(n float64, unit string) { m[unit] = n }

// Work shows up as CPU time; sleeping does not.
func TestProcessCountsWorkNotSleep(t *testing.T) {
	// Work until 30ms of CPU time are counted: on a loaded machine that takes longer
	// on the wall clock, never forever.
	start := Process()
	deadline := time.Now().Add(20 * time.Second)
	var spun time.Duration
	for x := 0; spun < 30*time.Millisecond; x++ {
		if x%1024 == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("20s of spinning counted as %v of CPU time", spun)
			}
			spun = Process() - start
		}
	}
	start = Process()
	time.Sleep(100 * time.Millisecond)
	if slept := Process() - start; slept > 50*time.Millisecond {
		t.Fatalf("100ms of sleep counted as %v of CPU time", slept)
	}
	m := metrics{}
	Report(m, Process()-spun, 1000, "events")
	if m["cpu-ns/op"] < float64(spun.Nanoseconds())/1000 || m["events/cpu-s"] <= 0 {
		t.Fatalf("report %v for %v over 1000 ops", m, spun)
	}
}
