package stream_test

import (
	"context"
	"math/rand/v2"
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

var benchEventSchema = change.MustSchema([]arrow.Field{
	change.NotNull("user", arrow.PrimitiveTypes.Int64),
	change.NotNull("ts", &arrow.TimestampType{Unit: arrow.Millisecond}),
	change.NotNull("amount", arrow.PrimitiveTypes.Int64),
})

// benchEvents makes n batches of 1024 events over 1000 users, 1 ms of event time
// apart and up to 2 s out of order; 1 in 10 deletes one of the last 1000 events.
func benchEvents(n int) []*change.Batch {
	r := rand.New(rand.NewPCG(2, 2))
	type ev struct{ user, ts, amount int64 }
	var recent []ev
	clock := int64(1_800_000_000_000)
	out := make([]*change.Batch, n)
	for i := range out {
		ub := array.NewInt64Builder(memory.DefaultAllocator)
		tb := array.NewTimestampBuilder(memory.DefaultAllocator, &arrow.TimestampType{Unit: arrow.Millisecond})
		ab := array.NewInt64Builder(memory.DefaultAllocator)
		ops := make([]change.Op, 1024)
		for j := range ops {
			var e ev
			if len(recent) > 0 && r.IntN(10) == 0 {
				k := r.IntN(len(recent))
				e = recent[k]
				recent[k] = recent[len(recent)-1]
				recent = recent[:len(recent)-1]
				ops[j] = change.Delete
			} else {
				clock++
				e = ev{user: int64(r.IntN(1000)), ts: clock - int64(r.IntN(2000)), amount: int64(r.IntN(1000))}
				if recent = append(recent, e); len(recent) > 1000 {
					recent = recent[1:]
				}
				ops[j] = change.Insert
			}
			ub.Append(e.user)
			tb.Append(arrow.Timestamp(e.ts))
			ab.Append(e.amount)
		}
		cols := []arrow.Array{ub.NewArray(), tb.NewArray(), ab.NewArray()}
		rec := array.NewRecordBatch(benchEventSchema.Arrow(), cols, 1024)
		for _, c := range cols {
			c.Release()
		}
		ub.Release()
		tb.Release()
		ab.Release()
		b, err := change.NewBatch(benchEventSchema, rec, ops)
		if err != nil {
			panic(err)
		}
		out[i] = b
	}
	return out
}

// BenchmarkWindowAggregate: count, sum and max per user and window, 5 s of
// out-of-orderness and 5 s of allowed lateness; events/s counts input rows.
func BenchmarkWindowAggregate(b *testing.B) {
	batches := benchEvents(200)
	defer func() {
		for _, x := range batches {
			x.Release()
		}
	}()
	aggs := []reduce.Agg{{Func: reduce.CountStar}, {Func: reduce.Sum, Column: "amount"}, {Func: reduce.Max, Column: "amount"}}
	for _, tc := range []struct {
		name    string
		windows stream.Windows
		backend string
	}{
		{"tumbling-1m/memory", stream.Tumbling(time.Minute), "memory"},
		{"tumbling-1m/pebble", stream.Tumbling(time.Minute), "pebble"},
		{"hopping-1m-10s/memory", stream.Hopping(time.Minute, 10*time.Second), "memory"},
		{"session-5s/memory", stream.Session(5 * time.Second), "memory"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var st state.Backend
			var err error
			if tc.backend == "memory" {
				st, err = state.NewMemory(state.MemoryConfig{Config: state.Config{SweepInterval: -1}})
			} else {
				st, err = state.OpenPebble(state.PebbleConfig{Dir: b.TempDir(), Config: state.Config{SweepInterval: -1}})
			}
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			drop := func(x *change.Batch) error { x.Release(); return nil }
			build := func() *stream.WindowAggregate {
				w, err := stream.NewWindowAggregate(stream.WindowAggregateConfig{ID: "w", Schema: benchEventSchema, Time: "ts",
					Windows: tc.windows, GroupBy: []string{"user"}, Aggs: aggs, OutOfOrderness: 5 * time.Second,
					AllowedLateness: 5 * time.Second, State: st, Late: drop})
				if err != nil {
					b.Fatal(err)
				}
				return w
			}
			w := build()
			rows, i := 0, 0
			cpu0 := cpuTime()
			for b.Loop() {
				if i == len(batches) {
					// Start over on fresh state and a fresh operator: event time starts over.
					b.StopTimer()
					for _, ns := range w.Namespaces() {
						it := st.Scan(ns, nil, nil)
						var wb state.Batch
						for it.Next() {
							wb.Delete(ns, it.Key())
						}
						it.Close()
						_ = st.Apply(&wb)
					}
					w, i = build(), 0
					b.StartTimer()
				}
				in := batches[i]
				in.Retain()
				if err := w.Process(context.Background(), in, drop); err != nil {
					b.Fatal(err)
				}
				rows += in.Len()
				i++
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(rows)/(cpuTime()-cpu0).Seconds(), "events/cpu-s")
		})
	}
}
