// Command tpch generates TPC-H-shaped data as Parquet and times TPC-H queries 1, 3,
// 5, 6, 10, 12, 14 and 18 through DuckDB (threads 1 and 2) and through strata's
// planner in the same run, printing the ratio per query and their geometric mean.
//
//	go run ./tpch gen -sf 1 -out DIR      write DIR/<table>.parquet and DIR/tpchgen.json
//	go run ./tpch [run] -sf 1 [-data DIR] [-rounds N] [-queries 1,3,...]
//
// run reuses DIR when its manifest matches the scale factor and seed, and generates
// it otherwise. DuckDB reads the files through read_parquet views (-duckdb views, the
// default, as strata reads them) or from its own tables loaded first (-duckdb tables).
// Each query runs once per engine and thread count untimed, and the answers must
// agree (DuckDB's two thread counts and strata, compared by package oracle) before
// the timed rounds, which alternate the engines; the report gives medians.
//
// The SQL is in queries/qNN.sql with the specification's validation parameters;
// queries 3, 10 and 18 order by their key as a last tie-breaker so that answers
// compare in order.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/strata-data/strata/bench/tpchgen"
)

// out receives the report (a variable so tests can read it).
var out io.Writer = os.Stdout

func main() {
	args := os.Args[1:]
	cmd := "run"
	if len(args) > 0 && (args[0] == "gen" || args[0] == "run") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "gen":
		err = genCmd(args)
	default:
		err = runCmd(args)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tpch:", err)
		os.Exit(1)
	}
}

func defaultDir(sf float64, seed uint64) string {
	return filepath.Join(os.TempDir(), "strata-tpch", "sf"+strconv.FormatFloat(sf, 'g', -1, 64)+"-seed"+strconv.FormatUint(seed, 10))
}

func genCmd(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	sf := fs.Float64("sf", 1, "scale factor")
	seed := fs.Uint64("seed", 0, "random seed")
	out := fs.String("out", "", "output directory (default: a directory under the temp dir named by sf and seed)")
	workers := fs.Int("workers", 0, "generator goroutines (0: GOMAXPROCS); never changes the data")
	fs.Parse(args)
	dir := *out
	if dir == "" {
		dir = defaultDir(*sf, *seed)
	}
	_, err := generate(tpchgen.Config{SF: *sf, Seed: *seed, Workers: *workers}, dir)
	return err
}

func generate(c tpchgen.Config, dir string) (tpchgen.Manifest, error) {
	start := time.Now()
	m, err := tpchgen.Generate(context.Background(), c, dir)
	if err != nil {
		return m, err
	}
	workers := c.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	fmt.Fprintf(out, "generated sf=%g seed=%d in %.1fs (%d workers) into %s\n", m.SF, m.Seed, time.Since(start).Seconds(), workers, dir)
	for _, t := range tpchgen.Tables {
		st, _ := os.Stat(tpchgen.Path(dir, t))
		var size int64
		if st != nil {
			size = st.Size()
		}
		fmt.Fprintf(out, "  %-9s %10d rows %8.1f MB\n", t, m.Rows[t], float64(size)/1e6)
	}
	return m, nil
}
