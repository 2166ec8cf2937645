package main

import (
	"context"
	"errors"
	"testing"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce/reducetest"
)

func TestMedianOddEvenAndRetractions(t *testing.T) {
	budget := reducetest.NewBudget(1 << 20)
	orders := reducetest.Rows(OrderSchema,
		[]any{1, 7, 100},
		[]any{2, 7, 300},
		[]any{3, 7, 200},
		[]any{4, 8, 50},
		[]any{5, 8, 70},
		[]any{6, 9, 1},
		// order 3 moves from 200 to 1000: customer 7 now has 100, 300, 1000
		[]any{change.UpdateBefore, 3, 7, 200},
		[]any{change.UpdateAfter, 3, 7, 1000},
		// customer 9 loses its only order and disappears
		[]any{change.Delete, 6, 9, 1},
	)
	// Two rows per batch: retractions land in other batches than their inserts.
	res := reducetest.Run(t, Median{Budget: budget}, reducetest.Options{Budget: budget, BatchRows: 2}, orders)
	res.AssertOrdered(t,
		[]any{7, 3, 300.0},
		[]any{8, 2, 60.0},
	)
}

func TestMedianRejectsUnknownRetraction(t *testing.T) {
	budget := reducetest.NewBudget(1 << 20)
	orders := reducetest.Rows(OrderSchema,
		[]any{1, 7, 100},
		[]any{change.Delete, 1, 7, 999},
	)
	err := reducetest.RunError(t, Median{Budget: budget}, reducetest.Options{Budget: budget}, orders)
	if !errors.Is(err, ErrRetraction) {
		t.Fatalf("err = %v, want ErrRetraction", err)
	}
}

func TestMedianStaysWithinBudget(t *testing.T) {
	// 4 KiB cannot hold the input batches and 10k amounts: the reducer must fail cleanly
	// (no leaked reservation, no leaked batch) rather than grow past its budget.
	budget := reducetest.NewBudget(64 << 10)
	orders := reducetest.Generate(OrderSchema, 10_000, func(i int, row change.Row) change.Op {
		row[0], row[1], row[2] = change.Int(int64(i)), change.Int(int64(i%3)), change.Int(int64(i))
		return change.Insert
	})
	err := reducetest.RunError(t, Median{Budget: budget}, reducetest.Options{Budget: budget, BatchRows: 256}, orders)
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("err = %v, want ErrBudget", err)
	}
}

func TestRunPrintsMedians(t *testing.T) {
	if err := run(context.Background(), 3, 2_000); err != nil {
		t.Fatal(err)
	}
}
