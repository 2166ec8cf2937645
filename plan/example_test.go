package plan_test

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/plan"
)

func Example() {
	s := change.MustSchema([]arrow.Field{
		change.Col("status", arrow.BinaryTypes.String),
		change.Col("amount", arrow.PrimitiveTypes.Int64),
	})
	b, _ := change.FromRows(memory.DefaultAllocator, s, [][]any{
		{change.Insert, "paid", int64(10)}, {change.Insert, "open", int64(5)}, {change.Insert, "paid", int64(7)},
	})
	defer b.Release()
	orders, _ := plan.NewMemTable(s.Arrow(), b.Record())
	defer orders.Release()
	cat := plan.NewMemCatalog()
	cat.Add("orders", orders)

	res, err := plan.Query(context.Background(), cat,
		"SELECT status, count(*) AS n, sum(amount) AS total FROM orders GROUP BY status ORDER BY status")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer res.Release()
	for _, rec := range res.Batches {
		for r := range int(rec.NumRows()) {
			fmt.Println(rec.Column(0).ValueStr(r), rec.Column(1).ValueStr(r), rec.Column(2).ValueStr(r))
		}
	}
	// Output:
	// open 1 5
	// paid 2 17
}
