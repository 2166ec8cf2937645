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

// Orders joined with payments on the order id, as either side changes.
func ExampleJoin() {
	orders := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.NotNull("customer", arrow.BinaryTypes.String),
	}, "id")
	payments := change.MustSchema([]arrow.Field{
		change.NotNull("order_id", arrow.PrimitiveTypes.Int64),
		change.NotNull("amount", arrow.PrimitiveTypes.Int64),
	})
	st, _ := state.NewMemory(state.MemoryConfig{})
	defer st.Close()
	j, err := stream.NewJoin(stream.JoinConfig{ID: "op", State: st, Inputs: []stream.JoinInput{
		{Name: "o", Schema: orders, Key: []string{"id"}},
		{Name: "p", Schema: payments, Key: []string{"order_id"}},
	}})
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
	ctx := context.Background()
	p, _ := change.FromRows(nil, payments, [][]any{{change.Insert, 1, 30}, {change.Insert, 1, 12}})
	_ = j.Input(1).Process(ctx, p, print) // no order yet: nothing joins
	o, _ := change.FromRows(nil, orders, [][]any{{change.Insert, 1, "ada"}})
	_ = j.Input(0).Process(ctx, o, print)
	fmt.Println("--")
	o, _ = change.FromRows(nil, orders, [][]any{{change.UpdateBefore, 1, "ada"}, {change.UpdateAfter, 1, "bob"}})
	_ = j.Input(0).Process(ctx, o, print)
	// Output:
	// +I 1 ada 1 12
	// +I 1 ada 1 30
	// --
	// -D 1 ada 1 12
	// -D 1 ada 1 30
	// +I 1 bob 1 12
	// +I 1 bob 1 30
}
