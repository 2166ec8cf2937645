package reduce_test

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/reduce/reducetest"
)

// A left join of orders with customers, in memory or, past its budget, spilling.
func ExampleHashJoin() {
	orders := change.MustSchema([]arrow.Field{
		change.NotNull("order", arrow.PrimitiveTypes.Int64),
		change.Col("customer", arrow.PrimitiveTypes.Int64),
	})
	customers := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("name", arrow.BinaryTypes.String),
	})
	budget := reducetest.NewBudget(64 << 20)
	j, err := reduce.NewHashJoin(reduce.HashJoinConfig{
		Type: reduce.LeftJoin, Left: orders, Right: customers,
		LeftKeys: []string{"customer"}, RightKeys: []string{"id"},
		Budget: budget,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(j.Schema())
	res, err := reducetest.Exec(context.Background(), j, reducetest.Options{Budget: budget},
		reducetest.Rows(orders, []any{10, 1}, []any{11, 2}, []any{12, nil}, []any{13, 1}),
		reducetest.Rows(customers, []any{1, "ann"}, []any{2, "bob"}, []any{change.Delete, 2, "bob"}))
	fmt.Println("error:", err)
	// bob was inserted and deleted: the pair with order 11 comes and goes, and order
	// 11 also comes out unmatched, which is what remains of it.
	fmt.Print(res.Sorted())
	// Output:
	// order int64 not null, customer int64, id int64, name utf8
	// error: <nil>
	// op | order | customer | id | name
	// +I | 10 | 1 | 1 | "ann"
	// +I | 11 | 2 | NULL | NULL
	// +I | 11 | 2 | 2 | "bob"
	// -D | 11 | 2 | 2 | "bob"
	// +I | 12 | NULL | NULL | NULL
	// +I | 13 | 1 | 1 | "ann"
}

// A non-equi join: each order in the price band it falls in.
func ExampleNestedLoopJoin() {
	bands := change.MustSchema([]arrow.Field{
		change.NotNull("band", arrow.BinaryTypes.String),
		change.NotNull("from", arrow.PrimitiveTypes.Int64),
	})
	orders := change.MustSchema([]arrow.Field{
		change.NotNull("order", arrow.PrimitiveTypes.Int64),
		change.NotNull("cents", arrow.PrimitiveTypes.Int64),
	})
	from, cents := bands.FieldIndex("from"), orders.FieldIndex("cents")
	j, err := reduce.NewNestedLoopJoin(reduce.NestedLoopJoinConfig{
		Type: reduce.InnerJoin, Left: bands, Right: orders,
		Predicate: func(band, order reduce.RowView) bool {
			lo := band.Int(from)
			return order.Int(cents) >= lo && order.Int(cents) < 10*lo
		},
		Output: []reduce.Column{{Side: reduce.RightSide, Name: "order"}, {Side: reduce.LeftSide, Name: "band"}},
	})
	if err != nil {
		panic(err)
	}
	res, _ := reducetest.Exec(context.Background(), j, reducetest.Options{},
		reducetest.Rows(bands, []any{"small", 1}, []any{"medium", 10}, []any{"large", 100}),
		reducetest.Rows(orders, []any{1, 5}, []any{2, 50}, []any{3, 500}, []any{4, 5000}))
	fmt.Print(res.Sorted())
	// Output:
	// op | order | band
	// +I | 1 | "small"
	// +I | 2 | "medium"
	// +I | 3 | "large"
}
