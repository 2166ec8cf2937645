package expr_test

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/strata-data/strata/internal/expr"
)

// A planner turns WHERE qty > 1 AND name LIKE 'a%' and SELECT qty * price into
// expressions, folds constants, then filters and projects batches.
func Example() {
	mem := memory.NewGoAllocator()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "name", Type: expr.Text, Nullable: true},
		{Name: "qty", Type: expr.Int32, Nullable: true},
		{Name: "price", Type: expr.Numeric(10, 2), Nullable: true},
	}, nil)
	rb, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(`[
		{"name": "apple", "qty": 3, "price": "1.25"},
		{"name": "avocado", "qty": 1, "price": "2.10"},
		{"name": "banana", "qty": 6, "price": "0.35"},
		{"name": "apricot", "qty": null, "price": "3.00"},
		{"name": "almond", "qty": 2, "price": "9.99"}
	]`))
	if err != nil {
		panic(err)
	}
	defer rb.Release()

	name := &expr.Column{Index: 0, Name: "name", T: expr.Text}
	qty := &expr.Column{Index: 1, Name: "qty", T: expr.Int32}
	price := &expr.Column{Index: 2, Name: "price", T: expr.Numeric(10, 2)}
	one := expr.NewLiteral(scalar.NewInt32Scalar(1))

	gt, _ := expr.NewCall(">", qty, one)
	like, _ := expr.NewCall("like", name, expr.NewLiteral(scalar.NewStringScalar("a%")))
	where, _ := expr.NewCall("and", gt, like)
	total, _ := expr.NewCall("*", qty, price)

	ctx := &expr.Context{Alloc: mem}
	where, _ = expr.Fold(ctx, where)
	fmt.Println("WHERE", where)
	fmt.Println("SELECT", total, "::", expr.TypeName(total.Type()))

	kept, err := expr.Filter(ctx, rb, where)
	if err != nil {
		panic(err)
	}
	defer kept.Release()
	out, err := expr.Project(ctx, kept, []expr.Expr{name, total}, []string{"name", "total"})
	if err != nil {
		panic(err)
	}
	defer out.Release()
	for i := range int(out.NumRows()) {
		fmt.Println(out.Column(0).ValueStr(i), out.Column(1).ValueStr(i))
	}
	// Output:
	// WHERE (qty > 1) AND (name LIKE 'a%')
	// SELECT CAST(qty AS numeric(10,0)) * price :: numeric(38,2)
	// apple 3.75
	// almond 19.98
}
