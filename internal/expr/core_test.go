package expr

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/require"
)

func TestArithmetic(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem,
		col{"i", Int32, `[1, -7, null, 2147483647, 0]`},
		col{"j", Int32, `[2, 2, 5, 1, 3]`},
		col{"s", Int16, `[1, 2, 3, 32767, null]`},
		col{"b", Int64, `[10, -10, 3, 9223372036854775807, null]`},
		col{"f", Float64, `[1.5, -0.5, null, 2, 0]`},
		col{"d", Numeric(15, 2), `["1.10", "-2.25", null, "100.00", "0.01"]`},
		col{"e", Numeric(15, 3), `["0.005", "1.000", "2.500", null, "3.000"]`},
	)
	defer rb.Release()
	c := func(n string) Expr { return colRef(rb, n) }
	tests := []struct {
		e    Expr
		want []string
		typ  string
	}{
		{call(t, "+", c("i"), c("j")), []string{"3", "-5", "NULL", "-", "3"}, "integer"},
		{call(t, "-", c("i"), lit(1)), []string{"0", "-8", "NULL", "2147483646", "-1"}, "integer"},
		{call(t, "*", c("i"), c("j")), []string{"2", "-14", "NULL", "2147483647", "0"}, "integer"},
		{call(t, "/", c("i"), c("j")), []string{"0", "-3", "NULL", "2147483647", "0"}, "integer"},
		{call(t, "%", c("i"), c("j")), []string{"1", "-1", "NULL", "0", "0"}, "integer"},
		{call(t, "/", lit(7), c("j")), []string{"3", "3", "1", "7", "2"}, "integer"},
		{call(t, "+", c("s"), lit(int16(1))), []string{"2", "3", "4", "-", "NULL"}, "smallint"},
		{call(t, "+", c("s"), c("i")), []string{"2", "-5", "NULL", "-", "NULL"}, "integer"},
		{call(t, "+", c("i"), c("b")), []string{"11", "-17", "NULL", "-", "NULL"}, "bigint"},
		{call(t, "*", c("i"), c("f")), []string{"1.5", "3.5", "NULL", "4294967294", "0"}, "double precision"},
		{call(t, "/", c("f"), lit(2)), []string{"0.75", "-0.25", "NULL", "1", "0"}, "double precision"},
		{call(t, "+", c("d"), c("e")), []string{"1.105", "-1.250", "NULL", "NULL", "3.010"}, "numeric(38,3)"},
		{call(t, "-", c("d"), lit(1)), []string{"0.10", "-3.25", "NULL", "99.00", "-0.99"}, "numeric(38,2)"},
		{call(t, "*", c("d"), c("e")), []string{"0.00550", "-2.25000", "NULL", "NULL", "0.03000"}, "numeric(38,5)"},
		{call(t, "*", c("d"), call(t, "-", lit(1), c("d"))), []string{"-0.1100", "-7.3125", "NULL", "-9900.0000", "0.0099"}, "numeric(38,4)"},
		{call(t, "/", c("d"), lit(3)), []string{"0.3666666666666667", "-0.7500000000000000", "NULL", "33.3333333333333333", "0.0033333333333333"}, "numeric(38,16)"},
		{call(t, "%", c("d"), dec("1.00", 3, 2)), []string{"0.10", "-0.25", "NULL", "0.00", "0.01"}, "numeric(38,2)"},
		{call(t, "+", c("d"), c("f")), []string{"2.6", "-2.75", "NULL", "102", "0.01"}, "double precision"},
		{call(t, "neg", c("i")), []string{"-1", "7", "NULL", "-2147483647", "0"}, "integer"},
		{call(t, "neg", c("d")), []string{"-1.10", "2.25", "NULL", "-100.00", "-0.01"}, "numeric(15,2)"},
	}
	for _, tc := range tests {
		t.Run(tc.e.String(), func(t *testing.T) {
			require.Equal(t, tc.typ, TypeName(tc.e.Type()))
			got, err := evalTexts(t, mem, rb, tc.e)
			if tc.want[3] == "-" { // row 3 overflows
				require.Error(t, err)
				require.ErrorIs(t, err, ErrOutOfRange)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestArithmeticErrors(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem,
		col{"i", Int32, `[1, null, 3]`},
		col{"z", Int32, `[1, 0, 2]`},  // the zero is on a NULL row of i
		col{"zz", Int32, `[0, 1, 2]`}, // a zero on a valid row
		col{"b", Int64, `[9223372036854775807, -9223372036854775808, null]`},
		col{"d", Numeric(38, 0), `["99999999999999999999999999999999999999", "1", null]`},
	)
	defer rb.Release()
	c := func(n string) Expr { return colRef(rb, n) }
	// a zero divisor where the dividend is NULL is not an error
	got, err := evalTexts(t, mem, rb, call(t, "/", c("i"), c("z")))
	require.NoError(t, err)
	require.Equal(t, []string{"1", "NULL", "1"}, got)
	_, err = evalTexts(t, mem, rb, call(t, "/", c("i"), c("zz")))
	require.ErrorIs(t, err, ErrDivisionByZero)
	require.EqualError(t, err, "expr: division by zero")
	_, err = evalTexts(t, mem, rb, call(t, "%", c("i"), lit(0)))
	require.ErrorIs(t, err, ErrDivisionByZero)
	_, err = evalTexts(t, mem, rb, call(t, "+", c("b"), lit(1)))
	require.EqualError(t, err, "expr: bigint out of range")
	_, err = evalTexts(t, mem, rb, call(t, "-", c("b"), lit(1)))
	require.EqualError(t, err, "expr: bigint out of range")
	_, err = evalTexts(t, mem, rb, call(t, "*", c("b"), lit(2)))
	require.EqualError(t, err, "expr: bigint out of range")
	_, err = evalTexts(t, mem, rb, call(t, "/", c("b"), lit(int64(-1))))
	require.EqualError(t, err, "expr: bigint out of range")
	_, err = evalTexts(t, mem, rb, call(t, "neg", c("b")))
	require.ErrorIs(t, err, ErrOutOfRange)
	_, err = evalTexts(t, mem, rb, call(t, "+", c("d"), c("d")))
	require.ErrorIs(t, err, ErrOutOfRange)
	_, err = evalTexts(t, mem, rb, call(t, "/", c("d"), lit(0)))
	require.ErrorIs(t, err, ErrDivisionByZero)
	// the errors on NULL-free constant folding surface too
	_, err = evalTexts(t, mem, rb, call(t, "/", lit(1), lit(0)))
	require.ErrorIs(t, err, ErrDivisionByZero)
}

func TestResolutionErrors(t *testing.T) {
	_, err := NewCall("+", lit("a"), lit(1))
	require.ErrorIs(t, err, ErrInvalidInput) // 'a' as an unknown literal must parse as integer
	_, err = NewCall("+", &Column{Index: 0, Name: "t", T: Text}, lit(1))
	require.EqualError(t, err, "expr: operator does not exist: text + integer")
	_, err = NewCall("lower", lit(1))
	require.EqualError(t, err, "expr: function lower(integer) does not exist")
	_, err = NewCall("nosuch", lit(1))
	require.ErrorIs(t, err, ErrNoFunction)
	_, err = NewCall("and", lit(1), lit(true))
	require.ErrorIs(t, err, ErrType)
	_, err = NewCall("%", lit(1.5), lit(1.0))
	require.ErrorIs(t, err, ErrNoOperator)
	_, err = NewCall("<", &Column{Index: 0, Name: "t", T: Text}, lit(1))
	require.EqualError(t, err, "expr: operator does not exist: text < integer")
}

func TestCompare(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem,
		col{"i", Int32, `[1, 2, null, 4, 5, 6, 7, 8, 9, 10]`},
		col{"b", Int64, `[1, 3, 3, 3, 3, 3, 3, 3, 3, 10]`},
		col{"f", Float64, `[1, 2.5, 3, "NaN", 0, 0, 0, 0, 0, 10]`},
		col{"d", Numeric(10, 2), `["1.00", "2.50", "3", "4", "5.01", "6", "7", "8", "9", "10"]`},
		col{"s", Text, `["a", "b", "B", "ab", "", "é", "z", null, "a", "aa"]`},
		col{"dt", Date, `[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]`},
	)
	defer rb.Release()
	c := func(n string) Expr { return colRef(rb, n) }
	T, F, N := "true", "false", "NULL"
	tests := []struct {
		e    Expr
		want []string
	}{
		{call(t, "=", c("i"), c("b")), []string{T, F, N, F, F, F, F, F, F, T}},
		{call(t, "<", c("i"), c("b")), []string{F, T, N, F, F, F, F, F, F, F}},
		{call(t, ">=", c("i"), lit(5)), []string{F, F, N, F, T, T, T, T, T, T}},
		{call(t, ">", lit(5), c("i")), []string{T, T, N, T, F, F, F, F, F, F}},
		{call(t, "<>", c("i"), lit(4)), []string{T, T, N, F, T, T, T, T, T, T}},
		{call(t, "<=", c("i"), c("f")), []string{T, T, N, T, F, F, F, F, F, T}},
		{call(t, "=", c("f"), lit(2.5)), []string{F, T, F, F, F, F, F, F, F, F}},
		{call(t, ">", c("f"), lit(1e300)), []string{F, F, F, T, F, F, F, F, F, F}}, // NaN above all
		{call(t, "=", c("d"), c("i")), []string{T, F, N, T, F, T, T, T, T, T}},
		{call(t, "<", c("d"), dec("2.5", 2, 1)), []string{T, F, F, F, F, F, F, F, F, F}},
		{call(t, ">", c("d"), lit(2.4)), []string{F, T, T, T, T, T, T, T, T, T}},
		{call(t, "<", c("s"), lit("b")), []string{T, F, T, T, T, F, F, N, T, T}}, // bytewise: "B" < "b"
		{call(t, "=", c("s"), lit("a")), []string{T, F, F, F, F, F, F, N, T, F}},
		{call(t, ">", c("s"), c("s")), []string{F, F, F, F, F, F, F, N, F, F}},
		{call(t, "<=", c("dt"), lit("1970-01-03")), []string{T, T, T, F, F, F, F, F, F, F}},
		{call(t, "=", c("i"), Null()), []string{N, N, N, N, N, N, N, N, N, N}},
		{call(t, "is_distinct_from", c("i"), lit(4)), []string{T, T, T, F, T, T, T, T, T, T}},
		{call(t, "is_not_distinct_from", c("i"), Null()), []string{F, F, T, F, F, F, F, F, F, F}},
		{call(t, "is_distinct_from", c("s"), c("s")), []string{F, F, F, F, F, F, F, F, F, F}},
		{call(t, "is_null", c("s")), []string{F, F, F, F, F, F, F, T, F, F}},
		{call(t, "is_not_null", c("i")), []string{T, T, F, T, T, T, T, T, T, T}},
	}
	for _, tc := range tests {
		t.Run(tc.e.String(), func(t *testing.T) {
			got, err := evalTexts(t, mem, rb, tc.e)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestBooleanLogic(t *testing.T) {
	mem := newMem(t)
	// every combination of TRUE, FALSE, NULL
	rb := mkBatch(t, mem,
		col{"a", Bool, `[true, true, true, false, false, false, null, null, null]`},
		col{"b", Bool, `[true, false, null, true, false, null, true, false, null]`},
	)
	defer rb.Release()
	a, b := colRef(rb, "a"), colRef(rb, "b")
	T, F, N := "true", "false", "NULL"
	got, err := evalTexts(t, mem, rb, call(t, "and", a, b))
	require.NoError(t, err)
	require.Equal(t, []string{T, F, N, F, F, F, N, F, N}, got)
	got, err = evalTexts(t, mem, rb, call(t, "or", a, b))
	require.NoError(t, err)
	require.Equal(t, []string{T, T, T, T, F, N, T, N, N}, got)
	got, err = evalTexts(t, mem, rb, call(t, "not", a))
	require.NoError(t, err)
	require.Equal(t, []string{F, F, F, T, T, T, N, N, N}, got)
	got, err = evalTexts(t, mem, rb, call(t, "and", a, lit(true)))
	require.NoError(t, err)
	require.Equal(t, []string{T, T, T, F, F, F, N, N, N}, got)
	got, err = evalTexts(t, mem, rb, call(t, "or", a, Null()))
	require.NoError(t, err)
	require.Equal(t, []string{T, T, T, N, N, N, N, N, N}, got)
	got, err = evalTexts(t, mem, rb, call(t, "and", lit(false), b))
	require.NoError(t, err)
	require.Equal(t, []string{F, F, F, F, F, F, F, F, F}, got)
}

func TestAndGuardsDivision(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem,
		col{"a", Int32, `[10, 5, 8, 1]`},
		col{"b", Int32, `[2, 0, 4, 0]`},
	)
	defer rb.Release()
	a, b := colRef(rb, "a"), colRef(rb, "b")
	guard := call(t, "and", call(t, "<>", b, lit(0)), call(t, ">", call(t, "/", a, b), lit(2)))
	got, err := evalTexts(t, mem, rb, guard)
	require.NoError(t, err)
	require.Equal(t, []string{"true", "false", "false", "false"}, got)
	or := call(t, "or", call(t, "=", b, lit(0)), call(t, ">", call(t, "/", a, b), lit(2)))
	got, err = evalTexts(t, mem, rb, or)
	require.NoError(t, err)
	require.Equal(t, []string{"true", "true", "false", "true"}, got)
	// without the guard the division fails
	_, err = evalTexts(t, mem, rb, call(t, ">", call(t, "/", a, b), lit(2)))
	require.True(t, errors.Is(err, ErrDivisionByZero))
}

func TestFilterProject(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem,
		col{"a", Int32, `[1, 2, null, 4, 5]`},
		col{"s", Text, `["x", "y", "z", null, "w"]`},
	)
	defer rb.Release()
	ctx := &Context{Alloc: mem}
	a := colRef(rb, "a")
	out, err := Filter(ctx, rb, call(t, ">", a, lit(1)))
	require.NoError(t, err)
	require.EqualValues(t, 3, out.NumRows())
	require.Equal(t, []string{"2", "4", "5"}, texts(out.Column(0)))
	require.Equal(t, []string{"y", "NULL", "w"}, texts(out.Column(1)))
	out.Release()
	// all true: the same batch; all false/NULL: empty
	out, err = Filter(ctx, rb, lit(true))
	require.NoError(t, err)
	require.EqualValues(t, 5, out.NumRows())
	out.Release()
	out, err = Filter(ctx, rb, call(t, "=", a, Null()))
	require.NoError(t, err)
	require.EqualValues(t, 0, out.NumRows())
	out.Release()
	_, err = Filter(ctx, rb, a)
	require.ErrorIs(t, err, ErrType)

	p, err := Project(ctx, rb, []Expr{call(t, "*", a, lit(10)), lit("k"), colRef(rb, "s")}, []string{"a10", "k", "s"})
	require.NoError(t, err)
	defer p.Release()
	require.Equal(t, "a10", p.Schema().Field(0).Name)
	require.Equal(t, []string{"10", "20", "NULL", "40", "50"}, texts(p.Column(0)))
	require.Equal(t, []string{"k", "k", "k", "k", "k"}, texts(p.Column(1)))
	require.Equal(t, []string{"x", "y", "z", "NULL", "w"}, texts(p.Column(2)))
}

func TestSlicedInputs(t *testing.T) {
	mem := newMem(t)
	full := mkBatch(t, mem,
		col{"a", Int32, `[0, 1, null, 3, 4, 5, 6, 7, 8, 9, 10, null]`},
		col{"p", Bool, `[true, false, null, true, true, false, true, null, false, true, true, true]`},
	)
	defer full.Release()
	rb := full.NewSlice(3, 12)
	defer rb.Release()
	got, err := evalTexts(t, mem, rb, call(t, "and", colRef(rb, "p"), call(t, ">", colRef(rb, "a"), lit(4))))
	require.NoError(t, err)
	require.Equal(t, []string{"false", "false", "false", "true", "NULL", "false", "true", "true", "NULL"}, got)
	got, err = evalTexts(t, mem, rb, call(t, "+", colRef(rb, "a"), lit(1)))
	require.NoError(t, err)
	require.Equal(t, []string{"4", "5", "6", "7", "8", "9", "10", "11", "NULL"}, got)
}

func TestDecimalCompareWide(t *testing.T) {
	mem := newMem(t)
	// one value beyond 64 bits takes the 128-bit path for the whole column
	rb := mkBatch(t, mem,
		col{"d", Numeric(38, 0), `["1", "-5", "100000000000000000000", "-100000000000000000000", "7", null]`},
		col{"e", Numeric(38, 0), `["1", "-5", "2", "3", "7", null]`},
	)
	defer rb.Release()
	T, F, N := "true", "false", "NULL"
	runCases(t, rb, []fnCase{
		{call(t, ">", colRef(rb, "d"), lit(1)), []string{F, F, T, F, T, N}, nil},
		{call(t, "<=", colRef(rb, "d"), lit(-5)), []string{F, T, F, T, F, N}, nil},
		{call(t, "=", colRef(rb, "e"), lit(7)), []string{F, F, F, F, T, N}, nil},
		{call(t, "<", colRef(rb, "e"), dec("100000000000000000000", 38, 0)), []string{T, T, T, T, T, N}, nil},
		{call(t, "<>", colRef(rb, "e"), lit(-5)), []string{T, F, T, T, T, N}, nil},
	})
}

func TestTwoConstantOperandsBesideAColumn(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem, col{"i", Int32, `[1, 5, null]`})
	defer rb.Release()
	i := colRef(rb, "i")
	runCases(t, rb, []fnCase{
		{call(t, "between", lit(3), lit(2), i), []string{"false", "true", "NULL"}, nil},
		{call(t, "between", lit(3), lit(4), i), []string{"false", "false", "false"}, nil},
		{call(t, "in", lit(5), i, lit(7)), []string{"false", "true", "NULL"}, nil},
		{call(t, "in", lit(7), i, lit(7)), []string{"true", "true", "true"}, nil},
	})
}

func TestAndOrDecidedEverywhere(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem, col{"a", Int32, `[1, 0, null]`}, col{"b", Bool, `[true, null, false]`})
	defer rb.Release()
	a, b := colRef(rb, "a"), colRef(rb, "b")
	boom := call(t, ">", call(t, "/", lit(1), call(t, "-", a, a)), lit(0)) // 1/0 on the non-NULL rows
	runCases(t, rb, []fnCase{
		// the left operand is FALSE (TRUE) on every row: the right one is never needed
		{call(t, "and", call(t, "and", call(t, "is_not_null", b), lit(false)), boom), []string{"false", "false", "false"}, nil},
		{call(t, "or", call(t, "or", b, lit(true)), boom), []string{"true", "true", "true"}, nil},
		{call(t, "and", b, boom), nil, ErrDivisionByZero},
	})
}

// Filter keeps exactly the TRUE rows of a boolean column however the batch is sliced
// (offsets on and off byte boundaries, lengths with a tail of under eight rows), with
// and without NULLs, mostly-true and mostly-false.
func TestFilterRowsOfSlicedBatches(t *testing.T) {
	mem := newMem(t)
	r := rand.New(rand.NewPCG(5, 6))
	for _, pTrue := range []float64{0.05, 0.5, 0.98} {
		for _, withNulls := range []bool{false, true} {
			keep, ids := make([]string, 200), make([]string, 200)
			for i := range keep {
				keep[i] = strconv.FormatBool(r.Float64() < pTrue)
				if withNulls && i%9 == 0 {
					keep[i] = "null"
				}
				ids[i] = strconv.Itoa(i)
			}
			rb := mkBatch(t, mem, col{"k", arrow.FixedWidthTypes.Boolean, "[" + strings.Join(keep, ",") + "]"},
				col{"i", Int32, "[" + strings.Join(ids, ",") + "]"})
			for _, off := range []int64{0, 3, 8, 16, 21} {
				for _, n := range []int64{0, 1, 7, 64, 150, 200 - off} {
					if off+n > 200 {
						continue
					}
					sl := rb.NewSlice(off, off+n)
					var want []string
					for i := off; i < off+n; i++ {
						if keep[i] == "true" {
							want = append(want, ids[i])
						}
					}
					out, err := Filter(&Context{Alloc: mem}, sl, colRef(sl, "k"))
					require.NoError(t, err)
					got := texts(out.Column(1))
					if len(want) == 0 {
						want = []string{}
					}
					require.Equal(t, want, got, "p=%g nulls=%v slice [%d,+%d)", pTrue, withNulls, off, n)
					out.Release()
					sl.Release()
				}
			}
			rb.Release()
		}
	}
}
