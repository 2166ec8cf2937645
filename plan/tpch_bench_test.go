package plan

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkTPCH runs the TPC-H queries of bench/tpch/queries over the Parquet tables
// in $STRATA_TPCH_DIR (made by: cd bench && go run ./tpch gen -sf 0.1 -out DIR).
func BenchmarkTPCH(b *testing.B) {
	dir := os.Getenv("STRATA_TPCH_DIR")
	if dir == "" {
		b.Skip("STRATA_TPCH_DIR is not set")
	}
	cat := NewMemCatalog()
	for _, t := range []string{"lineitem", "orders", "customer", "part", "supplier", "nation", "region", "partsupp"} {
		tab, err := OpenPath(filepath.Join(dir, t+".parquet"))
		if err != nil {
			b.Fatal(err)
		}
		cat.Add(t, tab)
	}
	qs, _ := filepath.Glob("../bench/tpch/queries/q*.sql")
	for _, q := range qs {
		sql, err := os.ReadFile(q)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(filepath.Base(q), func(b *testing.B) {
			for b.Loop() {
				res, err := Query(context.Background(), cat, string(sql))
				if err != nil {
					b.Fatal(err)
				}
				res.Release()
			}
		})
	}
}
