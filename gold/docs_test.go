package gold

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCatalogBeforeAndAfterBuild(t *testing.T) {
	p := loadShop(t)
	c, err := p.Catalog(nil)
	require.NoError(t, err)
	require.Len(t, c.Nodes, 10)
	require.Len(t, c.Edges, 9)
	byName := map[string]CatalogNode{}
	for _, n := range c.Nodes {
		byName[n.Name] = n
	}
	cust := byName["stg_customers"]
	require.Nil(t, cust.Rows)
	require.Equal(t, []CatalogColumn{{Name: "customer_id", Description: "The customer's id."}, {Name: "email", Description: "Contact address; may be missing."}}, cust.Columns)
	require.Equal(t, []string{"stg_orders", "stg_payments"}, byName["orders"].DependsOn)
	require.Contains(t, c.Edges, Edge{From: "orders", To: "int_customer_orders"})

	stats := map[string]NodeStats{"stg_customers": {Rows: 8, Columns: []CatalogColumn{
		{Name: "customer_id", Type: "int64"}, {Name: "full_name", Type: "utf8"},
	}}}
	c, err = p.Catalog(stats)
	require.NoError(t, err)
	for _, n := range c.Nodes {
		byName[n.Name] = n
	}
	cust = byName["stg_customers"]
	require.Equal(t, int64(8), *cust.Rows)
	require.Equal(t, []CatalogColumn{
		{Name: "customer_id", Type: "int64", Description: "The customer's id."},
		{Name: "full_name", Type: "utf8"},
		{Name: "email", Description: "Contact address; may be missing."},
	}, cust.Columns)

	var buf bytes.Buffer
	require.NoError(t, c.WriteJSON(&buf))
	var back Catalog
	require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
	require.Equal(t, c, &back)

	buf.Reset()
	require.NoError(t, c.WriteMermaid(&buf))
	m := buf.String()
	require.True(t, strings.HasPrefix(m, "flowchart LR\n"))
	require.Contains(t, m, `"stg_customers (view, 8 rows)"`)
	require.Contains(t, m, `[/"raw_orders (seed)"/]`)
	require.Equal(t, 9, strings.Count(m, " --> "))

	buf.Reset()
	require.NoError(t, c.WriteDOT(&buf))
	dot := buf.String()
	require.Contains(t, dot, `"stg_customers" [label="stg_customers (view, 8 rows)", shape=ellipse];`)
	require.Contains(t, dot, `"orders" -> "int_customer_orders";`)
	require.Equal(t, 9, strings.Count(dot, " -> "))
}

func TestCatalogSources(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"models/src.yml": "sources:\n  - name: lake\n    schema: public\n    tables:\n      - name: orders\n        description: all orders\n",
		"models/a.sql":   "select * from {{ source('lake', 'orders') }}",
	})
	p, err := Load(dir)
	require.NoError(t, err)
	c, err := p.Catalog(nil)
	require.NoError(t, err)
	require.Equal(t, "source:lake.orders", c.Nodes[0].Name)
	require.Equal(t, "public.orders", c.Nodes[0].Relation)
	require.Equal(t, []Edge{{From: "source:lake.orders", To: "a"}}, c.Edges)
	var buf bytes.Buffer
	require.NoError(t, c.WriteMermaid(&buf))
	require.Contains(t, buf.String(), `n0[("source:lake.orders (source)")]`)
}
