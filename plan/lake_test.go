package plan_test

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/plan"
	"github.com/strata-data/strata/silver"
)

// The silver tables of a lake answer SQL by name; the answer is the silver table's
// own content, at the snapshot that was latest when the query was planned.
func TestLakeCatalogQueriesSilverTables(t *testing.T) {
	ctx := context.Background()
	store := bronze.NewMemStore()
	_, err := bronze.Ingest(ctx, bronze.IngestConfig{Source: cdc.NewGenerator(cdc.GeneratorConfig{Seed: 5, Events: 6000}),
		Writer: bronze.WriterConfig{Store: store}, CommitEvents: 1000, ExitWhenIdle: true})
	require.NoError(t, err)
	a, err := silver.NewApplier(silver.ApplierConfig{Store: store})
	require.NoError(t, err)
	_, err = a.CatchUp(ctx)
	require.NoError(t, err)

	// The reference: count orders per customer by scanning silver directly.
	orders, ok := a.Table("public.orders")
	require.True(t, ok)
	want := map[int64]int64{}
	sc, err := orders.Scan(ctx, silver.ScanOptions{Columns: []string{"customer_id"}})
	require.NoError(t, err)
	for b, err := range sc.All() {
		require.NoError(t, err)
		col := b.Column(0).(*array.Int64)
		for i := range b.Len() {
			want[col.Value(i)]++
		}
	}
	require.NotEmpty(t, want)

	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cat := plan.NewLakeCatalog(store)
	for _, name := range []string{"public.orders", "orders"} {
		res, err := plan.Query(ctx, cat, "SELECT customer_id, count(*) AS n FROM "+name+" GROUP BY customer_id", plan.WithAllocator(mem))
		require.NoError(t, err, name)
		got := map[int64]int64{}
		for _, rec := range res.Batches {
			c, n := rec.Column(0).(*array.Int64), rec.Column(1).(*array.Int64)
			for i := range int(rec.NumRows()) {
				got[c.Value(i)] = n.Value(i)
			}
		}
		res.Release()
		require.Equal(t, want, got, name)
	}

	// A join across two silver tables, against the same direct scans.
	res, err := plan.Query(ctx, cat, `SELECT count(*) FROM orders o JOIN customers c ON o.customer_id = c.id`, plan.WithAllocator(mem))
	require.NoError(t, err)
	require.EqualValues(t, 1, res.NumRows())
	joined := res.Batches[0].Column(0).(*array.Int64).Value(0)
	res.Release()
	customers, ok := a.Table("public.customers")
	require.True(t, ok)
	ids := map[int64]bool{}
	sc, err = customers.Scan(ctx, silver.ScanOptions{Columns: []string{"id"}})
	require.NoError(t, err)
	for b, err := range sc.All() {
		require.NoError(t, err)
		col := b.Column(0).(*array.Int64)
		for i := range b.Len() {
			ids[col.Value(i)] = true
		}
	}
	var n int64
	for c, k := range want {
		if ids[c] {
			n += k
		}
	}
	require.Equal(t, n, joined)

	// count(*) reads no column at all.
	payments, ok := a.Table("public.payments")
	require.True(t, ok)
	snap, _ := payments.Latest()
	res, err = plan.Query(ctx, cat, "SELECT count(*) FROM payments", plan.WithAllocator(mem))
	require.NoError(t, err)
	require.Equal(t, snap.Rows, res.Batches[0].Column(0).(*array.Int64).Value(0))
	res.Release()

	_, err = plan.Query(ctx, cat, "SELECT * FROM nosuch")
	require.ErrorContains(t, err, `relation "nosuch" does not exist`)
}
