package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// TestGenAndRun runs both subcommands at a tiny scale factor: generation, reuse of
// the directory, every query through DuckDB and strata at two thread counts with the
// answers checked against each other (the run fails on a difference), and the report.
func TestGenAndRun(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	out = &buf
	if err := genCmd([]string{"-sf", "0.01", "-out", dir}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "lineitem") {
		t.Fatalf("gen printed:\n%s", buf.String())
	}
	buf.Reset()
	if err := runCmd([]string{"-sf", "0.01", "-data", dir, "-rounds", "1"}); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	t.Log(s)
	if !strings.Contains(s, "reusing sf=0.01") {
		t.Error("the generated directory was not reused")
	}
	for _, q := range []string{"q01", "q03", "q05", "q06", "q10", "q12", "q14", "q18"} {
		for _, th := range []string{"1", "2"} {
			m := regexp.MustCompile(q + ` threads=` + th + `: (\d+) rows; duckdb median .*; strata median .*; ratio \d`).FindStringSubmatch(s)
			if m == nil {
				t.Errorf("%s threads=%s: no timing line", q, th)
				continue
			}
			if m[1] == "0" && q != "q18" { // at SF 0.01 no order may exceed 300 units
				t.Errorf("%s: empty answer", q)
			}
		}
	}
	for _, want := range []string{"geomean", "max", "strata t=1", "strata t=2"} {
		if !strings.Contains(s, want) {
			t.Errorf("the report has no %q", want)
		}
	}
}

func TestLoadQueries(t *testing.T) {
	qs, err := loadQueries("1,q3,18")
	if err != nil || len(qs) != 3 || qs[1].name != "q03" || !strings.Contains(qs[2].sql, "sum(l_quantity) > 300") {
		t.Fatalf("%v %v", qs, err)
	}
	if _, err := loadQueries("2"); err == nil {
		t.Error("query 2 is not in the set")
	}
	if _, err := loadQueries("x"); err == nil {
		t.Error("bad number accepted")
	}
}
