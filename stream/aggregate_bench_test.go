package stream_test

import (
	"context"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/state"
	"github.com/strata-data/strata/stream"
)

var benchSchema = change.MustSchema([]arrow.Field{
	change.NotNull("cust", arrow.PrimitiveTypes.Int64),
	change.NotNull("amount", arrow.PrimitiveTypes.Int64),
})

// benchBatches makes batches of 1024 rows over 10k customers: 3 in 4 rows insert, the
// rest delete a row inserted earlier.
func benchBatches(n int) []*change.Batch {
	r := rand.New(rand.NewPCG(1, 1))
	var live [][2]int64
	out := make([]*change.Batch, n)
	for i := range out {
		cb, ab := array.NewInt64Builder(memory.DefaultAllocator), array.NewInt64Builder(memory.DefaultAllocator)
		ops := make([]change.Op, 1024)
		for j := range ops {
			if len(live) > 0 && r.IntN(4) == 0 {
				k := r.IntN(len(live))
				row := live[k]
				live[k] = live[len(live)-1]
				live = live[:len(live)-1]
				cb.Append(row[0])
				ab.Append(row[1])
				ops[j] = change.Delete
				continue
			}
			row := [2]int64{int64(r.IntN(10_000)), int64(r.IntN(1000))}
			live = append(live, row)
			cb.Append(row[0])
			ab.Append(row[1])
			ops[j] = change.Insert
		}
		c, a := cb.NewArray(), ab.NewArray()
		rec := array.NewRecordBatch(benchSchema.Arrow(), []arrow.Array{c, a}, 1024)
		c.Release()
		a.Release()
		b, err := change.NewBatch(benchSchema, rec, ops)
		if err != nil {
			panic(err)
		}
		out[i] = b
	}
	return out
}

// BenchmarkAggregate: count, sum, min and max per customer; rows/s is input rows.
func BenchmarkAggregate(b *testing.B) {
	batches := benchBatches(200)
	defer func() {
		for _, x := range batches {
			x.Release()
		}
	}()
	aggs := []reduce.Agg{{Func: reduce.CountStar}, {Func: reduce.Sum, Column: "amount"},
		{Func: reduce.Min, Column: "amount"}, {Func: reduce.Max, Column: "amount"}}
	for _, kind := range []string{"memory", "pebble"} {
		b.Run(kind, func(b *testing.B) {
			var st state.Backend
			var err error
			if kind == "memory" {
				st, err = state.NewMemory(state.MemoryConfig{Config: state.Config{SweepInterval: -1}})
			} else {
				st, err = state.OpenPebble(state.PebbleConfig{Dir: b.TempDir(), Config: state.Config{SweepInterval: -1}})
			}
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			agg, err := stream.NewAggregate(stream.AggregateConfig{ID: "a", Schema: benchSchema,
				GroupBy: []string{"cust"}, Aggs: aggs, State: st})
			if err != nil {
				b.Fatal(err)
			}
			drop := func(x *change.Batch) error { x.Release(); return nil }
			rows := 0
			i := 0
			cpu0 := cpuTime()
			for b.Loop() {
				if i == len(batches) {
					// Start over on fresh state: the deletes refer to the inserts.
					b.StopTimer()
					for _, ns := range agg.Namespaces() {
						it := st.Scan(ns, nil, nil)
						var wb state.Batch
						for it.Next() {
							wb.Delete(ns, it.Key())
						}
						it.Close()
						_ = st.Apply(&wb)
					}
					i = 0
					b.StartTimer()
				}
				in := batches[i]
				in.Retain()
				if err := agg.Process(context.Background(), in, drop); err != nil {
					b.Fatal(err)
				}
				rows += in.Len()
				i++
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
			// The machine is shared: rows per second of this process's CPU time is
			// the steadier figure.
			b.ReportMetric(float64(rows)/(cpuTime()-cpu0).Seconds(), "rows/cpu-s")
		})
	}
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
