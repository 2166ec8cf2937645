package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/strata-data/strata/gold"
	"github.com/strata-data/strata/plan"
)

const goldHelp = `
Runs a dbt-style project (dbt_project.yml, models/**/*.sql, seeds/*.csv, schema.yml,
tests/*.sql, macros/*.sql) on strata's SQL engine:
  build  loads the seeds, builds the models in DAG order (independent ones in
         parallel) and runs the data tests; tables and incremental models are written
         to TARGET/<model>.parquet; views and ephemerals are inlined where they are
         read. The catalog (catalog.json, lineage.mmd, lineage.dot) goes to TARGET.
  test   runs the data tests against the outputs already built
  docs   writes the catalog and the lineage graph, with types and row counts of the
         outputs already built
One line per seed, model and test (status, rows, time), then a summary. The exit
status is 1 when anything fails: a model error, or a test of severity error with
failing rows.`

func runBuild(args []string, stdout, stderr io.Writer) int {
	return runGold("build", args, stdout, stderr)
}
func runTest(args []string, stdout, stderr io.Writer) int {
	return runGold("test", args, stdout, stderr)
}
func runDocs(args []string, stdout, stderr io.Writer) int {
	return runGold("docs", args, stdout, stderr)
}

func runGold(verb string, args []string, stdout, stderr io.Writer) int {
	fs := newFlags(verb, "--project DIR [--target DIR] [--select SEL] [--lake DIR] [flags]", goldHelp)
	project := fs.String("project", "", "project directory, holding dbt_project.yml (required)")
	target := fs.String("target", "", "output directory (default: DIR/target, or target-path of dbt_project.yml)")
	var sel, lake, vars *string
	var fullRefresh *bool
	var workers *int
	if verb != "docs" {
		sel = fs.String("select", "", `models to run, dbt syntax: name, +name, name+, tag:x, path:p (space separated: union)`)
		lake = fs.String("lake", "", "lake directory whose silver tables source() reads")
		workers = fs.Int("workers", 0, "models built at once (default: the number of CPUs)")
		vars = fs.String("vars", "", `YAML mapping overriding the project's vars, e.g. '{start: "2024-01-01"}'`)
	}
	if verb == "build" {
		fullRefresh = fs.Bool("full-refresh", false, "rebuild incremental models from scratch")
	}
	if st, done := fs.parse(args, stdout, stderr); done {
		return st
	}
	if *project == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "strata %s: --project is required and takes no arguments\n", verb)
		fs.usage(stderr)
		return 1
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "strata %s: %v\n", verb, err)
		return 1
	}
	var lc gold.LoadConfig
	if vars != nil && *vars != "" {
		if err := yaml.Unmarshal([]byte(*vars), &lc.Vars); err != nil {
			return fail(fmt.Errorf("--vars: %v", err))
		}
	}
	p, err := lc.Load(*project)
	if err != nil {
		return fail(err)
	}
	if *target == "" {
		*target = filepath.Join(*project, p.TargetPath)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if verb == "docs" {
		stats, err := p.TargetStats(ctx, *target)
		if err != nil {
			return fail(err)
		}
		files, err := writeDocs(p, stats, *target)
		if err != nil {
			return fail(err)
		}
		for _, f := range files {
			fmt.Fprintln(stdout, f)
		}
		return 0
	}

	opts := gold.Options{Target: *target, Select: *sel, Workers: *workers}
	if fullRefresh != nil {
		opts.FullRefresh = *fullRefresh
	}
	if *lake != "" {
		cat, err := plan.OpenLakeCatalog(*lake)
		if err != nil {
			return fail(err)
		}
		opts.Sources = cat
	}
	start := time.Now()
	opts.Progress = func(r gold.Result) { printResult(stdout, r) }
	var run *gold.Run
	if verb == "build" {
		run, err = p.Build(ctx, opts)
	} else {
		run, err = p.Test(ctx, opts)
	}
	if err != nil {
		return fail(err)
	}
	if verb == "build" {
		if _, err := writeDocs(p, run.Stats, *target); err != nil {
			return fail(err)
		}
	}
	printSummary(stdout, run, time.Since(start))
	if run.Failed() {
		return 1
	}
	return 0
}

// printResult prints one line per seed, model or test, and an indented error.
func printResult(w io.Writer, r gold.Result) {
	rows := ""
	switch {
	case r.Kind == "test" && r.Rows >= 0:
		rows = fmt.Sprintf("%d failing", r.Rows)
	case r.NewRows >= 0:
		rows = fmt.Sprintf("%d rows (+%d new)", r.Rows, r.NewRows)
	case r.Rows >= 0:
		rows = fmt.Sprintf("%d rows", r.Rows)
	case r.Status == gold.StatusOK:
		rows = "inlined"
	}
	fmt.Fprintf(w, "%-7s %-11s %20s %8s  %s\n", r.Status, r.Kind, rows, fmtDuration(r.Duration), r.Name)
	if r.Err != nil && !errors.Is(r.Err, gold.ErrSkipped) {
		fmt.Fprintf(w, "        %s\n", strings.ReplaceAll(r.Err.Error(), "\n", "\n        "))
	}
}

func fmtDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%dµs", d.Microseconds())
}

func printSummary(w io.Writer, run *gold.Run, elapsed time.Duration) {
	count := func(rs []gold.Result) map[gold.Status]int {
		m := map[gold.Status]int{}
		for _, r := range rs {
			m[r.Status]++
		}
		return m
	}
	n, t := count(run.Nodes), count(run.Tests)
	fmt.Fprintln(w)
	if len(run.Nodes) > 0 {
		fmt.Fprintf(w, "models and seeds: %d ok, %d error, %d skipped\n", n[gold.StatusOK], n[gold.StatusError], n[gold.StatusSkipped])
	}
	fmt.Fprintf(w, "tests: %d pass, %d warn, %d fail, %d error, %d skipped\n",
		t[gold.StatusPass], t[gold.StatusWarn], t[gold.StatusFail], t[gold.StatusError], t[gold.StatusSkipped])
	status := "Completed"
	if run.Failed() {
		status = "Failed"
		for _, r := range run.Tests {
			if r.Status == gold.StatusFail {
				fmt.Fprintf(w, "failing test %s: %d rows\n", r.Name, r.Rows)
			}
		}
	}
	fmt.Fprintf(w, "%s in %s\n", status, fmtDuration(elapsed))
}

// writeDocs writes catalog.json, lineage.mmd and lineage.dot into target.
func writeDocs(p *gold.Project, stats map[string]gold.NodeStats, target string) ([]string, error) {
	c, err := p.Catalog(stats)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{{"catalog.json", c.WriteJSON}, {"lineage.mmd", c.WriteMermaid}, {"lineage.dot", c.WriteDOT}} {
		path := filepath.Join(target, f.name)
		tmp := path + ".tmp"
		out, err := os.Create(tmp)
		if err != nil {
			return nil, err
		}
		if err := f.write(out); err != nil {
			out.Close()
			os.Remove(tmp)
			return nil, err
		}
		if err := out.Close(); err != nil {
			os.Remove(tmp)
			return nil, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, err
		}
		files = append(files, path)
	}
	return files, nil
}
