package change_test

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/change"
)

// A new schema version may add nullable columns and widen types; narrowing is refused
// with the column and the rule.
func ExampleCheckEvolution() {
	v1 := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int32),
		change.Col("amount", &arrow.Decimal128Type{Precision: 10, Scale: 2}),
	}, "id")
	v2 := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("amount", &arrow.Decimal128Type{Precision: 12, Scale: 4}),
		change.Col("note", arrow.BinaryTypes.String),
	}, "id")
	bad := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int32),
		change.Col("amount", arrow.PrimitiveTypes.Int32),
	}, "id")
	fmt.Println(change.CheckEvolution(v1, v2))
	fmt.Println(change.CheckEvolution(v1, bad))
	// Output:
	// <nil>
	// change: incompatible schema change: column "amount": decimal(10, 2) cannot become int32 (not a widening)
}

// Rows written under an old version are read through the newest: added columns are
// NULL, widened values are converted exactly.
func ExampleNewEvolution() {
	v1 := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int32),
		change.Col("amount", &arrow.Decimal128Type{Precision: 10, Scale: 2}),
		change.Col("legacy", arrow.BinaryTypes.String),
	}, "id")
	v2 := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("note", arrow.BinaryTypes.String),
		change.Col("amount", &arrow.Decimal128Type{Precision: 12, Scale: 4}),
	}, "id")
	ev, err := change.NewEvolution(v1, v2)
	if err != nil {
		fmt.Println(err)
		return
	}
	amount, _ := change.ValueOf("19.90", v1.Field(1).Type)
	var row change.Row // reused across rows
	row = ev.Apply(row, change.Row{change.Int(7), amount, change.Str("x")})
	for i, f := range v2.Fields() {
		fmt.Println(f.Name, row[i].Any(f.Type))
	}
	// Output:
	// id 7
	// note <nil>
	// amount 19.9000
}
