package main

import (
	"context"
	"database/sql"
	"embed"
	"flag"
	"fmt"
	"math"
	"os"
	"path"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/strata-data/strata/bench/oracle"
	"github.com/strata-data/strata/bench/tpchgen"
)

//go:embed queries/*.sql
var queryFiles embed.FS

// query is one TPC-H query's SQL, from queries/qNN.sql.
type query struct {
	name string // "q01"
	sql  string
}

func loadQueries(which string) ([]query, error) {
	var out []query
	for _, w := range strings.Split(which, ",") {
		n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(w), "q"))
		if err != nil {
			return nil, fmt.Errorf("bad query number %q", w)
		}
		name := fmt.Sprintf("q%02d", n)
		b, err := queryFiles.ReadFile(path.Join("queries", name+".sql"))
		if err != nil {
			return nil, fmt.Errorf("no query %s", name)
		}
		out = append(out, query{name: name, sql: string(b)})
	}
	return out, nil
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	sf := fs.Float64("sf", 1, "scale factor")
	seed := fs.Uint64("seed", 0, "random seed")
	data := fs.String("data", "", "data directory (default: under the temp dir, named by sf and seed); generated unless it holds this sf and seed")
	rounds := fs.Int("rounds", 5, "timed runs per query, engine and thread count (medians)")
	which := fs.String("queries", "1,3,5,6,10,12,14,18", "TPC-H query numbers")
	threadList := fs.String("threads", "1,2", "thread counts")
	show := fs.Bool("show", false, "print each query's answer")
	mode := fs.String("duckdb", "views", "how DuckDB sees the data: views (read_parquet views over the files, as strata reads them) or tables (loaded into DuckDB's own storage first)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the timed runs here")
	fs.Parse(args)

	qs, err := loadQueries(*which)
	if err != nil {
		return err
	}
	var threads []int
	for _, t := range strings.Split(*threadList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(t))
		if err != nil || n < 1 {
			return fmt.Errorf("bad thread count %q", t)
		}
		threads = append(threads, n)
	}
	dir := *data
	if dir == "" {
		dir = defaultDir(*sf, *seed)
	}
	cfg := tpchgen.Config{SF: *sf, Seed: *seed}
	if m, err := tpchgen.ReadManifest(dir); err == nil && m.Matches(cfg) {
		fmt.Fprintf(out, "reusing sf=%g seed=%d in %s (lineitem %d rows)\n", m.SF, m.Seed, dir, m.Rows[tpchgen.Lineitem])
	} else if _, err := generate(cfg, dir); err != nil {
		return err
	}
	fmt.Fprintf(out, "loadavg at start: %s", loadavg())

	duck, err := openDuckDB(dir, *mode)
	if err != nil {
		return err
	}
	defer duck.Close()
	strata, err := newStrataRunner(dir)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	type cell struct{ duck, strata time.Duration }
	results := map[string]map[int]cell{}
	for _, q := range qs {
		results[q.name] = map[int]cell{}
		var ref oracle.Result
		for ti, t := range threads {
			if _, err := duck.Exec(fmt.Sprintf("SET threads = %d", t)); err != nil {
				return err
			}
			// One untimed run per engine: warms caches and gives the answers to check.
			want, _, err := runDuck(ctx, duck, q.sql)
			if err != nil {
				return fmt.Errorf("%s: duckdb: %w", q.name, err)
			}
			ordered := oracle.Ordered(q.sql)
			if ti == 0 {
				ref = want
				if *show {
					fmt.Fprintf(out, "%s answer:\n%s\n", q.name, ref)
				}
				if len(ref.Rows) == 0 {
					fmt.Fprintf(out, "%s: warning: empty answer\n", q.name)
				}
			} else if err := oracle.Compare(want, ref, ordered); err != nil {
				return fmt.Errorf("%s: duckdb threads=%d differs from threads=%d: %w", q.name, t, threads[0], err)
			}
			got, _, err := strata.run(ctx, q.sql, t)
			if err != nil {
				return fmt.Errorf("%s: strata threads=%d: %w", q.name, t, err)
			}
			if err := oracle.Compare(got, ref, ordered); err != nil {
				return fmt.Errorf("%s: strata threads=%d differs from duckdb: %w", q.name, t, err)
			}
			var dt, st []time.Duration
			for range *rounds { // alternate the engines so load affects both alike
				_, d, err := runDuck(ctx, duck, q.sql)
				if err != nil {
					return fmt.Errorf("%s: duckdb: %w", q.name, err)
				}
				dt = append(dt, d)
				_, d, err = strata.run(ctx, q.sql, t)
				if err != nil {
					return fmt.Errorf("%s: strata: %w", q.name, err)
				}
				st = append(st, d)
			}
			c := cell{duck: median(dt), strata: median(st)}
			results[q.name][t] = c
			fmt.Fprintf(out, "%s threads=%d: %d rows; duckdb median %7.1f ms %v; strata median %7.1f ms %v; ratio %.2f\n",
				q.name, t, len(ref.Rows), ms(c.duck), msList(dt), ms(c.strata), msList(st), c.strata.Seconds()/c.duck.Seconds())
		}
	}

	fmt.Fprintf(out, "\nsf=%g, duckdb %s, medians of %d rounds (ms)\n", *sf, *mode, *rounds)
	header := fmt.Sprintf("%-6s", "query")
	for _, t := range threads {
		header += fmt.Sprintf(" %12s %12s %7s", fmt.Sprintf("duckdb t=%d", t), fmt.Sprintf("strata t=%d", t), "ratio")
	}
	fmt.Fprintln(out, header)
	logSum, maxRatio := make([]float64, len(threads)), make([]float64, len(threads))
	for _, q := range qs {
		line := fmt.Sprintf("%-6s", q.name)
		for i, t := range threads {
			c := results[q.name][t]
			r := c.strata.Seconds() / c.duck.Seconds()
			logSum[i] += math.Log(r)
			maxRatio[i] = max(maxRatio[i], r)
			line += fmt.Sprintf(" %12.1f %12.1f %7.2f", ms(c.duck), ms(c.strata), r)
		}
		fmt.Fprintln(out, line)
	}
	gm, mx := fmt.Sprintf("%-6s", "geomean"), fmt.Sprintf("%-6s", "max")
	for i := range threads {
		gm += fmt.Sprintf(" %12s %12s %7.2f", "", "", math.Exp(logSum[i]/float64(len(qs))))
		mx += fmt.Sprintf(" %12s %12s %7.2f", "", "", maxRatio[i])
	}
	fmt.Fprintln(out, gm)
	fmt.Fprintln(out, mx)
	fmt.Fprintf(out, "loadavg at end: %s", loadavg())
	return nil
}

// openDuckDB opens an in-memory DuckDB over the generated files.
func openDuckDB(dir, mode string) (*sql.DB, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1) // SET threads applies to the connection
	kind := "VIEW"
	switch mode {
	case "views":
	case "tables":
		kind = "TABLE"
	default:
		db.Close()
		return nil, fmt.Errorf("-duckdb %q: want views or tables", mode)
	}
	start := time.Now()
	for _, t := range tpchgen.Tables {
		p := strings.ReplaceAll(tpchgen.Path(dir, t), "'", "''")
		if _, err := db.Exec(fmt.Sprintf("CREATE %s %s AS SELECT * FROM read_parquet('%s')", kind, t, p)); err != nil {
			db.Close()
			return nil, fmt.Errorf("duckdb: %s: %w", t, err)
		}
	}
	fmt.Fprintf(out, "duckdb: %s created in %.1fs\n", strings.ToLower(kind)+"s", time.Since(start).Seconds())
	return db, nil
}

func runDuck(ctx context.Context, db *sql.DB, q string) (oracle.Result, time.Duration, error) {
	start := time.Now()
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return oracle.Result{}, 0, err
	}
	res, err := oracle.FromSQL(rows)
	return res, time.Since(start), err
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func msList(ds []time.Duration) string {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.0f", ms(d))
	}
	return "[" + b.String() + "]"
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown\n"
	}
	return string(b)
}
