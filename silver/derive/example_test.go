package derive_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/silver"
	"github.com/strata-data/strata/silver/derive"
	"github.com/strata-data/strata/stream"
)

// Each customer with the number and total of its orders, kept up to date as the
// silver tables of customers and orders change.
func Example() {
	ctx := context.Background()
	store := bronze.NewMemStore() // bronze.OpenDir for a lake on disk
	cust := change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("name", arrow.BinaryTypes.String)}, "id")
	ord := change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.NotNull("customer_id", arrow.PrimitiveTypes.Int64), change.NotNull("amount", arrow.PrimitiveTypes.Int64)}, "id")
	// The inputs: silver tables (in a pipeline, a silver.Applier keeps them up to date).
	lsn := uint64(0)
	apply := func(table string, s *change.Schema, op cdc.Op, rows ...change.Row) {
		t, _ := silver.Open(ctx, store, table, silver.Config{})
		var evs []cdc.Event
		for _, r := range rows {
			ev := cdc.Event{Table: table, Op: op, Schema: s, SchemaVersion: 1, After: r}
			if op == cdc.OpDelete {
				ev.Before, ev.After = r, nil
			}
			evs = append(evs, ev)
		}
		lsn++
		if _, err := t.Apply(ctx, []cdc.Tx{{Events: evs, Commit: cdc.Position{Major: lsn}}}); err != nil {
			panic(err)
		}
	}
	row := func(vs ...any) change.Row {
		r := change.Row{}
		for _, v := range vs {
			switch v := v.(type) {
			case int:
				r = append(r, change.Int(int64(v)))
			case string:
				r = append(r, change.Str(v))
			}
		}
		return r
	}
	apply("crm.customers", cust, cdc.OpCreate, row(1, "Ada"), row(2, "Grace"))
	apply("shop.orders", ord, cdc.OpCreate, row(10, 1, 30), row(11, 1, 12))

	dir, _ := os.MkdirTemp("", "derive-example")
	defer os.RemoveAll(dir)
	d, err := derive.Open(ctx, derive.Config{
		Store: store, Name: "derived.customer_orders", Inputs: []string{"crm.customers", "shop.orders"},
		CheckpointDir: dir, Partitions: 1, Logger: slog.New(slog.DiscardHandler),
		Build: func(in derive.Inputs) ([]stream.Stage, error) {
			summary := func() (*stream.Aggregate, error) {
				return stream.NewAggregate(stream.AggregateConfig{ID: "summary", Schema: in.Schemas["shop.orders"],
					GroupBy: []string{"customer_id"}, State: in.State,
					Aggs: []reduce.Agg{{Func: reduce.CountStar, As: "orders"}, {Func: reduce.Sum, Column: "amount", As: "total"}}})
			}
			s, err := summary()
			if err != nil {
				return nil, err
			}
			join := func() (*stream.Join, error) {
				return stream.NewJoin(stream.JoinConfig{ID: "customer-orders", Type: reduce.LeftJoin,
					Left: in.Schemas["crm.customers"], Right: s.Schema(), LeftKeys: []string{"id"},
					RightKeys: []string{"customer_id"}, RightPrefix: "o_", State: in.State})
			}
			return []stream.Stage{
				{Name: "summary", Inputs: []stream.StageInput{{Table: "shop.orders", Key: []string{"customer_id"}}},
					Build: func(int) (stream.Node, error) { return stream.Single(in.Schemas["shop.orders"], s), nil }},
				{Name: "join", Inputs: []stream.StageInput{{Table: "crm.customers", Key: []string{"id"}}, {Stage: "summary", Key: []string{"customer_id"}}},
					Build: func(int) (stream.Node, error) { return join() }},
			}, nil
		},
		Key: []string{"id"}, // the join's output is keyed by (id, customer_id)
	})
	if err != nil {
		panic(err)
	}
	defer d.Close()
	show := func() {
		if err := d.CatchUp(ctx); err != nil {
			panic(err)
		}
		sc, _ := d.Table().Scan(ctx, silver.ScanOptions{})
		for b, err := range sc.All() {
			if err != nil {
				panic(err)
			}
			for _, r := range b.Plain() {
				fmt.Println(r[1:]...)
			}
		}
		fmt.Println("--")
	}
	show()
	apply("shop.orders", ord, cdc.OpCreate, row(12, 2, 5))
	apply("shop.orders", ord, cdc.OpDelete, row(10, 1, 30))
	apply("crm.customers", cust, cdc.OpUpdate, row(1, "Ada L."))
	show()
	// Output:
	// 1 Ada 1 2 42
	// 2 Grace <nil> <nil> <nil>
	// --
	// 1 Ada L. 1 1 12
	// 2 Grace 2 1 5
	// --
}
