package expr

import (
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

func registerTime() {
	register(func(name string, args []Expr) (*Call, error) {
		if len(args) != 0 {
			return nil, noFunction(name, args)
		}
		return newCall(name, Date, &kernel{fn: func(ctx *Context, c *Call, d []datum, n int) (arrow.Array, error) {
			now := ctx.now().UTC()
			day := daysOf(now.Year(), now.Month(), now.Day())
			return broadcast(ctx.mem(), scalar.NewDate32Scalar(arrow.Date32(day)), n)
		}}), nil
	}, "current_date")
	register(func(name string, args []Expr) (*Call, error) {
		if len(args) != 0 {
			return nil, noFunction(name, args)
		}
		t := TimestampTZ
		if name == "localtimestamp" {
			t = Timestamp
		}
		return newCall(name, t, &kernel{fn: func(ctx *Context, c *Call, d []datum, n int) (arrow.Array, error) {
			return broadcast(ctx.mem(), scalar.NewTimestampScalar(arrow.Timestamp(ctx.now().UnixMicro()), t), n)
		}}), nil
	}, "now", "current_timestamp", "localtimestamp", "transaction_timestamp", "statement_timestamp")
	register(resolveDateTrunc, "date_trunc")
	register(resolveExtract, "extract", "date_part")
}

// fieldArg returns the constant, lower-cased field name of date_trunc/extract.
func fieldArg(name string, e Expr) (string, error) {
	l, ok := e.(*Literal)
	if !ok || l.Value.DataType().ID() != arrow.STRING || !l.Value.IsValid() {
		return "", fmt.Errorf("%w: the field of %s must be a constant string", ErrInvalidArg, name)
	}
	return strings.ToLower(strings.TrimSpace(string(constBytes(l.Value)))), nil
}

// truncUS truncates a timestamp (µs, UTC) to unit.
func truncUS(us int64, unit string) (int64, error) {
	switch unit {
	case "microseconds", "microsecond":
		return us, nil
	case "milliseconds", "millisecond":
		return floorDiv(us, 1000) * 1000, nil
	case "second", "seconds":
		return floorDiv(us, 1e6) * 1e6, nil
	case "minute", "minutes":
		return floorDiv(us, 60e6) * 60e6, nil
	case "hour", "hours":
		return floorDiv(us, 3600e6) * 3600e6, nil
	case "day", "days":
		return floorDiv(us, usPerDay) * usPerDay, nil
	}
	t := tsTime(us)
	y, m, d := t.Date()
	var ny, nm, nd = y, m, 1
	switch unit {
	case "week", "weeks":
		wd := (int(t.Weekday()) + 6) % 7 // Monday = 0
		day := floorDiv(us, usPerDay) - int64(wd)
		return day * usPerDay, nil
	case "month", "months":
	case "quarter":
		nm = time.Month((int(m)-1)/3*3 + 1)
	case "year", "years":
		nm = 1
	case "decade", "decades":
		ny, nm = floorDivInt(y, 10)*10, 1
	case "century", "centuries":
		ny, nm = floorDivInt(y-1, 100)*100+1, 1
	case "millennium", "millennia":
		ny, nm = floorDivInt(y-1, 1000)*1000+1, 1
	default:
		return 0, fmt.Errorf("%w: unit %q not recognized for date_trunc", ErrInvalidArg, unit)
	}
	_ = d
	return int64(daysOf(ny, nm, nd)) * usPerDay, nil
}

func floorDivInt(a, b int) int { return int(floorDiv(int64(a), int64(b))) }

// resolveDateTrunc: date_trunc(field, timestamp|timestamptz|date) → timestamp of the
// same kind (a date gives timestamp), truncated in UTC.
func resolveDateTrunc(name string, args []Expr) (*Call, error) {
	if len(args) != 2 {
		return nil, noFunction(name, args)
	}
	unit, err := fieldArg(name, args[0])
	if err != nil {
		return nil, err
	}
	if _, err := truncUS(0, unit); err != nil {
		return nil, err
	}
	x := args[1]
	if isUnknownLit(x) {
		if x, err = coerce(x, Timestamp); err != nil {
			return nil, err
		}
	}
	t := x.Type()
	switch {
	case isDate(t):
		if x, err = coerce(x, Timestamp); err != nil {
			return nil, err
		}
		t = Timestamp
	case isTS(t):
	case isIntv(t):
		return newCall(name, Interval, strictKernel(func(ctx *Context, c *Call, d []datum, n int) (arrow.Array, error) {
			xv := operandOf[mdn](d[1])
			return rowFixed(ctx, d[1:], n, Interval, func(i int) (mdn, error) { return truncInterval(xv.at(i), unit) })
		}), args[0], x), nil
	default:
		return nil, noFunction(name, args)
	}
	return newCall(name, t, strictKernel(func(ctx *Context, c *Call, d []datum, n int) (arrow.Array, error) {
		xv := operandOf[int64](d[1])
		return rowFixed(ctx, d[1:], n, t, func(i int) (int64, error) { return truncUS(xv.at(i), unit) })
	}), args[0], x), nil
}

func truncInterval(v mdn, unit string) (mdn, error) {
	us := v.Nanoseconds / 1000
	switch unit {
	case "year", "years":
		return mdn{Months: v.Months / 12 * 12}, nil
	case "quarter":
		return mdn{Months: v.Months / 3 * 3}, nil
	case "month", "months":
		return mdn{Months: v.Months}, nil
	case "day", "days":
		return mdn{Months: v.Months, Days: v.Days}, nil
	case "hour", "hours":
		return mdn{Months: v.Months, Days: v.Days, Nanoseconds: us / 3600e6 * 3600e9}, nil
	case "minute", "minutes":
		return mdn{Months: v.Months, Days: v.Days, Nanoseconds: us / 60e6 * 60e9}, nil
	case "second", "seconds":
		return mdn{Months: v.Months, Days: v.Days, Nanoseconds: us / 1e6 * 1e9}, nil
	}
	return v, fmt.Errorf("%w: unit %q not supported for interval date_trunc", ErrInvalidArg, unit)
}

// fieldScale is the scale of extract(field) as numeric (PostgreSQL 14+).
func fieldScale(field string, t arrow.DataType) int32 {
	switch field {
	case "second", "seconds", "epoch":
		if isDate(t) {
			return 0
		}
		return 6
	case "milliseconds", "millisecond":
		return 3
	}
	return 0
}

// resolveExtract: extract(field, x) gives numeric (scale 6 for second/epoch, 3 for
// milliseconds, else 0) and date_part(field, x) double precision, as PostgreSQL.
func resolveExtract(name string, args []Expr) (*Call, error) {
	if len(args) != 2 {
		return nil, noFunction(name, args)
	}
	field, err := fieldArg(name, args[0])
	if err != nil {
		return nil, err
	}
	x := args[1]
	if isUnknownLit(x) {
		if x, err = coerce(x, Timestamp); err != nil {
			return nil, err
		}
	}
	t := x.Type()
	if !isTemporal(t) && !isIntv(t) {
		return nil, noFunction(name, args)
	}
	// probe the field once so a bad one fails at resolution
	if isIntv(t) {
		_, err = extractInterval(mdn{}, field)
	} else {
		_, err = extractTS(0, field, isDate(t))
	}
	if err != nil {
		return nil, err
	}
	s := fieldScale(field, t)
	rt := Numeric(maxPrec, s)
	if name == "date_part" {
		rt = Float64
	}
	get := func(d datum, i int, op any) (num, error) {
		switch o := op.(type) {
		case operand[int32]:
			return extractTS(int64(o.at(i))*usPerDay, field, true)
		case operand[int64]:
			return extractTS(o.at(i), field, false)
		case operand[mdn]:
			return extractInterval(o.at(i), field)
		}
		return num{}, nil
	}
	return newCall(name, rt, strictKernel(func(ctx *Context, c *Call, d []datum, n int) (arrow.Array, error) {
		var op any
		switch {
		case isDate(t):
			op = operandOf[int32](d[1])
		case isTS(t):
			op = operandOf[int64](d[1])
		default:
			op = operandOf[mdn](d[1])
		}
		// values come back at scale 6; rescale to the result
		if name == "date_part" {
			return rowFixed(ctx, d[1:], n, Float64, func(i int) (float64, error) {
				v, err := get(d[1], i, op)
				return decToFloat(v, 6), err
			})
		}
		return rowFixed(ctx, d[1:], n, rt, func(i int) (num, error) {
			v, err := get(d[1], i, op)
			return scaleDown(v, 6-s), err
		})
	}), args[0], x), nil
}

func n6(v int64) num { return mul64x64(v, 1e6) }

// extractTS returns a field of a timestamp at scale 6.
func extractTS(us int64, field string, isDate bool) (num, error) {
	t := tsTime(us)
	y, m, d := t.Date()
	switch field {
	case "year", "years":
		return n6(int64(y)), nil
	case "month", "months":
		return n6(int64(m)), nil
	case "day", "days":
		return n6(int64(d)), nil
	case "hour", "hours":
		return n6(int64(t.Hour())), nil
	case "minute", "minutes":
		return n6(int64(t.Minute())), nil
	case "second", "seconds":
		return mul64x64(floorMod(us, 60e6), 1), nil
	case "milliseconds", "millisecond":
		return mul64x64(floorMod(us, 60e6), 1000), nil
	case "microseconds", "microsecond":
		return n6(floorMod(us, 60e6)), nil
	case "quarter":
		return n6(int64((int(m)-1)/3 + 1)), nil
	case "dow":
		return n6(int64(t.Weekday())), nil
	case "isodow":
		wd := int64(t.Weekday())
		if wd == 0 {
			wd = 7
		}
		return n6(wd), nil
	case "doy":
		return n6(int64(t.YearDay())), nil
	case "week":
		_, w := t.ISOWeek()
		return n6(int64(w)), nil
	case "isoyear":
		iy, _ := t.ISOWeek()
		return n6(int64(iy)), nil
	case "epoch":
		return mul64x64(us, 1), nil
	case "decade":
		return n6(int64(floorDivInt(y, 10))), nil
	case "century":
		if y > 0 {
			return n6(int64((y + 99) / 100)), nil
		}
		return n6(int64(-((99 - (y - 1)) / 100))), nil
	case "millennium":
		if y > 0 {
			return n6(int64((y + 999) / 1000)), nil
		}
		return n6(int64(-((999 - (y - 1)) / 1000))), nil
	case "julian":
		return n6(floorDiv(us, usPerDay) + 2440588), nil
	}
	_ = isDate
	return num{}, fmt.Errorf("%w: unit %q not recognized for extract", ErrInvalidArg, field)
}

// extractInterval returns a field of an interval at scale 6.
func extractInterval(v mdn, field string) (num, error) {
	us := v.Nanoseconds / 1000
	switch field {
	case "year", "years":
		return n6(int64(v.Months / 12)), nil
	case "month", "months":
		return n6(int64(v.Months % 12)), nil
	case "quarter":
		return n6(int64(v.Months%12/3 + 1)), nil
	case "day", "days":
		return n6(int64(v.Days)), nil
	case "hour", "hours":
		return n6(us / 3600e6), nil
	case "minute", "minutes":
		return n6(us / 60e6 % 60), nil
	case "second", "seconds":
		return mul64x64(us%60e6, 1), nil
	case "milliseconds", "millisecond":
		return mul64x64(us%60e6, 1000), nil
	case "microseconds", "microsecond":
		return n6(us % 60e6), nil
	case "epoch":
		// PostgreSQL: 365.25 days a year, 30 days a month
		secs := int64(v.Months/12)*31557600 + int64(v.Months%12)*30*86400 + int64(v.Days)*86400
		return mul64x64(secs*1e6+us, 1), nil
	}
	return num{}, fmt.Errorf("%w: unit %q not supported for interval", ErrInvalidArg, field)
}
