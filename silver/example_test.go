package silver_test

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/silver"
)

// Apply transactions to a table, scan it, travel back in time and read the change feed.
func Example() {
	ctx := context.Background()
	schema := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("status", arrow.BinaryTypes.String),
	}, "id")
	row := func(id int64, status string) change.Row { return change.Row{change.Int(id), change.Str(status)} }
	keyOnly := func(id int64) change.Row { return change.Row{change.Int(id), change.Absent()} }
	event := func(op cdc.Op, before, after change.Row) cdc.Event {
		return cdc.Event{Table: "public.orders", Op: op, Schema: schema, Before: before, After: after}
	}

	tb, err := silver.Open(ctx, bronze.NewMemStore(), "public.orders", silver.Config{})
	if err != nil {
		panic(err)
	}
	s1, _ := tb.Apply(ctx, []cdc.Tx{{Commit: cdc.Position{Major: 10}, Events: []cdc.Event{
		event(cdc.OpCreate, nil, row(1, "new")),
		event(cdc.OpCreate, nil, row(2, "new")),
	}}})
	s2, _ := tb.Apply(ctx, []cdc.Tx{{Commit: cdc.Position{Major: 20}, Events: []cdc.Event{
		event(cdc.OpUpdate, keyOnly(1), row(1, "paid")),
		event(cdc.OpDelete, keyOnly(2), nil),
		event(cdc.OpCreate, nil, row(3, "new")),
	}}})
	fmt.Println("snapshots", s1.ID, s2.ID, "rows", s2.Rows)

	print := func(sc *silver.Scanner, err error) {
		if err != nil {
			panic(err)
		}
		for b, err := range sc.All() {
			if err != nil {
				panic(err)
			}
			fmt.Print(b)
		}
	}
	print(tb.Scan(ctx, silver.ScanOptions{}))
	fmt.Println("as of snapshot 1:")
	print(tb.Scan(ctx, silver.ScanOptions{AsOf: s1.ID}))
	fmt.Println("changes 1..2:")
	print(tb.Changes(ctx, s1.ID, s2.ID))
	// Output:
	// snapshots 1 2 rows 2
	// op | id | status
	// +I | 1 | paid
	// +I | 3 | new
	// as of snapshot 1:
	// op | id | status
	// +I | 1 | new
	// +I | 2 | new
	// changes 1..2:
	// op | id | status
	// -U | 1 | new
	// +U | 1 | paid
	// -D | 2 | new
	// +I | 3 | new
}

// Keep the silver tables of a lake up to date with its bronze tier.
func ExampleApplier() {
	ctx := context.Background()
	store := bronze.NewMemStore() // bronze.OpenDir("/var/lib/lake") in a service
	_, err := bronze.Ingest(ctx, bronze.IngestConfig{
		Source: cdc.NewGenerator(cdc.GeneratorConfig{Seed: 1, Events: 2000}),
		Writer: bronze.WriterConfig{Store: store}, ExitWhenIdle: true,
	})
	if err != nil {
		panic(err)
	}
	a, err := silver.NewApplier(silver.ApplierConfig{Store: store})
	if err != nil {
		panic(err)
	}
	st, err := a.CatchUp(ctx) // or go a.Run(ctx) to follow the lake
	if err != nil {
		panic(err)
	}
	fmt.Println("row events applied:", st.Changes)
	for _, name := range a.Names() {
		t, _ := a.Table(name)
		s, _ := t.Latest()
		fmt.Println(name, "snapshot", s.ID, "rows", s.Rows)
	}
	// A second catch-up finds nothing new.
	st, _ = a.CatchUp(ctx)
	fmt.Println("then:", st.Txs, "transactions")
	// Output:
	// row events applied: 2000
	// public.customers snapshot 1 rows 423
	// public.orders snapshot 1 rows 378
	// public.payments snapshot 1 rows 357
	// then: 0 transactions
}
