package tpchgen

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	_ "github.com/duckdb/duckdb-go/v2"
)

const testSF = 0.01

// generated is one SF 0.01 generation shared by the read-only tests.
var generated struct {
	dir string
	m   Manifest
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tpchgen-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	generated.dir = dir
	generated.m, err = Generate(context.Background(), Config{SF: testSF, Seed: 7, Workers: 2}, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// duck opens DuckDB with a view per table of the shared generation.
func duck(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, tb := range Tables {
		if _, err := db.Exec(fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM read_parquet('%s')", tb, Path(generated.dir, tb))); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func scalar[T any](t *testing.T, db *sql.DB, q string) T {
	t.Helper()
	var v T
	if err := db.QueryRow(q).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	for _, c := range []Config{{SF: 0.0001}, {SF: -1}, {SF: 1e6}, {Workers: -1}} {
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: got %v, want ErrConfig", c, err)
		}
		if _, err := Generate(context.Background(), c, t.TempDir()); !errors.Is(err, ErrConfig) {
			t.Errorf("Generate %+v: got %v, want ErrConfig", c, err)
		}
	}
}

// TestDeterministic: the same (SF, seed) gives byte-identical files whatever the
// number of workers; another seed gives other data.
func TestDeterministic(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	if _, err := Generate(context.Background(), Config{SF: testSF, Seed: 7, Workers: 1, Alloc: mem}, a); err != nil {
		t.Fatal(err)
	}
	mem.AssertSize(t, 0)
	if _, err := Generate(context.Background(), Config{SF: testSF, Seed: 7, Workers: 5}, b); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(context.Background(), Config{SF: testSF, Seed: 8, Workers: 2}, c); err != nil {
		t.Fatal(err)
	}
	for _, tb := range Tables {
		fa, fb, fc := read(t, Path(a, tb)), read(t, Path(b, tb)), read(t, Path(c, tb))
		if !bytes.Equal(fa, fb) {
			t.Errorf("%s: 1 worker and 5 workers wrote different files", tb)
		}
		if !bytes.Equal(fa, read(t, Path(generated.dir, tb))) {
			t.Errorf("%s: differs from the shared generation with the same seed", tb)
		}
		if tb != Region && tb != Nation && bytes.Equal(fa, fc) {
			t.Errorf("%s: seeds 7 and 8 wrote the same file", tb)
		}
	}
}

func read(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestManifest(t *testing.T) {
	m, err := ReadManifest(generated.dir)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Matches(Config{SF: testSF, Seed: 7}) || m.Matches(Config{SF: testSF, Seed: 8}) || m.Matches(Config{SF: 0.02, Seed: 7}) {
		t.Errorf("manifest %+v matches wrongly", m)
	}
	if _, err := ReadManifest(t.TempDir()); err == nil {
		t.Error("an empty directory has a manifest")
	}
	// No temporary files are left behind.
	left, _ := filepath.Glob(filepath.Join(generated.dir, "*.tmp"))
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestRowCounts(t *testing.T) {
	db := duck(t)
	want := map[string]int64{Region: 5, Nation: 25, Supplier: 100, Customer: 1500, Part: 2000, PartSupp: 8000, Orders: 15000}
	for _, tb := range Tables {
		got := scalar[int64](t, db, "SELECT count(*) FROM "+tb)
		if got != generated.m.Rows[tb] {
			t.Errorf("%s: %d rows in the file, manifest says %d", tb, got, generated.m.Rows[tb])
		}
		if w, ok := want[tb]; ok {
			if got != w || (Config{SF: testSF}).Rows(tb) != w {
				t.Errorf("%s: %d rows, Rows says %d, want %d", tb, got, (Config{SF: testSF}).Rows(tb), w)
			}
		}
	}
	// One to seven lines an order, four on average.
	if n := generated.m.Rows[Lineitem]; n < 15000*38/10 || n > 15000*42/10 {
		t.Errorf("lineitem: %d rows, want about 60000", n)
	}
	if got := scalar[int64](t, db, "SELECT count(*) FROM (SELECT l_orderkey, count(*) n FROM lineitem GROUP BY 1) WHERE n < 1 OR n > 7"); got != 0 {
		t.Errorf("%d orders with a line count outside 1..7", got)
	}
	if got := scalar[int64](t, db, "SELECT count(DISTINCT n) FROM (SELECT count(*) n FROM lineitem GROUP BY l_orderkey)"); got != 7 {
		t.Errorf("%d distinct line counts, want 7", got)
	}
}

func TestSchemaTypes(t *testing.T) {
	db := duck(t)
	want := map[string]string{
		"l_orderkey": "BIGINT", "l_linenumber": "INTEGER", "l_quantity": "DECIMAL(15,2)", "l_extendedprice": "DECIMAL(15,2)",
		"l_discount": "DECIMAL(15,2)", "l_shipdate": "DATE", "l_returnflag": "VARCHAR", "l_comment": "VARCHAR",
	}
	rows, err := db.Query("DESCRIBE lineitem")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var name, typ string
		var null, key, def, extra sql.NullString
		if err := rows.Scan(&name, &typ, &null, &key, &def, &extra); err != nil {
			t.Fatal(err)
		}
		if w, ok := want[name]; ok {
			seen++
			if typ != w {
				t.Errorf("%s: %s, want %s", name, typ, w)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("saw %d of %d columns", seen, len(want))
	}
	for _, tb := range Tables {
		if Schema(tb) == nil || len(Schema(tb).Fields()) == 0 {
			t.Errorf("no schema for %s", tb)
		}
	}
}

// TestIntegrity checks keys and the foreign keys of the TPC-H schema.
func TestIntegrity(t *testing.T) {
	db := duck(t)
	zero := map[string]string{
		"duplicate part keys":          "SELECT count(*) - count(DISTINCT p_partkey) FROM part",
		"duplicate supplier keys":      "SELECT count(*) - count(DISTINCT s_suppkey) FROM supplier",
		"duplicate customer keys":      "SELECT count(*) - count(DISTINCT c_custkey) FROM customer",
		"duplicate order keys":         "SELECT count(*) - count(DISTINCT o_orderkey) FROM orders",
		"duplicate partsupp keys":      "SELECT count(*) - count(DISTINCT (ps_partkey, ps_suppkey)) FROM partsupp",
		"duplicate lineitem keys":      "SELECT count(*) - count(DISTINCT (l_orderkey, l_linenumber)) FROM lineitem",
		"parts without four suppliers": "SELECT count(*) FROM (SELECT ps_partkey FROM partsupp GROUP BY 1 HAVING count(DISTINCT ps_suppkey) <> 4)",
		"lineitem without order":       "SELECT count(*) FROM lineitem WHERE l_orderkey NOT IN (SELECT o_orderkey FROM orders)",
		"order without lineitem":       "SELECT count(*) FROM orders WHERE o_orderkey NOT IN (SELECT l_orderkey FROM lineitem)",
		"lineitem without partsupp":    "SELECT count(*) FROM lineitem l ANTI JOIN partsupp ps ON l.l_partkey = ps.ps_partkey AND l.l_suppkey = ps.ps_suppkey",
		"partsupp without part":        "SELECT count(*) FROM partsupp ANTI JOIN part ON ps_partkey = p_partkey",
		"partsupp without supplier":    "SELECT count(*) FROM partsupp ANTI JOIN supplier ON ps_suppkey = s_suppkey",
		"order without customer":       "SELECT count(*) FROM orders ANTI JOIN customer ON o_custkey = c_custkey",
		"customer without nation":      "SELECT count(*) FROM customer ANTI JOIN nation ON c_nationkey = n_nationkey",
		"supplier without nation":      "SELECT count(*) FROM supplier ANTI JOIN nation ON s_nationkey = n_nationkey",
		"nation without region":        "SELECT count(*) FROM nation ANTI JOIN region ON n_regionkey = r_regionkey",
		"orders of customers 3k":       "SELECT count(*) FROM orders WHERE o_custkey % 3 = 0",
		"keys not dense":               "SELECT (SELECT max(p_partkey) - count(*) FROM part) + (SELECT max(c_custkey) - count(*) FROM customer) + (SELECT max(s_suppkey) - count(*) FROM supplier)",
		"order keys not sparse":        "SELECT count(*) FROM orders WHERE (o_orderkey - 1) % 32 >= 8",
	}
	for what, q := range zero {
		if got := scalar[int64](t, db, q); got != 0 {
			t.Errorf("%s: %d", what, got)
		}
	}
}

// TestDistributions checks the value rules of dbgen that the queries depend on.
func TestDistributions(t *testing.T) {
	db := duck(t)
	zero := map[string]string{
		"order dates outside 1992-01-01..1998-08-02": "SELECT count(*) FROM orders WHERE o_orderdate NOT BETWEEN DATE '1992-01-01' AND DATE '1998-08-02'",
		"ship dates not 1..121 days after the order": "SELECT count(*) FROM lineitem JOIN orders ON l_orderkey = o_orderkey WHERE l_shipdate - o_orderdate NOT BETWEEN 1 AND 121",
		"commit dates not 30..90 days after order":   "SELECT count(*) FROM lineitem JOIN orders ON l_orderkey = o_orderkey WHERE l_commitdate - o_orderdate NOT BETWEEN 30 AND 90",
		"receipt dates not 1..30 days after ship":    "SELECT count(*) FROM lineitem WHERE l_receiptdate - l_shipdate NOT BETWEEN 1 AND 30",
		"wrong return flags":                         "SELECT count(*) FROM lineitem WHERE (l_receiptdate > DATE '1995-06-17') <> (l_returnflag = 'N') OR l_returnflag NOT IN ('R', 'A', 'N')",
		"wrong line status":                          "SELECT count(*) FROM lineitem WHERE (l_shipdate > DATE '1995-06-17') <> (l_linestatus = 'O')",
		"quantity, discount or tax out of range":     "SELECT count(*) FROM lineitem WHERE l_quantity NOT BETWEEN 1 AND 50 OR l_discount NOT BETWEEN 0 AND 0.10 OR l_tax NOT BETWEEN 0 AND 0.08 OR l_quantity <> round(l_quantity)",
		"extended price not quantity * retail price": "SELECT count(*) FROM lineitem JOIN part ON l_partkey = p_partkey WHERE l_extendedprice <> l_quantity * p_retailprice",
		"wrong retail prices":                        "SELECT count(*) FROM part WHERE p_retailprice * 100 <> 90000 + (p_partkey // 10) % 20001 + 100 * (p_partkey % 1000)",
		"wrong total prices": `SELECT count(*) FROM orders JOIN (
			SELECT l_orderkey, sum(((l_extendedprice * 100)::BIGINT * (100 - (l_discount * 100)::BIGINT) // 100) * (100 + (l_tax * 100)::BIGINT) // 100) AS cents
			FROM lineitem GROUP BY 1) ON o_orderkey = l_orderkey WHERE (o_totalprice * 100)::BIGINT <> cents`,
		"wrong order status": `SELECT count(*) FROM orders JOIN (
			SELECT l_orderkey, CASE WHEN bool_and(l_linestatus = 'F') THEN 'F' WHEN bool_and(l_linestatus = 'O') THEN 'O' ELSE 'P' END AS st
			FROM lineitem GROUP BY 1) ON o_orderkey = l_orderkey WHERE o_orderstatus <> st`,
		"part names not five distinct colors": "SELECT count(*) FROM part WHERE len(list_distinct(string_split(p_name, ' '))) <> 5",
		"brands not of their manufacturer":    "SELECT count(*) FROM part WHERE substr(p_brand, 7, 1) <> substr(p_mfgr, 14, 1)",
		"phones not of the nation":            "SELECT count(*) FROM customer WHERE substr(c_phone, 1, 2)::INT <> c_nationkey + 10 OR length(c_phone) <> 15",
		"comments out of length range":        "SELECT count(*) FROM lineitem WHERE length(l_comment) NOT BETWEEN 10 AND 43",
		"balances out of range":               "SELECT count(*) FROM customer WHERE c_acctbal NOT BETWEEN -999.99 AND 9999.99",
	}
	for what, q := range zero {
		if got := scalar[int64](t, db, q); got != 0 {
			t.Errorf("%s: %d", what, got)
		}
	}
	// Every value of each small domain occurs (uniform choices at 15 000 orders).
	domains := map[string]int64{
		"SELECT count(DISTINCT c_mktsegment) FROM customer":   5,
		"SELECT count(DISTINCT o_orderpriority) FROM orders":  5,
		"SELECT count(DISTINCT l_shipmode) FROM lineitem":     7,
		"SELECT count(DISTINCT l_shipinstruct) FROM lineitem": 4,
		"SELECT count(DISTINCT o_orderstatus) FROM orders":    3,
		"SELECT count(DISTINCT p_type) FROM part":             150,
		"SELECT count(DISTINCT p_container) FROM part":        40,
		"SELECT count(DISTINCT p_size) FROM part":             50,
		"SELECT count(DISTINCT p_brand) FROM part":            25,
		"SELECT count(DISTINCT c_nationkey) FROM customer":    25,
	}
	for q, want := range domains {
		if got := scalar[int64](t, db, q); got != want {
			t.Errorf("%s: %d, want %d", q, got, want)
		}
	}
	// Averages near their expectations: quantity 25.5, discount 0.05, order lines 4.
	approx := map[string][2]float64{
		"SELECT avg(l_quantity)::DOUBLE FROM lineitem":                                          {25.2, 25.8},
		"SELECT avg(l_discount)::DOUBLE FROM lineitem":                                          {0.049, 0.051},
		"SELECT avg(l_tax)::DOUBLE FROM lineitem":                                               {0.039, 0.041},
		"SELECT count(*) / count(DISTINCT l_orderkey) FROM lineitem":                            {3.9, 4.1},
		"SELECT avg((l_returnflag = 'R')::INT) / avg((l_returnflag <> 'N')::INT) FROM lineitem": {0.48, 0.52},
		// Q13's filter must exclude some orders but not most.
		"SELECT avg((o_comment LIKE '%special%requests%')::INT) FROM orders": {0.001, 0.1},
	}
	for q, r := range approx {
		if got := scalar[float64](t, db, q); got < r[0] || got > r[1] {
			t.Errorf("%s: %v, want in [%v, %v]", q, got, r[0], r[1])
		}
	}
	if got := scalar[int64](t, db, "SELECT count(*) FROM supplier WHERE s_comment LIKE '%Customer%Complaints%'"); got > 5 {
		t.Errorf("%d suppliers with complaints at SF 0.01", got)
	}
}

// TestQueriesAnswer: the benchmark's queries give non-empty answers at SF 0.01.
func TestQueriesAnswer(t *testing.T) {
	db := duck(t)
	for name, q := range map[string]string{
		"q1": "SELECT l_returnflag, l_linestatus, count(*) FROM lineitem WHERE l_shipdate <= DATE '1998-09-02' GROUP BY 1, 2",
		"q3": "SELECT count(*) FROM customer, orders, lineitem WHERE c_mktsegment = 'BUILDING' AND c_custkey = o_custkey AND l_orderkey = o_orderkey AND o_orderdate < DATE '1995-03-15' AND l_shipdate > DATE '1995-03-15'",
		"q5": "SELECT count(DISTINCT n_name) FROM customer, orders, lineitem, supplier, nation, region WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey AND n_regionkey = r_regionkey AND r_name = 'ASIA' AND o_orderdate >= DATE '1994-01-01' AND o_orderdate < DATE '1995-01-01'",
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if name == "q1" && n != 4 {
			t.Errorf("q1: %d groups, want 4", n)
		}
		if n == 0 {
			t.Errorf("%s: no rows", name)
		}
	}
	// Q18's 300 units select about 40 orders in a million; at 15 000 orders, 250 do.
	if got := scalar[int64](t, db, "SELECT count(*) FROM (SELECT l_orderkey FROM lineitem GROUP BY 1 HAVING sum(l_quantity) > 250)"); got == 0 {
		t.Error("q18: no order above 250 units")
	}
	if !strings.HasSuffix(Path("d", Lineitem), "lineitem.parquet") {
		t.Error("Path")
	}
}

func TestSupplierOfDistinct(t *testing.T) {
	for _, s := range []int64{4, 5, 10, 11, 12, 13, 100, 2500, 10_000} {
		for p := int64(1); p <= 200*s; p += 1 + p/97 {
			seen := map[int64]bool{}
			for i := range int64(suppPerPart) {
				k := supplierOf(p, i, s)
				if k < 1 || k > s || seen[k] {
					t.Fatalf("s=%d part %d: supplier %d (i=%d) out of range or repeated", s, p, k, i)
				}
				seen[k] = true
			}
		}
	}
	// At SF 1 the formula is dbgen's.
	for p := int64(1); p <= 200_000; p += 7 {
		for i := range int64(4) {
			if got, want := supplierOf(p, i, 10_000), (p+i*(10_000/4+(p-1)/10_000))%10_000+1; got != want {
				t.Fatalf("part %d i %d: %d, dbgen %d", p, i, got, want)
			}
		}
	}
}

// TestCancelLeavesNoTable: a cancelled generation returns the context's error and
// leaves no table file, temporary file or manifest behind.
func TestCancelLeavesNoTable(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Generate(ctx, Config{SF: 0.1, Workers: 2, Alloc: mem}, dir); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	mem.AssertSize(t, 0)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		t.Errorf("left behind: %s", e.Name())
	}
	// Cancelled midway through a larger generation.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Generate(ctx, Config{SF: 1, Workers: 2, Alloc: mem}, dir); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	mem.AssertSize(t, 0)
	if _, err := ReadManifest(dir); err == nil {
		t.Error("a cancelled generation wrote a manifest")
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, p := range left {
		t.Errorf("left behind: %s", p)
	}
}

func TestUnwritableDir(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(context.Background(), Config{SF: testSF}, filepath.Join(f, "sub")); err == nil {
		t.Error("generated under a regular file")
	}
}
