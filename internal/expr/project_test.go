package expr

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A projection computes a subexpression its expressions share once (q01's
// price * (1 - disc) inside (price * (1 - disc)) * (1 + tax)), with the same results as
// evaluating each expression alone, on sliced batches with NULLs too.
func TestProjectionSharesCommonSubexpressions(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem,
		col{"price", Numeric(15, 2), `["100.00", "2.50", null, "7.25", "1000.10"]`},
		col{"disc", Numeric(15, 2), `["0.05", "0.10", "0.00", null, "0.01"]`},
		col{"tax", Numeric(15, 2), `["0.08", "0.00", "0.02", "0.04", "0.07"]`},
		col{"x", Float64, `[1, 2, 3, 4, 5]`},
	)
	defer rb.Release()
	price, disc, tax, x := colRef(rb, "price"), colRef(rb, "disc"), colRef(rb, "tax"), colRef(rb, "x")
	discPrice := func() Expr { return call(t, "*", price, call(t, "-", dec("1.00", 3, 2), disc)) }
	exprs := []Expr{
		price,
		discPrice(),
		call(t, "*", discPrice(), call(t, "+", dec("1.00", 3, 2), tax)),
		call(t, "*", x, lit(1.5)),
		call(t, "*", x, lit(1.25)), // another constant: not the same expression
		call(t, "*", x, lit(1.5)),
	}
	p := NewProjection(exprs, int(rb.NumCols()))
	require.Len(t, p.shared, 3) // 1.00 - disc, price * (1.00 - disc), x * 1.5
	ctx := &Context{Alloc: mem}
	names := []string{"a", "b", "c", "d", "e", "f"}
	for _, sl := range [][2]int64{{0, 5}, {1, 4}, {3, 3}} {
		in := rb.NewSlice(sl[0], sl[1])
		got, err := p.Eval(ctx, in, names)
		require.NoError(t, err)
		for i, e := range exprs {
			want, err := evalTexts(t, mem, in, e)
			require.NoError(t, err)
			require.Equal(t, want, texts(got.Column(i)), "%s over [%d,%d)", e, sl[0], sl[1])
			require.True(t, sameType(e.Type(), got.Column(i).DataType()))
		}
		require.Equal(t, "c", got.Schema().Field(2).Name)
		got.Release()
		in.Release()
	}
}

// Subexpressions under CASE, COALESCE, AND and OR run only on some rows, so they are
// not computed ahead for all of them: 100 / x under WHEN x <> 0 does not divide by
// zero even where it also appears in another such branch.
func TestProjectionDoesNotShareConditionalSubexpressions(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem, col{"x", Int32, `[0, 5, null, 20]`})
	defer rb.Release()
	x := colRef(rb, "x")
	div := func() Expr { return call(t, "/", lit(100), x) }
	when := func() Expr {
		e, err := NewCase(nil, []When{{Cond: call(t, "<>", x, lit(0)), Then: div()}}, nil)
		require.NoError(t, err)
		return e
	}
	exprs := []Expr{
		when(),
		call(t, "+", when(), lit(1)),
		call(t, "coalesce", call(t, "nullif", x, lit(0)), lit(7)),
		call(t, "and", call(t, "<>", x, lit(0)), call(t, ">", div(), lit(4))),
		call(t, "or", call(t, "=", x, lit(0)), call(t, ">", div(), lit(4))),
	}
	p := NewProjection(exprs, 1)
	require.Empty(t, p.shared, "100 / x is only ever evaluated conditionally")
	ctx := &Context{Alloc: mem}
	got, err := p.Eval(ctx, rb, []string{"a", "b", "c", "d", "e"})
	require.NoError(t, err)
	defer got.Release()
	require.Equal(t, []string{"NULL", "20", "NULL", "5"}, texts(got.Column(0)))
	require.Equal(t, []string{"NULL", "21", "NULL", "6"}, texts(got.Column(1)))
	// where it is always evaluated, a shared expression's error surfaces as it would
	_, err = NewProjection([]Expr{div(), call(t, "+", div(), lit(1))}, 1).Eval(ctx, rb, []string{"a", "b"})
	require.ErrorIs(t, err, ErrDivisionByZero)
}
