package tpchgen_test

import (
	"context"
	"fmt"
	"os"

	"github.com/strata-data/strata/bench/tpchgen"
)

func ExampleGenerate() {
	dir, _ := os.MkdirTemp("", "tpch")
	defer os.RemoveAll(dir)
	m, err := tpchgen.Generate(context.Background(), tpchgen.Config{SF: 0.001, Seed: 1}, dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Rows[tpchgen.Orders], m.Rows[tpchgen.Customer], tpchgen.Path("data", tpchgen.Lineitem))
	// Output: 1500 150 data/lineitem.parquet
}
