package stream_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/state"
	"github.com/strata-data/strata/stream"
)

var joinBenchSchema = change.MustSchema([]arrow.Field{
	change.NotNull("id", arrow.PrimitiveTypes.Int64),
	change.NotNull("k", arrow.PrimitiveTypes.Int64),
})

// BenchmarkJoin3: three inputs on a key of 100k values, batches of 1024 inserts
// taking turns over the inputs; sparse (out/in reports the output rows per input
// row). rows/s counts input rows; most of the cost is the n-1 probes per change.
func BenchmarkJoin3(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	const nb = 300
	batches := make([]*change.Batch, nb)
	for i := range batches {
		ib, kb := array.NewInt64Builder(memory.DefaultAllocator), array.NewInt64Builder(memory.DefaultAllocator)
		for j := range 1024 {
			ib.Append(int64(i*1024 + j))
			kb.Append(int64(r.IntN(100_000)))
		}
		ic, kc := ib.NewArray(), kb.NewArray()
		rec := array.NewRecordBatch(joinBenchSchema.Arrow(), []arrow.Array{ic, kc}, 1024)
		ic.Release()
		kc.Release()
		batches[i], _ = change.NewBatch(joinBenchSchema, rec, make([]change.Op, 1024))
	}
	defer func() {
		for _, x := range batches {
			x.Release()
		}
	}()
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
			j, err := stream.NewJoin(stream.JoinConfig{ID: "j", State: st, Inputs: []stream.JoinInput{
				{Name: "a", Schema: joinBenchSchema, Key: []string{"k"}},
				{Name: "b", Schema: joinBenchSchema, Key: []string{"k"}},
				{Name: "c", Schema: joinBenchSchema, Key: []string{"k"}},
			}})
			if err != nil {
				b.Fatal(err)
			}
			out := 0
			drop := func(x *change.Batch) error { out += x.Len(); x.Release(); return nil }
			rows, i := 0, 0
			cpu0 := cpuTime()
			for b.Loop() {
				in := batches[i%nb]
				if i > 0 && i%nb == 0 {
					b.Fatal("benchmark ran out of distinct batches; lower -benchtime")
				}
				in.Retain()
				if err := j.Input(i%3).Process(context.Background(), in, drop); err != nil {
					b.Fatal(err)
				}
				rows += in.Len()
				i++
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(rows)/(cpuTime()-cpu0).Seconds(), "rows/cpu-s")
			b.ReportMetric(float64(out)/float64(rows), "out/in")
		})
	}
}
