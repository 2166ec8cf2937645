package gold

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func loadShop(t *testing.T) *Project {
	t.Helper()
	p, err := Load("testdata/shop")
	require.NoError(t, err)
	return p
}

func TestLoadShop(t *testing.T) {
	p := loadShop(t)
	require.Equal(t, "shop", p.Name)
	require.Len(t, p.Seeds, 3)
	require.Len(t, p.Sources, 0)

	names := []string{}
	for _, m := range p.SortedModels() {
		names = append(names, m.Name+":"+m.Materialized)
	}
	require.Equal(t, []string{
		"customers:table", "int_customer_orders:ephemeral", "orders:table",
		"payments_daily:incremental", "stg_customers:view", "stg_orders:view", "stg_payments:view",
	}, names)

	// Folder config (+tags) accumulates with schema.yml and config() tags.
	pd := p.Models["payments_daily"]
	require.Equal(t, []string{"marts", "daily", "finance"}, pd.Tags)
	require.Equal(t, []string{"payment_date"}, pd.UniqueKey)
	require.Equal(t, StrategyMerge, pd.IncrementalStrategy)
	require.Equal(t, []string{"stg_payments"}, pd.Refs)
	require.Equal(t, []string{"staging"}, p.Models["stg_orders"].Tags)
	require.Equal(t, []string{"stg_orders", "stg_payments"}, p.Models["orders"].Refs)

	require.Equal(t, map[string]string{"amount": "decimal(10,2)"}, p.Seeds["raw_payments"].ColumnTypes)
	require.Equal(t, []string{"raw"}, p.Seeds["raw_payments"].Tags)
	require.Equal(t, "Customers as exported by the shop.", p.Seeds["raw_customers"].Description)

	c := p.Models["stg_customers"]
	require.Equal(t, "One row per customer, renamed from the raw export.", c.Description)
	require.Equal(t, []Column{{Name: "customer_id", Description: "The customer's id."}, {Name: "email", Description: "Contact address; may be missing."}}, c.Columns)
}

func TestLoadShopTests(t *testing.T) {
	p := loadShop(t)
	byName := map[string]*Test{}
	for _, tt := range p.Tests {
		byName[tt.Name] = tt
	}
	require.Len(t, p.Tests, 24, "%v", keys(byName))

	av := byName["accepted_values_stg_payments_payment_method_credit_card_coupon_bank_transfer_gift_card"]
	require.NotNil(t, av, "%v", keys(byName))
	require.Equal(t, TestAcceptedValues, av.Kind)
	require.Equal(t, []any{"credit_card", "coupon", "bank_transfer", "gift_card"}, av.Args["values"]) // nested arguments: form

	rel := byName["relationships_stg_payments_order_id_order_id_ref_stg_orders"]
	require.NotNil(t, rel, "%v", keys(byName))
	require.Equal(t, "warn", rel.Severity)
	require.Equal(t, []string{"stg_orders"}, rel.Refs)

	seg := byName["customer_segments_known"] // test_name: form with a custom name
	require.NotNil(t, seg)
	require.Equal(t, TestAcceptedValues, seg.Kind)
	require.Equal(t, "segment", seg.Column)

	nn := byName["not_null_customers_email"]
	require.NotNil(t, nn)
	require.Equal(t, "number_of_orders > 0", nn.Where)
	require.Equal(t, "warn", nn.Severity)

	sg := byName["assert_customer_value_matches_orders"]
	require.NotNil(t, sg)
	require.Equal(t, TestSingular, sg.Kind)
	require.Equal(t, []string{"orders", "customers"}, sg.Refs)
	require.Equal(t, "error", byName["unique_orders_order_id"].Severity)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRenderJinja(t *testing.T) {
	p := loadShop(t)
	m := p.Models["orders"]
	sql, err := p.Render(m, Resolver{Ref: func(n string) (string, error) { return "R_" + n, nil }})
	require.NoError(t, err)
	for _, want := range []string{
		"sum(case when payment_method = 'credit_card' then amount else 0 end) as credit_card_amount,\n        sum(case when payment_method = 'coupon'",
		"coalesce(p.gift_card_amount, 0) as gift_card_amount,\n    coalesce(p.payment_count, 0)",
		"select * from R_stg_orders",
	} {
		require.Contains(t, sql, want)
	}
	require.NotContains(t, sql, "{%")

	inc := p.Models["payments_daily"]
	first, err := p.Render(inc, Resolver{This: "payments_daily"})
	require.NoError(t, err)
	require.NotContains(t, first, "max(payment_date)")
	later, err := p.Render(inc, Resolver{This: "THE_TARGET", IsIncremental: true})
	require.NoError(t, err)
	require.Contains(t, later, "where created_at >= (select max(payment_date) from THE_TARGET)")

	sp, err := p.Render(p.Models["stg_payments"], Resolver{})
	require.NoError(t, err)
	require.Contains(t, sp, "cast(round(amount * 100) as bigint) as amount_cents") // project macro
	require.NotContains(t, sp, "amounts arrive")                                   // comment

	cu, err := p.Render(p.Models["customers"], Resolver{})
	require.NoError(t, err)
	require.Contains(t, cu, ">= 100 then 'gold'")  // var from dbt_project.yml
	require.Contains(t, cu, ">= 30 then 'silver'") // var's default
}

func TestRenderLoopVariables(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"models/m.sql": "select {% for c in ['a', 'b', 'c'] %}{{ c }} as c{{ loop.index }}{% if not loop.last %}, {% endif %}{% endfor %}\n" +
			"{%- set x = 3 %} , {{ x * 2 }} as six {# gone #}\n" +
			"{%- if var('flag', false) %} , 1 as flag{% endif %}\n",
	})
	p, err := Load(dir)
	require.NoError(t, err)
	sql, err := p.Render(p.Models["m"], Resolver{})
	require.NoError(t, err)
	require.Equal(t, "select a as c1, b as c2, c as c3 , 6 as six \n", sql)
}

// writeProject writes a minimal project with the given files (and dbt_project.yml unless given).
func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if _, ok := files["dbt_project.yml"]; !ok {
		files["dbt_project.yml"] = "name: p\n"
	}
	for rel, body := range files {
		path := filepath.Join(dir, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
	}
	return dir
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		err   error
		msg   string
	}{
		{"syntax", map[string]string{"models/a.sql": "select 1\nfrom x\n{% if %}\n"}, ErrTemplate, "models/a.sql:3:"},
		{"syntax after macros", map[string]string{
			"macros/m.sql": "{% macro f() %}1{% endmacro %}\n\n\n",
			"models/a.sql": "select 1\n{{ f( }}\n",
		}, ErrTemplate, "models/a.sql:2:"},
		{"missing var", map[string]string{"models/a.sql": "select 1\n\n{{ var('nope') }}\n"}, ErrTemplate, `models/a.sql:3: var(): required var "nope"`},
		{"unknown ref", map[string]string{"models/a.sql": "select * from {{ ref('b') }}"}, ErrUnknown, `models/a.sql: ref("b")`},
		{"unknown source", map[string]string{"models/a.sql": "select * from {{ source('raw', 'b') }}"}, ErrUnknown, `source("raw", "b")`},
		{"bad materialized", map[string]string{"models/a.sql": "{{ config(materialized='matview') }} select 1"}, ErrConfig, `models/a.sql: materialized "matview"`},
		{"merge without key", map[string]string{"models/a.sql": "{{ config(materialized='incremental', incremental_strategy='merge') }} select 1"}, ErrConfig, "needs a unique_key"},
		{"schema for missing model", map[string]string{"models/s.yml": "models:\n  - name: zz\n"}, ErrUnknown, `model "zz"`},
		{"bad test", map[string]string{"models/a.sql": "select 1 as x", "models/s.yml": "models:\n  - name: a\n    columns:\n      - name: x\n        tests:\n          - accepted_values: {}\n"}, ErrConfig, "needs a values: list"},
		{"no name", map[string]string{"dbt_project.yml": "version: 2\n"}, ErrConfig, "name is missing"},
		{"duplicate model", map[string]string{"models/a.sql": "select 1", "models/x/a.sql": "select 2"}, ErrConfig, `two models are named "a"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeProject(t, c.files))
			require.Error(t, err)
			require.True(t, errors.Is(err, c.err), "%v", err)
			require.Contains(t, err.Error(), c.msg)
		})
	}
}

func TestSources(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"models/src.yml": `version: 2
sources:
  - name: lake
    schema: public
    tables:
      - name: orders
        columns:
          - name: id
            tests: [unique]
      - name: users
        identifier: app_users
`,
		"models/a.sql": "select * from {{ source('lake', 'orders') }} o join {{ source('lake','users') }} u on o.uid = u.id",
	})
	p, err := Load(dir)
	require.NoError(t, err)
	require.Equal(t, "public.app_users", p.Sources["lake.users"].Relation())
	require.Equal(t, []SourceRef{{"lake", "orders"}, {"lake", "users"}}, p.Models["a"].Sources)
	require.Len(t, p.Tests, 1)
	require.Equal(t, "source:lake.orders", p.Tests[0].Node)
	sql, err := p.Render(p.Models["a"], Resolver{Source: func(s, tb string) (string, error) {
		return p.Sources[s+"."+tb].Relation(), nil
	}})
	require.NoError(t, err)
	require.Equal(t, "select * from public.orders o join public.app_users u on o.uid = u.id", strings.TrimSpace(sql))
}

func TestFolderConfigPrecedence(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"dbt_project.yml": `name: p
models:
  p:
    materialized: table
    a:
      +materialized: view
      b:
        +materialized: ephemeral
        leaf:
          +materialized: table
`,
		"models/top.sql":        "select 1",
		"models/a/mid.sql":      "select 1",
		"models/a/b/deep.sql":   "select 1",
		"models/a/b/leaf.sql":   "select 1",
		"models/a/b/inline.sql": "{{ config(materialized='incremental') }} select 1",
		"models/a/b/yml.sql":    "select 1",
		"models/a/b/s.yml":      "models:\n  - name: yml\n    config:\n      materialized: table\n",
	})
	p, err := Load(dir)
	require.NoError(t, err)
	got := map[string]string{}
	for n, m := range p.Models {
		got[n] = m.Materialized
	}
	require.Equal(t, map[string]string{
		"top": "table", "mid": "view", "deep": "ephemeral", "leaf": "table", "inline": "incremental", "yml": "table",
	}, got)
}
