package gold

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/plan"
)

// copyDir copies a project so a test can change it.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if info.IsDir() {
			if rel == "target" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	require.NoError(t, err)
	return dst
}

func buildShop(t *testing.T, dir string, opts Options) *Run {
	t.Helper()
	p, err := Load(dir)
	require.NoError(t, err)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	opts.Allocator = mem
	run, err := p.Build(context.Background(), opts)
	require.NoError(t, err)
	return run
}

func results(rs []Result) map[string]Result {
	m := map[string]Result{}
	for _, r := range rs {
		m[r.Name] = r
	}
	return m
}

// queryFile runs sql over the Parquet outputs in target (each registered by file name).
func queryFile(t *testing.T, target, sql string) [][]string {
	t.Helper()
	cat := plan.NewMemCatalog()
	files, _ := filepath.Glob(filepath.Join(target, "*.parquet"))
	for _, f := range files {
		tb, err := plan.OpenParquet(f)
		require.NoError(t, err)
		cat.Add(strings.TrimSuffix(filepath.Base(f), ".parquet"), tb)
	}
	res, err := plan.Query(context.Background(), cat, sql)
	require.NoError(t, err, sql)
	defer res.Release()
	var out [][]string
	for _, rec := range res.Batches {
		for i := 0; i < int(rec.NumRows()); i++ {
			var row []string
			for c := 0; c < int(rec.NumCols()); c++ {
				col := rec.Column(c)
				if col.IsNull(i) {
					row = append(row, "NULL")
				} else {
					row = append(row, col.ValueStr(i))
				}
			}
			out = append(out, row)
		}
	}
	return out
}

func TestBuildShop(t *testing.T) {
	dir := copyDir(t, "testdata/shop")
	run := buildShop(t, dir, Options{})
	nodes := results(run.Nodes)
	for _, r := range run.Nodes {
		require.NoError(t, r.Err, r.Name)
		require.Equal(t, StatusOK, r.Status, r.Name)
	}
	require.Len(t, run.Nodes, 10)
	require.Equal(t, int64(8), nodes["raw_customers"].Rows)
	require.Equal(t, int64(12), nodes["orders"].Rows)
	require.Equal(t, int64(8), nodes["customers"].Rows)
	require.Equal(t, int64(11), nodes["payments_daily"].Rows)
	require.Equal(t, int64(-1), nodes["stg_orders"].Rows)

	tests := results(run.Tests)
	require.Len(t, run.Tests, 24)
	for _, r := range run.Tests {
		switch r.Name {
		case "relationships_stg_payments_order_id_order_id_ref_stg_orders":
			require.Equal(t, StatusWarn, r.Status) // payment 15 of order 99
			require.Equal(t, int64(1), r.Rows)
		case "not_null_customers_email":
			require.Equal(t, StatusWarn, r.Status) // Barbara has orders and no email
			require.Equal(t, int64(1), r.Rows)
		default:
			require.Equal(t, StatusPass, r.Status, "%s: %v", r.Name, r.Err)
		}
	}
	require.False(t, run.Failed())
	_ = tests

	target := filepath.Join(dir, "target")
	got := queryFile(t, target, "select order_id, credit_card_amount, coupon_amount, gift_card_amount, payment_count, amount from orders where order_id in (1, 5, 11) order by order_id")
	require.Equal(t, [][]string{
		{"1", "45", "5", "0", "2", "50"},
		{"5", "0", "10", "30", "2", "40"},
		{"11", "0", "0", "18", "1", "18"},
	}, got)
	got = queryFile(t, target, "select customer_id, number_of_orders, lifetime_value, segment from customers order by customer_id")
	require.Equal(t, [][]string{
		{"1", "3", "145", "gold"}, // orders 1, 3, 8: 50 + 80 + 15
		{"2", "3", "128.24", "gold"},
		{"3", "0", "0", "none"}, // only a returned order
		{"4", "2", "66.4", "silver"},
		{"5", "1", "64.1", "silver"},
		{"6", "1", "3", "bronze"},
		{"7", "1", "18", "bronze"},
		{"8", "0", "0", "none"},
	}, got)

	// Stats feed the catalog: types and row counts.
	c, err := mustLoad(t, dir).Catalog(run.Stats)
	require.NoError(t, err)
	for _, n := range c.Nodes {
		if n.Name == "orders" {
			require.Equal(t, int64(12), *n.Rows)
			require.Equal(t, "order_id", n.Columns[0].Name)
			require.Equal(t, "int64", n.Columns[0].Type)
			require.Equal(t, "The order's id.", n.Columns[0].Description)
		}
		if n.Name == "stg_orders" {
			require.Nil(t, n.Rows)
			require.Equal(t, "date32", n.Columns[2].Type, "%v", n.Columns)
		}
	}
}

func mustLoad(t *testing.T, dir string) *Project {
	p, err := Load(dir)
	require.NoError(t, err)
	return p
}

func names(rs []Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	sort.Strings(out)
	return out
}

func TestBuildFailingTestFailsTheRun(t *testing.T) {
	dir := copyDir(t, "testdata/shop")
	// The same orphan payment, now with severity error.
	path := filepath.Join(dir, "models/staging/schema.yml")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), "severity: warn", "severity: error", 1)), 0o644))
	run := buildShop(t, dir, Options{})
	require.True(t, run.Failed())
	r := results(run.Tests)["relationships_stg_payments_order_id_order_id_ref_stg_orders"]
	require.Equal(t, StatusFail, r.Status)
	require.Equal(t, int64(1), r.Rows)
}

func TestBuildIncrementalShop(t *testing.T) {
	dir := copyDir(t, "testdata/shop")
	run := buildShop(t, dir, Options{})
	first := results(run.Nodes)["payments_daily"]
	require.Equal(t, int64(11), first.Rows)
	require.Equal(t, int64(-1), first.NewRows) // the first run builds the table

	f, err := os.OpenFile(filepath.Join(dir, "seeds/raw_payments.csv"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("16,12,coupon,1.01,2024-02-15\n17,12,credit_card,2.00,2024-02-16\n18,11,gift_card,3.00,2024-02-17\n19,11,gift_card,4.00,2024-02-17\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	run = buildShop(t, dir, Options{Select: "+payments_daily"})
	require.Len(t, run.Nodes, 3)
	later := results(run.Nodes)["payments_daily"]
	require.NoError(t, later.Err)
	// is_incremental() kept the query to days at or after the newest built day: 3 rows,
	// of which 2024-02-15 replaces the built row (merge on payment_date).
	require.Equal(t, int64(3), later.NewRows)
	require.Equal(t, int64(13), later.Rows)
	got := queryFile(t, filepath.Join(dir, "target"), "select payment_date, payments, amount_cents from payments_daily where payment_date >= '2024-02-14' order by payment_date")
	require.Equal(t, [][]string{
		{"2024-02-14", "1", "1800"},
		{"2024-02-15", "3", "10200"}, // 9999 + 100 + 101
		{"2024-02-16", "1", "200"},
		{"2024-02-17", "2", "700"},
	}, got)
	for _, r := range run.Tests {
		require.Contains(t, []Status{StatusPass, StatusWarn}, r.Status, r.Name)
	}

	// A full refresh runs the whole query again, with the same answer.
	run = buildShop(t, dir, Options{Select: "payments_daily", FullRefresh: true})
	r := results(run.Nodes)["payments_daily"]
	require.Equal(t, int64(-1), r.NewRows)
	require.Equal(t, int64(13), r.Rows)
}

func TestBuildIncrementalStrategies(t *testing.T) {
	files := map[string]string{
		"seeds/events.csv": "id,day,v\n1,2024-01-01,10\n2,2024-01-01,20\n3,2024-01-02,30\n",
		"models/inc_append.sql": `{{ config(materialized='incremental') }}
select id, day, v from {{ ref('events') }}
{% if is_incremental() %}where id > (select max(id) from {{ this }}){% endif %}`,
		"models/inc_merge.sql": `{{ config(materialized='incremental', unique_key='id') }}
select id, day, v from {{ ref('events') }}
{% if is_incremental() %}where day >= (select max(day) from {{ this }}){% endif %}`,
		"models/inc_di.sql": `{{ config(materialized='incremental', unique_key=['day'], incremental_strategy='delete+insert') }}
select id, day, v from {{ ref('events') }}
{% if is_incremental() %}where day >= (select max(day) from {{ this }}){% endif %}`,
	}
	dir := writeProject(t, files)
	run := buildShop(t, dir, Options{})
	for _, r := range run.Nodes {
		require.NoError(t, r.Err, r.Name)
	}
	// id 3 changes its value, id 4 and 5 are new; day 2024-01-02 now has two rows.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "seeds/events.csv"),
		[]byte("id,day,v\n1,2024-01-01,10\n2,2024-01-01,20\n3,2024-01-02,33\n4,2024-01-02,40\n5,2024-01-03,50\n"), 0o644))
	run = buildShop(t, dir, Options{})
	res := results(run.Nodes)
	for _, r := range run.Nodes {
		require.NoError(t, r.Err, r.Name)
	}
	target := filepath.Join(dir, "target")
	q := func(m string) [][]string {
		return queryFile(t, target, "select id, v from "+m+" order by id, v")
	}
	require.Equal(t, int64(2), res["inc_append"].NewRows)
	require.Equal(t, [][]string{{"1", "10"}, {"2", "20"}, {"3", "30"}, {"4", "40"}, {"5", "50"}}, q("inc_append"))
	require.Equal(t, int64(3), res["inc_merge"].NewRows)
	require.Equal(t, [][]string{{"1", "10"}, {"2", "20"}, {"3", "33"}, {"4", "40"}, {"5", "50"}}, q("inc_merge"))
	require.Equal(t, int64(3), res["inc_di"].NewRows)
	require.Equal(t, [][]string{{"1", "10"}, {"2", "20"}, {"3", "33"}, {"4", "40"}, {"5", "50"}}, q("inc_di"))

	// merge refuses new rows whose unique_key repeats; delete+insert takes them.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "seeds/events.csv"),
		[]byte("id,day,v\n5,2024-01-03,51\n5,2024-01-03,52\n"), 0o644))
	run = buildShop(t, dir, Options{Select: "inc_merge inc_di"})
	res = results(run.Nodes)
	require.ErrorIs(t, res["inc_merge"].Err, ErrConfig)
	require.ErrorContains(t, res["inc_merge"].Err, "1 values of unique_key (id) occur more than once")
	require.NoError(t, res["inc_di"].Err)
	require.Equal(t, [][]string{{"1", "10"}, {"2", "20"}, {"3", "33"}, {"4", "40"}, {"5", "51"}, {"5", "52"}}, q("inc_di"))
	require.Equal(t, [][]string{{"1", "10"}, {"2", "20"}, {"3", "33"}, {"4", "40"}, {"5", "50"}}, q("inc_merge")) // untouched

	// A changed column list cannot be merged: the error says to rebuild.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "models/inc_append.sql"), []byte(`{{ config(materialized='incremental') }}
select id, v from {{ ref('events') }}`), 0o644))
	run = buildShop(t, dir, Options{Select: "inc_append"})
	require.ErrorContains(t, results(run.Nodes)["inc_append"].Err, "--full-refresh")
	run = buildShop(t, dir, Options{Select: "inc_append", FullRefresh: true})
	require.NoError(t, results(run.Nodes)["inc_append"].Err)
}

func TestBuildErrorsAndSkips(t *testing.T) {
	dir := copyDir(t, "testdata/shop")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "models/staging/stg_orders.sql"),
		[]byte("select id as order_id, no_such_column from {{ ref('raw_orders') }}\n"), 0o644))
	run := buildShop(t, dir, Options{})
	require.True(t, run.Failed())
	res := results(run.Nodes)
	require.Equal(t, StatusError, res["stg_orders"].Status)
	require.ErrorContains(t, res["stg_orders"].Err, "models/staging/stg_orders.sql")
	require.ErrorContains(t, res["stg_orders"].Err, "no_such_column")
	// The planner's positions refer to the compiled SQL, which the error names.
	compiled := filepath.Join(dir, "target", "compiled", "models", "staging", "stg_orders.sql")
	require.ErrorContains(t, res["stg_orders"].Err, "compiled "+compiled)
	b, err := os.ReadFile(compiled)
	require.NoError(t, err)
	require.Equal(t, "select id as order_id, no_such_column from shop.raw_orders\n", string(b))
	for _, n := range []string{"orders", "int_customer_orders", "customers"} {
		require.Equal(t, StatusSkipped, res[n].Status, n)
	}
	require.Equal(t, StatusOK, res["payments_daily"].Status)
	tests := results(run.Tests)
	require.Equal(t, StatusSkipped, tests["unique_orders_order_id"].Status)
	require.Equal(t, StatusPass, tests["unique_stg_payments_payment_id"].Status)
}

func TestBuildSelectionReadsBuiltOutputs(t *testing.T) {
	dir := copyDir(t, "testdata/shop")
	// customers reads the table orders, which is not built yet.
	run := buildShop(t, dir, Options{Select: "customers"})
	require.ErrorIs(t, results(run.Nodes)["customers"].Err, ErrNotBuilt)

	run = buildShop(t, dir, Options{Select: "orders"})
	require.Equal(t, []string{"orders"}, names(run.Nodes)) // views inlined, seeds loaded as read
	require.False(t, run.Failed())
	run = buildShop(t, dir, Options{Select: "customers"})
	require.False(t, run.Failed())
	require.Equal(t, int64(8), results(run.Nodes)["customers"].Rows)

	// Test runs the tests on what is built, without building.
	p := mustLoad(t, dir)
	trun, err := p.Test(context.Background(), Options{Select: "customers"})
	require.NoError(t, err)
	require.Empty(t, trun.Nodes)
	require.Equal(t, []string{"customer_segments_known", "not_null_customers_customer_id", "not_null_customers_email", "unique_customers_customer_id"}, names(trun.Tests))
}
