package reduce_test

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
)

var benchAggSchema = change.MustSchema([]arrow.Field{
	change.NotNull("g", arrow.PrimitiveTypes.Int64),
	change.NotNull("v", arrow.PrimitiveTypes.Int64),
})

// BenchmarkAggregate aggregates 10M rows (g, v) into 20 and into 1M groups:
// count(*), sum(v), min(v), max(v), batch work (InsertOnly), in memory.
func BenchmarkAggregate(b *testing.B) {
	const n = 10_000_000
	for _, groups := range []int{20, 1_000_000} {
		b.Run(fmt.Sprintf("groups=%d", groups), func(b *testing.B) {
			batches := int64Batches(benchAggSchema, n, func(col, row int) int64 {
				if col == 0 {
					return int64(row*7919) % int64(groups)
				}
				return int64(row % 1000)
			})
			defer func() {
				for _, x := range batches {
					x.Release()
				}
			}()
			a, err := reduce.NewHashAggregate(reduce.AggregateConfig{Schema: benchAggSchema, GroupBy: []string{"g"}, InsertOnly: true,
				Aggs: []reduce.Agg{{Func: reduce.CountStar}, {Func: reduce.Sum, Column: "v"}, {Func: reduce.Min, Column: "v"}, {Func: reduce.Max, Column: "v"}}})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				runReducer(b, a, batches)
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
