// Command joinagg times strata's hash join + filter + group by + sum against DuckDB's
// on the same generated data (10M-row fact, 1M-row dimension), with one and two
// threads, and prints the ratios of the medians.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/memory/mallocator"

	"github.com/strata-data/strata/internal/cputime"
)

var errEOF = io.EOF

func main() {
	factRows := flag.Int("fact", 10_000_000, "fact rows")
	dimRows := flag.Int("dim", 1_000_000, "dimension rows")
	rounds := flag.Int("rounds", 5, "timed runs per engine and thread count (medians)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run here")
	noDuck := flag.Bool("strata-only", false, "time strata alone (no DuckDB, no ratios): for profiling")
	flag.BoolVar(&goFilter, "filter-go", false, "allocate the filter's output from Go's allocator, not the recycling pool the join uses")
	inputMem := flag.String("input-mem", "go", "where strata's input tables live: go (the Go heap) or c (malloc, outside the Go heap, as DuckDB's copy is)")
	flag.BoolVar(&partitioned, "partitioned", false, "with threads=2, shuffle both sides into partitions instead of broadcasting the dimension")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "joinagg:", err)
			os.Exit(1)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "joinagg:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	var mem memory.Allocator
	switch *inputMem {
	case "go":
		mem = memory.DefaultAllocator
	case "c":
		mem = mallocator.NewMallocator()
	default:
		fmt.Fprintln(os.Stderr, "joinagg: -input-mem is go or c")
		os.Exit(2)
	}
	if err := run(*factRows, *dimRows, *rounds, !*noDuck, mem); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "joinagg:", err)
		os.Exit(1)
	}
}

// run generates the data, loads strata's input tables through mem and DuckDB's, and
// times both engines.
func run(factRows, dimRows, rounds int, withDuck bool, mem memory.Allocator) error {
	ctx := context.Background()
	t0 := time.Now()
	d := generate(factRows, dimRows, 42)
	want := d.reference()
	s := loadStrata(d, mem)
	defer s.release()
	var ddb *duckDB
	if withDuck {
		var err error
		if ddb, err = loadDuckDB(d); err != nil {
			return fmt.Errorf("duckdb: %w", err)
		}
		defer ddb.db.Close()
	}
	fmt.Printf("data: %d fact rows, %d dimension rows, loaded in %.1fs\n", factRows, dimRows, time.Since(t0).Seconds())

	for _, threads := range []int{1, 2} {
		// Wall time is what the ratio compares; the process CPU time of each run is
		// printed beside it, since on a shared machine the wall clock also counts
		// other processes' turns on the cores.
		var st, dt, sc, dc, ss []time.Duration
		var faults []int64
		for range rounds { // alternate the engines so load affects both alike
			c0, r0 := cputime.Process(), usage()
			t, got, err := runStrata(ctx, s, threads)
			if err != nil {
				return fmt.Errorf("strata: %w", err)
			}
			sc = append(sc, cputime.Process()-c0)
			r1 := usage()
			faults = append(faults, r1.Minflt-r0.Minflt)
			ss = append(ss, time.Duration(syscall.TimevalToNsec(r1.Stime)-syscall.TimevalToNsec(r0.Stime)))
			if err := check("strata", got, want); err != nil {
				return err
			}
			st = append(st, t)
			if ddb == nil {
				continue
			}
			c0 = cputime.Process()
			t, got, err = ddb.run(threads)
			if err != nil {
				return fmt.Errorf("duckdb: %w", err)
			}
			dc = append(dc, cputime.Process()-c0)
			if err := check("duckdb", got, want); err != nil {
				return err
			}
			dt = append(dt, t)
		}
		// Minor page faults (first touches of fresh memory) and system time per round:
		// what a growing heap costs.
		fmt.Printf("threads=%d: strata minor faults %v, system time %v\n", threads, faults, rounded(ss))
		if ddb == nil {
			fmt.Printf("threads=%d: strata median %.3fs %v, cpu %.3fs %v\n", threads, median(st).Seconds(), rounded(st), median(sc).Seconds(), rounded(sc))
			continue
		}
		sm, dm := median(st), median(dt)
		fmt.Printf("threads=%d: strata median %.3fs %v, duckdb median %.3fs %v\n", threads, sm.Seconds(), rounded(st), dm.Seconds(), rounded(dt))
		fmt.Printf("threads=%d: cpu strata median %.3fs %v, duckdb median %.3fs %v\n", threads, median(sc).Seconds(), rounded(sc), median(dc).Seconds(), rounded(dc))
		fmt.Printf("ratio strata/duckdb threads=%d: %.2f\n", threads, sm.Seconds()/dm.Seconds())
		fmt.Printf("cpu ratio strata/duckdb threads=%d: %.2f\n", threads, median(sc).Seconds()/median(dc).Seconds())
	}
	return nil
}

// usage returns the process's resource usage so far.
func usage() syscall.Rusage {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		panic(err)
	}
	return r
}

// rounded returns ds to the millisecond, for printing.
func rounded(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// check compares sums per region with the reference, up to float rounding (the
// engines add in different orders).
func check(engine string, got, want map[string]float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%s: %d regions, want %d", engine, len(got), len(want))
	}
	for r, w := range want {
		if g, ok := got[r]; !ok || math.Abs(g-w) > 1e-9*math.Max(1, math.Abs(w)) {
			return fmt.Errorf("%s: region %s sum %v, want %v", engine, r, got[r], w)
		}
	}
	return nil
}
