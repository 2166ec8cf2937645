package oracle

import (
	"context"
	"database/sql"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

type suiteQuery struct {
	name, sql string
	ordered   bool
}

// loadSuite reads testdata/queries.sql: queries separated by "-- name: NAME" lines.
func loadSuite(t *testing.T) []suiteQuery {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "queries.sql"))
	if err != nil {
		t.Fatal(err)
	}
	var out []suiteQuery
	seen := map[string]bool{}
	parts := strings.Split(string(b), "\n-- name: ")
	for _, p := range parts[1:] {
		name, body, _ := strings.Cut(p, "\n")
		name, body = strings.TrimSpace(name), strings.TrimSpace(body)
		if name == "" || body == "" || seen[name] {
			t.Fatalf("suite: bad or repeated entry %q", name)
		}
		seen[name] = true
		out = append(out, suiteQuery{name: name, sql: body, ordered: Ordered(body)})
	}
	return out
}

// setup writes the oracle's tables to a temporary directory.
func setup(t *testing.T) map[string]string {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	paths, err := WriteTables(t.TempDir(), 1, mem)
	if err != nil {
		t.Fatal(err)
	}
	mem.AssertSize(t, 0)
	return paths
}

func duckQuery(t *testing.T, db *sql.DB, q string) Result {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("duckdb: %v\n%s", err, q)
	}
	res, err := FromSQL(rows)
	if err != nil {
		t.Fatalf("duckdb: %v\n%s", err, q)
	}
	return res
}

// knownBroken lists suite queries on which strata is known to answer wrongly, each
// with the reason; TestOracle requires them to still differ, so a fix shows up.
var knownBroken = map[string]string{}

// TestOracle is the differential test: every suite query through strata and through
// DuckDB, compared.
func TestOracle(t *testing.T) {
	paths := setup(t)
	db, err := OpenDuckDB(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, q := range loadSuite(t) {
		t.Run(q.name, func(t *testing.T) {
			want := duckQuery(t, db, q.sql)
			got, err := Strata(ctx, paths, q.sql)
			if err == nil {
				err = Compare(got, want, q.ordered)
			}
			if why, known := knownBroken[q.name]; known {
				if err == nil {
					t.Fatalf("fixed: strata now matches DuckDB; remove %q from knownBroken", q.name)
				}
				t.Logf("known broken (%s): %v", why, err)
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, q.sql)
			}
		})
	}
}

// TestHarnessDuckDBSelfCheck is a sanity check of the harness, not the oracle:
// DuckDB against itself (one thread against four), so every suite query must run and
// convert, and compare equal; and every non-empty answer, altered by one row or one
// value, must compare unequal, so the comparison can fail.
func TestHarnessDuckDBSelfCheck(t *testing.T) {
	t.Log("harness self-check: DuckDB threads=1 against DuckDB threads=4, not strata")
	paths := setup(t)
	db, err := OpenDuckDB(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	nonEmpty := 0
	for _, q := range loadSuite(t) {
		t.Run(q.name, func(t *testing.T) {
			if _, err := db.Exec("SET threads = 1"); err != nil {
				t.Fatal(err)
			}
			a := duckQuery(t, db, q.sql)
			if _, err := db.Exec("SET threads = 4"); err != nil {
				t.Fatal(err)
			}
			b := duckQuery(t, db, q.sql)
			if err := Compare(b, a, q.ordered); err != nil {
				t.Fatalf("%v\n%s", err, q.sql)
			}
			if len(a.Rows) == 0 {
				return
			}
			nonEmpty++
			short := Result{Columns: a.Columns, Rows: a.Rows[:len(a.Rows)-1]}
			if Compare(short, a, q.ordered) == nil {
				t.Errorf("a row fewer compares equal")
			}
			changed := Result{Columns: a.Columns, Rows: append([][]Value(nil), a.Rows...)}
			row := append([]Value(nil), changed.Rows[0]...)
			row[len(row)-1] = perturb(row[len(row)-1])
			changed.Rows[0] = row
			if Compare(changed, a, q.ordered) == nil {
				t.Errorf("a changed value compares equal: %v", row)
			}
		})
	}
	if nonEmpty < 60 {
		t.Errorf("only %d suite queries have a non-empty answer", nonEmpty)
	}
}

// perturb returns a value that must not compare equal to v.
func perturb(v Value) Value {
	switch v.Kind {
	case Null:
		return Value{Kind: String, S: "x"}
	case Exact:
		return Value{Kind: Exact, R: new(big.Rat).Add(v.R, big.NewRat(1, 100))}
	case Float:
		return Value{Kind: Float, F: v.F*(1+1e-6) + 1e-6}
	case String, Bytes:
		v.S += "x"
		return v
	default:
		v.I++
		return v
	}
}

// TestDuckDBFollowsPostgres checks the DuckDB settings the suite relies on.
func TestDuckDBFollowsPostgres(t *testing.T) {
	db, err := OpenDuckDB(setup(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := duckQuery(t, db, "select 7 / 2, -7 / 2")
	want := Result{Columns: []string{"a", "b"}, Rows: [][]Value{{exactInt(3), exactInt(-3)}}}
	if err := Compare(got, want, true); err != nil {
		t.Errorf("integer division: %v", err)
	}
	got = duckQuery(t, db, "select k from (values (1), (null), (2)) v(k) order by k")
	if got.Rows[2][0].Kind != Null {
		t.Errorf("ascending order does not put NULL last: %v", got)
	}
	got = duckQuery(t, db, "select k from (values (1), (null), (2)) v(k) order by k desc")
	if got.Rows[0][0].Kind != Null {
		t.Errorf("descending order does not put NULL first: %v", got)
	}
}

func TestSuiteShape(t *testing.T) {
	qs := loadSuite(t)
	if len(qs) < 70 {
		t.Errorf("%d queries", len(qs))
	}
	for _, want := range []string{"full join", "count(distinct", "filter (where", "over (", "with ", "nulls first", "union", "intersect", "except", "not exists", " in (select", "coalesce", "date_trunc", "substr", "from e"} {
		found := false
		for _, q := range qs {
			if strings.Contains(q.sql, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no suite query uses %q", want)
		}
	}
}

func TestWriteTablesDeterministic(t *testing.T) {
	a, b := setup(t), setup(t)
	for _, n := range TableNames {
		x, err := os.ReadFile(a[n])
		if err != nil {
			t.Fatal(err)
		}
		y, _ := os.ReadFile(b[n])
		if string(x) != string(y) {
			t.Errorf("%s differs between two writes with the same seed", n)
		}
	}
	db, err := OpenDuckDB(a)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := duckQuery(t, db, `select (select count(*) from t), (select count(*) from u), (select count(*) from e),
		(select count(*) from t where k is null), (select count(*) - count(distinct k) from t),
		(select count(*) from t where k in (select k from u)), (select count(*) from u where k not in (select k from t where k is not null))`)
	r := got.Rows[0]
	if r[0].R.Num().Int64() != 200 || r[1].R.Num().Int64() != 80 || r[2].R.Num().Int64() != 0 {
		t.Errorf("row counts %v", r)
	}
	for i, what := range []string{"", "", "", "NULL keys in t", "duplicate keys in t", "t keys matching u", "u keys missing from t"} {
		if i >= 3 && r[i].R.Sign() == 0 {
			t.Errorf("no %s", what)
		}
	}
}
