package reduce_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/cputime"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/shuffle"
)

// replay streams prebuilt batches, handing over a new reference to each, so one set
// of inputs serves every iteration of a benchmark.
type replay struct {
	batches []*change.Batch
	i       int
}

func (r *replay) Next(ctx context.Context) (*change.Batch, error) {
	if r.i == len(r.batches) {
		return nil, io.EOF
	}
	b := r.batches[r.i]
	r.i++
	b.Retain()
	return b, nil
}

func (r *replay) Close() error { return nil }

var (
	benchDim = change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("name", arrow.BinaryTypes.String),
	})
	benchFact = change.MustSchema([]arrow.Field{
		change.NotNull("order", arrow.PrimitiveTypes.Int64),
		change.Col("customer", arrow.PrimitiveTypes.Int64),
		change.Col("amount", &arrow.Decimal128Type{Precision: 12, Scale: 2}),
	})
)

// benchBatches builds n rows of s in batches of 4096 with fill.
func benchBatches(tb testing.TB, s *change.Schema, n int, fill func(i int, row change.Row)) []*change.Batch {
	var out []*change.Batch
	bld := change.NewBuilder(memory.DefaultAllocator, s)
	defer bld.Release()
	row := make(change.Row, s.NumFields())
	for i := range n {
		fill(i, row)
		require.NoError(tb, bld.Append(change.Insert, row))
		if bld.Len() == 4096 || i == n-1 {
			out = append(out, bld.NewBatch())
		}
	}
	tb.Cleanup(func() {
		for _, b := range out {
			b.Release()
		}
	})
	return out
}

// joinInputs returns a dimension of dims rows (unique ids) and a fact table of facts
// rows whose customer is a random id, 1 in 10 of them absent from the dimension.
func joinInputs(tb testing.TB, dims, facts int) (dim, fact []*change.Batch) {
	rng := rand.New(rand.NewPCG(3, 4))
	dim = benchBatches(tb, benchDim, dims, func(i int, row change.Row) {
		row[0], row[1] = change.Int(int64(i)*7), change.Str(fmt.Sprintf("customer %d", i))
	})
	fact = benchBatches(tb, benchFact, facts, func(i int, row change.Row) {
		row[0] = change.Int(int64(i))
		row[1] = change.Int(rng.Int64N(int64(dims)*10/9) * 7)
		row[2] = change.Int(int64(i % 10000))
	})
	return dim, fact
}

// BenchmarkHashJoin: a fact table of 1M rows joined with a dimension of 100k rows on
// an int64 key, in memory, every column out; rows/s counts input rows (both sides).
func BenchmarkHashJoin(b *testing.B) {
	const dims, facts = 100_000, 1_000_000
	dim, fact := joinInputs(b, dims, facts)
	for _, typ := range []reduce.JoinType{reduce.InnerJoin, reduce.LeftJoin, reduce.SemiJoin} {
		b.Run(typ.String(), func(b *testing.B) {
			j, err := reduce.NewHashJoin(reduce.HashJoinConfig{
				Type: typ, Left: benchFact, Right: benchDim, LeftKeys: []string{"customer"}, RightKeys: []string{"id"},
			})
			require.NoError(b, err)
			var out int64
			for b.Loop() {
				out = 0
				err := j.Reduce(context.Background(), []shuffle.Stream{&replay{batches: fact}, &replay{batches: dim}}, func(bt *change.Batch) error {
					out += int64(bt.Len())
					bt.Release()
					return nil
				})
				require.NoError(b, err)
			}
			b.ReportMetric(float64(dims+facts)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(out), "out-rows")
		})
	}
}

// BenchmarkNestedLoopJoin: a predicate over every pair of 20k × 2k rows (pairs/s), and
// the 1M × 100k key join of BenchmarkHashJoin with its fact side in chunks of at most
// 16 MiB, the right side re-read per chunk (input rows/s over all passes' inputs).
func BenchmarkNestedLoopJoin(b *testing.B) {
	b.Run("predicate", func(b *testing.B) {
		dim, fact := joinInputs(b, 2_000, 20_000)
		j, err := reduce.NewNestedLoopJoin(reduce.NestedLoopJoinConfig{
			Left: benchFact, Right: benchDim,
			Predicate: func(l, r reduce.RowView) bool { return l.Int(1) == r.Int(0)+7 },
		})
		require.NoError(b, err)
		for b.Loop() {
			err := j.Join(context.Background(), &replay{batches: fact}, func(context.Context) (shuffle.Stream, error) {
				return &replay{batches: dim}, nil
			}, func(bt *change.Batch) error { bt.Release(); return nil })
			require.NoError(b, err)
		}
		b.ReportMetric(20_000*2_000*float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
	})
	b.Run("keys-chunked", func(b *testing.B) {
		const dims, facts = 100_000, 1_000_000
		dim, fact := joinInputs(b, dims, facts)
		j, err := reduce.NewNestedLoopJoin(reduce.NestedLoopJoinConfig{
			Left: benchFact, Right: benchDim, LeftKeys: []string{"customer"}, RightKeys: []string{"id"}, ChunkBytes: 16 << 20,
		})
		require.NoError(b, err)
		opens := 0
		for b.Loop() {
			opens = 0
			err := j.Join(context.Background(), &replay{batches: fact}, func(context.Context) (shuffle.Stream, error) {
				opens++
				return &replay{batches: dim}, nil
			}, func(bt *change.Batch) error { bt.Release(); return nil })
			require.NoError(b, err)
		}
		b.ReportMetric(float64(facts+opens*dims)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(opens), "chunks")
	})
}

// BenchmarkGraceHashJoin: BenchmarkHashJoin's inner join within a budget of 4 MiB,
// where the dimension side (100k rows, ~3 MiB of batches, more with its table) does
// not fit: both sides are partitioned to spill files (LZ4) and joined partition by
// partition. rows/s counts input rows.
func BenchmarkGraceHashJoin(b *testing.B) {
	const dims, facts = 100_000, 1_000_000
	dim, fact := joinInputs(b, dims, facts)
	for _, limit := range []int64{0, 4 << 20} {
		b.Run(fmt.Sprintf("budget=%dMiB", limit>>20), func(b *testing.B) {
			budget := change.NewBudget(limit, nil)
			j, err := reduce.NewHashJoin(reduce.HashJoinConfig{
				Left: benchFact, Right: benchDim, LeftKeys: []string{"customer"}, RightKeys: []string{"id"},
				Budget: budget, SpillDir: b.TempDir(),
			})
			require.NoError(b, err)
			for b.Loop() {
				err := j.Reduce(context.Background(), []shuffle.Stream{&replay{batches: fact}, &replay{batches: dim}}, func(bt *change.Batch) error {
					bt.Release()
					return nil
				})
				require.NoError(b, err)
			}
			b.ReportMetric(float64(dims+facts)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(budget.Peak())/(1<<20), "peak-MiB")
		})
	}
}

// BenchmarkJoinAggregate is bench/joinagg's query on one core, without the filter:
// 2.5M fact rows (customer, amount float64) joined on a 1M-row dimension's unique id,
// grouped by the dimension's region (20 strings) with sum(amount) over the join's
// output batches. rows/s counts fact rows.
func BenchmarkJoinAggregate(b *testing.B) {
	const dims, facts = 1_000_000, 2_500_000
	dimSchema := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.NotNull("region", arrow.BinaryTypes.String),
	})
	factSchema := change.MustSchema([]arrow.Field{
		change.NotNull("customer", arrow.PrimitiveTypes.Int64),
		change.NotNull("amount", arrow.PrimitiveTypes.Float64),
	})
	rng := rand.New(rand.NewPCG(5, 6))
	ids := rng.Perm(dims)
	dim := benchBatches(b, dimSchema, dims, func(i int, row change.Row) {
		row[0], row[1] = change.Int(int64(ids[i])), change.Str(fmt.Sprintf("region-%02d", rng.IntN(20)))
	})
	fact := benchBatches(b, factSchema, facts, func(i int, row change.Row) {
		row[0], row[1] = change.Int(rng.Int64N(dims)), change.Float(float64(rng.IntN(100_000))/100)
	})
	j, err := reduce.NewHashJoin(reduce.HashJoinConfig{
		Left: factSchema, Right: dimSchema, LeftKeys: []string{"customer"}, RightKeys: []string{"id"},
		Build:  reduce.RightSide,
		Output: []reduce.Column{{Side: reduce.RightSide, Name: "region"}, {Side: reduce.LeftSide, Name: "amount"}},
	})
	require.NoError(b, err)
	agg, err := reduce.NewHashAggregate(reduce.AggregateConfig{
		Schema: j.Schema(), GroupBy: []string{"region"}, InsertOnly: true,
		Aggs: []reduce.Agg{{Func: reduce.Sum, Column: "amount"}},
	})
	require.NoError(b, err)
	ctx := context.Background()
	cpu := cputime.Process()
	for b.Loop() {
		var joined []*change.Batch
		require.NoError(b, j.Reduce(ctx, []shuffle.Stream{&replay{batches: fact}, &replay{batches: dim}}, func(bt *change.Batch) error {
			joined = append(joined, bt)
			return nil
		}))
		groups := 0
		require.NoError(b, agg.Reduce(ctx, []shuffle.Stream{shuffle.NewSliceStream(joined...)}, func(bt *change.Batch) error {
			groups += bt.Len()
			bt.Release()
			return nil
		}))
		require.Equal(b, 20, groups)
	}
	b.ReportMetric(float64(facts)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	cputime.Report(b, cpu, facts*b.N, "rows")
}
