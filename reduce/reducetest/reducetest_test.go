package reducetest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/reduce/reducetest"
	"github.com/strata-data/strata/shuffle"
)

var kv = change.MustSchema([]arrow.Field{
	change.NotNull("k", arrow.PrimitiveTypes.Int64),
	change.Col("v", arrow.BinaryTypes.String),
})

// reducerFunc adapts a function to reduce.Reducer.
type reducerFunc func(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error

func (f reducerFunc) Reduce(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
	return f(ctx, in, emit)
}

// passThrough emits every batch of every input, in order, and records batch sizes.
func passThrough(sizes *[]int) reduce.Reducer {
	return reducerFunc(func(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
		for _, s := range in {
			for {
				b, err := s.Next(ctx)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return err
				}
				if sizes != nil {
					*sizes = append(*sizes, b.Len())
				}
				if err := emit(b); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// recorder is a T that records failures instead of failing.
type recorder struct {
	errs   []string
	failed bool
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) FailNow() { r.failed = true }

func TestRunSplitsInputsIntoBatchesAndKeepsOps(t *testing.T) {
	var sizes []int
	in := reducetest.Rows(kv,
		[]any{1, "a"},
		[]any{change.Delete, 2, "b"},
		[]any{change.UpdateBefore, 3, nil},
		[]any{change.UpdateAfter, 3, "c"},
		[]any{4, "d"},
	)
	res := reducetest.Run(t, passThrough(&sizes), reducetest.Options{BatchRows: 2}, in)
	assert.Equal(t, []int{2, 2, 1}, sizes)
	assert.Equal(t, 3, res.Batches)
	assert.True(t, res.Schema.Equal(kv))
	res.AssertOrdered(t,
		[]any{1, "a"},
		[]any{change.Delete, 2, "b"},
		[]any{change.UpdateBefore, 3, nil},
		[]any{change.UpdateAfter, 3, "c"},
		[]any{change.Insert, 4, "d"},
	)
	res.AssertMultiset(t,
		[]any{4, "d"},
		[]any{change.UpdateAfter, 3, "c"},
		[]any{change.UpdateBefore, 3, nil},
		[]any{change.Delete, 2, "b"},
		[]any{1, "a"},
	)
	assert.Equal(t, []any{change.Delete, int64(2), "b"}, res.Rows[1])
}

func TestDiffsNameMissingAndUnexpectedRows(t *testing.T) {
	in := reducetest.Rows(kv, []any{1, "a"}, []any{1, "a"}, []any{2, "b"})
	res := reducetest.Run(t, passThrough(nil), reducetest.Options{}, in)

	assert.Empty(t, res.Diff([]any{2, "b"}, []any{1, "a"}, []any{1, "a"}))
	d := res.Diff([]any{1, "a"}, []any{2, "b"}, []any{3, "c"})
	assert.Contains(t, d, "missing (wanted, not emitted): 1 rows\n  +I | 3 | \"c\"")
	assert.Contains(t, d, "unexpected (emitted, not wanted): 1 rows\n  +I | 1 | \"a\"")
	assert.Contains(t, res.Diff([]any{change.Delete, 1, "a"}, []any{1, "a"}, []any{2, "b"}), "-D | 1 | \"a\"", "ops count")
	assert.Contains(t, res.DiffOrdered([]any{1, "a"}, []any{2, "b"}, []any{1, "a"}), "row 1: got +I | 1 | \"a\", want +I | 2 | \"b\"")
	assert.Contains(t, res.DiffOrdered([]any{1, "a"}, []any{1, "a"}), "row 2 is unexpected")
	assert.Contains(t, res.DiffOrdered([]any{1, "a"}, []any{1, "a"}, []any{2, "b"}, []any{5, "e"}), "row 3 is missing")
	assert.Contains(t, res.Diff([]any{"x", "a"}), "want row 0", "a want row that does not fit the output")

	rec := &recorder{}
	assert.False(t, res.AssertMultiset(rec, []any{1, "a"}))
	assert.False(t, res.AssertOrdered(rec, []any{1, "a"}))
	require.Len(t, rec.errs, 2)
	assert.Contains(t, rec.errs[0], "reducetest: output differs")
}

func TestNetFoldsRetractions(t *testing.T) {
	in := reducetest.Rows(kv,
		[]any{1, "a"},
		[]any{change.UpdateBefore, 1, "a"},
		[]any{change.UpdateAfter, 1, "b"},
		[]any{2, "x"},
		[]any{2, "x"},
		[]any{change.Delete, 2, "x"},
		[]any{change.Delete, 9, "gone"},
	)
	res := reducetest.Run(t, passThrough(nil), reducetest.Options{BatchRows: 3}, in)
	res.AssertNet(t, []any{1, "b"}, []any{2, "x"}, []any{change.Delete, 9, "gone"})
	res.AssertNet(t, []any{1, "b"}, []any{2, "x"}, []any{3, "y"}, []any{change.Delete, 3, "y"}, []any{change.Delete, 9, "gone"})
	assert.NotEmpty(t, res.DiffNet([]any{1, "b"}, []any{2, "x"}))
	assert.NotEmpty(t, res.DiffNet([]any{1, "a"}, []any{2, "x"}, []any{change.Delete, 9, "gone"}))
	assert.Equal(t, [][]any{{change.Insert, int64(1), "b"}, {change.Delete, int64(9), "gone"}},
		reducetest.Net([][]any{{change.Insert, int64(1), "b"}, {change.Delete, int64(9), "gone"}}))
}

func TestAssertSameComparesTwoRuns(t *testing.T) {
	a := reducetest.Run(t, passThrough(nil), reducetest.Options{BatchRows: 1},
		reducetest.Rows(kv, []any{1, "a"}, []any{2, "b"}))
	b := reducetest.Run(t, passThrough(nil), reducetest.Options{},
		reducetest.Rows(kv, []any{2, "b"}), reducetest.Rows(kv, []any{1, "a"}))
	a.AssertSame(t, b)
	c := reducetest.Run(t, passThrough(nil), reducetest.Options{}, reducetest.Rows(kv, []any{2, "b"}))
	rec := &recorder{}
	assert.False(t, a.AssertSame(rec, c))
}

func TestValuesConvertThroughColumnTypes(t *testing.T) {
	s := change.MustSchema([]arrow.Field{
		change.Col("d", &arrow.Decimal128Type{Precision: 10, Scale: 2}),
		change.Col("day", arrow.FixedWidthTypes.Date32),
		change.Col("f", arrow.PrimitiveTypes.Float64),
		change.Col("b", arrow.BinaryTypes.Binary),
		change.Col("i", arrow.PrimitiveTypes.Int32),
	})
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	res := reducetest.Run(t, passThrough(nil), reducetest.Options{},
		reducetest.Rows(s, []any{"1.5", day, 2, []byte("x"), 7}))
	res.AssertOrdered(t, []any{"1.50", day, 2.0, "x", int64(7)})
	res.AssertOrdered(t, []any{"1.50", day, 2, []byte("x"), int8(7)})
	assert.NotEmpty(t, res.DiffOrdered([]any{"1.51", day, 2, []byte("x"), 7}))
}

func TestBadLiteralFailsTheRun(t *testing.T) {
	_, err := reducetest.Exec(context.Background(), passThrough(nil), reducetest.Options{},
		reducetest.Rows(kv, []any{1, "a"}, []any{nil, "b"}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "input 0: row 1")
	assert.Contains(t, err.Error(), "not nullable")

	_, err = reducetest.Exec(context.Background(), passThrough(nil), reducetest.Options{},
		reducetest.Rows(kv, []any{1}))
	assert.ErrorContains(t, err, "1 values for 2 columns")
}

func TestLeaksAreCaught(t *testing.T) {
	in := func() reducetest.Input { return reducetest.Rows(kv, []any{1, "a"}, []any{2, "b"}, []any{3, "c"}) }
	read := func(ctx context.Context, s shuffle.Stream) *change.Batch {
		b, err := s.Next(ctx)
		require.NoError(t, err)
		return b
	}
	type leaky func(budget *change.Budget, kept *[]*change.Batch) reducerFunc
	for name, mk := range map[string]leaky{
		"input batch not released": func(_ *change.Budget, kept *[]*change.Batch) reducerFunc {
			return func(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
				*kept = append(*kept, read(ctx, in[0]))
				return nil
			}
		},
		"emitted batch kept": func(budget *change.Budget, kept *[]*change.Batch) reducerFunc {
			return func(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
				read(ctx, in[0]).Release()
				b, err := change.FromRows(budget, kv, [][]any{{change.Insert, 1, "x"}})
				require.NoError(t, err)
				b.Retain()
				*kept = append(*kept, b)
				return emit(b)
			}
		},
		"reserve not given back": func(budget *change.Budget, _ *[]*change.Batch) reducerFunc {
			return func(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
				budget.Reserve(100)
				return nil
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			run := func(exec func(r reducerFunc, opts reducetest.Options)) {
				budget := reducetest.NewBudget(0)
				var kept []*change.Batch
				exec(mk(budget, &kept), reducetest.Options{Budget: budget, BatchRows: 2})
				for _, b := range kept {
					b.Release()
				}
				if name == "reserve not given back" {
					budget.Unreserve(100)
				}
				assert.Zero(t, budget.Allocated())
			}
			run(func(r reducerFunc, opts reducetest.Options) {
				_, err := reducetest.Exec(context.Background(), r, opts, in())
				require.ErrorIs(t, err, reducetest.ErrLeak)
				if name == "input batch not released" {
					assert.Contains(t, err.Error(), "input 0: ")
				} else {
					assert.NotContains(t, err.Error(), "input 0: ")
				}
			})
			run(func(r reducerFunc, opts reducetest.Options) {
				rec := &recorder{}
				reducetest.Run(rec, r, opts, in())
				assert.True(t, rec.failed)
			})
		})
	}
}

func TestFailEmitAfterInjectsAnError(t *testing.T) {
	in := reducetest.Rows(kv, []any{1, "a"}, []any{2, "b"}, []any{3, "c"})
	budget := reducetest.NewBudget(0)
	err := reducetest.RunError(t, passThrough(nil), reducetest.Options{Budget: budget, BatchRows: 1, FailEmitAfter: 2}, in)
	require.ErrorIs(t, err, reducetest.ErrInjected)
	assert.Zero(t, budget.Allocated())

	rec := &recorder{}
	reducetest.RunError(rec, passThrough(nil), reducetest.Options{}, in)
	assert.True(t, rec.failed, "RunError fails when Reduce succeeds")
}

func TestInputsAreBuiltAsTheyAreRead(t *testing.T) {
	big := reducetest.Generate(kv, 100_000, func(i int, row change.Row) change.Op {
		row[0] = change.Int(int64(i))
		if i%3 != 0 {
			row[1] = change.Str(strings.Repeat("x", i%17))
		}
		return change.Insert
	})
	assert.Equal(t, 100_000, big.Len())
	assert.Same(t, kv, big.Schema())
	budget := reducetest.NewBudget(64 << 10)
	n := 0
	res := reducetest.Run(t, reducerFunc(func(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
		for {
			b, err := in[0].Next(ctx)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			n += b.Len()
			b.Release()
		}
	}), reducetest.Options{Budget: budget, BatchRows: 256}, big)
	assert.Equal(t, 100_000, n)
	assert.Less(t, res.Peak, int64(16<<10), "one batch of 256 rows at a time, not 100 000 rows")
	assert.Positive(t, res.Peak)
}

func TestEmittedSchemasMustAgree(t *testing.T) {
	other := change.MustSchema([]arrow.Field{change.NotNull("x", arrow.PrimitiveTypes.Int64)})
	r := reducerFunc(func(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
		for _, s := range []*change.Schema{kv, other} {
			b, err := change.FromRows(nil, s, nil)
			if err != nil {
				return err
			}
			if err := emit(b); err != nil {
				return err
			}
		}
		return nil
	})
	_, err := reducetest.Exec(context.Background(), r, reducetest.Options{})
	assert.ErrorContains(t, err, "batch 1 has schema")

	nilEmit := reducerFunc(func(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error { return emit(nil) })
	_, err = reducetest.Exec(context.Background(), nilEmit, reducetest.Options{})
	assert.ErrorContains(t, err, "nil batch")
}

func TestStringAndSorted(t *testing.T) {
	res := reducetest.Run(t, passThrough(nil), reducetest.Options{},
		reducetest.Rows(kv, []any{10, "b"}, []any{9, nil}, []any{change.Delete, 10, "a"}))
	assert.Equal(t, "op | k | v\n+I | 10 | \"b\"\n+I | 9 | NULL\n-D | 10 | \"a\"\n", res.String())
	assert.Equal(t, "op | k | v\n+I | 9 | NULL\n-D | 10 | \"a\"\n+I | 10 | \"b\"\n", res.Sorted().String())
	assert.Equal(t, "+I | 10 | \"b\"\n", (&reducetest.Result{Rows: res.Rows[:1]}).String())
}

func TestNoOutputAgainstWantedRows(t *testing.T) {
	none := reducerFunc(func(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error { return nil })
	res := reducetest.Run(t, none, reducetest.Options{}, reducetest.Rows(kv, []any{1, "a"}))
	res.AssertMultiset(t)
	assert.Contains(t, res.Diff([]any{1, "a"}), "no batches emitted, want 1 rows")
	assert.Zero(t, res.Batches)
}

func TestBudgetMustStartEmpty(t *testing.T) {
	budget := reducetest.NewBudget(0)
	budget.Reserve(8)
	defer budget.Unreserve(8)
	_, err := reducetest.Exec(context.Background(), passThrough(nil), reducetest.Options{Budget: budget})
	assert.ErrorContains(t, err, "before the run")
}

func TestGeneratedRowThatDoesNotFitFailsTheRead(t *testing.T) {
	bad := reducetest.Generate(kv, 3, func(i int, row change.Row) change.Op {
		row[0] = change.Int(int64(i))
		if i == 2 {
			row[0] = change.Str("two")
		}
		return change.Insert
	})
	err := reducetest.RunError(t, passThrough(nil), reducetest.Options{BatchRows: 2}, bad)
	assert.ErrorContains(t, err, "row 2")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = reducetest.Exec(ctx, passThrough(nil), reducetest.Options{}, reducetest.Rows(kv, []any{1, "a"}))
	assert.ErrorIs(t, err, context.Canceled)
}

func TestRunErrorReportsLeaks(t *testing.T) {
	budget := reducetest.NewBudget(0)
	leak := reducerFunc(func(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
		budget.Reserve(1)
		return errors.New("boom")
	})
	rec := &recorder{}
	reducetest.RunError(rec, leak, reducetest.Options{Budget: budget})
	assert.True(t, rec.failed)
	assert.Contains(t, rec.errs[0], "memory left behind")
	budget.Unreserve(1)
}

func TestInputStreamReadsAgain(t *testing.T) {
	in := reducetest.Rows(kv, []any{1, "a"}, []any{change.Delete, 2, "b"}, []any{3, nil})
	budget := reducetest.NewBudget(0)
	read := func() [][]any {
		s := in.Stream(budget, 2)
		defer s.Close()
		var rows [][]any
		for {
			b, err := s.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			rows = append(rows, b.Plain()...)
			b.Release()
		}
		return rows
	}
	first := read()
	assert.Equal(t, first, read())
	assert.Equal(t, [][]any{{change.Insert, int64(1), "a"}, {change.Delete, int64(2), "b"}, {change.Insert, int64(3), nil}}, first)
	assert.Zero(t, budget.Allocated())

	bad := reducetest.Rows(kv, []any{"x", "a"})
	_, err := bad.Stream(budget, 0).Next(context.Background())
	assert.ErrorContains(t, err, "row 0")
}
