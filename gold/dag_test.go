package gold

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDAGOrder(t *testing.T) {
	d, err := loadShop(t).DAG()
	require.NoError(t, err)
	order := d.Order()
	pos := map[string]int{}
	for i, n := range order {
		pos[n] = i
	}
	require.Len(t, order, 10)
	for _, e := range [][2]string{
		{"raw_orders", "stg_orders"}, {"stg_orders", "orders"}, {"stg_payments", "orders"},
		{"orders", "int_customer_orders"}, {"int_customer_orders", "customers"},
		{"stg_customers", "customers"}, {"stg_payments", "payments_daily"},
	} {
		require.Less(t, pos[e[0]], pos[e[1]], "%s before %s in %v", e[0], e[1], order)
	}
	require.Equal(t, []string{"int_customer_orders"}, d.Children("orders"))
	require.Equal(t, []string{"stg_customers", "int_customer_orders"}, d.Parents("customers"))
}

func TestDAGSelect(t *testing.T) {
	d, err := loadShop(t).DAG()
	require.NoError(t, err)
	cases := []struct {
		sel  string
		want []string
	}{
		{"orders", []string{"orders"}},
		{"+orders", []string{"raw_orders", "raw_payments", "stg_orders", "stg_payments", "orders"}},
		{"orders+", []string{"orders", "int_customer_orders", "customers"}},
		{"orders+1", []string{"orders", "int_customer_orders"}},
		{"1+orders", []string{"stg_orders", "stg_payments", "orders"}},
		{"+int_customer_orders+", []string{"raw_orders", "raw_payments", "stg_orders", "stg_payments", "orders", "int_customer_orders", "customers"}},
		{"tag:staging", []string{"stg_customers", "stg_orders", "stg_payments"}},
		{"tag:finance tag:raw", []string{"raw_payments", "payments_daily"}},
		{"tag:marts,+customers", []string{"orders", "customers"}},
		{"stg_*", []string{"stg_customers", "stg_orders", "stg_payments"}},
		{"path:models/marts", []string{"orders", "customers", "payments_daily"}},
		{"config.materialized:incremental", []string{"payments_daily"}},
		{"@stg_customers", []string{"raw_customers", "raw_orders", "raw_payments", "stg_customers", "stg_orders", "stg_payments", "orders", "int_customer_orders", "customers"}},
		{"", d.Order()},
	}
	for _, c := range cases {
		got, err := d.Select(c.sel)
		require.NoError(t, err, c.sel)
		require.ElementsMatch(t, c.want, got, c.sel)
		// DAG order is kept.
		sub := []string{}
		for _, n := range d.Order() {
			for _, g := range got {
				if g == n {
					sub = append(sub, n)
				}
			}
		}
		require.Equal(t, sub, got, c.sel)
	}
	for _, bad := range []string{"nope", "tag:nope", "bogus:x", "x+y+"} {
		_, err := d.Select(bad)
		require.True(t, errors.Is(err, ErrSelection), "%q: %v", bad, err)
	}
}

func TestDAGCycle(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"models/a.sql": "select * from {{ ref('c') }}",
		"models/b.sql": "select * from {{ ref('a') }}",
		"models/c.sql": "select * from {{ ref('b') }}",
		"models/d.sql": "select * from {{ ref('a') }}",
	})
	p, err := Load(dir)
	require.NoError(t, err)
	_, err = p.DAG()
	require.True(t, errors.Is(err, ErrCycle), "%v", err)
	require.Contains(t, err.Error(), "a -> b -> c -> a")

	self := writeProject(t, map[string]string{"models/s.sql": "select * from {{ ref('s') }}"})
	p, err = Load(self)
	require.NoError(t, err)
	_, err = p.DAG()
	require.ErrorContains(t, err, "dependency cycle: s -> s")
}

func FuzzSelect(f *testing.F) {
	p, err := Load("testdata/shop")
	if err != nil {
		f.Fatal(err)
	}
	d, err := p.DAG()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"orders", "+orders+", "2+orders+1", "tag:x,stg_*", "@a b", "path:models/", "+", "1+", "+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sel string) {
		got, err := d.Select(sel)
		if err != nil {
			if !errors.Is(err, ErrSelection) {
				t.Fatalf("%q: error not ErrSelection: %v", sel, err)
			}
			return
		}
		seen := map[string]bool{}
		for _, n := range got {
			if seen[n] || (p.Models[n] == nil && p.Seeds[n] == nil) {
				t.Fatalf("%q: bad result %v", sel, got)
			}
			seen[n] = true
		}
	})
}
