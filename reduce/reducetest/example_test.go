package reducetest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/reduce/reducetest"
	"github.com/strata-data/strata/shuffle"
)

// maxAmount is a user-defined reducer: the largest amount per customer, from a batch
// (insert-only) input of (customer, amount) rows.
type maxAmount struct {
	mem    memory.Allocator // where output batches are allocated: the job's budget
	schema *change.Schema
}

func (m maxAmount) Reduce(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
	best := make(map[int64]int64)
	for {
		b, err := in[0].Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		ids, amounts := b.Column(0).(*array.Int64), b.Column(1).(*array.Int64)
		for i := range b.Len() {
			if cur, ok := best[ids.Value(i)]; !ok || amounts.Value(i) > cur {
				best[ids.Value(i)] = amounts.Value(i)
			}
		}
		b.Release() // every batch read is released
	}
	bld := change.NewBuilder(m.mem, m.schema)
	defer bld.Release()
	for _, id := range slices.Sorted(func(yield func(int64) bool) {
		for id := range best {
			if !yield(id) {
				return
			}
		}
	}) {
		if err := bld.Append(change.Insert, change.Row{change.Int(id), change.Int(best[id])}); err != nil {
			return err
		}
	}
	return emit(bld.NewBatch()) // the receiver releases it
}

// A user-defined reducer tested with reducetest. In a test, the same is
// res := reducetest.Run(t, r, opts, orders) then res.AssertOrdered(t, ...).
func Example() {
	schema := change.MustSchema([]arrow.Field{
		change.NotNull("customer", arrow.PrimitiveTypes.Int64),
		change.NotNull("amount", arrow.PrimitiveTypes.Int64),
	})
	budget := reducetest.NewBudget(1 << 20)
	r := maxAmount{mem: budget, schema: schema}
	orders := reducetest.Rows(schema,
		[]any{1, 500},
		[]any{2, 300},
		[]any{1, 700},
		[]any{change.Insert, 3, 10}, // an op may lead a row; +I is the default
		[]any{2, 250},
	)
	// Two rows per batch, so the reducer sees batch boundaries.
	res, err := reducetest.Exec(context.Background(), r, reducetest.Options{Budget: budget, BatchRows: 2}, orders)
	fmt.Println("error:", err)
	fmt.Print(res)
	fmt.Printf("diff: %q\n", res.DiffOrdered([]any{1, 700}, []any{2, 300}, []any{3, 10}))
	fmt.Println(res.DiffOrdered([]any{1, 700}, []any{2, 250}, []any{3, 10}))
	// Output:
	// error: <nil>
	// op | customer | amount
	// +I | 1 | 700
	// +I | 2 | 300
	// +I | 3 | 10
	// diff: ""
	// row 1: got +I | 2 | 300, want +I | 2 | 250
}
