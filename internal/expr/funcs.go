package expr

import (
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

func registerMore() {
	register(resolveConcatOp, "||")
	register(resolveLike, "like", "ilike", "not_like", "not_ilike")
	register(resolveIn, "in", "not_in")
	register(resolveBetween, "between", "not_between")
	register(resolveCoalesce, "coalesce")
	register(resolveNullif, "nullif")
	register(resolveGreatest, "greatest", "least")
	registerStrings()
	registerMath()
	registerTime()
}

// argsAs coerces unknown literals among args to t and checks each arg with ok.
func argsAs(name string, args []Expr, t arrow.DataType, ok func(arrow.DataType) bool) ([]Expr, error) {
	out := make([]Expr, len(args))
	for i, a := range args {
		if isUnknownLit(a) {
			c, err := coerce(a, t)
			if err != nil {
				return nil, err
			}
			a = c
		}
		if !ok(a.Type()) {
			return nil, noFunction(name, args)
		}
		out[i] = a
	}
	return out, nil
}

func resolveConcatOp(name string, args []Expr) (*Call, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("%w: || takes 2 operands", ErrInvalidArg)
	}
	a, b := args[0], args[1]
	if !isText(a.Type()) && !isText(b.Type()) && !isUnknownLit(a) && !isUnknownLit(b) {
		if a.Type().ID() == arrow.BINARY && b.Type().ID() == arrow.BINARY {
			return newCall(name, Bytea, strictKernel(concatKernel(false)), a, b), nil
		}
		return nil, noOperator(name, args)
	}
	var err error
	if a, err = coerce(a, Text); err != nil {
		return nil, err
	}
	if b, err = coerce(b, Text); err != nil {
		return nil, err
	}
	return newCall(name, Text, strictKernel(concatKernel(false)), a, b), nil
}

// concatKernel concatenates text args per row; skipNulls makes it concat() (NULL
// arguments ignored, never NULL), otherwise || (strict).
func concatKernel(skipNulls bool) func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
	return func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
		mem := ctx.mem()
		ops := make([]bytesOp, len(args))
		var arrs []arrow.Array
		for i, a := range args {
			if a.isNullConst() {
				ops[i] = bytesOp{vc: true}
				continue
			}
			ops[i] = bytesOperand(a)
			arrs = append(arrs, a.arr)
		}
		var vb *memory.Buffer
		nulls := 0
		var valid []byte
		if !skipNulls {
			vb, nulls = andValidity(mem, n, arrs...)
		}
		if vb != nil {
			valid = vb.Bytes()
		}
		sb := newStrBuilder(mem, n, 0)
		var row []byte
		for i := range n {
			row = row[:0]
			if validAt(valid, i) {
				for j, o := range ops {
					if skipNulls && args[j].arr != nil && args[j].arr.IsNull(i) {
						continue
					}
					row = append(row, o.at(i)...)
				}
			}
			sb.add(row)
		}
		return sb.finish(c.T, vb, nulls), nil
	}
}

func resolveIn(name string, args []Expr) (*Call, error) {
	if len(args) < 2 {
		return nil, fmt.Errorf("%w: IN needs a value and at least one list element", ErrInvalidArg)
	}
	t, cargs, err := unify("IN", args)
	if err != nil {
		return nil, err
	}
	if !comparable(t) {
		return nil, noOperator("=", args[:2])
	}
	not := name == "not_in"
	return newCall(name, Bool, &kernel{fn: func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
		return inKernel(ctx, args, n, t, not)
	}}, cargs...), nil
}

// inKernel: TRUE if x equals an element; otherwise NULL if x or any compared
// element is NULL; otherwise FALSE. NOT IN inverts TRUE/FALSE.
func inKernel(ctx *Context, args []datum, n int, t arrow.DataType, not bool) (arrow.Array, error) {
	mem := ctx.mem()
	x := args[0]
	fb, found := allocBits(mem, n)
	ub, unknown := allocBits(mem, n)
	defer ub.Release()
	fw, uw := words(found), words(unknown)
	eb, eq := allocBits(mem, n)
	defer eb.Release()
	ew := words(eq)
	xv, _ := andValidity(mem, n, x.arr)
	if x.isNullConst() {
		bitutil.SetBitsTo(unknown, 0, int64(n), true)
	}
	for _, v := range args[1:] {
		if x.isNullConst() {
			break
		}
		if v.isNullConst() {
			bitutil.SetBitsTo(unknown, 0, int64(n), true)
			continue
		}
		compareInto(opEq, x, v, n, t, eq)
		vv, _ := andValidity(mem, n, x.arr, v.arr)
		if vv == nil {
			for i := range fw {
				fw[i] |= ew[i]
			}
		} else {
			vw := words(vv.Bytes())
			for i := range fw {
				fw[i] |= ew[i] & vw[i]
				uw[i] |= ^vw[i]
			}
			vv.Release()
		}
	}
	if xv != nil {
		xv.Release()
	}
	mb, valid := allocBits(mem, n)
	mw := words(valid)
	for i := range mw {
		mw[i] = fw[i] | ^uw[i]
		if not {
			fw[i] = ^fw[i]
		}
	}
	nulls := n - bitutil.CountSetBits(valid, 0, n)
	if nulls == 0 {
		mb.Release()
		mb = nil
	}
	return makeArray(Bool, n, nulls, mb, fb), nil
}

func resolveBetween(name string, args []Expr) (*Call, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("%w: BETWEEN takes 3 operands", ErrInvalidArg)
	}
	t, cargs, err := unify("BETWEEN", midnightToDate(args))
	if err != nil {
		return nil, err
	}
	if !comparable(t) {
		return nil, noOperator(">=", args[:2])
	}
	not := name == "not_between"
	return newCall(name, Bool, &kernel{fn: func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
		op1, op2 := opGe, opLe
		if not {
			op1, op2 = opLt, opGt
		}
		l, err := compareKernelN(ctx, op1, args[0], args[1], n, t)
		if err != nil {
			return nil, err
		}
		defer l.Release()
		r, err := compareKernelN(ctx, op2, args[0], args[2], n, t)
		if err != nil {
			return nil, err
		}
		defer r.Release()
		return logic3(ctx, !not, l, r, n), nil
	}}, cargs...), nil
}

// compareKernelN compares with NULL constants allowed (giving all-NULL rows).
func compareKernelN(ctx *Context, op int, a, b datum, n int, t arrow.DataType) (arrow.Array, error) {
	if a.isNullConst() || b.isNullConst() {
		ob, _ := allocBits(ctx.mem(), n)
		mb, _ := allocBits(ctx.mem(), n)
		return makeArray(Bool, n, n, mb, ob), nil
	}
	return compareKernel(ctx, op, a, b, n, t)
}

func resolveCoalesce(name string, args []Expr) (*Call, error) {
	if len(args) == 0 {
		return nil, noFunction(name, args)
	}
	t, cargs, err := unify("COALESCE", args)
	if err != nil {
		return nil, err
	}
	return newCall(name, t, &kernel{lazy: evalCoalesce}, cargs...), nil
}

// evalCoalesce evaluates every argument on all rows and picks the first non-NULL;
// if an argument fails there, it evaluates each argument only on the rows still
// NULL, as PostgreSQL does.
func evalCoalesce(ctx *Context, c *Call, b arrow.RecordBatch, n int) (datum, error) {
	if b == nil && len(Columns(c)) == 0 {
		n = 1
	} else if out, ok := coalesceFast(ctx, c, b, n); ok {
		return datum{arr: out}, nil
	}
	p := pick{part: make([]int32, n), pos: make([]int32, n)}
	for i := range p.part {
		p.part[i] = -1
	}
	var parts []arrow.Array
	defer func() { releaseArrays(parts) }()
	var rows []int32
	left := n
	for _, a := range c.Args {
		if left == 0 {
			break
		}
		arr, err := evalOn(ctx, a, b, n, rows)
		if err != nil {
			return datum{}, err
		}
		parts = append(parts, arr)
		var rest []int32
		for j := range arr.Len() {
			r := int32(j)
			if rows != nil {
				r = rows[j]
			}
			if arr.IsValid(j) {
				p.part[r], p.pos[r] = int32(len(parts)-1), int32(j)
			} else {
				rest = append(rest, r)
			}
		}
		if rest == nil {
			rest = []int32{}
		}
		rows, left = rest, len(rest)
	}
	out, err := assemble(ctx, c.T, parts, p)
	if err != nil {
		return datum{}, err
	}
	if b == nil && len(Columns(c)) == 0 {
		defer out.Release()
		sc, err := scalarAt(out, 0)
		return datum{sc: sc}, err
	}
	return datum{arr: out}, nil
}

func coalesceFast(ctx *Context, c *Call, b arrow.RecordBatch, n int) (arrow.Array, bool) {
	parts := make([]datum, 0, len(c.Args))
	defer func() { releaseAll(parts) }()
	p := pick{part: make([]int32, n), pos: make([]int32, n)}
	for i := range p.part {
		p.part[i] = -1
		p.pos[i] = int32(i)
	}
	left := n
	for _, a := range c.Args {
		if left == 0 {
			break
		}
		d, err := evalDatum(ctx, a, b, n)
		if err != nil {
			return nil, false
		}
		k := int32(len(parts))
		parts = append(parts, d)
		switch {
		case d.arr == nil && !d.sc.IsValid():
		case d.arr == nil:
			for i := range n {
				if p.part[i] < 0 {
					p.part[i] = k
				}
			}
			left = 0
		default:
			valid, off := bitmapOf(d.arr)
			for i := range n {
				if p.part[i] < 0 && (valid == nil || bitutil.BitIsSet(valid, off+i)) {
					p.part[i] = k
					left--
				}
			}
		}
	}
	return mergeRows(ctx, c.T, parts, p)
}

func resolveNullif(name string, args []Expr) (*Call, error) {
	if len(args) != 2 {
		return nil, noFunction(name, args)
	}
	t, cargs, err := unify("NULLIF", args)
	if err != nil {
		return nil, err
	}
	if !comparable(t) {
		return nil, noOperator("=", args)
	}
	return newCall(name, t, &kernel{fn: func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
		arrs, err := materialize(ctx, args[:1], n)
		if err != nil {
			return nil, err
		}
		a := arrs[0]
		defer a.Release()
		if args[1].isNullConst() || a.DataType().ID() == arrow.NULL {
			a.Retain()
			return a, nil
		}
		eq, err := compareKernel(ctx, opEq, datum{arr: a}, args[1], n, t)
		if err != nil {
			return nil, err
		}
		defer eq.Release()
		ev := boolOperand(datum{arr: eq})
		p := pick{part: make([]int32, n), pos: make([]int32, n)}
		for i := range n {
			p.pos[i] = int32(i)
			if eq.IsValid(i) && ev.at(i) {
				p.part[i] = -1
			}
		}
		return assemble(ctx, t, []arrow.Array{a}, p)
	}}, cargs...), nil
}

func resolveGreatest(name string, args []Expr) (*Call, error) {
	if len(args) == 0 {
		return nil, noFunction(name, args)
	}
	t, cargs, err := unify(strings.ToUpper(name), args)
	if err != nil {
		return nil, err
	}
	if !comparable(t) {
		return nil, noFunction(name, args)
	}
	op := opGt
	if name == "least" {
		op = opLt
	}
	return newCall(name, t, &kernel{fn: func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
		arrs, err := materialize(ctx, args, n)
		if err != nil {
			return nil, err
		}
		defer releaseArrays(arrs)
		best := arrs[0]
		best.Retain()
		defer func() { best.Release() }()
		mem := ctx.mem()
		for _, a := range arrs[1:] {
			if a.DataType().ID() == arrow.NULL || a.NullN() == n {
				continue
			}
			if best.DataType().ID() == arrow.NULL {
				best.Release()
				best = a
				best.Retain()
				continue
			}
			cb, cmpBits := allocBits(mem, n)
			compareInto(op, datum{arr: a}, datum{arr: best}, n, t, cmpBits)
			p := pick{part: make([]int32, n), pos: make([]int32, n)}
			for i := range n {
				p.pos[i] = int32(i)
				if a.IsValid(i) && (best.IsNull(i) || bitutil.BitIsSet(cmpBits, i)) {
					p.part[i] = 1
				}
			}
			cb.Release()
			nb, err := assemble(ctx, t, []arrow.Array{best, a}, p)
			if err != nil {
				return nil, err
			}
			best.Release()
			best = nb
		}
		best.Retain()
		return best, nil
	}}, cargs...), nil
}

// unaryFloat wraps a float64 function as a kernel.
func floatMap(f func(float64) float64) func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
	return func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
		a := args[0].arr
		mem := ctx.mem()
		vb, nulls := andValidity(mem, n, a)
		if c.T.ID() == arrow.FLOAT32 {
			ob, out := allocFixed[float32](mem, n)
			for i, v := range vals[float32](a) {
				out[i] = float32(f(float64(v)))
			}
			return makeArray(c.T, n, nulls, vb, ob), nil
		}
		ob, out := allocFixed[float64](mem, n)
		for i, v := range vals[float64](a) {
			out[i] = f(v)
		}
		return makeArray(c.T, n, nulls, vb, ob), nil
	}
}

func registerMath() {
	register(func(name string, args []Expr) (*Call, error) {
		args, err := argsAs(name, args, Float64, isNumeric)
		if err != nil || len(args) != 1 {
			return nil, noFunction(name, args)
		}
		t := args[0].Type()
		switch {
		case isFloat(t):
			return newCall(name, t, strictKernel(floatMap(math.Abs)), args...), nil
		case isInt(t):
			return newCall(name, t, strictKernel(func(ctx *Context, c *Call, a []datum, n int) (arrow.Array, error) {
				neg, err := negate(ctx, a[0].arr, t)
				if err != nil {
					return nil, err
				}
				defer neg.Release()
				return greaterOf(ctx, a[0].arr, neg, t)
			}), args...), nil
		default:
			return newCall(name, t, strictKernel(func(ctx *Context, c *Call, a []datum, n int) (arrow.Array, error) {
				return decMap(ctx, a[0].arr, t, func(v num) num { return v.Abs() })
			}), args...), nil
		}
	}, "abs")
	register(resolveRound, "round", "floor", "ceil", "ceiling", "trunc")
	register(func(name string, args []Expr) (*Call, error) {
		args, err := argsAs(name, args, Float64, isNumeric)
		if err != nil || len(args) != 1 {
			return nil, noFunction(name, args)
		}
		t := args[0].Type()
		if isDec(t) {
			return newCall(name, Numeric(maxPrec, 0), strictKernel(func(ctx *Context, c *Call, a []datum, n int) (arrow.Array, error) {
				return decMap(ctx, a[0].arr, c.T, func(v num) num { return decimalFromInt(int64(v.Sign())) })
			}), args...), nil
		}
		a, err := coerce(args[0], Float64)
		if err != nil {
			return nil, err
		}
		return newCall(name, Float64, strictKernel(floatMap(func(f float64) float64 {
			switch {
			case f > 0:
				return 1
			case f < 0:
				return -1
			}
			return f
		})), a), nil
	}, "sign")
	register(func(name string, args []Expr) (*Call, error) {
		args, err := argsAs(name, args, Float64, isNumeric)
		if err != nil || len(args) != 1 {
			return nil, noFunction(name, args)
		}
		a, err := coerce(args[0], Float64)
		if err != nil {
			return nil, err
		}
		return newCall(name, Float64, strictKernel(func(ctx *Context, c *Call, d []datum, n int) (arrow.Array, error) {
			a := d[0].arr
			vb, _ := andValidity(ctx.mem(), n, a)
			var valid []byte
			if vb != nil {
				valid = vb.Bytes()
				defer vb.Release()
			}
			if firstBad(valid, n, func(i int) bool { return vals[float64](a)[i] < 0 }) >= 0 {
				return nil, fmt.Errorf("%w: cannot take square root of a negative number", ErrInvalidArg)
			}
			return floatMap(math.Sqrt)(ctx, c, d, n)
		}), a), nil
	}, "sqrt")
	register(func(name string, args []Expr) (*Call, error) {
		if len(args) != 2 {
			return nil, noFunction(name, args)
		}
		return resolveArith("%", args)
	}, "mod")
}

func decimalFromInt(v int64) num { return num{}.Add(scalarNum(v)) }

func scalarNum(v int64) num { return mul64x64(v, 1) }

// greaterOf picks per row the larger of two same-typed arrays (for abs).
func greaterOf(ctx *Context, a, b arrow.Array, t arrow.DataType) (arrow.Array, error) {
	n := a.Len()
	cb, bits := allocBits(ctx.mem(), n)
	defer cb.Release()
	compareInto(opGe, datum{arr: a}, datum{arr: b}, n, t, bits)
	p := pick{part: make([]int32, n), pos: make([]int32, n)}
	for i := range n {
		p.pos[i] = int32(i)
		if a.IsNull(i) {
			p.part[i] = -1
		} else if !bitutil.BitIsSet(bits, i) {
			p.part[i] = 1
		}
	}
	return assemble(ctx, t, []arrow.Array{a, b}, p)
}

// decMap applies f to every decimal row, producing type t.
func decMap(ctx *Context, a arrow.Array, t arrow.DataType, f func(num) num) (arrow.Array, error) {
	n := a.Len()
	mem := ctx.mem()
	vb, nulls := andValidity(mem, n, a)
	ob, out := allocFixed[num](mem, n)
	for i, v := range vals[num](a) {
		out[i] = f(v)
	}
	return makeArray(t, n, nulls, vb, ob), nil
}

// resolveRound: round/trunc(numeric[, digits]), floor/ceil(numeric) give numeric;
// on floats round is half-to-even (rint) like PostgreSQL; integers go to double
// precision as PostgreSQL's preferred type.
func resolveRound(name string, args []Expr) (*Call, error) {
	if len(args) < 1 || len(args) > 2 || (len(args) == 2 && name != "round" && name != "trunc") {
		return nil, noFunction(name, args)
	}
	x := args[0]
	if isUnknownLit(x) {
		var err error
		if x, err = coerce(x, Numeric(maxPrec, 6)); err != nil {
			return nil, err
		}
	}
	t := x.Type()
	if !isNumeric(t) {
		return nil, noFunction(name, args)
	}
	if len(args) == 2 {
		d, err := coerce(args[1], Int32)
		if err != nil || !isInt(d.Type()) {
			return nil, noFunction(name, args)
		}
		if !isDec(t) {
			if isFloat(t) {
				return nil, noFunction(name, args)
			}
			if x, err = coerce(x, asDecimal(t)); err != nil {
				return nil, err
			}
			t = x.Type()
		}
		s := decScale(t)
		rs := s
		if l, ok := d.(*Literal); ok && l.Value.IsValid() {
			rs = max(0, min(constVal[int32](l.Value), maxPrec))
		}
		rt := Numeric(maxPrec, rs)
		trunc := name == "trunc"
		return newCall(name, rt, strictKernel(func(ctx *Context, c *Call, a []datum, n int) (arrow.Array, error) {
			return roundDec(ctx, a[0], a[1], n, s, rs, trunc, rt)
		}), x, d), nil
	}
	if isInt(t) {
		var err error
		if x, err = coerce(x, Float64); err != nil {
			return nil, err
		}
		t = Float64
	}
	if isFloat(t) {
		f := map[string]func(float64) float64{"round": math.RoundToEven, "floor": math.Floor, "ceil": math.Ceil, "ceiling": math.Ceil, "trunc": math.Trunc}[name]
		return newCall(name, t, strictKernel(floatMap(f)), x), nil
	}
	s := decScale(t)
	rt := Numeric(min(maxPrec, decPrec(t)-s+1), 0)
	return newCall(name, rt, strictKernel(func(ctx *Context, c *Call, a []datum, n int) (arrow.Array, error) {
		p := pow10[min(s, 38)]
		return decMap(ctx, a[0].arr, rt, func(v num) num {
			switch name {
			case "round":
				return scaleDown(v, s)
			case "trunc":
				q, _ := v.Div(p)
				return q
			}
			q, r := v.Div(p)
			if r.Sign() != 0 && (name == "floor") == (v.Sign() < 0) {
				if name == "floor" {
					q = q.Sub(scalarNum(1))
				} else {
					q = q.Add(scalarNum(1))
				}
			}
			return q
		})
	}), x), nil
}

// roundDec rounds x (scale s) to d digits after the point, giving scale rs.
func roundDec(ctx *Context, x, d datum, n int, s, rs int32, trunc bool, rt arrow.DataType) (arrow.Array, error) {
	mem := ctx.mem()
	vb, nulls := andValidity(mem, n, x.arr, d.arr)
	ob, out := allocFixed[num](mem, n)
	xv, dv := operandOf[num](x), operandOf[int32](d)
	var valid []byte
	if vb != nil {
		valid = vb.Bytes()
	}
	for i := range n {
		if !validAt(valid, i) {
			out[i] = num{}
			continue
		}
		v, digits := xv.at(i), dv.at(i)
		// drop to scale digits (rounded or truncated), then express at scale rs
		k := s - digits
		if k > 0 {
			if trunc {
				v, _ = v.Div(pow10[min(k, 38)])
			} else {
				v = scaleDown(v, k)
			}
			v, _ = scaleUp(v, min(k, 38)) // back to scale s, zeros
		}
		if rs < s {
			v = scaleDown(v, s-rs)
		} else if rs > s {
			var ok bool
			if v, ok = scaleUp(v, rs-s); !ok {
				ob.Release()
				if vb != nil {
					vb.Release()
				}
				return nil, errNumericOverflow
			}
		}
		out[i] = v
	}
	return makeArray(rt, n, nulls, vb, ob), nil
}

var _ = scalar.NewInt32Scalar
