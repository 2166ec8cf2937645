package expr

import (
	"math"
	"math/bits"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

type intT interface{ ~int16 | ~int32 | ~int64 }
type floatT interface{ ~float32 | ~float64 }

// operand is a datum viewed as values of T: a column (v) or a constant (c).
type operand[T any] struct {
	v  []T
	c  T
	vc bool // constant
}

func operandOf[T any](d datum) operand[T] {
	if d.arr != nil {
		return operand[T]{v: vals[T](d.arr)}
	}
	return operand[T]{c: constVal[T](d.sc), vc: true}
}

func (o operand[T]) at(i int) T {
	if o.vc {
		return o.c
	}
	return o.v[i]
}

// firstBad returns the first non-NULL row where bad holds, or -1.
func firstBad(valid []byte, n int, bad func(i int) bool) int {
	for i := range n {
		if validAt(valid, i) && bad(i) {
			return i
		}
	}
	return -1
}

func intMin[T intT]() T {
	var z T
	return T(-1) << (unsafe.Sizeof(z)*8 - 1)
}

// intArith evaluates a op b for integers of type T, with PostgreSQL's overflow and
// division errors (reported only for non-NULL rows).
func intArith[T intT](ctx *Context, op byte, a, b datum, n int, dt arrow.DataType) (arrow.Array, error) {
	mem := ctx.mem()
	vb, nulls := andValidity(mem, n, a.arr, b.arr)
	var valid []byte
	if vb != nil {
		valid = vb.Bytes()
	}
	ob, out := allocFixed[T](mem, n)
	x, y := operandOf[T](a), operandOf[T](b)
	fail := func(err error) (arrow.Array, error) {
		ob.Release()
		if vb != nil {
			vb.Release()
		}
		return nil, err
	}
	rangeErr := rangeError{TypeName(dt)}
	var z T
	wide := unsafe.Sizeof(z) == 8
	switch op {
	case '+', '-':
		var ov T
		neg := op == '-'
		switch {
		case !x.vc && !y.vc:
			if neg {
				for i := range out {
					r := x.v[i] - y.v[i]
					ov |= (x.v[i] ^ y.v[i]) & (x.v[i] ^ r)
					out[i] = r
				}
			} else {
				for i := range out {
					r := x.v[i] + y.v[i]
					ov |= (x.v[i] ^ r) & (y.v[i] ^ r)
					out[i] = r
				}
			}
		case !x.vc:
			c := y.c
			if neg {
				for i, v := range x.v {
					r := v - c
					ov |= (v ^ c) & (v ^ r)
					out[i] = r
				}
			} else {
				for i, v := range x.v {
					r := v + c
					ov |= (v ^ r) & (c ^ r)
					out[i] = r
				}
			}
		default:
			c := x.c
			if neg {
				for i, v := range y.v {
					r := c - v
					ov |= (c ^ v) & (c ^ r)
					out[i] = r
				}
			} else {
				for i, v := range y.v {
					r := c + v
					ov |= (c ^ r) & (v ^ r)
					out[i] = r
				}
			}
		}
		if ov < 0 && firstBad(valid, n, func(i int) bool {
			p, q := x.at(i), y.at(i)
			if neg {
				r := p - q
				return (p^q)&(p^r) < 0
			}
			r := p + q
			return (p^r)&(q^r) < 0
		}) >= 0 {
			return fail(rangeErr)
		}
	case '*':
		bad := false
		mulBad := func(p, q T) bool {
			if wide {
				hi, lo := bits.Mul64(uint64(p), uint64(q))
				hi -= uint64(int64(p)>>63) & uint64(q)
				hi -= uint64(int64(q)>>63) & uint64(p)
				return int64(hi) != int64(lo)>>63
			}
			r := int64(p) * int64(q)
			return r != int64(T(r))
		}
		if wide {
			for i := range out {
				p, q := x.at(i), y.at(i)
				hi, lo := bits.Mul64(uint64(p), uint64(q))
				hi -= uint64(int64(p)>>63) & uint64(q)
				hi -= uint64(int64(q)>>63) & uint64(p)
				bad = bad || int64(hi) != int64(lo)>>63
				out[i] = T(lo)
			}
		} else if !x.vc && !y.vc {
			for i := range out {
				r := int64(x.v[i]) * int64(y.v[i])
				bad = bad || r != int64(T(r))
				out[i] = T(r)
			}
		} else {
			for i := range out {
				r := int64(x.at(i)) * int64(y.at(i))
				bad = bad || r != int64(T(r))
				out[i] = T(r)
			}
		}
		if bad && firstBad(valid, n, func(i int) bool { return mulBad(x.at(i), y.at(i)) }) >= 0 {
			return fail(rangeErr)
		}
	case '/', '%':
		mod := op == '%'
		minT := intMin[T]()
		if y.vc {
			c := y.c
			if c == 0 {
				if nulls < n {
					return fail(ErrDivisionByZero)
				}
				clear(out)
				break
			}
			if c == -1 {
				for i, v := range x.v {
					if mod {
						out[i] = 0
					} else {
						out[i] = -v
					}
				}
				if !mod && firstBad(valid, n, func(i int) bool { return x.v[i] == minT }) >= 0 {
					return fail(rangeErr)
				}
				break
			}
			if mod {
				for i, v := range x.v {
					out[i] = v % c
				}
			} else {
				for i, v := range x.v {
					out[i] = v / c
				}
			}
			break
		}
		if firstBad(valid, n, func(i int) bool { return y.v[i] == 0 }) >= 0 {
			return fail(ErrDivisionByZero)
		}
		bad := false
		for i := range out {
			p, q := x.at(i), y.v[i]
			if q == 0 { // a NULL row
				q = 1
			}
			if q == -1 {
				bad = bad || p == minT
				if mod {
					out[i] = 0
				} else {
					out[i] = -p
				}
				continue
			}
			if mod {
				out[i] = p % q
			} else {
				out[i] = p / q
			}
		}
		if bad && !mod && firstBad(valid, n, func(i int) bool { return y.v[i] == -1 && x.at(i) == minT }) >= 0 {
			return fail(rangeErr)
		}
	}
	return makeArray(dt, n, nulls, vb, ob), nil
}

// floatArith evaluates a op b for floats; division by zero is an error and a
// finite result overflowing to infinity is "value out of range: overflow", as in
// PostgreSQL.
func floatArith[T floatT](ctx *Context, op byte, a, b datum, n int, dt arrow.DataType) (arrow.Array, error) {
	mem := ctx.mem()
	vb, nulls := andValidity(mem, n, a.arr, b.arr)
	var valid []byte
	if vb != nil {
		valid = vb.Bytes()
	}
	ob, out := allocFixed[T](mem, n)
	x, y := operandOf[T](a), operandOf[T](b)
	fail := func(err error) (arrow.Array, error) {
		ob.Release()
		if vb != nil {
			vb.Release()
		}
		return nil, err
	}
	switch op {
	case '+':
		if !x.vc && !y.vc {
			for i := range out {
				out[i] = x.v[i] + y.v[i]
			}
		} else {
			for i := range out {
				out[i] = x.at(i) + y.at(i)
			}
		}
	case '-':
		if !x.vc && !y.vc {
			for i := range out {
				out[i] = x.v[i] - y.v[i]
			}
		} else {
			for i := range out {
				out[i] = x.at(i) - y.at(i)
			}
		}
	case '*':
		if !x.vc && !y.vc {
			for i := range out {
				out[i] = x.v[i] * y.v[i]
			}
		} else {
			for i := range out {
				out[i] = x.at(i) * y.at(i)
			}
		}
	case '/':
		if firstBad(valid, n, func(i int) bool { return y.at(i) == 0 }) >= 0 {
			return fail(ErrDivisionByZero)
		}
		for i := range out {
			out[i] = x.at(i) / y.at(i)
		}
	}
	var inf bool
	for _, v := range out {
		inf = inf || math.IsInf(float64(v), 0)
	}
	if inf && firstBad(valid, n, func(i int) bool {
		return math.IsInf(float64(out[i]), 0) && !math.IsInf(float64(x.at(i)), 0) && !math.IsInf(float64(y.at(i)), 0)
	}) >= 0 {
		return fail(errFloatOverflow)
	}
	return makeArray(dt, n, nulls, vb, ob), nil
}

// decArith evaluates a op b on decimals. For + - % both have the result scale; for *
// the result scale is the sum; for / it is the type's scale.
func decArith(ctx *Context, op byte, a, b datum, n int, ta, tb, dt arrow.DataType) (arrow.Array, error) {
	mem := ctx.mem()
	vb, nulls := andValidity(mem, n, a.arr, b.arr)
	var valid []byte
	if vb != nil {
		valid = vb.Bytes()
	}
	ob, out := allocFixed[num](mem, n)
	x, y := operandOf[num](a), operandOf[num](b)
	fail := func(err error) (arrow.Array, error) {
		ob.Release()
		if vb != nil {
			vb.Release()
		}
		return nil, err
	}
	bad := false
	switch op {
	case '+', '-':
		sub := op == '-'
		for i := range out {
			p, q := x.at(i), y.at(i)
			if is64(p) && is64(q) { // the common case: both fit in 64 bits
				a, b := int64(p.LowBits()), int64(q.LowBits())
				var r int64
				var of bool
				if sub {
					r = a - b
					of = (a^b)&(a^r) < 0
				} else {
					r = a + b
					of = (a^r)&(b^r) < 0
				}
				if !of {
					out[i] = decimal128.FromI64(r)
					continue
				}
			}
			var r num
			var ok bool
			if sub {
				r, ok = sub128(p, q)
			} else {
				r, ok = add128(p, q)
			}
			bad = bad || !ok
			out[i] = r
		}
	case '*':
		if !x.vc && !y.vc {
			for i := range out {
				p, q := x.v[i], y.v[i]
				if is64(p) && is64(q) {
					out[i] = mul64x64(int64(p.LowBits()), int64(q.LowBits()))
					continue
				}
				r, ok := mul128(p, q)
				bad = bad || !ok
				out[i] = r
			}
		} else {
			for i := range out {
				r, ok := mul128(x.at(i), y.at(i))
				bad = bad || !ok
				out[i] = r
			}
		}
	case '/', '%':
		if firstBad(valid, n, func(i int) bool { return y.at(i).Sign() == 0 }) >= 0 {
			return fail(ErrDivisionByZero)
		}
		sa, sb, s := decScale(ta), decScale(tb), decScale(dt)
		for i := range out {
			p, q := x.at(i), y.at(i)
			if q.Sign() == 0 {
				out[i] = num{}
				continue
			}
			if op == '%' {
				out[i] = modDec(p, q)
				continue
			}
			r, ok := divDec(p, sa, q, sb, s)
			bad = bad || !ok
			out[i] = r
		}
	}
	if bad {
		if firstBad(valid, n, func(i int) bool { return !fits38(out[i]) || badDec(op, x.at(i), y.at(i)) }) >= 0 {
			return fail(errNumericOverflow)
		}
	}
	return makeArray(dt, n, nulls, vb, ob), nil
}

// badDec recomputes whether one row overflowed.
func badDec(op byte, p, q num) bool {
	var ok bool
	switch op {
	case '+':
		_, ok = add128(p, q)
	case '-':
		_, ok = sub128(p, q)
	case '*':
		_, ok = mul128(p, q)
	default:
		return false
	}
	return !ok
}

// negate is unary minus.
func negate(ctx *Context, a arrow.Array, dt arrow.DataType) (arrow.Array, error) {
	mem := ctx.mem()
	n := a.Len()
	vb, nulls := andValidity(mem, n, a)
	var valid []byte
	if vb != nil {
		valid = vb.Bytes()
	}
	fail := func(ob *memory.Buffer, err error) (arrow.Array, error) {
		ob.Release()
		if vb != nil {
			vb.Release()
		}
		return nil, err
	}
	switch dt.ID() {
	case arrow.INT16:
		ob, err := negInt[int16](mem, a, valid)
		if err != nil {
			return fail(ob, rangeError{TypeName(dt)})
		}
		return makeArray(dt, n, nulls, vb, ob), nil
	case arrow.INT32:
		ob, err := negInt[int32](mem, a, valid)
		if err != nil {
			return fail(ob, rangeError{TypeName(dt)})
		}
		return makeArray(dt, n, nulls, vb, ob), nil
	case arrow.INT64:
		ob, err := negInt[int64](mem, a, valid)
		if err != nil {
			return fail(ob, rangeError{TypeName(dt)})
		}
		return makeArray(dt, n, nulls, vb, ob), nil
	case arrow.FLOAT32:
		ob, out := allocFixed[float32](mem, n)
		for i, v := range vals[float32](a) {
			out[i] = -v
		}
		return makeArray(dt, n, nulls, vb, ob), nil
	case arrow.FLOAT64:
		ob, out := allocFixed[float64](mem, n)
		for i, v := range vals[float64](a) {
			out[i] = -v
		}
		return makeArray(dt, n, nulls, vb, ob), nil
	case arrow.DECIMAL128:
		ob, out := allocFixed[num](mem, n)
		for i, v := range vals[num](a) {
			out[i] = v.Negate()
		}
		return makeArray(dt, n, nulls, vb, ob), nil
	case arrow.INTERVAL_MONTH_DAY_NANO:
		ob, out := allocFixed[arrow.MonthDayNanoInterval](mem, n)
		for i, v := range vals[arrow.MonthDayNanoInterval](a) {
			out[i] = arrow.MonthDayNanoInterval{Months: -v.Months, Days: -v.Days, Nanoseconds: -v.Nanoseconds}
		}
		return makeArray(dt, n, nulls, vb, ob), nil
	}
	if vb != nil {
		vb.Release()
	}
	return nil, ErrType
}

func negInt[T intT](mem memory.Allocator, a arrow.Array, valid []byte) (*memory.Buffer, error) {
	ob, out := allocFixed[T](mem, a.Len())
	in := vals[T](a)
	minT := intMin[T]()
	bad := false
	for i, v := range in {
		bad = bad || v == minT
		out[i] = -v
	}
	if bad && firstBad(valid, len(in), func(i int) bool { return in[i] == minT }) >= 0 {
		return ob, ErrOutOfRange
	}
	return ob, nil
}
