package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/plan"
)

// tableFlags collects repeated --table NAME=PATH flags.
type tableFlags []string

func (t *tableFlags) String() string     { return strings.Join(*t, ",") }
func (t *tableFlags) Set(v string) error { *t = append(*t, v); return nil }

func runSQL(args []string, stdout, stderr io.Writer) int {
	f := newFlags("sql", `[--table NAME=PATH]... [--lake DIR] [--explain|--explain-analyze] [--format csv|table|json] "SQL"`, `
Run a SQL query (PostgreSQL dialect) over Parquet and CSV files and silver tables and
print its result. PATH is a Parquet or CSV file or a directory of them; NAME is the
table's name in the query. With --lake, every silver table of the lake is a table too,
by its full name (public.orders) or its last part (orders) when that is unique; a
--table of the same name wins. CSV output has a header row, RFC 4180 quoting, NULL as an empty field and dates
as YYYY-MM-DD; json prints one object per row; table aligns columns for reading.`)
	var tables tableFlags
	f.Var(&tables, "table", "a table: NAME=PATH (repeatable)")
	explain := f.Bool("explain", false, "print the logical and physical plan instead of running the query")
	analyze := f.Bool("explain-analyze", false, "run the query and print the plan with actual rows, time and spill per stage")
	format := f.String("format", "csv", "output format: csv, table or json")
	lake := f.String("lake", "", "a lake directory whose silver tables are queryable by name")
	memLimit := f.Int64("memory", 0, "memory budget in bytes before kernels spill (0: unlimited)")
	if status, done := f.parse(args, stdout, stderr); done {
		return status
	}
	if f.NArg() != 1 {
		fmt.Fprintln(stderr, "strata sql: expected one SQL argument")
		f.usage(stderr)
		return 1
	}
	switch *format {
	case "csv", "table", "json":
	default:
		fmt.Fprintf(stderr, "strata sql: unknown --format %q (csv, table or json)\n", *format)
		return 1
	}
	mem := plan.NewMemCatalog()
	for _, t := range tables {
		name, path, ok := strings.Cut(t, "=")
		if !ok || name == "" || path == "" {
			fmt.Fprintf(stderr, "strata sql: --table %q: want NAME=PATH\n", t)
			return 1
		}
		tab, err := plan.OpenPath(path)
		if err != nil {
			fmt.Fprintf(stderr, "strata sql: table %s: %v\n", name, err)
			return 1
		}
		mem.Add(name, tab)
	}
	var cat plan.Catalog = mem
	if *lake != "" {
		lc, err := plan.OpenLakeCatalog(*lake)
		if err != nil {
			fmt.Fprintf(stderr, "strata sql: %v\n", err)
			return 1
		}
		cat = plan.Catalogs(mem, lc)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	q := f.Arg(0)
	opts := plan.Options{MemoryLimit: *memLimit}
	if *explain || *analyze {
		j, err := plan.NewPlanner(cat, opts).Plan(ctx, q)
		if err != nil {
			fmt.Fprintf(stderr, "strata sql: %v\n", err)
			return 1
		}
		defer j.Release()
		if *analyze {
			if err := j.Run(ctx); err != nil {
				fmt.Fprintf(stderr, "strata sql: %v\n", err)
				return 1
			}
		}
		fmt.Fprint(stdout, j.Explain(*analyze))
		return 0
	}
	res, err := plan.Query(ctx, cat, q, plan.WithOptions(opts))
	if err != nil {
		fmt.Fprintf(stderr, "strata sql: %v\n", err)
		return 1
	}
	defer res.Release()
	w := bufio.NewWriter(stdout)
	switch *format {
	case "csv":
		err = writeCSV(w, res)
	case "json":
		err = writeJSON(w, res)
	case "table":
		err = writeTable(w, res)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		fmt.Fprintf(stderr, "strata sql: %v\n", err)
		return 1
	}
	return 0
}

// cellText renders one value as text: exact decimals, dates YYYY-MM-DD, timestamps
// "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC); NULL as null=true.
func cellText(a arrow.Array, i int) (s string, null bool) {
	if a.IsNull(i) {
		return "", true
	}
	v := change.ValueAt(a, i)
	switch t := a.DataType().(type) {
	case *arrow.Decimal128Type:
		return change.FormatDecimal(v.AsDecimal(), t.Scale), false
	case *arrow.Date32Type:
		return time.Unix(v.AsInt()*86400, 0).UTC().Format("2006-01-02"), false
	case *arrow.TimestampType:
		return change.TimeOf(v.AsInt(), t.Unit).UTC().Format("2006-01-02 15:04:05.999999"), false
	case *arrow.BooleanType:
		if v.AsBool() {
			return "true", false
		}
		return "false", false
	}
	switch v.Kind() {
	case change.KindInt:
		return fmt.Sprint(v.AsInt()), false
	case change.KindFloat:
		return fmt.Sprint(v.AsFloat()), false
	}
	return v.AsString(), false
}

func writeCSV(w io.Writer, res *plan.Result) error {
	cw := csv.NewWriter(w)
	header := make([]string, res.Schema.NumFields())
	for i, f := range res.Schema.Fields() {
		header[i] = f.Name
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	row := make([]string, len(header))
	for _, b := range res.Batches {
		for r := range int(b.NumRows()) {
			for c := range row {
				row[c], _ = cellText(b.Column(c), r)
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func writeJSON(w io.Writer, res *plan.Result) error {
	var buf []byte
	fs := res.Schema.Fields()
	for _, b := range res.Batches {
		for r := range int(b.NumRows()) {
			buf = append(buf[:0], '{')
			for c, f := range fs {
				if c > 0 {
					buf = append(buf, ',')
				}
				buf = change.AppendJSONString(buf, f.Name)
				buf = append(buf, ':')
				buf = change.AppendJSON(buf, change.ValueAt(b.Column(c), r), f.Type)
			}
			buf = append(buf, '}', '\n')
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeTable(w io.Writer, res *plan.Result) error {
	fs := res.Schema.Fields()
	rows := [][]string{make([]string, len(fs))}
	for i, f := range fs {
		rows[0][i] = f.Name
	}
	for _, b := range res.Batches {
		for r := range int(b.NumRows()) {
			row := make([]string, len(fs))
			for c := range row {
				s, null := cellText(b.Column(c), r)
				if null {
					s = "NULL"
				}
				row[c] = s
			}
			rows = append(rows, row)
		}
	}
	width := make([]int, len(fs))
	for _, row := range rows {
		for c, s := range row {
			width[c] = max(width[c], utf8.RuneCountInString(s))
		}
	}
	for i, row := range rows {
		for c, s := range row {
			if c > 0 {
				fmt.Fprint(w, " | ")
			}
			fmt.Fprintf(w, "%-*s", width[c], s)
		}
		fmt.Fprintln(w)
		if i == 0 {
			for c := range fs {
				if c > 0 {
					fmt.Fprint(w, "-+-")
				}
				fmt.Fprint(w, strings.Repeat("-", width[c]))
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "(%d rows)\n", len(rows)-1)
	return nil
}
