package expr

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

type mdn = arrow.MonthDayNanoInterval

// addInterval adds an interval to a timestamp like PostgreSQL: months first (the
// day clamped to the month's end), then days, then time.
func addInterval(us int64, iv mdn, sign int64) int64 {
	if iv.Months != 0 {
		t := tsTime(us)
		y, m, d := t.Date()
		tot := int64(y)*12 + int64(m-1) + sign*int64(iv.Months)
		ny, nm := int(floorDiv(tot, 12)), time.Month(floorMod(tot, 12)+1)
		d = min(d, daysIn(ny, nm))
		tod := floorMod(us, usPerDay)
		us = int64(daysOf(ny, nm, d))*usPerDay + tod
	}
	us += sign * int64(iv.Days) * usPerDay
	us += sign * (iv.Nanoseconds / 1000)
	return us
}

// tsDiff is a - b as an interval of days and time (PostgreSQL's timestamp_mi, which
// justifies hours into days).
func tsDiff(a, b int64) mdn {
	d := a - b
	days := d / usPerDay
	rem := d % usPerDay
	return mdn{Days: int32(days), Nanoseconds: rem * 1000}
}

type tkern = func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error)

// rowKernel2 applies f to every row of two fixed-width operands; errors come only
// from non-NULL rows.
func rowKernel2[A, B, R any](ctx *Context, a, b datum, n int, dt arrow.DataType, f func(A, B) (R, error)) (arrow.Array, error) {
	mem := ctx.mem()
	vb, nulls := andValidity(mem, n, a.arr, b.arr)
	var valid []byte
	if vb != nil {
		valid = vb.Bytes()
	}
	ob, out := allocFixed[R](mem, n)
	x, y := operandOf[A](a), operandOf[B](b)
	for i := range n {
		if !validAt(valid, i) {
			var z R
			out[i] = z
			continue
		}
		r, err := f(x.at(i), y.at(i))
		if err != nil {
			ob.Release()
			if vb != nil {
				vb.Release()
			}
			return nil, err
		}
		out[i] = r
	}
	return makeArray(dt, n, nulls, vb, ob), nil
}

func k2[A, B, R any](dt arrow.DataType, f func(A, B) (R, error)) *kernel {
	return strictKernel(func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error) {
		return rowKernel2(ctx, args[0], args[1], n, dt, f)
	})
}

// resolveTimeArith handles + and - on dates, timestamps and intervals; nil, nil
// when no such operator exists.
func resolveTimeArith(op string, a, b Expr) (*Call, error) {
	ta, tb := a.Type(), b.Type()
	plus := op == "+"
	if op != "+" && op != "-" {
		if isIntv(ta) && isNumeric(tb) && (op == "*" || op == "/") {
			fb, err := coerce(b, Float64)
			if err != nil {
				return nil, err
			}
			div := op == "/"
			return newCall(op, Interval, k2(Interval, func(x mdn, f float64) (mdn, error) {
				if div {
					if f == 0 {
						return mdn{}, ErrDivisionByZero
					}
					f = 1 / f
				}
				return scaleInterval(x, f), nil
			}), a, fb), nil
		}
		if isNumeric(ta) && isIntv(tb) && op == "*" {
			fa, err := coerce(a, Float64)
			if err != nil {
				return nil, err
			}
			return newCall(op, Interval, k2(Interval, func(f float64, x mdn) (mdn, error) {
				return scaleInterval(x, f), nil
			}), fa, b), nil
		}
		return nil, nil
	}
	sign := int64(1)
	if !plus {
		sign = -1
	}
	switch {
	case isDate(ta) && isInt(tb):
		b2, err := coerce(b, Int32)
		if err != nil {
			return nil, err
		}
		return newCall(op, Date, k2(Date, func(d, k int32) (int32, error) {
			r := int64(d) + sign*int64(k)
			if r != int64(int32(r)) {
				return 0, rangeError{"date"}
			}
			return int32(r), nil
		}), a, b2), nil
	case isInt(ta) && isDate(tb) && plus:
		a2, err := coerce(a, Int32)
		if err != nil {
			return nil, err
		}
		return newCall(op, Date, k2(Date, func(k, d int32) (int32, error) {
			return d + k, nil
		}), a2, b), nil
	case isDate(ta) && isDate(tb) && !plus:
		return newCall(op, Int32, k2(Int32, func(x, y int32) (int32, error) { return x - y, nil }), a, b), nil
	case (isTemporal(ta) && isIntv(tb)) || (isIntv(ta) && isTemporal(tb) && plus):
		ts, iv := a, b
		if isIntv(ta) {
			ts, iv = b, a
		}
		rt := Timestamp
		if isTSTZ(ts.Type()) {
			rt = TimestampTZ
		}
		ts2, err := coerce(ts, rt)
		if err != nil {
			return nil, err
		}
		f := func(us int64, v mdn) (int64, error) { return addInterval(us, v, sign), nil }
		if isIntv(ta) {
			return newCall(op, rt, k2(rt, func(v mdn, us int64) (int64, error) { return f(us, v) }), iv, ts2), nil
		}
		return newCall(op, rt, k2(rt, f), ts2, iv), nil
	case isTemporal(ta) && isTemporal(tb) && !plus:
		ct, _ := commonType(ta, tb)
		if isDate(ct) {
			return nil, nil
		}
		a2, err := coerce(a, ct)
		if err != nil {
			return nil, err
		}
		b2, err := coerce(b, ct)
		if err != nil {
			return nil, err
		}
		return newCall(op, Interval, k2(Interval, func(x, y int64) (mdn, error) { return tsDiff(x, y), nil }), a2, b2), nil
	case isIntv(ta) && isIntv(tb):
		return newCall(op, Interval, k2(Interval, func(x, y mdn) (mdn, error) {
			return mdn{Months: x.Months + int32(sign)*y.Months, Days: x.Days + int32(sign)*y.Days, Nanoseconds: x.Nanoseconds + sign*y.Nanoseconds}, nil
		}), a, b), nil
	}
	return nil, nil
}

// scaleInterval multiplies an interval like PostgreSQL: fractional months spill
// into days (30 per month) and fractional days into time.
func scaleInterval(v mdn, f float64) mdn {
	months := float64(v.Months) * f
	wm := int32(months)
	days := float64(v.Days)*f + (months-float64(wm))*30
	wd := int32(days)
	ns := float64(v.Nanoseconds)*f + (days-float64(wd))*86400e9
	return mdn{Months: wm, Days: wd, Nanoseconds: int64(ns/1000) * 1000}
}
