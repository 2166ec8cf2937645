// Package cputime reads the CPU time the process has used. Benchmarks on a shared
// machine report it beside wall time: the wall clock also counts the turns other
// processes take on the cores, the CPU time only this process's work (garbage
// collection included).
package cputime

import (
	"syscall"
	"time"
)

// Process returns the user plus system CPU time of the whole process so far (0 where
// the platform cannot tell).
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Reporter is what a *testing.B is to Report.
type Reporter interface {
	ReportMetric(n float64, unit string)
}

// Report reports, for ops operations run since the CPU time was since, the CPU
// nanoseconds per operation ("cpu-ns/op") and the operations per CPU-second
// ("UNIT/cpu-s", e.g. events/cpu-s).
func Report(b Reporter, since time.Duration, ops int, unit string) {
	cpu := Process() - since
	if ops <= 0 || cpu <= 0 {
		return
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(ops), "cpu-ns/op")
	b.ReportMetric(float64(ops)/cpu.Seconds(), unit+"/cpu-s")
}
