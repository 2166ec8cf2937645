package expr

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/require"
)

func TestFold(t *testing.T) {
	mem := newMem(t)
	ctx := &Context{Alloc: mem}
	a := &Column{Index: 0, Name: "a", T: Int32}
	e := call(t, ">", call(t, "+", a, call(t, "*", lit(2), lit(3))), call(t, "-", lit(10), lit(1)))
	f, err := Fold(ctx, e)
	require.NoError(t, err)
	require.Equal(t, "(a + 6) > 9", f.String())
	// a failing constant is left for run time: CASE WHEN false THEN 1/0 END is NULL
	c, err := NewCase(nil, []When{{lit(false), call(t, "/", lit(1), lit(0))}}, nil)
	require.NoError(t, err)
	f, err = Fold(ctx, c)
	require.NoError(t, err)
	l, ok := f.(*Literal)
	require.True(t, ok, "%s", f)
	require.False(t, l.Value.IsValid())
	d := call(t, "/", lit(1), lit(0))
	f, err = Fold(ctx, d)
	require.NoError(t, err)
	require.Equal(t, "1 / 0", f.String())
	// typed folding
	f, err = Fold(ctx, call(t, "coalesce", Null(), dec("1.5", 2, 1)))
	require.NoError(t, err)
	require.Equal(t, "1.5", f.String())
	f, err = Fold(ctx, call(t, "upper", lit("abc")))
	require.NoError(t, err)
	require.Equal(t, "'ABC'", f.String())
}

func TestString(t *testing.T) {
	a := &Column{Index: 0, Name: "a", T: Int32}
	b := &Column{Index: 1, Name: "b", T: Int32}
	s := &Column{Index: 2, Name: "s", T: Text}
	d := &Column{Index: 3, Name: "d", T: Date}
	cases := map[string]Expr{
		"(a + 1) > b":                        call(t, ">", call(t, "+", a, lit(1)), b),
		"(a IS NULL) OR (NOT (b = 2))":       call(t, "or", call(t, "is_null", a), call(t, "not", call(t, "=", b, lit(2)))),
		"a IN (1, 2, CAST(NULL AS integer))": call(t, "in", a, lit(1), lit(2), Null()),
		"a BETWEEN 1 AND (-1)":               call(t, "between", a, lit(1), lit(-1)),
		"s NOT LIKE 'x%'":                    call(t, "not_like", s, lit("x%")),
		"s LIKE 'x!%' ESCAPE '!'":            call(t, "like", s, lit("x!%"), lit("!")),
		"d <= DATE '1998-09-02'":             call(t, "<=", d, lit("1998-09-02")),
		"EXTRACT(YEAR FROM d)":               call(t, "extract", lit("year"), d),
		"substr(s, 1, 3)":                    call(t, "substr", s, lit(1), lit(3)),
		"CAST(a AS bigint) + 5000000000":     call(t, "+", a, lit(5000000000)),
		"CAST(d AS timestamp without time zone) - INTERVAL '3 days'": call(t, "-", d, typed("3 days", Interval)),
		"CASE WHEN a > 1 THEN 'x' ELSE s END":                        must(NewCase(nil, []When{{call(t, ">", a, lit(1)), lit("x")}}, s)),
		"CASE a WHEN 1 THEN 2 END":                                   must(NewCase(a, []When{{lit(1), lit(2)}}, nil)),
		"-a":                                                         call(t, "neg", a),
		"coalesce(a, b, 0)":                                          call(t, "coalesce", a, b, lit(0)),
		"#4":                                                         &Column{Index: 4, T: Int32},
		"NULL":                                                       Null(),
		"TRUE":                                                       lit(true),
		"'it''s'":                                                    lit("it's"),
	}
	for want, e := range cases {
		require.Equal(t, want, e.String())
	}
}

func must(e Expr, err error) Expr {
	if err != nil {
		panic(err)
	}
	return e
}

func TestTransformRenumbersColumns(t *testing.T) {
	a := &Column{Index: 5, Name: "a", T: Int32}
	e := call(t, "and", call(t, ">", a, lit(1)), call(t, "is_not_null", a))
	got, err := Transform(e, func(x Expr) (Expr, error) {
		if c, ok := x.(*Column); ok {
			return &Column{Index: c.Index - 5, Name: c.Name, T: c.T}, nil
		}
		return x, nil
	})
	require.NoError(t, err)
	require.Equal(t, []int{0}, Columns(got))
	require.Equal(t, []int{5}, Columns(e))
	mem := newMem(t)
	rb := mkBatch(t, mem, col{"a", Int32, `[0, 2, null]`})
	defer rb.Release()
	out, err := evalTexts(t, mem, rb, got)
	require.NoError(t, err)
	require.Equal(t, []string{"false", "true", "false"}, out)
}

func TestColumnTypeChecked(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem, col{"a", Int32, `[1]`})
	defer rb.Release()
	_, err := (&Column{Index: 0, Name: "a", T: Int64}).Eval(&Context{Alloc: mem}, rb)
	require.ErrorIs(t, err, ErrType)
	_, err = (&Column{Index: 3, Name: "x", T: Int64}).Eval(&Context{Alloc: mem}, rb)
	require.ErrorIs(t, err, ErrInvalidArg)
}

func TestOtherArrowTypesAreNormalized(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem,
		col{"i8", arrow.PrimitiveTypes.Int8, `[1, -2, null]`},
		col{"u32", arrow.PrimitiveTypes.Uint32, `[4294967295, 0, 1]`},
		col{"ls", arrow.BinaryTypes.LargeString, `["x", null, "zz"]`},
		col{"ms", &arrow.TimestampType{Unit: arrow.Millisecond}, `["2020-01-01 00:00:01.5", null, "1969-12-31 23:59:59.999"]`},
	)
	defer rb.Release()
	c := func(n string) Expr { return colRef(rb, n) }
	runCases(t, rb, []fnCase{
		{call(t, "+", c("i8"), lit(int16(1))), []string{"2", "-1", "NULL"}, nil},
		{call(t, "+", c("u32"), lit(1)), []string{"4294967296", "1", "2"}, nil},
		{call(t, "||", c("ls"), lit("!")), []string{"x!", "NULL", "zz!"}, nil},
		{call(t, "date_trunc", lit("second"), c("ms")), []string{"2020-01-01 00:00:01", "NULL", "1969-12-31 23:59:59"}, nil},
	})
}

func TestIntervalArithmetic(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem, col{"x", Int32, `[1]`})
	defer rb.Release()
	iv := func(s string) Expr { return typed(s, Interval) }
	runCases(t, rb, []fnCase{
		{call(t, "+", iv("1 day"), iv("2 hours")), []string{"1 day 02:00:00"}, nil},
		{call(t, "*", iv("1 day 02:00"), lit(2)), []string{"2 days 04:00:00"}, nil},
		{call(t, "/", iv("1 mon"), lit(2)), []string{"15 days"}, nil},
		{call(t, "neg", iv("1 year 2 mons")), []string{"-1 years -2 mons"}, nil},
		{call(t, "<", iv("1 mon"), iv("31 days")), []string{"true"}, nil},
		{call(t, "=", iv("1 mon"), iv("30 days")), []string{"true"}, nil},
		{call(t, "+", typed("2020-01-31", Timestamp), lit("1 month")), []string{"2020-02-29 00:00:00"}, nil},
	})
}

func TestRewriteRetypesFoldedConstants(t *testing.T) {
	mem := newMem(t)
	ctx := &Context{Alloc: mem}
	d := &Column{Index: 0, Name: "l_shipdate", T: Date}
	// l_shipdate <= date '1998-12-01' - interval '90' day: a timestamp comparison
	// until folding, then a date comparison without a per-row cast
	rhs := call(t, "-", typed("1998-12-01", Date), typed("90 days", Interval))
	e := call(t, "<=", d, rhs)
	require.Equal(t, "CAST(l_shipdate AS timestamp without time zone) <= (TIMESTAMP '1998-12-01 00:00:00' - INTERVAL '90 days')", e.String())
	f, err := Fold(ctx, e)
	require.NoError(t, err)
	require.Equal(t, "l_shipdate <= DATE '1998-09-02'", f.String())
	rb := mkBatch(t, mem, col{"l_shipdate", Date, `["1998-09-01", "1998-09-02", "1998-09-03", null]`})
	defer rb.Release()
	for _, x := range []Expr{e, f} {
		got, err := evalTexts(t, mem, rb, x)
		require.NoError(t, err)
		require.Equal(t, []string{"true", "true", "false", "NULL"}, got)
	}
	// not at midnight: stays a timestamp comparison
	g, err := Fold(ctx, call(t, "<", d, call(t, "+", typed("1998-09-02", Date), typed("1 hour", Interval))))
	require.NoError(t, err)
	require.Equal(t, "CAST(l_shipdate AS timestamp without time zone) < TIMESTAMP '1998-09-02 01:00:00'", g.String())
	got, err := evalTexts(t, mem, rb, g)
	require.NoError(t, err)
	require.Equal(t, []string{"true", "true", "false", "NULL"}, got)
}

func TestNullTypedColumn(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem, col{"n", arrow.Null, `[null, null]`}, col{"i", Int32, `[1, null]`})
	defer rb.Release()
	n, i := colRef(rb, "n"), colRef(rb, "i")
	runCases(t, rb, []fnCase{
		{call(t, "in", n, lit(1)), []string{"NULL", "NULL"}, nil},
		{call(t, "is_null", n), []string{"true", "true"}, nil},
		{call(t, "+", n, i), []string{"NULL", "NULL"}, nil},
		{call(t, "coalesce", n, i), []string{"1", "NULL"}, nil},
		{call(t, "is_distinct_from", n, i), []string{"true", "false"}, nil},
		{call(t, "concat", n, lit("x")), []string{"x", "x"}, nil},
	})
}

func TestConcurrentEvaluation(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem,
		col{"s", Text, `["abc", "xbz", null, "ab"]`},
		col{"d", Numeric(10, 2), `["1.00", "2.50", "3.25", null]`},
	)
	defer rb.Release()
	s, d := colRef(rb, "s"), colRef(rb, "d")
	e := must(NewCase(nil, []When{{call(t, "like", s, lit("a%")), call(t, "*", d, dec("2", 1, 0))}}, call(t, "coalesce", d, lit(0))))
	ctx := &Context{Alloc: mem}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for range 50 {
				a, err := e.Eval(ctx, rb)
				if err != nil {
					errs <- err
					return
				}
				if got := texts(a); got[0] != "2.00" || got[1] != "2.50" || got[3] != "NULL" {
					a.Release()
					errs <- fmt.Errorf("got %v", got)
					return
				}
				a.Release()
			}
			errs <- nil
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
}

func TestEmptyBatch(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem,
		col{"i", Int32, `[]`}, col{"s", Text, `[]`}, col{"d", Numeric(10, 2), `[]`}, col{"t", Date, `[]`},
	)
	defer rb.Release()
	i, s, d, dt := colRef(rb, "i"), colRef(rb, "s"), colRef(rb, "d"), colRef(rb, "t")
	exprs := []Expr{
		call(t, "+", i, lit(1)), call(t, "/", i, lit(0)), call(t, "*", d, d), call(t, "/", d, lit(3)),
		call(t, "and", call(t, ">", i, lit(1)), call(t, "like", s, lit("%a%"))),
		call(t, "in", i, lit(1), Null()), call(t, "coalesce", i, lit(0)), call(t, "lower", s),
		call(t, "substr", s, lit(2)), call(t, "extract", lit("year"), dt), call(t, "+", dt, typed("1 day", Interval)),
		must(NewCase(nil, []When{{call(t, "is_null", i), lit("x")}}, s)), must(NewCast(s, Int32)), lit(5),
	}
	ctx := &Context{Alloc: mem}
	for _, e := range exprs {
		a, err := e.Eval(ctx, rb)
		require.NoError(t, err, "%s", e)
		require.Equal(t, 0, a.Len())
		a.Release()
	}
	f, err := Filter(ctx, rb, call(t, ">", i, lit(0)))
	require.NoError(t, err)
	require.EqualValues(t, 0, f.NumRows())
	f.Release()
	p, err := Project(ctx, rb, exprs[:3], []string{"a", "b", "c"})
	require.NoError(t, err)
	require.EqualValues(t, 0, p.NumRows())
	p.Release()
}

// A cast to a wider numeric of the same scale shares the input's buffers (no copy),
// on sliced input with NULLs too; a narrower precision still checks every value.
func TestCastNumericWiderPrecisionSharesBuffers(t *testing.T) {
	mem := newMem(t)
	rb := mkBatch(t, mem, col{"d", Numeric(15, 2), `["1.25", null, "-9999999999999.99", "0.05", "7.00"]`})
	defer rb.Release()
	sl := rb.NewSlice(1, 5)
	defer sl.Release()
	ctx := &Context{Alloc: mem}
	wide, err := NewCast(colRef(sl, "d"), Numeric(38, 2))
	require.NoError(t, err)
	a, err := wide.Eval(ctx, sl)
	require.NoError(t, err)
	defer a.Release()
	require.True(t, sameType(Numeric(38, 2), a.DataType()))
	require.Equal(t, []string{"NULL", "-9999999999999.99", "0.05", "7.00"}, texts(a))
	require.Same(t, sl.Column(0).Data().Buffers()[1], a.Data().Buffers()[1])
	narrow, err := NewCast(colRef(sl, "d"), Numeric(5, 2))
	require.NoError(t, err)
	_, err = narrow.Eval(ctx, sl)
	require.ErrorIs(t, err, ErrOutOfRange)
}
