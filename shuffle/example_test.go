package shuffle_test

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// Two map tasks write change batches; each reducer streams its partition back, map
// tasks in order and rows in the order written. A budget that is exceeded would spill
// the largest partitions to disk; readers merge them back the same way.
func ExampleLocal() {
	ctx := context.Background()
	s := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("status", arrow.BinaryTypes.String),
	}, "id")
	sh, _ := shuffle.New(shuffle.Config{
		Partitioner: shuffle.NewHashPartitioner(4, "id"),
		Budget:      change.NewBudget(64<<20, memory.DefaultAllocator),
	})
	defer sh.Close()

	inputs := [][][]any{
		{{change.Insert, 1, "new"}, {change.Insert, 2, "new"}, {change.Insert, 3, "new"}},
		{{change.UpdateBefore, 1, "new"}, {change.UpdateAfter, 1, "paid"}, {change.Delete, 3, "new"}},
	}
	for task, rows := range inputs {
		w, _ := sh.Writer(task)
		b, _ := change.FromRows(nil, s, rows)
		_ = w.Write(ctx, b) // Write copies what it keeps
		b.Release()
		_ = w.Close()
	}
	for p := range 4 {
		r, _ := sh.Reader(p)
		for b, err := range shuffle.All(ctx, r) {
			if err != nil {
				panic(err)
			}
			for _, row := range b.Plain() {
				fmt.Println("partition", p, row)
			}
			b.Release()
		}
		r.Close()
	}
	// Output:
	// partition 0 [+I 1 new]
	// partition 0 [+I 2 new]
	// partition 0 [-U 1 new]
	// partition 0 [+U 1 paid]
	// partition 1 [+I 3 new]
	// partition 1 [-D 3 new]
}

// HashKeys is the same everywhere: an int32 key and an int64 key of equal value hash
// alike, so two inputs partitioned separately line up for a join.
func ExampleHashKeys() {
	orders := change.MustSchema([]arrow.Field{change.Col("customer", arrow.PrimitiveTypes.Int64)})
	customers := change.MustSchema([]arrow.Field{change.Col("id", arrow.PrimitiveTypes.Int32)})
	o, _ := change.FromRows(nil, orders, [][]any{{change.Insert, 7}, {change.Insert, nil}})
	defer o.Release()
	c, _ := change.FromRows(nil, customers, [][]any{{change.Insert, 7}})
	defer c.Release()

	ho, hc := make([]uint64, 2), make([]uint64, 1)
	shuffle.HashKeys(o, []int{0}, ho)
	shuffle.HashKeys(c, []int{0}, hc)
	fmt.Printf("%#016x %#016x\n", ho[0], hc[0])
	fmt.Printf("NULL: %#016x\n", ho[1])
	fmt.Println("partition of 7 among 16:", shuffle.PartitionOf(ho[0], 16))
	// Output:
	// 0x81671e58d6b596af 0x81671e58d6b596af
	// NULL: 0x602b0e2cd6662c8b
	// partition of 7 among 16: 8
}
