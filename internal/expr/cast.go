package expr

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// NewCast is CAST(e AS to), checked against PostgreSQL's cast table (every type
// converts to and from text; numerics among themselves; date, timestamp and
// timestamptz among themselves; boolean to and from integer).
func NewCast(e Expr, to arrow.DataType) (Expr, error) {
	from := e.Type()
	nt, ok := normalize(to)
	if !ok || !sameType(nt, to) {
		return nil, fmt.Errorf("%w: cannot cast to %s (not a supported type)", ErrType, to)
	}
	if nf, ok := normalize(from); ok && !sameType(nf, from) {
		// input of a type PostgreSQL lacks: widen first
		return &Cast{E: &Cast{E: e, To: nf}, To: to}, nil
	} else if !ok {
		return nil, fmt.Errorf("%w: cannot cast type %s to %s", ErrType, from, TypeName(to))
	}
	if !castable(from, to) {
		return nil, fmt.Errorf("%w: cannot cast type %s to %s", ErrType, TypeName(from), TypeName(to))
	}
	if _, ok := e.(*Literal); ok {
		// a constant converts now: date '1998-09-02' is a date literal, and a bad
		// one fails here, as in PostgreSQL
		return coerce(e, to)
	}
	return &Cast{E: e, To: to}, nil
}

func castable(from, to arrow.DataType) bool {
	switch {
	case sameType(from, to), isNull(from), isText(from), isText(to):
		return true
	case isNumeric(from) && isNumeric(to):
		return true
	case isTemporal(from) && isTemporal(to):
		return true
	case from.ID() == arrow.BOOL && isInt(to), isInt(from) && to.ID() == arrow.BOOL:
		return true
	case from.ID() == arrow.BINARY && isText(to):
		return true
	}
	return false
}

// castDatum converts d from type from to type to.
func castDatum(ctx *Context, d datum, from, to arrow.DataType, n int) (datum, error) {
	if d.arr == nil {
		if !d.sc.IsValid() || isNull(from) {
			return datum{sc: scalar.MakeNullScalar(to)}, nil
		}
		return constCall(ctx, []datum{d}, func(one []datum) (arrow.Array, error) {
			return castArray(ctx, one[0].arr, to)
		})
	}
	a, err := castArray(ctx, d.arr, to)
	return datum{arr: a}, err
}

// castArray converts every row of a to type to.
func castArray(ctx *Context, a arrow.Array, to arrow.DataType) (arrow.Array, error) {
	from := a.DataType()
	mem := ctx.mem()
	n := a.Len()
	if sameType(from, to) {
		a.Retain()
		return a, nil
	}
	if isDec(from) && isDec(to) && decScale(from) == decScale(to) && decPrec(from) <= decPrec(to) {
		// the same unscaled values under a wider precision: share the buffers
		d := array.NewData(to, n, a.Data().Buffers(), nil, a.NullN(), a.Data().Offset())
		defer d.Release()
		return array.MakeFromData(d), nil
	}
	if isNull(from) || a.NullN() == n {
		return array.MakeArrayOfNull(mem, to, n), nil
	}
	if nf, ok := normalize(from); ok && !sameType(nf, from) {
		w, err := widen(ctx, a, nf)
		if err != nil {
			return nil, err
		}
		defer w.Release()
		return castArray(ctx, w, to)
	}
	vb, nulls := andValidity(mem, n, a)
	var valid []byte
	if vb != nil {
		valid = vb.Bytes()
	}
	fail := func(bufs ...*memory.Buffer) {
		for _, b := range bufs {
			if b != nil {
				b.Release()
			}
		}
	}
	if isText(to) {
		sb := newStrBuilder(mem, n, n*8)
		var buf []byte
		for i := range n {
			if !validAt(valid, i) {
				sb.add(nil)
				continue
			}
			buf = appendText(buf[:0], a, i)
			sb.add(buf)
		}
		return sb.finish(to, vb, nulls), nil
	}
	if isText(from) {
		return parseArray(ctx, a, to, vb, nulls)
	}
	switch to.ID() {
	case arrow.INT16:
		ob, out := allocFixed[int16](mem, n)
		if err := toInt(a, valid, out, math.MinInt16, math.MaxInt16, "smallint"); err != nil {
			fail(vb, ob)
			return nil, err
		}
		return makeArray(to, n, nulls, vb, ob), nil
	case arrow.INT32:
		ob, out := allocFixed[int32](mem, n)
		if err := toInt(a, valid, out, math.MinInt32, math.MaxInt32, "integer"); err != nil {
			fail(vb, ob)
			return nil, err
		}
		return makeArray(to, n, nulls, vb, ob), nil
	case arrow.INT64:
		ob, out := allocFixed[int64](mem, n)
		if err := toInt(a, valid, out, math.MinInt64, math.MaxInt64, "bigint"); err != nil {
			fail(vb, ob)
			return nil, err
		}
		return makeArray(to, n, nulls, vb, ob), nil
	case arrow.FLOAT32:
		ob, out := allocFixed[float32](mem, n)
		f64 := make([]float64, n)
		toFloat(a, f64)
		for i, v := range f64 {
			out[i] = float32(v)
		}
		return makeArray(to, n, nulls, vb, ob), nil
	case arrow.FLOAT64:
		ob, out := allocFixed[float64](mem, n)
		toFloat(a, out)
		return makeArray(to, n, nulls, vb, ob), nil
	case arrow.DECIMAL128:
		ob, out := allocFixed[num](mem, n)
		if err := toDecimal(a, valid, out, to.(*arrow.Decimal128Type)); err != nil {
			fail(vb, ob)
			return nil, err
		}
		return makeArray(to, n, nulls, vb, ob), nil
	case arrow.BOOL:
		ob, out := allocBits(mem, n)
		switch from.ID() {
		case arrow.INT16:
			v := vals[int16](a)
			packBits(out, n, func(i int) bool { return v[i] != 0 })
		case arrow.INT32:
			v := vals[int32](a)
			packBits(out, n, func(i int) bool { return v[i] != 0 })
		case arrow.INT64:
			v := vals[int64](a)
			packBits(out, n, func(i int) bool { return v[i] != 0 })
		}
		return makeArray(to, n, nulls, vb, ob), nil
	case arrow.DATE32:
		ob, out := allocFixed[int32](mem, n)
		if isTS(from) {
			for i, v := range vals[int64](a) {
				out[i] = int32(floorDiv(v, usPerDay))
			}
		}
		return makeArray(to, n, nulls, vb, ob), nil
	case arrow.TIMESTAMP:
		ob, out := allocFixed[int64](mem, n)
		switch {
		case isDate(from):
			for i, v := range vals[int32](a) {
				out[i] = int64(v) * usPerDay
			}
		case isTS(from):
			copy(out, vals[int64](a))
		}
		return makeArray(to, n, nulls, vb, ob), nil
	}
	fail(vb)
	return nil, fmt.Errorf("%w: cannot cast type %s to %s", ErrType, TypeName(from), TypeName(to))
}

const usPerDay = 86400 * 1000000

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// widen converts types PostgreSQL lacks to their normalized type.
func widen(ctx *Context, a arrow.Array, to arrow.DataType) (arrow.Array, error) {
	mem := ctx.mem()
	n := a.Len()
	vb, nulls := andValidity(mem, n, a)
	switch a := a.(type) {
	case *array.LargeString:
		sb := newStrBuilder(mem, n, 0)
		for i := range n {
			sb.addString(a.Value(i))
		}
		return sb.finish(to, vb, nulls), nil
	case *array.LargeBinary:
		sb := newStrBuilder(mem, n, 0)
		for i := range n {
			sb.add(a.Value(i))
		}
		return sb.finish(to, vb, nulls), nil
	case *array.Date64:
		ob, out := allocFixed[int32](mem, n)
		for i := range n {
			out[i] = int32(floorDiv(int64(a.Value(i)), 86400000))
		}
		return makeArray(to, n, nulls, vb, ob), nil
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		ob, out := allocFixed[int64](mem, n)
		for i := range n {
			v := int64(a.Value(i))
			switch unit {
			case arrow.Second:
				v *= 1e6
			case arrow.Millisecond:
				v *= 1e3
			case arrow.Nanosecond:
				v = floorDiv(v, 1e3)
			}
			out[i] = v
		}
		return makeArray(to, n, nulls, vb, ob), nil
	case *array.Float16:
		ob, out := allocFixed[float32](mem, n)
		for i := range n {
			out[i] = a.Value(i).Float32()
		}
		return makeArray(to, n, nulls, vb, ob), nil
	}
	if isInt(to) || isDec(to) {
		var get func(i int) int64
		var getU func(i int) uint64
		switch a := a.(type) {
		case *array.Int8:
			get = func(i int) int64 { return int64(a.Value(i)) }
		case *array.Uint8:
			get = func(i int) int64 { return int64(a.Value(i)) }
		case *array.Uint16:
			get = func(i int) int64 { return int64(a.Value(i)) }
		case *array.Uint32:
			get = func(i int) int64 { return int64(a.Value(i)) }
		case *array.Uint64:
			getU = func(i int) uint64 { return a.Value(i) }
		}
		switch {
		case to.ID() == arrow.INT16 && get != nil:
			ob, out := allocFixed[int16](mem, n)
			for i := range n {
				out[i] = int16(get(i))
			}
			return makeArray(to, n, nulls, vb, ob), nil
		case to.ID() == arrow.INT32 && get != nil:
			ob, out := allocFixed[int32](mem, n)
			for i := range n {
				out[i] = int32(get(i))
			}
			return makeArray(to, n, nulls, vb, ob), nil
		case to.ID() == arrow.INT64 && get != nil:
			ob, out := allocFixed[int64](mem, n)
			for i := range n {
				out[i] = get(i)
			}
			return makeArray(to, n, nulls, vb, ob), nil
		case isDec(to) && getU != nil:
			ob, out := allocFixed[num](mem, n)
			for i := range n {
				out[i] = decimal128.FromU64(getU(i))
			}
			return makeArray(to, n, nulls, vb, ob), nil
		}
	}
	if vb != nil {
		vb.Release()
	}
	return nil, fmt.Errorf("%w: cannot convert %s to %s", ErrType, a.DataType(), TypeName(to))
}

// roundHalfAway rounds a float half away from zero (numeric to integer); float to
// integer in PostgreSQL rounds half to even (rint).
func toInt[T intT](a arrow.Array, valid []byte, out []T, lo, hi int64, name string) error {
	n := a.Len()
	bad := -1
	switch a.DataType().ID() {
	case arrow.INT16:
		for i, v := range vals[int16](a) {
			out[i] = T(v)
		}
		return nil
	case arrow.INT32:
		for i, v := range vals[int32](a) {
			if (int64(v) < lo || int64(v) > hi) && validAt(valid, i) && bad < 0 {
				bad = i
			}
			out[i] = T(v)
		}
	case arrow.INT64:
		for i, v := range vals[int64](a) {
			if (v < lo || v > hi) && validAt(valid, i) && bad < 0 {
				bad = i
			}
			out[i] = T(v)
		}
	case arrow.FLOAT32, arrow.FLOAT64:
		f := make([]float64, n)
		toFloat(a, f)
		for i, v := range f {
			r := math.RoundToEven(v)
			if !(r >= float64(lo) && r < -float64(lo)) && validAt(valid, i) && bad < 0 {
				bad = i
			}
			out[i] = T(int64(r))
		}
	case arrow.DECIMAL128:
		s := decScale(a.DataType())
		for i, v := range vals[num](a) {
			r := scaleDown(v, s)
			if (!is64(r) || int64(r.LowBits()) < lo || int64(r.LowBits()) > hi) && validAt(valid, i) && bad < 0 {
				bad = i
			}
			out[i] = T(int64(r.LowBits()))
		}
	case arrow.BOOL:
		for i := range n {
			if a.(*array.Boolean).Value(i) {
				out[i] = 1
			} else {
				out[i] = 0
			}
		}
	default:
		return fmt.Errorf("%w: cannot cast type %s to %s", ErrType, TypeName(a.DataType()), name)
	}
	if bad >= 0 {
		return rangeError{name}
	}
	return nil
}

func toFloat(a arrow.Array, out []float64) {
	switch a.DataType().ID() {
	case arrow.INT16:
		for i, v := range vals[int16](a) {
			out[i] = float64(v)
		}
	case arrow.INT32:
		for i, v := range vals[int32](a) {
			out[i] = float64(v)
		}
	case arrow.INT64:
		for i, v := range vals[int64](a) {
			out[i] = float64(v)
		}
	case arrow.FLOAT32:
		for i, v := range vals[float32](a) {
			out[i] = float64(v)
		}
	case arrow.FLOAT64:
		copy(out, vals[float64](a))
	case arrow.DECIMAL128:
		s := decScale(a.DataType())
		for i, v := range vals[num](a) {
			out[i] = decToFloat(v, s)
		}
	}
}

// decToFloat is the nearest float64 (via the decimal text for exactness).
func decToFloat(v num, s int32) float64 {
	if is64(v) {
		x := int64(v.LowBits())
		if x > -(1<<53) && x < 1<<53 && s <= 22 {
			return float64(x) / math.Pow10(int(s)) // exact: both operands exact, one rounding
		}
	}
	f, _ := strconv.ParseFloat(v.ToString(s), 64)
	return f
}

func toDecimal(a arrow.Array, valid []byte, out []num, to *arrow.Decimal128Type) error {
	s := to.Scale
	limit := pow10[to.Precision]
	check := func(i int, v num) bool {
		if !validAt(valid, i) {
			return true
		}
		av := v.Abs()
		return av.HighBits() >= 0 && av.Less(limit)
	}
	switch a.DataType().ID() {
	case arrow.INT16:
		for i, v := range vals[int16](a) {
			out[i] = mul64x64(int64(v), int64(pow10[min(s, 18)].LowBits()))
		}
	case arrow.INT32:
		for i, v := range vals[int32](a) {
			out[i] = mul64x64(int64(v), int64(pow10[min(s, 18)].LowBits()))
		}
	case arrow.INT64:
		for i, v := range vals[int64](a) {
			out[i] = mul64x64(v, int64(pow10[min(s, 18)].LowBits()))
		}
	case arrow.DECIMAL128:
		fs := decScale(a.DataType())
		in := vals[num](a)
		if s >= fs {
			for i, v := range in {
				r, ok := scaleUp(v, s-fs)
				if !ok && validAt(valid, i) {
					return errNumericOverflow
				}
				out[i] = r
			}
		} else {
			for i, v := range in {
				out[i] = scaleDown(v, fs-s)
			}
		}
		s = min(s, 18) // no further scaling below
	case arrow.FLOAT32, arrow.FLOAT64:
		f := make([]float64, a.Len())
		toFloat(a, f)
		for i, v := range f {
			if !validAt(valid, i) {
				continue
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: cannot convert %v to numeric", ErrInvalidArg, v)
			}
			// through the shortest decimal text, as PostgreSQL's float8 -> numeric
			r, err := parseDecimal(strconv.FormatFloat(v, 'f', -1, 64), to)
			if err != nil {
				return err
			}
			out[i] = r
		}
		return nil
	default:
		return fmt.Errorf("%w: cannot cast type %s to numeric", ErrType, TypeName(a.DataType()))
	}
	if isInt(a.DataType()) && s > 18 {
		for i := range out {
			r, ok := scaleUp(out[i], s-18)
			if !ok && validAt(valid, i) {
				return errNumericOverflow
			}
			out[i] = r
		}
	}
	for i, v := range out {
		if !check(i, v) {
			return errNumericOverflow
		}
	}
	return nil
}

// parseDecimal parses decimal text (with optional sign, exponent) rounding half
// away from zero to the scale of t.
func parseDecimal(s string, t *arrow.Decimal128Type) (num, error) {
	str := strings.TrimSpace(s)
	bad := fmt.Errorf("%w for type numeric: %q", ErrInvalidInput, s)
	if str == "" {
		return num{}, bad
	}
	mant := str
	exp := 0
	if i := strings.IndexAny(str, "eE"); i >= 0 {
		e, err := strconv.Atoi(str[i+1:])
		if err != nil {
			return num{}, bad
		}
		// Beyond this the result is overflow or zero whatever the digits, and
		// clamping keeps scale arithmetic below from wrapping.
		exp = max(min(e, 1<<40), -(1 << 40))
		mant = str[:i]
	}
	neg := false
	if mant != "" && (mant[0] == '-' || mant[0] == '+') {
		neg = mant[0] == '-'
		mant = mant[1:]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" && frac == "" {
		return num{}, bad
	}
	digits := intPart + frac
	for _, c := range digits {
		if c < '0' || c > '9' {
			return num{}, bad
		}
	}
	b, _ := new(big.Int).SetString("0"+digits, 10)
	scale := len(frac) - exp // value = b * 10^-scale
	want := int(t.Scale)
	var r num
	if scale <= want {
		if want-scale > 76 {
			if b.Sign() == 0 {
				return num{}, nil
			}
			return num{}, errNumericOverflow
		}
		b.Mul(b, pow10big[want-scale])
		r = bigToNum(b)
	} else {
		switch d := scale - want; {
		case d > len(digits):
			r = num{} // b < 10^len(digits), so the value is below 0.1 units
		case d < len(pow10big):
			r = divRound(b, pow10big[d])
		default:
			r = divRound(b, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil))
		}
	}
	if neg {
		r = r.Negate()
	}
	if !r.Abs().Less(pow10[t.Precision]) || r.Abs().HighBits() < 0 {
		return num{}, errNumericOverflow
	}
	return r, nil
}
