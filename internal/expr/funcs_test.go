package expr

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/require"
)

// fnCase is one table row: an expression over the batch and its rendered result
// (or the error it must give).
type fnCase struct {
	e    Expr
	want []string
	err  error
}

func runCases(t *testing.T, rb arrow.RecordBatch, cases []fnCase) {
	t.Helper()
	mem := newMem(t)
	for _, tc := range cases {
		t.Run(tc.e.String(), func(t *testing.T) {
			got, err := evalTexts(t, mem, rb, tc.e)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestStringFunctions(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem,
		col{"s", Text, `["Hello", "wörld", "", null, "  pad  "]`},
		col{"n", Int32, `[1, 2, 3, 4, null]`},
	)
	defer rb.Release()
	s, n := colRef(rb, "s"), colRef(rb, "n")
	N := "NULL"
	runCases(t, rb, []fnCase{
		{call(t, "lower", s), []string{"hello", "wörld", "", N, "  pad  "}, nil},
		{call(t, "lower", lit("@AZ[`az{ Hello WORLD 0129 ~")), []string{"@az[`az{ hello world 0129 ~", "@az[`az{ hello world 0129 ~", "@az[`az{ hello world 0129 ~", "@az[`az{ hello world 0129 ~", "@az[`az{ hello world 0129 ~"}, nil},
		{call(t, "upper", lit("@AZ[`az{ Hello WORLD 0129 ~")), []string{"@AZ[`AZ{ HELLO WORLD 0129 ~", "@AZ[`AZ{ HELLO WORLD 0129 ~", "@AZ[`AZ{ HELLO WORLD 0129 ~", "@AZ[`AZ{ HELLO WORLD 0129 ~", "@AZ[`AZ{ HELLO WORLD 0129 ~"}, nil},
		{call(t, "upper", s), []string{"HELLO", "WÖRLD", "", N, "  PAD  "}, nil},
		{call(t, "length", s), []string{"5", "5", "0", N, "7"}, nil},
		{call(t, "octet_length", s), []string{"5", "6", "0", N, "7"}, nil},
		{call(t, "substr", s, lit(2)), []string{"ello", "örld", "", N, " pad  "}, nil},
		{call(t, "substr", s, lit(2), lit(3)), []string{"ell", "örl", "", N, " pa"}, nil},
		{call(t, "substring", s, lit(0), lit(3)), []string{"He", "wö", "", N, "  "}, nil},
		{call(t, "substr", s, lit(-5), lit(7)), []string{"H", "w", "", N, " "}, nil},
		{call(t, "substr", s, lit(10)), []string{"", "", "", N, ""}, nil},
		{call(t, "substr", s, n, lit(2)), []string{"He", "ör", "", N, N}, nil},
		{call(t, "substr", s, lit(1), lit(-1)), nil, ErrInvalidArg},
		{call(t, "||", s, lit("!")), []string{"Hello!", "wörld!", "!", N, "  pad  !"}, nil},
		{call(t, "||", s, n), []string{"Hello1", "wörld2", "3", N, N}, nil},
		{call(t, "||", n, lit("x")), []string{"1x", "2x", "3x", "4x", N}, nil},
		{call(t, "concat", s, Null(), n), []string{"Hello1", "wörld2", "3", "4", "  pad  "}, nil},
		{call(t, "trim", s), []string{"Hello", "wörld", "", N, "pad"}, nil},
		{call(t, "ltrim", s), []string{"Hello", "wörld", "", N, "pad  "}, nil},
		{call(t, "rtrim", s), []string{"Hello", "wörld", "", N, "  pad"}, nil},
		{call(t, "btrim", s, lit("Hdo ")), []string{"ell", "wörl", "", N, "pa"}, nil},
		{call(t, "replace", s, lit("l"), lit("L")), []string{"HeLLo", "wörLd", "", N, "  pad  "}, nil},
		{call(t, "replace", s, lit(""), lit("x")), []string{"Hello", "wörld", "", N, "  pad  "}, nil},
		{call(t, "strpos", s, lit("l")), []string{"3", "4", "0", N, "0"}, nil},
		{call(t, "left", s, lit(2)), []string{"He", "wö", "", N, "  "}, nil},
		{call(t, "right", s, lit(-2)), []string{"llo", "rld", "", N, "pad  "}, nil},
		{call(t, "reverse", s), []string{"olleH", "dlröw", "", N, "  dap  "}, nil},
		{call(t, "starts_with", s, lit("He")), []string{"true", "false", "false", N, "false"}, nil},
	})
}

func TestLike(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem,
		col{"s", Text, `["abc", "ABC", "a%c", "ab", "xabcx", "añc", null, "a_c", "abcabc", ""]`},
		col{"p", Text, `["a%", "a%", "a\\%c", "a_", "%b%", "a_c", "a%", "a\\_c", "%abc", "%"]`},
	)
	defer rb.Release()
	s, p := colRef(rb, "s"), colRef(rb, "p")
	T, F, N := "true", "false", "NULL"
	runCases(t, rb, []fnCase{
		{call(t, "like", s, lit("a%")), []string{T, F, T, T, F, T, N, T, T, F}, nil},
		{call(t, "like", s, lit("%c")), []string{T, F, T, F, F, T, N, T, T, F}, nil},
		{call(t, "like", s, lit("%bc%")), []string{T, F, F, F, T, F, N, F, T, F}, nil},
		{call(t, "like", s, lit("abc")), []string{T, F, F, F, F, F, N, F, F, F}, nil},
		{call(t, "like", s, lit("a_c")), []string{T, F, T, F, F, T, N, T, F, F}, nil},
		{call(t, "like", s, lit(`a\_c`)), []string{F, F, F, F, F, F, N, T, F, F}, nil},
		{call(t, "like", s, lit(`a\%c`)), []string{F, F, T, F, F, F, N, F, F, F}, nil},
		{call(t, "like", s, lit(`a!%c`), lit("!")), []string{F, F, T, F, F, F, N, F, F, F}, nil},
		{call(t, "like", s, lit(`a\%c`), lit("")), []string{F, F, F, F, F, F, N, F, F, F}, nil},
		{call(t, "like", s, lit("%a%b%c")), []string{T, F, F, F, F, F, N, F, T, F}, nil},
		{call(t, "like", s, lit("_b%_")), []string{T, F, F, F, F, F, N, F, T, F}, nil},
		{call(t, "like", s, lit("%")), []string{T, T, T, T, T, T, N, T, T, T}, nil},
		{call(t, "like", s, lit("")), []string{F, F, F, F, F, F, N, F, F, T}, nil},
		{call(t, "like", s, lit("%abc")), []string{T, F, F, F, F, F, N, F, T, F}, nil},
		{call(t, "like", s, lit("_%_")), []string{T, T, T, T, T, T, N, T, T, F}, nil},
		{call(t, "ilike", s, lit("A%")), []string{T, T, T, T, F, T, N, T, T, F}, nil},
		{call(t, "not_like", s, lit("a%")), []string{F, T, F, F, T, F, N, F, F, T}, nil},
		{call(t, "not_ilike", s, lit("a%")), []string{F, F, F, F, T, F, N, F, F, T}, nil},
		{call(t, "like", s, p), []string{T, F, T, T, T, T, N, T, T, T}, nil},
	})
	_, err := NewCall("like", s, lit(`ab\`))
	require.ErrorIs(t, err, ErrInvalidArg)
}

func TestInBetweenCoalesce(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem,
		col{"i", Int32, `[1, 2, 3, null, 5]`},
		col{"j", Int32, `[null, 2, 9, 4, null]`},
		col{"s", Text, `["a", "b", null, "d", "e"]`},
		col{"d", Numeric(10, 2), `["1.50", "2.00", "0.05", null, "0.07"]`},
	)
	defer rb.Release()
	i, j, s, d := colRef(rb, "i"), colRef(rb, "j"), colRef(rb, "s"), colRef(rb, "d")
	T, F, N := "true", "false", "NULL"
	runCases(t, rb, []fnCase{
		{call(t, "in", i, lit(1), lit(5)), []string{T, F, F, N, T}, nil},
		{call(t, "in", i, lit(1), Null()), []string{T, N, N, N, N}, nil},
		{call(t, "not_in", i, lit(1), lit(5)), []string{F, T, T, N, F}, nil},
		{call(t, "not_in", i, lit(1), Null()), []string{F, N, N, N, N}, nil},
		{call(t, "in", i, j, lit(3)), []string{N, T, T, N, N}, nil},
		{call(t, "in", s, lit("a"), lit("e")), []string{T, F, N, F, T}, nil},
		{call(t, "in", d, lit(2), dec("0.05", 3, 2)), []string{F, T, T, N, F}, nil},
		{call(t, "between", i, lit(2), lit(3)), []string{F, T, T, N, F}, nil},
		{call(t, "between", d, dec("0.05", 3, 2), dec("0.07", 3, 2)), []string{F, F, T, N, T}, nil},
		{call(t, "not_between", i, lit(2), lit(3)), []string{T, F, F, N, T}, nil},
		{call(t, "between", i, lit(2), j), []string{F, T, T, N, N}, nil},
		{call(t, "between", i, lit(4), Null()), []string{F, F, F, N, N}, nil},
		{call(t, "coalesce", i, j, lit(0)), []string{"1", "2", "3", "4", "5"}, nil},
		{call(t, "coalesce", j, i), []string{"1", "2", "9", "4", "5"}, nil},
		{call(t, "coalesce", j, Null()), []string{N, "2", "9", "4", N}, nil},
		{call(t, "coalesce", s, lit("z")), []string{"a", "b", "z", "d", "e"}, nil},
		{call(t, "coalesce", d, lit(1)), []string{"1.50", "2.00", "0.05", "1.00", "0.07"}, nil},
		// the division runs only where i is NULL
		{call(t, "coalesce", i, call(t, "/", lit(1), call(t, "-", j, lit(4)))), []string{"1", "2", "3", "", "5"}, ErrDivisionByZero},
		{call(t, "coalesce", j, call(t, "/", lit(10), i)), []string{"10", "2", "9", "4", "2"}, nil},
		{call(t, "nullif", i, lit(2)), []string{"1", N, "3", N, "5"}, nil},
		{call(t, "nullif", i, j), []string{"1", N, "3", N, "5"}, nil},
		{call(t, "greatest", i, j, lit(2)), []string{"2", "2", "9", "4", "5"}, nil},
		{call(t, "least", i, j), []string{"1", "2", "3", "4", "5"}, nil},
		{call(t, "least", j, Null()), []string{N, "2", "9", "4", N}, nil},
		{call(t, "greatest", s, lit("c")), []string{"c", "c", "c", "d", "e"}, nil},
	})
}

func TestCase(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem,
		col{"a", Int32, `[10, 5, 8, null, 3]`},
		col{"b", Int32, `[2, 0, 4, 1, 0]`},
	)
	defer rb.Release()
	a, b := colRef(rb, "a"), colRef(rb, "b")
	mk := func(op Expr, ws []When, els Expr) Expr {
		e, err := NewCase(op, ws, els)
		require.NoError(t, err)
		return e
	}
	N := "NULL"
	runCases(t, rb, []fnCase{
		// the division never sees b = 0
		{mk(nil, []When{{call(t, "=", b, lit(0)), lit(0)}}, call(t, "/", a, b)), []string{"5", "0", "2", N, "0"}, nil},
		{mk(nil, []When{{call(t, ">", a, lit(7)), lit("big")}, {call(t, ">", a, lit(4)), lit("mid")}}, nil), []string{"big", "mid", "big", N, N}, nil},
		{mk(nil, []When{{call(t, ">", a, lit(7)), lit(1)}}, dec("2.5", 2, 1)), []string{"1.0", "2.5", "1.0", "2.5", "2.5"}, nil},
		{mk(b, []When{{lit(0), lit("zero")}, {lit(2), lit("two")}}, lit("other")), []string{"two", "zero", "other", "other", "zero"}, nil},
		{mk(nil, []When{{lit(true), a}}, nil), []string{"10", "5", "8", N, "3"}, nil},
		{mk(nil, []When{{Null(), a}}, b), []string{"2", "0", "4", "1", "0"}, nil},
	})
	_, err := NewCase(nil, []When{{lit(true), lit(1)}}, lit("x"))
	require.ErrorIs(t, err, ErrInvalidInput) // 'x' is not an integer
	_, err = NewCase(nil, []When{{lit(true), lit(1)}}, &Column{Index: 0, T: Text})
	require.ErrorIs(t, err, ErrType)
	_, err = NewCase(nil, []When{{lit(1), lit(1)}}, nil)
	require.ErrorIs(t, err, ErrType)
}

func TestMath(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem,
		col{"i", Int32, `[-3, 0, 7, null]`},
		col{"f", Float64, `[-2.5, 0.5, 1.5, null]`},
		col{"d", Numeric(10, 3), `["-2.555", "0.500", "1234.445", null]`},
	)
	defer rb.Release()
	i, f, d := colRef(rb, "i"), colRef(rb, "f"), colRef(rb, "d")
	N := "NULL"
	runCases(t, rb, []fnCase{
		{call(t, "abs", i), []string{"3", "0", "7", N}, nil},
		{call(t, "abs", f), []string{"2.5", "0.5", "1.5", N}, nil},
		{call(t, "abs", d), []string{"2.555", "0.500", "1234.445", N}, nil},
		{call(t, "round", f), []string{"-2", "0", "2", N}, nil}, // half to even on floats
		{call(t, "round", d), []string{"-3", "1", "1234", N}, nil},
		{call(t, "round", d, lit(2)), []string{"-2.56", "0.50", "1234.45", N}, nil},
		{call(t, "round", d, lit(-2)), []string{"0", "0", "1200", N}, nil},
		{call(t, "round", i, lit(1)), []string{"-3.0", "0.0", "7.0", N}, nil},
		{call(t, "trunc", d, lit(1)), []string{"-2.5", "0.5", "1234.4", N}, nil},
		{call(t, "floor", d), []string{"-3", "0", "1234", N}, nil},
		{call(t, "ceil", d), []string{"-2", "1", "1235", N}, nil},
		{call(t, "floor", f), []string{"-3", "0", "1", N}, nil},
		{call(t, "ceiling", f), []string{"-2", "1", "2", N}, nil},
		{call(t, "sign", d), []string{"-1", "1", "1", N}, nil},
		{call(t, "mod", i, lit(4)), []string{"-3", "0", "3", N}, nil},
		{call(t, "sqrt", call(t, "abs", f)), []string{"1.5811388300841898", "0.7071067811865476", "1.224744871391589", N}, nil},
		{call(t, "sqrt", f), nil, ErrInvalidArg},
	})
	require.Equal(t, "numeric(8,0)", TypeName(call(t, "round", d).Type()))
	require.Equal(t, "double precision", TypeName(call(t, "round", i).Type()))
}

func TestDates(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem,
		col{"d", Date, `["1998-09-02", "2000-02-29", "1970-01-01", null]`},
		col{"ts", Timestamp, `["1998-09-02 13:14:15.5", "2000-02-29 00:00:00", "1969-12-31 23:59:59", null]`},
		col{"tz", TimestampTZ, `["2024-01-31 10:00:00Z", "2024-03-31 00:00:00Z", "2023-12-31 23:00:00Z", null]`},
	)
	defer rb.Release()
	d, ts, tz := colRef(rb, "d"), colRef(rb, "ts"), colRef(rb, "tz")
	iv := func(s string) Expr { return typed(s, Interval) }
	N := "NULL"
	runCases(t, rb, []fnCase{
		{call(t, "+", d, lit(30)), []string{"1998-10-02", "2000-03-30", "1970-01-31", N}, nil},
		{call(t, "-", d, lit(1)), []string{"1998-09-01", "2000-02-28", "1969-12-31", N}, nil},
		{call(t, "-", d, typed("1970-01-01", Date)), []string{"10471", "11016", "0", N}, nil},
		{call(t, "-", typed("1998-12-01", Date), iv("90 days")), []string{"1998-09-02 00:00:00", "1998-09-02 00:00:00", "1998-09-02 00:00:00", "1998-09-02 00:00:00"}, nil},
		{call(t, "+", d, iv("1 month")), []string{"1998-10-02 00:00:00", "2000-03-29 00:00:00", "1970-02-01 00:00:00", N}, nil},
		{call(t, "+", tz, iv("1 month")), []string{"2024-02-29 10:00:00+00", "2024-04-30 00:00:00+00", "2024-01-31 23:00:00+00", N}, nil},
		{call(t, "+", ts, iv("1 year 2 hours")), []string{"1999-09-02 15:14:15.5", "2001-02-28 02:00:00", "1971-01-01 01:59:59", N}, nil},
		{call(t, "-", ts, typed("1998-09-01", Timestamp)), []string{"1 day 13:14:15.5", "546 days", "-10470 days -00:00:01", N}, nil},
		{call(t, "<=", d, typed("1998-09-02", Date)), []string{"true", "false", "true", N}, nil},
		{call(t, "<", d, ts), []string{"true", "false", "false", N}, nil},
		{call(t, "date_trunc", lit("month"), ts), []string{"1998-09-01 00:00:00", "2000-02-01 00:00:00", "1969-12-01 00:00:00", N}, nil},
		{call(t, "date_trunc", lit("year"), d), []string{"1998-01-01 00:00:00", "2000-01-01 00:00:00", "1970-01-01 00:00:00", N}, nil},
		{call(t, "date_trunc", lit("week"), ts), []string{"1998-08-31 00:00:00", "2000-02-28 00:00:00", "1969-12-29 00:00:00", N}, nil},
		{call(t, "date_trunc", lit("hour"), ts), []string{"1998-09-02 13:00:00", "2000-02-29 00:00:00", "1969-12-31 23:00:00", N}, nil},
		{call(t, "date_trunc", lit("quarter"), tz), []string{"2024-01-01 00:00:00+00", "2024-01-01 00:00:00+00", "2023-10-01 00:00:00+00", N}, nil},
		{call(t, "extract", lit("year"), d), []string{"1998", "2000", "1970", N}, nil},
		{call(t, "extract", lit("month"), ts), []string{"9", "2", "12", N}, nil},
		{call(t, "extract", lit("second"), ts), []string{"15.500000", "0.000000", "59.000000", N}, nil},
		{call(t, "extract", lit("dow"), d), []string{"3", "2", "4", N}, nil},
		{call(t, "extract", lit("epoch"), ts), []string{"904742055.500000", "951782400.000000", "-1.000000", N}, nil},
		{call(t, "extract", lit("doy"), d), []string{"245", "60", "1", N}, nil},
		{call(t, "date_part", lit("quarter"), ts), []string{"3", "1", "4", N}, nil},
		{call(t, "extract", lit("day"), iv("3 days 04:00")), []string{"3", "3", "3", "3"}, nil},
	})
	_, err := NewCall("extract", lit("fortnight"), d)
	require.ErrorIs(t, err, ErrInvalidArg)
	_, err = NewCall("date_trunc", lit("fortnight"), d)
	require.ErrorIs(t, err, ErrInvalidArg)

	ctx := &Context{Alloc: mem, Now: time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC)}
	cd := call(t, "current_date")
	a, err := cd.Eval(ctx, rb)
	require.NoError(t, err)
	require.Equal(t, []string{"2026-11-22", "2026-11-22", "2026-11-22", "2026-11-22"}, texts(a))
	a.Release()
	now := call(t, "-", call(t, "now"), iv("1 hour"))
	a, err = now.Eval(ctx, rb)
	require.NoError(t, err)
	require.Equal(t, "2026-11-22 22:30:00+00", texts(a)[0])
	a.Release()
}

func TestCasts(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem,
		col{"s", Text, `["12", " -7 ", null, "2147483648"]`},
		col{"d", Numeric(10, 2), `["2.50", "-2.50", null, "3.49"]`},
		col{"f", Float64, `[2.5, 3.5, null, 1e20]`},
		col{"i", Int64, `[1, 0, null, 9223372036854775807]`},
		col{"g", Float64, `[0.1, 1234567, null, 1e-5]`},
	)
	defer rb.Release()
	s, d, f, i, g := colRef(rb, "s"), colRef(rb, "d"), colRef(rb, "f"), colRef(rb, "i"), colRef(rb, "g")
	cast := func(e Expr, to arrow.DataType) Expr {
		c, err := NewCast(e, to)
		require.NoError(t, err)
		return c
	}
	sl := func(e Expr, to arrow.DataType) Expr { // first two rows only
		return cast(call(t, "substr", e, lit(1)), to)
	}
	N := "NULL"
	_ = sl
	runCases(t, rb, []fnCase{
		{cast(s, Int64), []string{"12", "-7", N, "2147483648"}, nil},
		{cast(s, Int32), nil, ErrOutOfRange},
		{cast(s, Numeric(12, 1)), []string{"12.0", "-7.0", N, "2147483648.0"}, nil},
		{cast(s, Numeric(10, 1)), nil, ErrOutOfRange},
		{cast(s, Float64), []string{"12", "-7", N, "2147483648"}, nil},
		{cast(d, Int32), []string{"3", "-3", N, "3"}, nil}, // half away from zero
		{cast(f, Int64), nil, ErrOutOfRange},
		{cast(d, Numeric(5, 1)), []string{"2.5", "-2.5", N, "3.5"}, nil},
		{cast(d, Numeric(2, 1)), []string{"2.5", "-2.5", N, "3.5"}, nil},
		{cast(d, Numeric(3, 2)), []string{"2.50", "-2.50", N, "3.49"}, nil},
		{cast(d, Numeric(2, 2)), nil, ErrOutOfRange},
		{cast(d, Float64), []string{"2.5", "-2.5", N, "3.49"}, nil},
		{cast(d, Text), []string{"2.50", "-2.50", N, "3.49"}, nil},
		{cast(f, Text), []string{"2.5", "3.5", N, "1e+20"}, nil},
		{cast(g, Text), []string{"0.1", "1234567", N, "1e-05"}, nil},
		{cast(f, Numeric(25, 1)), []string{"2.5", "3.5", N, "100000000000000000000.0"}, nil},
		{cast(i, Bool), []string{"true", "false", N, "true"}, nil},
		{cast(i, Text), []string{"1", "0", N, "9223372036854775807"}, nil},
		{cast(i, Int16), nil, ErrOutOfRange},
		{cast(call(t, "+", f, lit(0.5)), Int32), nil, ErrOutOfRange},
		{cast(lit("yes"), Bool), []string{"true", "true", "true", "true"}, nil},
		{cast(lit("1998-09-02 10:11:12+02"), TimestampTZ), []string{"1998-09-02 08:11:12+00", "1998-09-02 08:11:12+00", "1998-09-02 08:11:12+00", "1998-09-02 08:11:12+00"}, nil},
		{cast(lit("1998-09-02T10:11:12.25"), Timestamp), []string{"1998-09-02 10:11:12.25", "1998-09-02 10:11:12.25", "1998-09-02 10:11:12.25", "1998-09-02 10:11:12.25"}, nil},
		{cast(lit("1 year 2 mons 3 days 04:05:06"), Interval), []string{"1 year 2 mons 3 days 04:05:06", "1 year 2 mons 3 days 04:05:06", "1 year 2 mons 3 days 04:05:06", "1 year 2 mons 3 days 04:05:06"}, nil},
		{cast(lit("2 hours ago"), Interval), []string{"-02:00:00", "-02:00:00", "-02:00:00", "-02:00:00"}, nil},
		{cast(typed("2000-01-02 03:04:05", Timestamp), Date), []string{"2000-01-02", "2000-01-02", "2000-01-02", "2000-01-02"}, nil},
		{cast(s, Bytea), []string{`\x3132`, `\x202d3720`, N, `\x32313437343833363438`}, nil},
	})
	_, err := NewCast(d, Date)
	require.ErrorIs(t, err, ErrType)
	// constants convert at construction, so a bad one fails there
	_, err = NewCast(lit("abc"), Int32)
	require.EqualError(t, err, `expr: invalid input syntax for type integer: "abc"`)
	_, err = NewCast(lit("2024-02-30"), Date)
	require.EqualError(t, err, `expr: date/time field value out of range: "2024-02-30"`)
	require.ErrorIs(t, err, ErrOutOfRange)
	_, err = NewCast(lit("maybe"), Bool)
	require.ErrorIs(t, err, ErrInvalidInput)
	// a column of text fails at evaluation, naming the value
	bad := mkBatch(t, mem, col{"s", Text, `["1", "x1"]`})
	defer bad.Release()
	_, err = cast(colRef(bad, "s"), Int32).Eval(&Context{Alloc: mem}, bad)
	require.EqualError(t, err, `expr: invalid input syntax for type integer: "x1"`)
}
