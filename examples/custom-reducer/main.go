// Command custom-reducer shows a user-defined reducer in a strata job: the median order
// amount per customer, which the built-in aggregates do not offer. Orders arrive as
// change batches (+I, -U/+U, -D), are partitioned by customer through an in-process
// shuffle, and each partition is reduced on its own. The reducer is tested with
// reducetest in main_test.go.
//
//	go run ./examples/custom-reducer
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/shuffle"
)

// OrderSchema is the reducer's input: one row per order, keyed by id.
var OrderSchema = change.MustSchema([]arrow.Field{
	change.NotNull("id", arrow.PrimitiveTypes.Int64),
	change.NotNull("customer", arrow.PrimitiveTypes.Int64),
	change.NotNull("amount", arrow.PrimitiveTypes.Int64),
}, "id")

// MedianSchema is its output: one row per customer with orders left.
var MedianSchema = change.MustSchema([]arrow.Field{
	change.NotNull("customer", arrow.PrimitiveTypes.Int64),
	change.NotNull("orders", arrow.PrimitiveTypes.Int64),
	change.NotNull("median", arrow.PrimitiveTypes.Float64),
}, "customer")

// ErrRetraction: a -D or -U removed an amount the customer never had, which means the
// input stream is not a consistent changelog.
var ErrRetraction = errors.New("median: retraction of a row never inserted")

// ErrBudget: the amounts held exceed the memory budget. A production reducer would
// spill (see reduce.HashAggregate); this one fails cleanly instead.
var ErrBudget = errors.New("median: over the memory budget")

// Median is the reducer. Its state is typed (customer → sorted amounts), it accounts
// what it holds in Budget, and it honours retractions: a -D or -U removes one
// occurrence of the amount it carries, so an update moves the median.
type Median struct {
	Budget *change.Budget // output batches are allocated here, held amounts reserved
}

const bytesPerAmount = 8

// Reduce implements reduce.Reducer over one input: the orders of one partition.
func (m Median) Reduce(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) (err error) {
	amounts := make(map[int64][]int64)
	var reserved int64
	defer func() { m.Budget.Unreserve(reserved) }()
	for {
		b, err := in[0].Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		customer := b.Column(1).(*array.Int64)
		amount := b.Column(2).(*array.Int64)
		ops := b.Ops()
		for i := range b.Len() {
			c, a := customer.Value(i), amount.Value(i)
			vals := amounts[c]
			at, found := slices.BinarySearch(vals, a)
			if ops[i].IsRetraction() {
				if !found {
					b.Release()
					return fmt.Errorf("%w: customer %d, amount %d (row %d of a batch)", ErrRetraction, c, a, i)
				}
				amounts[c] = slices.Delete(vals, at, at+1)
				m.Budget.Unreserve(bytesPerAmount)
				reserved -= bytesPerAmount
				continue
			}
			if !m.Budget.Fits(bytesPerAmount) {
				b.Release()
				return fmt.Errorf("%w: %d bytes held", ErrBudget, reserved)
			}
			m.Budget.Reserve(bytesPerAmount)
			reserved += bytesPerAmount
			amounts[c] = slices.Insert(vals, at, a)
		}
		b.Release()
	}

	customers := make([]int64, 0, len(amounts))
	for c, vals := range amounts {
		if len(vals) > 0 {
			customers = append(customers, c)
		}
	}
	slices.Sort(customers)
	bld := change.NewBuilder(m.Budget, MedianSchema)
	defer bld.Release()
	for _, c := range customers {
		vals := amounts[c]
		n := len(vals)
		med := float64(vals[n/2])
		if n%2 == 0 {
			med = (float64(vals[n/2-1]) + float64(vals[n/2])) / 2
		}
		if err := bld.Append(change.Insert, change.Row{change.Int(c), change.Int(int64(n)), change.Float(med)}); err != nil {
			return err
		}
	}
	return emit(bld.NewBatch())
}

func main() {
	if err := run(context.Background(), 4, 20_000); err != nil {
		log.Fatal(err)
	}
}

// run generates orders with updates and deletes, shuffles them by customer into parts
// partitions and prints each customer's median.
func run(ctx context.Context, parts, orders int) error {
	budget := change.NewBudget(256<<20, memory.DefaultAllocator)
	sh, err := shuffle.New(shuffle.Config{
		Partitioner: shuffle.NewHashPartitioner(parts, "customer"),
		Budget:      budget,
	})
	if err != nil {
		return err
	}
	defer sh.Close()

	w, err := sh.Writer(0)
	if err != nil {
		return err
	}
	for _, rows := range generate(orders) {
		b, err := change.FromRows(budget, OrderSchema, rows)
		if err != nil {
			return err
		}
		err = w.Write(ctx, b)
		b.Release()
		if err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}

	type line struct {
		customer, orders int64
		median           float64
	}
	var out []line
	for p := range parts {
		r, err := sh.Reader(p)
		if err != nil {
			return err
		}
		err = Median{Budget: budget}.Reduce(ctx, []shuffle.Stream{r}, func(b *change.Batch) error {
			defer b.Release()
			c, n, med := b.Column(0).(*array.Int64), b.Column(1).(*array.Int64), b.Column(2).(*array.Float64)
			for i := range b.Len() {
				out = append(out, line{c.Value(i), n.Value(i), med.Value(i)})
			}
			return nil
		})
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].customer < out[j].customer })
	fmt.Printf("%d orders over %d customers, %d partitions; median amount per customer:\n", orders, len(out), parts)
	for i, l := range out {
		if i == 10 {
			fmt.Printf("... %d more\n", len(out)-10)
			break
		}
		fmt.Printf("customer %3d  orders %4d  median %8.1f\n", l.customer, l.orders, l.median)
	}
	return nil
}

// generate returns batches of order changes: inserts, then updates of some amounts
// (-U old, +U new) and deletes of some orders, deterministically.
func generate(n int) [][][]any {
	rng := rand.New(rand.NewPCG(1, 2))
	type order struct{ customer, amount int64 }
	live := make([]order, n)
	var batches [][][]any
	var rows [][]any
	flush := func() {
		if len(rows) > 0 {
			batches = append(batches, rows)
			rows = nil
		}
	}
	for id := range n {
		live[id] = order{int64(rng.IntN(100)), int64(rng.IntN(10_000))}
		rows = append(rows, []any{change.Insert, id, live[id].customer, live[id].amount})
		if len(rows) == 1024 {
			flush()
		}
	}
	flush()
	for id := range n {
		switch rng.IntN(10) {
		case 0: // update the amount
			old := live[id]
			live[id].amount = int64(rng.IntN(10_000))
			rows = append(rows,
				[]any{change.UpdateBefore, id, old.customer, old.amount},
				[]any{change.UpdateAfter, id, old.customer, live[id].amount})
		case 1: // delete
			rows = append(rows, []any{change.Delete, id, live[id].customer, live[id].amount})
		}
		if len(rows) >= 1024 {
			flush()
		}
	}
	flush()
	return batches
}
