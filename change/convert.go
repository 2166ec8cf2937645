package change

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// ParseDecimal parses exact decimal text ("-12.340", "5", "1e3" is not accepted) into the
// unscaled value at the given scale. More fractional digits than scale is an error rather
// than a silent rounding, as is a value that does not fit 38 digits.
func ParseDecimal(s string, scale int32) (decimal128.Num, error) {
	if s == "" {
		return decimal128.Num{}, fmt.Errorf("change: empty decimal")
	}
	neg := false
	i := 0
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		i++
	}
	var n decimal128.Num
	ten := decimal128.FromI64(10)
	digits, frac, seenDot := 0, int32(0), false
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' && !seenDot {
			seenDot = true
			continue
		}
		if c < '0' || c > '9' {
			return decimal128.Num{}, fmt.Errorf("change: invalid decimal %q", s)
		}
		if seenDot {
			frac++
			if frac > scale {
				if c != '0' {
					return decimal128.Num{}, fmt.Errorf("change: decimal %q has more than %d fractional digits", s, scale)
				}
				continue
			}
		}
		digits++
		if digits > 38 {
			return decimal128.Num{}, fmt.Errorf("change: decimal %q exceeds 38 digits", s)
		}
		n = n.Mul(ten).Add(decimal128.FromI64(int64(c - '0')))
	}
	if digits == 0 {
		return decimal128.Num{}, fmt.Errorf("change: invalid decimal %q", s)
	}
	if frac > scale {
		frac = scale
	}
	for ; frac < scale; frac++ {
		if digits++; digits > 38 {
			return decimal128.Num{}, fmt.Errorf("change: decimal %q exceeds 38 digits at scale %d", s, scale)
		}
		n = n.Mul(ten)
	}
	if neg {
		n = n.Negate()
	}
	return n, nil
}

// FormatDecimal renders an unscaled decimal exactly: FormatDecimal(12340, 3) = "12.340".
func FormatDecimal(n decimal128.Num, scale int32) string {
	return string(AppendDecimal(nil, n, scale))
}

// AppendDecimal appends the exact text of an unscaled decimal.
func AppendDecimal(dst []byte, n decimal128.Num, scale int32) []byte {
	if n.HighBits() == 0 && n.LowBits() < math.MaxInt64 || n.HighBits() == -1 && int64(n.LowBits()) < 0 {
		// fits int64: format without big.Int
		return appendScaled(dst, strconv.AppendInt(nil, int64(n.LowBits()), 10), scale)
	}
	return appendScaled(dst, []byte(n.BigInt().String()), scale)
}

func appendScaled(dst, digits []byte, scale int32) []byte {
	if scale <= 0 {
		dst = append(dst, digits...)
		for ; scale < 0; scale++ {
			dst = append(dst, '0')
		}
		return dst
	}
	if digits[0] == '-' {
		dst = append(dst, '-')
		digits = digits[1:]
	}
	if n := int32(len(digits)); n <= scale {
		dst = append(dst, '0', '.')
		for ; n < scale; n++ {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	p := len(digits) - int(scale)
	dst = append(dst, digits[:p]...)
	dst = append(dst, '.')
	return append(dst, digits[p:]...)
}

// TimeOf converts a timestamp in unit u since the epoch to a UTC time, without the
// overflow of multiplying to nanoseconds (Debezium's infinity sentinels are near MaxInt64).
func TimeOf(i int64, u arrow.TimeUnit) time.Time {
	ups := unitPerSecond(u)
	sec, rem := i/ups, i%ups
	if rem < 0 {
		sec--
		rem += ups
	}
	return time.Unix(sec, rem*(1e9/ups)).UTC()
}

// unitPerSecond returns how many of the unit make one second.
func unitPerSecond(u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Second:
		return 1
	case arrow.Millisecond:
		return 1e3
	case arrow.Microsecond:
		return 1e6
	}
	return 1e9
}

// ValueOf converts a plain Go value to a Value for a column of type t. It accepts nil,
// bool, all integer types, float32/64, string, []byte, decimal128.Num, time.Time (dates,
// timestamps) and time.Duration (times of day); decimals also take strings and ints.
func ValueOf(x any, t arrow.DataType) (Value, error) {
	if x == nil {
		return Null(), nil
	}
	if v, ok := x.(Value); ok {
		return v, nil
	}
	switch t.ID() {
	case arrow.BOOL:
		if b, ok := x.(bool); ok {
			return Bool(b), nil
		}
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		if i, ok := toInt64(x); ok {
			return Int(i), nil
		}
	case arrow.FLOAT32, arrow.FLOAT64:
		switch f := x.(type) {
		case float64:
			return Float(f), nil
		case float32:
			return Float(float64(f)), nil
		}
		if i, ok := toInt64(x); ok {
			return Float(float64(i)), nil
		}
	case arrow.DECIMAL128:
		scale := t.(*arrow.Decimal128Type).Scale
		switch d := x.(type) {
		case decimal128.Num:
			return Decimal(d), nil
		case string:
			n, err := ParseDecimal(d, scale)
			if err != nil {
				return Value{}, err
			}
			return Decimal(n), nil
		}
		if i, ok := toInt64(x); ok {
			return Decimal(decimal128.FromI64(i).IncreaseScaleBy(scale)), nil
		}
	case arrow.STRING:
		if s, ok := x.(string); ok {
			return Str(s), nil
		}
	case arrow.BINARY:
		switch b := x.(type) {
		case []byte:
			return Bytes(b), nil
		case string:
			return BytesString(b), nil
		}
	case arrow.DATE32:
		if tm, ok := x.(time.Time); ok {
			return Int(int64(arrow.Date32FromTime(tm))), nil
		}
		if i, ok := toInt64(x); ok {
			return Int(i), nil
		}
	case arrow.TIME32, arrow.TIME64:
		unit := t.(arrow.TemporalWithUnit).TimeUnit()
		if d, ok := x.(time.Duration); ok {
			return Int(int64(d) / (1e9 / unitPerSecond(unit))), nil
		}
		if i, ok := toInt64(x); ok {
			return Int(i), nil
		}
	case arrow.TIMESTAMP:
		unit := t.(*arrow.TimestampType).Unit
		if tm, ok := x.(time.Time); ok {
			switch unit {
			case arrow.Second:
				return Int(tm.Unix()), nil
			case arrow.Millisecond:
				return Int(tm.UnixMilli()), nil
			case arrow.Microsecond:
				return Int(tm.UnixMicro()), nil
			}
			return Int(tm.UnixNano()), nil
		}
		if i, ok := toInt64(x); ok {
			return Int(i), nil
		}
	}
	return Value{}, fmt.Errorf("change: cannot use %T as %s", x, t)
}

func toInt64(x any) (int64, bool) {
	switch i := x.(type) {
	case int:
		return int64(i), true
	case int8:
		return int64(i), true
	case int16:
		return int64(i), true
	case int32:
		return int64(i), true
	case int64:
		return i, true
	case uint8:
		return int64(i), true
	case uint16:
		return int64(i), true
	case uint32:
		return int64(i), true
	case uint64:
		return int64(i), true
	case uint:
		return int64(i), true
	}
	return 0, false
}

// Any converts v to a plain Go value for a column of type t: nil, bool, int64, float64,
// string, []byte, a decimal's exact text (string), time.Time for dates and timestamps
// (UTC), time.Duration for times of day. Absent converts to nil.
func (v Value) Any(t arrow.DataType) any {
	switch v.kind {
	case KindNull, KindAbsent:
		return nil
	case KindBool:
		return v.lo != 0
	case KindFloat:
		return math.Float64frombits(v.lo)
	case KindString:
		return v.s
	case KindBytes:
		return []byte(v.s)
	case KindDecimal:
		scale := int32(0)
		if d, ok := t.(*arrow.Decimal128Type); ok {
			scale = d.Scale
		}
		return FormatDecimal(v.AsDecimal(), scale)
	}
	i := int64(v.lo)
	switch t := t.(type) {
	case *arrow.Date32Type:
		return arrow.Date32(i).ToTime().UTC()
	case *arrow.TimestampType:
		return TimeOf(i, t.Unit)
	case *arrow.Time32Type:
		return time.Duration(i * (1e9 / unitPerSecond(t.Unit)))
	case *arrow.Time64Type:
		return time.Duration(i * (1e9 / unitPerSecond(t.Unit)))
	case *arrow.Decimal128Type:
		return FormatDecimal(decimal128.FromI64(i), t.Scale)
	}
	return i
}

// AppendJSON appends v as normalized JSON for a column of type t: integers exact,
// decimals as exact decimal strings, dates YYYY-MM-DD, timestamps RFC 3339 (UTC), times
// HH:MM:SS[.fraction], bytes base64, JSON columns as their text (a JSON string), NULL and
// Absent as null.
func AppendJSON(dst []byte, v Value, t arrow.DataType) []byte {
	switch v.kind {
	case KindNull, KindAbsent:
		return append(dst, "null"...)
	case KindBool:
		return strconv.AppendBool(dst, v.lo != 0)
	case KindFloat:
		f := math.Float64frombits(v.lo)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return strconv.AppendQuote(dst, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	case KindString:
		return appendJSONString(dst, v.s)
	case KindBytes:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, []byte(v.s))
		return append(dst, '"')
	case KindDecimal:
		scale := int32(0)
		if d, ok := t.(*arrow.Decimal128Type); ok {
			scale = d.Scale
		}
		dst = append(dst, '"')
		dst = AppendDecimal(dst, v.AsDecimal(), scale)
		return append(dst, '"')
	}
	i := int64(v.lo)
	switch t := t.(type) {
	case *arrow.Date32Type:
		dst = append(dst, '"')
		dst = arrow.Date32(i).ToTime().UTC().AppendFormat(dst, "2006-01-02")
		return append(dst, '"')
	case *arrow.TimestampType:
		dst = append(dst, '"')
		dst = TimeOf(i, t.Unit).AppendFormat(dst, time.RFC3339Nano)
		return append(dst, '"')
	case *arrow.Time32Type:
		return appendTimeOfDay(dst, time.Duration(i)*time.Duration(1e9/unitPerSecond(t.Unit)))
	case *arrow.Time64Type:
		return appendTimeOfDay(dst, time.Duration(i)*time.Duration(1e9/unitPerSecond(t.Unit)))
	case *arrow.Decimal128Type:
		dst = append(dst, '"')
		dst = AppendDecimal(dst, decimal128.FromI64(i), t.Scale)
		return append(dst, '"')
	case *arrow.Uint64Type:
		return strconv.AppendUint(dst, v.lo, 10)
	}
	return strconv.AppendInt(dst, i, 10)
}

func appendTimeOfDay(dst []byte, d time.Duration) []byte {
	tm := time.Unix(0, 0).UTC().Add(d)
	dst = append(dst, '"')
	dst = tm.AppendFormat(dst, "15:04:05.999999999")
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping what RFC 8259 requires and
// replacing invalid UTF-8 with U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = AppendJSONEscaped(dst, s)
	return append(dst, '"')
}

// AppendJSONEscaped appends s escaped as the inside of a JSON string literal, without
// the quotes, so that a caller can build one string from several parts.
func AppendJSONEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x80 {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		if r == 0xFFFD && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}
