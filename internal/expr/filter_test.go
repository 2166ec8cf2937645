package expr

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/require"
)

// FilterAll keeps the rows where every condition is TRUE, whether it combines safe
// conditions on the whole batch or gathers between them: the same rows as running
// the conditions one after another, over sliced batches, with NULLs, for every mix of
// selectivities (conditions keeping few rows make it gather early).
func TestFilterAllMatchesSequentialFilters(t *testing.T) {
	mem := newMem(t)
	r := rand.New(rand.NewPCG(7, 8))
	const n = 300
	bs, cs, xs, ids := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i := range n {
		bs[i] = strconv.FormatBool(r.Float64() < 0.9)
		cs[i] = strconv.FormatBool(r.Float64() < 0.5)
		xs[i] = strconv.Itoa(r.IntN(100))
		if i%7 == 0 {
			bs[i] = "null"
		}
		if i%11 == 0 {
			xs[i] = "null"
		}
		ids[i] = strconv.Itoa(i)
	}
	rb := mkBatch(t, mem,
		col{"b", arrow.FixedWidthTypes.Boolean, "[" + strings.Join(bs, ",") + "]"},
		col{"c", arrow.FixedWidthTypes.Boolean, "[" + strings.Join(cs, ",") + "]"},
		col{"x", Int32, "[" + strings.Join(xs, ",") + "]"},
		col{"id", Int32, "[" + strings.Join(ids, ",") + "]"})
	defer rb.Release()
	b, c, x := colRef(rb, "b"), colRef(rb, "c"), colRef(rb, "x")
	condSets := [][]Expr{
		{b, c},
		{b, call(t, "<", x, lit(95)), c},
		{call(t, "<", x, lit(3)), b, c}, // keeps few: gathers before b
		{b, call(t, ">", call(t, "/", lit(100), x), lit(2)), c}, // unsafe in the middle
		{call(t, "is_null", x), b},
		{lit(true), b, Null()},
	}
	ctx := &Context{Alloc: mem}
	for ci, conds := range condSets {
		for _, off := range []int64{0, 5, 8, 13} {
			for _, m := range []int64{0, 1, 9, 64, n - off} {
				if off+m > n {
					continue
				}
				sl := rb.NewSlice(off, off+m)
				want := sl
				want.Retain()
				for _, cond := range conds {
					out, err := FilterAll(ctx, want, []Expr{cond})
					if err != nil && strings.Contains(err.Error(), "division by zero") {
						want.Release()
						want = nil
						break
					}
					require.NoError(t, err)
					want.Release()
					want = out
				}
				got, err := FilterAll(ctx, sl, conds)
				if want == nil {
					require.ErrorIs(t, err, ErrDivisionByZero)
					sl.Release()
					continue
				}
				require.NoError(t, err, "conds %d slice [%d,+%d)", ci, off, m)
				require.Equal(t, texts(want.Column(3)), texts(got.Column(3)), "conds %d slice [%d,+%d)", ci, off, m)
				require.Equal(t, texts(want.Column(2)), texts(got.Column(2)))
				want.Release()
				got.Release()
				sl.Release()
			}
		}
	}
}

// A condition that may fail sees only the rows the conditions before it kept, even
// when those were safe and evaluated without gathering: 100 / x after x <> 0 does
// not divide by zero.
func TestFilterAllUnsafeConditionSeesOnlyKeptRows(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem, col{"x", Int32, `[0, 5, 0, 20, null, 50, 1, 2, 3, 4]`})
	defer rb.Release()
	x := colRef(rb, "x")
	ctx := &Context{Alloc: mem}
	out, err := FilterAll(ctx, rb, []Expr{call(t, "<>", x, lit(0)), call(t, ">", call(t, "/", lit(100), x), lit(4))})
	require.NoError(t, err)
	require.Equal(t, []string{"5", "20", "1", "2", "3", "4"}, texts(out.Column(0)))
	out.Release()
	_, err = FilterAll(ctx, rb, []Expr{call(t, ">", call(t, "/", lit(100), x), lit(4)), call(t, "<>", x, lit(0))})
	require.ErrorIs(t, err, ErrDivisionByZero)
	// a narrowing cast may fail, so it is not evaluated on rejected rows either
	big := mkBatch(t, mem, col{"v", Int64, `[1, 9999999999, 2]`})
	defer big.Release()
	v := colRef(big, "v")
	narrow, err := NewCast(v, Int32)
	require.NoError(t, err)
	out, err = FilterAll(ctx, big, []Expr{call(t, "<", v, lit(100)), call(t, ">", narrow, lit(1))})
	require.NoError(t, err)
	require.Equal(t, []string{"2"}, texts(out.Column(0)))
	out.Release()
}

func TestSafe(t *testing.T) {
	i32 := &Column{Index: 0, Name: "i", T: Int32}
	i64 := &Column{Index: 1, Name: "b", T: Int64}
	d := &Column{Index: 2, Name: "d", T: Numeric(15, 2)}
	s := &Column{Index: 3, Name: "s", T: Text}
	cast := func(e Expr, to arrow.DataType) Expr {
		c, err := NewCast(e, to)
		require.NoError(t, err)
		return c
	}
	for _, c := range []struct {
		e    Expr
		safe bool
	}{
		{i32, true},
		{call(t, "<", i32, i64), true}, // implicit integer -> bigint
		{call(t, "and", call(t, "=", s, lit("x")), call(t, "is_not_null", d)), true},
		{call(t, "in", s, lit("a"), lit("b")), true},
		{call(t, "between", d, dec("0.05", 3, 2), dec("0.07", 38, 2)), true},
		{call(t, "<", call(t, "+", i32, lit(1)), lit(3)), false}, // may overflow
		{call(t, "<", call(t, "/", lit(1), i32), lit(3)), false},
		{call(t, "<", call(t, "lower", s), lit("a")), false},
		{cast(d, Numeric(38, 4)), true},
		{cast(d, Numeric(15, 4)), false}, // 13 integer digits into 11
		{cast(d, Numeric(15, 1)), false}, // rounds: fine, but not a widening
		{cast(i64, Int32), false},
		{cast(i32, Numeric(10, 0)), true},
		{cast(i32, Numeric(12, 3)), false},
		{cast(i32, Float64), true},
		{cast(s, Int32), false},
		{call(t, "like", s, lit("a%")), true}, // the constant pattern was compiled already
		{call(t, "not_ilike", s, lit("%B_")), true},
		{call(t, "like", s, lit("a%"), lit("")), true},
		{call(t, "like", s, s), false}, // a pattern of each row's own may be invalid
		{call(t, "like", lit("abc"), call(t, "lower", s)), false},
		{call(t, "like", call(t, "lower", s), lit("a%")), false},
	} {
		require.Equal(t, c.safe, Safe(c.e), "%s", c.e)
	}
}

// Select lists the rows, among all or among a given list, where every condition is
// TRUE: the rows FilterAll keeps, whether it evaluates on every row or (few rows
// listed) on the listed rows gathered, in place or not, with NULLs; it refuses a
// condition that may fail.
func TestSelectMatchesFilterAll(t *testing.T) {
	mem := newMem(t)
	r := rand.New(rand.NewPCG(3, 4))
	const n = 400
	xs, ys, ids := make([]string, n), make([]string, n), make([]string, n)
	for i := range n {
		xs[i] = strconv.Itoa(r.IntN(100))
		ys[i] = strconv.Itoa(r.IntN(10))
		if i%9 == 0 {
			xs[i] = "null"
		}
		ids[i] = strconv.Itoa(i)
	}
	rb := mkBatch(t, mem,
		col{"x", Int32, "[" + strings.Join(xs, ",") + "]"},
		col{"y", Int32, "[" + strings.Join(ys, ",") + "]"},
		col{"id", Int32, "[" + strings.Join(ids, ",") + "]"})
	defer rb.Release()
	x, y, id := colRef(rb, "x"), colRef(rb, "y"), colRef(rb, "id")
	ctx := &Context{Alloc: mem}
	condSets := [][]Expr{
		{call(t, "<", x, lit(50))},
		{call(t, "<", x, lit(90)), call(t, "<>", y, lit(3))},
		{call(t, "is_null", x)},
		{call(t, ">=", x, lit(0))}, // every non-NULL row
		{lit(true)},
		{Null()},
		{call(t, ">", x, lit(1000))},
	}
	lists := map[string][]int32{"all": nil}
	for _, every := range []int{1, 2, 20} { // 20: few rows, gathered first
		var l []int32
		for i := 0; i < n; i += every {
			l = append(l, int32(i))
		}
		lists[strconv.Itoa(every)] = l
	}
	for ci, conds := range condSets {
		for name, list := range lists {
			// want: FilterAll over the listed rows (by id), then these conditions
			var listed []Expr
			if list != nil {
				var in []Expr
				for _, i := range list {
					in = append(in, lit(int64(i)))
				}
				listed = []Expr{call(t, "in", append([]Expr{id}, in...)...)}
			}
			out, err := FilterAll(ctx, rb, append(listed, conds...))
			require.NoError(t, err)
			want := texts(out.Column(2))
			out.Release()
			for _, inPlace := range []bool{false, true} {
				var dst []int32
				src := list
				if inPlace && list != nil {
					src = append([]int32(nil), list...)
					dst = src
				}
				got, all, err := Select(ctx, rb, conds, src, dst)
				require.NoError(t, err)
				var ids []string
				if all {
					require.Nil(t, got)
					for i := range n {
						ids = append(ids, strconv.Itoa(i))
					}
				}
				for _, i := range got {
					ids = append(ids, strconv.Itoa(int(i)))
				}
				if len(want) == 0 {
					want = nil
				}
				require.Equal(t, want, ids, "conds %d rows %s in place %v", ci, name, inPlace)
			}
		}
	}
	_, _, err := Select(ctx, rb, []Expr{call(t, ">", call(t, "/", lit(100), x), lit(4))}, nil, nil)
	require.ErrorIs(t, err, ErrInvalidArg)
}

// The comparison kernels of integers and dates agree with Go's operators, row by
// row, column against column and against a constant on either side, for lengths
// that are and are not multiples of eight.
func TestCmpOrderedKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ops := []struct {
		op int
		f  func(a, b int32) bool
	}{
		{opEq, func(a, b int32) bool { return a == b }},
		{opNe, func(a, b int32) bool { return a != b }},
		{opLt, func(a, b int32) bool { return a < b }},
		{opLe, func(a, b int32) bool { return a <= b }},
		{opGt, func(a, b int32) bool { return a > b }},
		{opGe, func(a, b int32) bool { return a >= b }},
	}
	for _, n := range []int{0, 1, 7, 8, 9, 16, 61, 64, 1000} {
		a, b := make([]int32, n), make([]int32, n)
		for i := range a {
			a[i], b[i] = int32(r.IntN(5)-2), int32(r.IntN(5)-2)
		}
		c := int32(r.IntN(5) - 2)
		for _, o := range ops {
			for _, form := range []string{"cols", "const right", "const left"} {
				x, y := operand[int32]{v: a}, operand[int32]{v: b}
				want := func(i int) bool { return o.f(a[i], b[i]) }
				switch form {
				case "const right":
					y = operand[int32]{vc: true, c: c}
					want = func(i int) bool { return o.f(a[i], c) }
				case "const left":
					x, y = operand[int32]{vc: true, c: c}, operand[int32]{v: a}
					want = func(i int) bool { return o.f(c, a[i]) }
				}
				out := make([]byte, (n+7)/8)
				for i := range out {
					out[i] = 0xff // every bit written, none left over
				}
				cmpOrdered(o.op, x, y, n, out)
				for i := range n {
					if got := out[i/8]>>(i%8)&1 == 1; got != want(i) {
						t.Fatalf("op %d %s n %d row %d: %v, want %v", o.op, form, n, i, got, want(i))
					}
				}
				if n%8 != 0 && out[n/8]>>(n%8) != 0 {
					t.Fatalf("op %d %s n %d: bits past the end set: %08b", o.op, form, n, out[n/8])
				}
			}
		}
	}
}
