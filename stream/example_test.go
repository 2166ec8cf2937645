package stream_test

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/state"
	"github.com/strata-data/strata/stream"
)

// Revenue per region, kept up to date as orders are inserted, updated and deleted.
func ExampleAggregate() {
	orders := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.NotNull("region", arrow.BinaryTypes.String),
		change.NotNull("amount", arrow.PrimitiveTypes.Int32),
	}, "id")
	st, _ := state.NewMemory(state.MemoryConfig{})
	defer st.Close()
	agg, err := stream.NewAggregate(stream.AggregateConfig{
		ID: "revenue", Schema: orders, GroupBy: []string{"region"}, State: st,
		Aggs: []reduce.Agg{{Func: reduce.CountStar, As: "orders"}, {Func: reduce.Sum, Column: "amount", As: "revenue"},
			{Func: reduce.Max, Column: "amount", As: "largest"}},
	})
	if err != nil {
		panic(err)
	}
	print := func(b *change.Batch) error {
		defer b.Release()
		for _, r := range b.Plain() {
			fmt.Println(r...)
		}
		return nil
	}
	for _, rows := range [][][]any{
		{{change.Insert, 1, "eu", 100}, {change.Insert, 2, "eu", 40}, {change.Insert, 3, "us", 70}},
		{{change.UpdateBefore, 1, "eu", 100}, {change.UpdateAfter, 1, "eu", 10}}, // the largest order shrinks
		{{change.Delete, 3, "us", 70}},
	} {
		fmt.Println("--")
		in, _ := change.FromRows(nil, orders, rows)
		if err := agg.Process(context.Background(), in, print); err != nil {
			panic(err)
		}
	}
	// Output:
	// --
	// +I eu 2 140 100
	// +I us 1 70 70
	// --
	// -U eu 2 140 100
	// +U eu 2 50 40
	// --
	// -D us 1 70 70
}
