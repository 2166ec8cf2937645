package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/mempool"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/shuffle"
)

const batchRows = 64 << 10

var (
	factSchema = change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.NotNull("customer_id", arrow.PrimitiveTypes.Int64),
		change.NotNull("amount", arrow.PrimitiveTypes.Float64),
		change.NotNull("status", arrow.BinaryTypes.String),
	}, "id")
	dimSchema = change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.NotNull("region", arrow.BinaryTypes.String),
	}, "id")
	// paidSchema is the fact after the filter and projection.
	paidSchema = change.MustSchema([]arrow.Field{
		change.NotNull("customer_id", arrow.PrimitiveTypes.Int64),
		change.NotNull("amount", arrow.PrimitiveTypes.Float64),
	})
)

// strataData is the workload as Arrow change batches: what a silver table scan yields.
type strataData struct {
	fact, dim []*change.Batch
}

func (s *strataData) release() {
	for _, b := range slices.Concat(s.fact, s.dim) {
		b.Release()
	}
}

func loadStrata(d *data, mem memory.Allocator) *strataData {
	out := &strataData{}
	for start := 0; start < len(d.factID); start += batchRows {
		end := min(start+batchRows, len(d.factID))
		id, cust, amt := array.NewInt64Builder(mem), array.NewInt64Builder(mem), array.NewFloat64Builder(mem)
		st := array.NewStringBuilder(mem)
		id.AppendValues(d.factID[start:end], nil)
		cust.AppendValues(d.factCustomer[start:end], nil)
		amt.AppendValues(d.factAmount[start:end], nil)
		for _, s := range d.factStatus[start:end] {
			st.Append(statuses[s])
		}
		out.fact = append(out.fact, batchOf(factSchema, id, cust, amt, st))
	}
	for start := 0; start < len(d.dimID); start += batchRows {
		end := min(start+batchRows, len(d.dimID))
		id, reg := array.NewInt64Builder(mem), array.NewStringBuilder(mem)
		id.AppendValues(d.dimID[start:end], nil)
		for _, r := range d.dimRegion[start:end] {
			reg.Append(regions[r])
		}
		out.dim = append(out.dim, batchOf(dimSchema, id, reg))
	}
	return out
}

func batchOf(s *change.Schema, builders ...array.Builder) *change.Batch {
	cols := make([]arrow.Array, len(builders))
	for i, b := range builders {
		cols[i] = b.NewArray()
		b.Release()
	}
	rec := array.NewRecordBatch(s.Arrow(), cols, int64(cols[0].Len()))
	for _, c := range cols {
		c.Release()
	}
	b, err := change.NewBatch(s, rec, make([]change.Op, rec.NumRows()))
	if err != nil {
		panic(err)
	}
	return b
}

// filterPaid keeps the fact rows whose status is 'paid', projected to (customer_id,
// amount): the scan-side filter a plan pushes below the join. As strata's expression
// filter does, it decides a string = constant by the length from the offsets before
// comparing bytes, lists the rows kept, then copies them into arrays of their size.
func filterPaid(b *change.Batch, mem memory.Allocator, scratch *[]int32) *change.Batch {
	const want = "paid"
	st := b.Column(3).(*array.String)
	offs, data := st.ValueOffsets(), st.ValueBytes()
	cust := b.Column(1).(*array.Int64).Int64Values()
	amt := b.Column(2).(*array.Float64).Float64Values()
	keep := (*scratch)[:0]
	defer func() { *scratch = keep }()
	for i := range b.Len() {
		if offs[i+1]-offs[i] == int32(len(want)) && string(data[offs[i]-offs[0]:offs[i+1]-offs[0]]) == want {
			keep = append(keep, int32(i))
		}
	}
	cb, ab := array.NewInt64Builder(mem), array.NewFloat64Builder(mem)
	cb.Reserve(len(keep))
	ab.Reserve(len(keep))
	for _, i := range keep {
		cb.UnsafeAppend(cust[i])
		ab.UnsafeAppend(amt[i])
	}
	return batchOf(paidSchema, cb, ab)
}

// goFilter makes the filter allocate its output from Go's allocator rather than the
// recycling pool (the -filter-go flag).
var goFilter bool

// filterMem is the allocator of the filter's output: the pool the join allocates from
// when it has no budget, which recycles a batch's buffers once the join releases it.
func filterMem() memory.Allocator {
	if goFilter {
		return memory.DefaultAllocator
	}
	return mempool.Default()
}

// partitioned makes runStrata shuffle both sides into partitions when parts > 1,
// rather than broadcast the dimension (the -partitioned flag).
var partitioned bool

// runStrata runs filter -> hash join with the dimension -> group by region with
// sum(amount). With parts > 1 it runs as strata's planner runs it on parts cores: the
// dimension (1M rows, under half the filtered fact) is a broadcast side, built once
// into a table that parts tasks probe with their shares of the fact, each aggregating
// its share; or, partitioned, the filtered fact and the dimension are shuffled by key
// into parts partitions, joined and aggregated in parallel. Then the partial sums of
// the 20 regions are added up.
func runStrata(ctx context.Context, s *strataData, parts int) (time.Duration, map[string]float64, error) {
	start := time.Now()
	mem := filterMem()
	if parts == 1 { // one partition: no shuffle, as a plan on one core runs it
		paid := make([]*change.Batch, len(s.fact))
		var keep []int32
		for i, b := range s.fact {
			paid[i] = filterPaid(b, mem, &keep)
		}
		for _, b := range s.dim {
			b.Retain() // the join releases what it reads
		}
		// The stream takes its slice over: give it a copy.
		out, err := joinAggregate(ctx, shuffle.NewSliceStream(paid...), shuffle.NewSliceStream(slices.Clone(s.dim)...))
		return time.Since(start), out, err
	}
	if !partitioned {
		out, err := broadcastJoinAggregate(ctx, s, parts)
		return time.Since(start), out, err
	}
	factSh, err := shuffle.New(shuffle.Config{Partitioner: shuffle.NewHashPartitioner(parts, "customer_id")})
	if err != nil {
		return 0, nil, err
	}
	defer factSh.Close()
	dimSh, err := shuffle.New(shuffle.Config{Partitioner: shuffle.NewHashPartitioner(parts, "id")})
	if err != nil {
		return 0, nil, err
	}
	defer dimSh.Close()

	// Map: filter and partition, one task per input slice, in parallel.
	var wg sync.WaitGroup
	errs := make(chan error, 2*parts)
	for task := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fw, err := factSh.Writer(task)
			if err != nil {
				errs <- err
				return
			}
			dw, err := dimSh.Writer(task)
			if err != nil {
				errs <- err
				return
			}
			var keep []int32
			for i := task; i < len(s.fact); i += parts {
				paid := filterPaid(s.fact[i], mem, &keep)
				err := fw.Write(ctx, paid)
				paid.Release()
				if err != nil {
					errs <- err
					return
				}
			}
			for i := task; i < len(s.dim); i += parts {
				if err := dw.Write(ctx, s.dim[i]); err != nil {
					errs <- err
					return
				}
			}
			errs <- fw.Close()
			errs <- dw.Close()
		}()
	}
	wg.Wait()
	for range 2 * parts {
		if err := <-errs; err != nil {
			return 0, nil, err
		}
	}

	// Reduce: join and aggregate each partition.
	partial := make([]map[string]float64, parts)
	for p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := reducePartition(ctx, factSh, dimSh, p)
			if err != nil {
				errs <- err
				return
			}
			partial[p] = m
			errs <- nil
		}()
	}
	wg.Wait()
	for range parts {
		if err := <-errs; err != nil {
			return 0, nil, err
		}
	}
	out := map[string]float64{}
	for _, m := range partial {
		for r, v := range m {
			out[r] += v
		}
	}
	return time.Since(start), out, nil
}

// broadcastJoinAggregate builds the dimension once while parts tasks filter their
// shares of the fact, then each task probes the shared table and aggregates.
func broadcastJoinAggregate(ctx context.Context, s *strataData, parts int) (map[string]float64, error) {
	mem := filterMem()
	join, err := newJoin()
	if err != nil {
		return nil, err
	}
	for _, b := range s.dim {
		b.Retain() // the build releases what it reads
	}
	type built struct {
		hb  *reduce.HashBuild
		err error
	}
	ready := make(chan struct{})
	var bt built
	go func() {
		defer close(ready)
		bt.hb, bt.err = join.Build(ctx, shuffle.NewSliceStream(slices.Clone(s.dim)...))
	}()
	partial := make([]map[string]float64, parts)
	errs := make(chan error, parts)
	for task := range parts {
		go func() {
			var paid []*change.Batch
			var keep []int32
			for i := task; i < len(s.fact); i += parts {
				paid = append(paid, filterPaid(s.fact[i], mem, &keep))
			}
			<-ready
			if bt.err != nil {
				shuffle.NewSliceStream(paid...).Close()
				errs <- bt.err
				return
			}
			m, err := aggregateJoined(ctx, join, func(emit reduce.Emit) error {
				return bt.hb.Probe(ctx, shuffle.NewSliceStream(paid...), emit)
			})
			partial[task] = m
			errs <- err
		}()
	}
	var first error
	for range parts {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	<-ready
	if bt.hb != nil {
		bt.hb.Release()
	}
	if first != nil {
		return nil, first
	}
	out := map[string]float64{}
	for _, m := range partial {
		for r, v := range m {
			out[r] += v
		}
	}
	return out, nil
}

func reducePartition(ctx context.Context, factSh, dimSh *shuffle.Local, p int) (map[string]float64, error) {
	fs, err := factSh.Reader(p)
	if err != nil {
		return nil, err
	}
	ds, err := dimSh.Reader(p)
	if err != nil {
		return nil, err
	}
	return joinAggregate(ctx, fs, ds)
}

func newJoin() (*reduce.HashJoin, error) {
	return reduce.NewHashJoin(reduce.HashJoinConfig{
		Left: paidSchema, Right: dimSchema, LeftKeys: []string{"customer_id"}, RightKeys: []string{"id"},
		Build:  reduce.RightSide,
		Output: []reduce.Column{{Side: reduce.RightSide, Name: "region"}, {Side: reduce.LeftSide, Name: "amount"}},
	})
}

// joinAggregate joins the paid fact rows with the dimension and sums amount by region.
func joinAggregate(ctx context.Context, fs, ds shuffle.Stream) (map[string]float64, error) {
	join, err := newJoin()
	if err != nil {
		return nil, err
	}
	return aggregateJoined(ctx, join, func(emit reduce.Emit) error {
		return join.Reduce(ctx, []shuffle.Stream{fs, ds}, emit)
	})
}

// aggregateJoined sums amount by region over what run (a join) emits.
func aggregateJoined(ctx context.Context, join *reduce.HashJoin, run func(reduce.Emit) error) (map[string]float64, error) {
	agg, err := reduce.NewHashAggregate(reduce.AggregateConfig{
		Schema: join.Schema(), GroupBy: []string{"region"}, InsertOnly: true,
		Aggs: []reduce.Agg{{Func: reduce.Sum, Column: "amount"}},
	})
	if err != nil {
		return nil, err
	}
	// The join's output streams into the aggregate through a channel, as a pipeline.
	ch := make(chan *change.Batch, 4)
	joinErr := make(chan error, 1)
	go func() {
		defer close(ch)
		joinErr <- run(func(b *change.Batch) error {
			ch <- b
			return nil
		})
	}()
	out := map[string]float64{}
	err = agg.Reduce(ctx, []shuffle.Stream{&chanStream{ch: ch}}, func(b *change.Batch) error {
		defer b.Release()
		r := b.Column(0).(*array.String)
		s := b.Column(1).(*array.Float64)
		for i := range b.Len() {
			// Value aliases the batch's buffer, which is not ours after the Release.
			out[strings.Clone(r.Value(i))] += s.Value(i)
		}
		return nil
	})
	for b := range ch { // drain if the aggregate stopped early
		b.Release()
	}
	if jerr := <-joinErr; jerr != nil {
		return nil, fmt.Errorf("join: %w", jerr)
	}
	return out, err
}

// chanStream is a shuffle.Stream over a channel of batches.
type chanStream struct{ ch chan *change.Batch }

func (c *chanStream) Next(ctx context.Context) (*change.Batch, error) {
	select {
	case b, ok := <-c.ch:
		if !ok {
			return nil, errEOF
		}
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *chanStream) Close() error { return nil }
