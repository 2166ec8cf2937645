package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/plan"
)

const shopProject = "../../gold/testdata/shop"

// copyProject copies a project into a temporary directory a test may change.
func copyProject(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	require.NoError(t, filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	}))
	return dst
}

func TestBuildTestDocsShop(t *testing.T) {
	dir := copyProject(t, shopProject)
	target := filepath.Join(t.TempDir(), "out")
	st, out, errOut := strata(t, "build", "--project", dir, "--target", target)
	require.Equal(t, 0, st, out+errOut)
	// One line per seed, model and test, then the summary.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 10+24+4, out)
	assert.Regexp(t, regexp.MustCompile(`(?m)^OK +table +12 rows +\S+  orders$`), out)
	assert.Regexp(t, regexp.MustCompile(`(?m)^OK +incremental +11 rows +\S+  payments_daily$`), out)
	assert.Regexp(t, regexp.MustCompile(`(?m)^OK +view +inlined +\S+  stg_orders$`), out)
	assert.Regexp(t, regexp.MustCompile(`(?m)^WARN +test +1 failing +\S+  relationships_stg_payments_order_id_order_id_ref_stg_orders$`), out)
	assert.Contains(t, out, "models and seeds: 10 ok, 0 error, 0 skipped\ntests: 22 pass, 2 warn, 0 fail, 0 error, 0 skipped\nCompleted in ")
	for _, f := range []string{"orders.parquet", "customers.parquet", "payments_daily.parquet", "catalog.json", "lineage.mmd", "lineage.dot"} {
		assert.FileExists(t, filepath.Join(target, f))
	}
	assert.NoFileExists(t, filepath.Join(target, "stg_orders.parquet")) // views are inlined

	// The outputs are Parquet the sql engine reads.
	var cat struct {
		Nodes []struct {
			Name    string
			Rows    *int64
			Columns []struct{ Name, Type string }
		}
	}
	b, err := os.ReadFile(filepath.Join(target, "catalog.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &cat))
	for _, n := range cat.Nodes {
		if n.Name == "customers" {
			require.NotNil(t, n.Rows)
			assert.EqualValues(t, 8, *n.Rows)
			assert.Equal(t, "segment", n.Columns[7].Name)
			assert.Equal(t, "utf8", n.Columns[7].Type)
		}
	}

	// The second run is incremental.
	st, out, _ = strata(t, "build", "--project", dir, "--target", target, "--select", "payments_daily")
	require.Equal(t, 0, st, out)
	assert.Regexp(t, regexp.MustCompile(`(?m)^OK +incremental +11 rows \(\+1 new\) +\S+  payments_daily$`), out)

	st, out, errOut = strata(t, "test", "--project", dir, "--target", target, "--select", "tag:marts")
	require.Equal(t, 0, st, out+errOut)
	assert.NotContains(t, out, "stg_")
	assert.Contains(t, out, "unique_orders_order_id")
	assert.Contains(t, out, "tests: 11 pass, 1 warn, 0 fail, 0 error, 0 skipped")

	require.NoError(t, os.Remove(filepath.Join(target, "catalog.json")))
	st, out, errOut = strata(t, "docs", "--project", dir, "--target", target)
	require.Equal(t, 0, st, errOut)
	assert.Contains(t, out, "catalog.json")
	b, err = os.ReadFile(filepath.Join(target, "lineage.mmd"))
	require.NoError(t, err)
	assert.Contains(t, string(b), `"customers (table, 8 rows)"`)
}

func TestBuildFailingTestExitsNonZero(t *testing.T) {
	dir := copyProject(t, shopProject)
	path := filepath.Join(dir, "models/staging/schema.yml")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), "severity: warn", "severity: error", 1)), 0o644))
	st, out, _ := strata(t, "build", "--project", dir)
	require.Equal(t, 1, st, out)
	assert.Regexp(t, regexp.MustCompile(`(?m)^FAIL +test +1 failing +\S+  relationships_stg_payments_order_id_order_id_ref_stg_orders$`), out)
	assert.Contains(t, out, "tests: 22 pass, 1 warn, 1 fail, 0 error, 0 skipped")
	assert.Contains(t, out, "failing test relationships_stg_payments_order_id_order_id_ref_stg_orders: 1 rows\nFailed in ")
}

func TestBuildModelErrorExitsNonZero(t *testing.T) {
	dir := copyProject(t, shopProject)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "models/marts/orders.sql"), []byte("select nope from {{ ref('stg_orders') }}\n"), 0o644))
	st, out, _ := strata(t, "build", "--project", dir)
	require.Equal(t, 1, st)
	assert.Regexp(t, regexp.MustCompile(`(?m)^ERROR +table +\S+  orders\n +gold: model orders \(models/marts/orders.sql, compiled \S+\): .*nope`), out)
	assert.Regexp(t, regexp.MustCompile(`(?m)^SKIPPED +ephemeral .* int_customer_orders$`), out)
	assert.Contains(t, out, "models and seeds: 7 ok, 1 error, 2 skipped")

	st, _, errOut := strata(t, "build", "--project", dir, "--select", "nope")
	require.Equal(t, 1, st)
	assert.Contains(t, errOut, `"nope" matches no model or seed`)
	st, _, errOut = strata(t, "build")
	require.Equal(t, 1, st)
	assert.Contains(t, errOut, "--project is required")
	st, out, _ = strata(t, "build", "--help")
	require.Equal(t, 0, st)
	assert.Contains(t, out, "-full-refresh")
}

// A project whose sources are the silver tables of a lake that strata ingested.
func TestBuildFromLake(t *testing.T) {
	lake := t.TempDir()
	st, _, errOut := strata(t, "ingest", "--from", "gen://?seed=5&events=3000", "--lake", lake, "--quiet")
	require.Equal(t, 0, st, errOut)
	dir := t.TempDir()
	files := map[string]string{
		"dbt_project.yml": "name: lakeshop\nmodels:\n  lakeshop:\n    +materialized: table\n",
		"models/sources.yml": `version: 2
sources:
  - name: app
    schema: public
    tables:
      - name: orders
        columns:
          - name: id
            tests: [unique, not_null]
      - name: customers
`,
		"models/customer_orders.sql": `select c.id as customer_id, count(o.id) as orders
from {{ source('app', 'customers') }} c
left join {{ source('app', 'orders') }} o on o.customer_id = c.id
group by c.id`,
		"models/totals.sql": "select count(*) as customers, sum(orders) as orders from {{ ref('customer_orders') }}",
	}
	for rel, body := range files {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, rel), []byte(body), 0o644))
	}
	st, out, errOut := strata(t, "build", "--project", dir, "--lake", lake)
	require.Equal(t, 0, st, out+errOut)
	assert.Contains(t, out, "tests: 2 pass")

	// The mart agrees with silver's own dump of the tables.
	count := func(table string) int {
		st, out, errOut := strata(t, "silver", "dump", "--lake", lake, "--table", table)
		require.Equal(t, 0, st, errOut)
		return strings.Count(out, "\n") - 1
	}
	tb, err := plan.OpenParquet(filepath.Join(dir, "target", "totals.parquet"))
	require.NoError(t, err)
	cat := plan.NewMemCatalog()
	cat.Add("totals", tb)
	res, err := plan.Query(context.Background(), cat, "select customers, orders from totals")
	require.NoError(t, err)
	defer res.Release()
	require.Equal(t, int64(1), res.NumRows())
	rec := res.Batches[0]
	assert.Equal(t, fmt.Sprint(count("public.customers")), rec.Column(0).ValueStr(0))
	assert.Equal(t, fmt.Sprint(count("public.orders")), rec.Column(1).ValueStr(0))

	// Without --lake, source() has nothing to read.
	st, out, _ = strata(t, "build", "--project", dir)
	require.Equal(t, 1, st)
	assert.Contains(t, out, "--lake")
}
