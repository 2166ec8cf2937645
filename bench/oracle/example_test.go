package oracle_test

import (
	"fmt"
	"math/big"

	"github.com/strata-data/strata/bench/oracle"
)

func ExampleCompare() {
	exact := func(s string) oracle.Value {
		r, _ := new(big.Rat).SetString(s)
		return oracle.Value{Kind: oracle.Exact, R: r}
	}
	want := oracle.Result{Columns: []string{"g", "avg"}, Rows: [][]oracle.Value{
		{{Kind: oracle.String, S: "a"}, exact("2.50")},
		{{}, exact("1")}, // NULL group
	}}
	// Another engine: rows in another order, avg as a float, 1 as an integer.
	got := oracle.Result{Columns: []string{"g", "avg"}, Rows: [][]oracle.Value{
		{{}, {Kind: oracle.Exact, R: big.NewRat(1, 1)}},
		{{Kind: oracle.String, S: "a"}, {Kind: oracle.Float, F: 2.5000000000001}},
	}}
	fmt.Println(oracle.Compare(got, want, false))
	fmt.Println(oracle.Compare(got, want, oracle.Ordered("select g, avg(x) from t group by g order by g")) != nil)
	// Output:
	// <nil>
	// true
}
