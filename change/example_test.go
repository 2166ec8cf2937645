package change_test

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
)

// A change batch is an Arrow record plus one op per row; an update is a -U/+U pair.
func ExampleBuilder() {
	s := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("status", arrow.BinaryTypes.String),
		change.Col("amount", &arrow.Decimal128Type{Precision: 12, Scale: 2}),
	}, "id")
	b := change.NewBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	_ = b.AppendAny(change.Insert, 1, "new", "19.90")
	_ = b.AppendAny(change.UpdateBefore, 1, "new", "19.90")
	_ = b.AppendAny(change.UpdateAfter, 1, "paid", "19.90")
	_ = b.AppendAny(change.Delete, 1, "paid", nil)

	batch := b.NewBatch() // the receiver owns one reference
	defer batch.Release()
	fmt.Print(batch)
	// Output:
	// op | id | status | amount
	// +I | 1 | new | 19.90
	// -U | 1 | new | 19.90
	// +U | 1 | paid | 19.90
	// -D | 1 | paid | NULL
}
