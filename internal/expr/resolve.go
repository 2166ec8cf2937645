package expr

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// resolver builds a resolved call from (already normalized) arguments.
type resolver func(name string, args []Expr) (*Call, error)

var registry map[string]resolver

func register(r resolver, names ...string) {
	for _, n := range names {
		registry[n] = r
	}
}

func init() {
	registry = map[string]resolver{}
	register(resolveArith, "+", "-", "*", "/", "%")
	register(resolveNeg, "neg")
	register(resolveCompare, "=", "<>", "!=", "<", "<=", ">", ">=")
	register(resolveAndOr, "and", "or")
	register(resolveNot, "not")
	register(resolveIsNull, "is_null", "is_not_null")
	register(resolveDistinct, "is_distinct_from", "is_not_distinct_from")
	registerMore()
}

// NewCall resolves the operator or function name for the argument types with
// PostgreSQL's rules, inserting implicit casts, and returns the typed call. Operators:
// + - * / % neg = <> < <= > >= and or not is_null is_not_null is_distinct_from
// is_not_distinct_from || like ilike not_like not_ilike in not_in between
// not_between; functions: see the package documentation.
func NewCall(name string, args ...Expr) (Expr, error) {
	name = strings.ToLower(name)
	r, ok := registry[name]
	if !ok {
		return nil, funcError{signature(name, args)}
	}
	nargs := make([]Expr, len(args))
	for i, a := range args {
		if a == nil {
			return nil, fmt.Errorf("%w: %s argument %d is nil", ErrInvalidArg, name, i+1)
		}
		t, ok := normalize(a.Type())
		if !ok {
			return nil, fmt.Errorf("%w: type %s is not supported (argument %d of %s)", ErrType, a.Type(), i+1, name)
		}
		if !sameType(t, a.Type()) {
			c, err := coerce(a, t)
			if err != nil {
				return nil, err
			}
			a = c
		}
		nargs[i] = a
	}
	c, err := r(name, nargs)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// signature is name(type, type) for error messages.
func signature(name string, args []Expr) string {
	ts := make([]string, len(args))
	for i, a := range args {
		if a == nil {
			ts[i] = "?"
			continue
		}
		ts[i] = shortName(a.Type())
	}
	return name + "(" + strings.Join(ts, ", ") + ") does not exist"
}

func noOperator(op string, args []Expr) error {
	if len(args) == 1 {
		return fmt.Errorf("%w: %s %s", ErrNoOperator, op, shortName(args[0].Type()))
	}
	return fmt.Errorf("%w: %s %s %s", ErrNoOperator, shortName(args[0].Type()), op, shortName(args[1].Type()))
}

func noFunction(name string, args []Expr) error { return funcError{signature(name, args)} }

// funcError is "expr: function lower(integer) does not exist"; it matches
// ErrNoFunction.
type funcError struct{ sig string }

func (e funcError) Error() string { return "expr: function " + e.sig }
func (e funcError) Unwrap() error { return ErrNoFunction }

// coerce converts e to t: a literal is converted now (so constants stay constants
// and a bad literal fails at resolution, like PostgreSQL's unknown literals); any
// other expression gets a Cast node.
func coerce(e Expr, t arrow.DataType) (Expr, error) {
	if sameType(e.Type(), t) {
		return e, nil
	}
	if l, ok := e.(*Literal); ok {
		d, err := castDatum(&Context{}, datum{sc: l.Value}, l.Value.DataType(), t, 1)
		if err != nil {
			return nil, err
		}
		if d.arr != nil {
			defer d.arr.Release()
			sc, err := scalarAt(d.arr, 0)
			if err != nil {
				return nil, err
			}
			return &Literal{Value: sc}, nil
		}
		return &Literal{Value: d.sc}, nil
	}
	c, err := NewCast(e, t)
	if err != nil {
		return nil, err
	}
	if cc, ok := c.(*Cast); ok {
		cc.implicit = true
	}
	return c, nil
}

// midnightToDate: comparing a date column with a timestamp constant at midnight
// is the same as comparing it with that date, which saves a per-row cast
// (l_shipdate <= date '1998-12-01' - interval '90' day).
func midnightToDate(args []Expr) []Expr {
	hasDate := false
	for _, a := range args {
		if isDate(a.Type()) {
			hasDate = true
		}
	}
	if !hasDate {
		return args
	}
	out := make([]Expr, len(args))
	copy(out, args)
	for i, a := range args {
		l, ok := a.(*Literal)
		if !ok || !isTS(a.Type()) || !l.Value.IsValid() {
			continue
		}
		us := constVal[int64](l.Value)
		if us%usPerDay != 0 {
			continue
		}
		if c, err := coerce(l, Date); err == nil {
			out[i] = c
		}
	}
	return out
}

// isUnknownLit reports whether e is an untyped NULL or a string literal, the two
// kinds of constant PostgreSQL types from context.
func isUnknownLit(e Expr) bool {
	l, ok := e.(*Literal)
	if !ok {
		return false
	}
	id := l.Value.DataType().ID()
	return id == arrow.NULL || id == arrow.STRING
}

// unify returns the common type of exprs for comparison, CASE, COALESCE, IN and
// the like, and the exprs coerced to it. ctxName names the construct in errors.
func unify(ctxName string, exprs []Expr) (arrow.DataType, []Expr, error) {
	var t arrow.DataType
	// typed, non-literal-string operands decide first; unknown literals follow them
	for pass := 0; pass < 2; pass++ {
		for _, e := range exprs {
			et := e.Type()
			if isNull(et) {
				continue
			}
			unknown := isUnknownLit(e)
			if (pass == 0) == unknown {
				continue
			}
			if t == nil {
				t = et
				continue
			}
			if unknown {
				continue // a string literal becomes t
			}
			nt, ok := commonType(t, et)
			if !ok {
				return nil, nil, fmt.Errorf("%w: %s types %s and %s cannot be matched", ErrType, ctxName, TypeName(t), TypeName(et))
			}
			t = nt
		}
	}
	if t == nil {
		t = Text // PostgreSQL resolves all-unknown as text
		allNull := true
		for _, e := range exprs {
			if !isNull(e.Type()) {
				allNull = false
			}
		}
		if allNull {
			t = Unknown
		}
	}
	out := make([]Expr, len(exprs))
	for i, e := range exprs {
		c, err := coerce(e, t)
		if err != nil {
			return nil, nil, err
		}
		out[i] = c
	}
	return t, out, nil
}

// commonType is the type two typed operands meet at, if any.
func commonType(a, b arrow.DataType) (arrow.DataType, bool) {
	switch {
	case sameType(a, b):
		return a, true
	case isNumeric(a) && isNumeric(b):
		return commonNumeric(a, b), true
	case isTemporal(a) && isTemporal(b):
		if isTSTZ(a) || isTSTZ(b) {
			return TimestampTZ, true
		}
		return Timestamp, true
	}
	return nil, false
}

func newCall(name string, t arrow.DataType, k *kernel, args ...Expr) *Call {
	return &Call{Name: name, Args: args, T: t, fn: k}
}

func strictKernel(fn func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error)) *kernel {
	return &kernel{strict: true, fn: fn}
}

// unknownToOther types a string literal or untyped NULL by the other operand of a
// binary operator.
func unknownToOther(a, b Expr) (Expr, Expr, error) {
	var err error
	switch {
	case isUnknownLit(a) && !isUnknownLit(b):
		a, err = coerce(a, b.Type())
	case isUnknownLit(b) && !isUnknownLit(a):
		b, err = coerce(b, a.Type())
	case isNull(a.Type()) && isNull(b.Type()):
		a, _ = coerce(a, Int32)
		b, _ = coerce(b, Int32)
	case isNull(a.Type()):
		a, err = coerce(a, b.Type())
	case isNull(b.Type()):
		b, err = coerce(b, a.Type())
	}
	return a, b, err
}

func resolveArith(op string, args []Expr) (*Call, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("%w: operator %s takes 2 operands, got %d", ErrInvalidArg, op, len(args))
	}
	a, b := args[0], args[1]
	// a string literal next to a temporal/interval value: PostgreSQL picks the
	// operator first (date + integer, timestamp + interval), so type the literal
	// as interval for timestamps, integer for dates.
	if isUnknownLit(a) != isUnknownLit(b) {
		other, lit := a.Type(), &b
		if isUnknownLit(a) {
			other, lit = b.Type(), &a
		}
		if _, isL := (*lit).(*Literal); isL && (*lit).Type().ID() == arrow.STRING {
			var t arrow.DataType
			switch {
			case isTS(other) && (op == "+" || op == "-"):
				t = Interval
			case isDate(other) && (op == "+" || op == "-"):
				t = Int32
			case isIntv(other):
				t = Interval
			}
			if t != nil {
				c, err := coerce(*lit, t)
				if err != nil {
					return nil, err
				}
				*lit = c
			}
		}
	}
	a, b, err := unknownToOther(a, b)
	if err != nil {
		return nil, err
	}
	ta, tb := a.Type(), b.Type()
	o := op[0]
	switch {
	case isNumeric(ta) && isNumeric(tb):
		return resolveNumArith(op, a, b)
	case isTemporal(ta) || isTemporal(tb) || isIntv(ta) || isIntv(tb):
		if c, err := resolveTimeArith(op, a, b); c != nil || err != nil {
			return c, err
		}
	}
	_ = o
	return nil, noOperator(op, []Expr{a, b})
}

func resolveNumArith(op string, a, b Expr) (*Call, error) {
	ta, tb := a.Type(), b.Type()
	o := op[0]
	ct := commonNumeric(ta, tb)
	if isFloat(ct) && o == '%' {
		return nil, noOperator(op, []Expr{a, b})
	}
	if isDec(ct) && (o == '*' || o == '/') {
		// keep each operand's own scale
		da, db := asDecimal(ta), asDecimal(tb)
		var err error
		if a, err = coerce(a, da); err != nil {
			return nil, err
		}
		if b, err = coerce(b, db); err != nil {
			return nil, err
		}
		sa, sb := decScale(da), decScale(db)
		var rt arrow.DataType
		if o == '*' {
			if sa+sb > maxPrec {
				return nil, fmt.Errorf("%w: numeric scale %d of %s * %s exceeds 38", ErrOutOfRange, sa+sb, TypeName(da), TypeName(db))
			}
			rt = Numeric(maxPrec, sa+sb)
		} else {
			rt = Numeric(maxPrec, max(16, sa, sb))
		}
		return newCall(op, rt, strictKernel(func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
			return decArith(ctx, o, args[0], args[1], n, da, db, rt)
		}), a, b), nil
	}
	var err error
	if a, err = coerce(a, ct); err != nil {
		return nil, err
	}
	if b, err = coerce(b, ct); err != nil {
		return nil, err
	}
	rt := ct
	if isDec(ct) {
		rt = Numeric(maxPrec, decScale(ct))
	}
	var fn func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error)
	switch ct.ID() {
	case arrow.INT16:
		fn = func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
			return intArith[int16](ctx, o, args[0], args[1], n, rt)
		}
	case arrow.INT32:
		fn = func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
			return intArith[int32](ctx, o, args[0], args[1], n, rt)
		}
	case arrow.INT64:
		fn = func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
			return intArith[int64](ctx, o, args[0], args[1], n, rt)
		}
	case arrow.FLOAT32:
		fn = func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
			return floatArith[float32](ctx, o, args[0], args[1], n, rt)
		}
	case arrow.FLOAT64:
		fn = func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
			return floatArith[float64](ctx, o, args[0], args[1], n, rt)
		}
	case arrow.DECIMAL128:
		fn = func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
			return decArith(ctx, o, args[0], args[1], n, ct, ct, rt)
		}
	}
	return newCall(op, rt, strictKernel(fn), a, b), nil
}

func resolveNeg(name string, args []Expr) (*Call, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("%w: neg takes 1 operand", ErrInvalidArg)
	}
	a := args[0]
	if isUnknownLit(a) {
		var err error
		if a, err = coerce(a, Float64); err != nil {
			return nil, err
		}
	}
	t := a.Type()
	if !isNumeric(t) && !isIntv(t) {
		return nil, noOperator("-", []Expr{a})
	}
	return newCall(name, t, strictKernel(func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
		return negate(ctx, args[0].arr, t)
	}), a), nil
}

func resolveCompare(op string, args []Expr) (*Call, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("%w: operator %s takes 2 operands, got %d", ErrInvalidArg, op, len(args))
	}
	t, cargs, err := unify("operator "+op, midnightToDate(args))
	if err != nil {
		return nil, noOperator(op, args)
	}
	if !comparable(t) {
		return nil, noOperator(op, args)
	}
	if op == "!=" {
		op = "<>"
	}
	code := cmpOps[op]
	return newCall(op, Bool, strictKernel(func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
		return compareKernel(ctx, code, args[0], args[1], n, t)
	}), cargs...), nil
}

func comparable(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.NULL, arrow.BOOL, arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32, arrow.FLOAT64,
		arrow.DECIMAL128, arrow.STRING, arrow.BINARY, arrow.DATE32, arrow.TIMESTAMP, arrow.INTERVAL_MONTH_DAY_NANO:
		return true
	}
	return false
}

func resolveDistinct(name string, args []Expr) (*Call, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("%w: %s takes 2 operands", ErrInvalidArg, name)
	}
	t, cargs, err := unify("IS DISTINCT FROM", args)
	if err != nil || !comparable(t) {
		return nil, noOperator("IS DISTINCT FROM", args)
	}
	not := name == "is_not_distinct_from"
	return newCall(name, Bool, &kernel{fn: func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
		return distinctKernel(ctx, args[0], args[1], n, t, not)
	}}, cargs...), nil
}

func toBool(what string, e Expr) (Expr, error) {
	t := e.Type()
	if t.ID() == arrow.BOOL {
		return e, nil
	}
	if isUnknownLit(e) {
		return coerce(e, Bool)
	}
	return nil, fmt.Errorf("%w: argument of %s must be type boolean, not type %s", ErrType, what, TypeName(t))
}

func resolveAndOr(name string, args []Expr) (*Call, error) {
	if len(args) < 2 {
		return nil, fmt.Errorf("%w: %s takes 2 operands", ErrInvalidArg, name)
	}
	out := make([]Expr, len(args))
	for i, a := range args {
		b, err := toBool(strings.ToUpper(name), a)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	// more than two operands nest to the left: a AND b AND c = (a AND b) AND c
	c := newCall(name, Bool, &kernel{lazy: evalAndOr}, out[0], out[1])
	for _, x := range out[2:] {
		c = newCall(name, Bool, &kernel{lazy: evalAndOr}, c, x)
	}
	return c, nil
}

func resolveNot(name string, args []Expr) (*Call, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("%w: not takes 1 operand", ErrInvalidArg)
	}
	a, err := toBool("NOT", args[0])
	if err != nil {
		return nil, err
	}
	return newCall(name, Bool, strictKernel(notKernel), a), nil
}

func resolveIsNull(name string, args []Expr) (*Call, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("%w: %s takes 1 operand", ErrInvalidArg, name)
	}
	return newCall(name, Bool, &kernel{fn: isNullKernel(name == "is_not_null")}, args[0]), nil
}

// NewLit is a convenience for tests and planners: a Literal of a Go value
// (bool, int16, int32, int, int64, float32, float64, string, []byte, nil).
func NewLit(v any) *Literal {
	switch v := v.(type) {
	case nil:
		return Null()
	case int:
		if v == int(int32(v)) {
			return &Literal{Value: scalar.NewInt32Scalar(int32(v))}
		}
		return &Literal{Value: scalar.NewInt64Scalar(int64(v))}
	case scalar.Scalar:
		return &Literal{Value: v}
	}
	return &Literal{Value: scalar.MakeScalar(v)}
}
