package expr

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// appendText appends row i of a (not NULL) as PostgreSQL's text output.
func appendText(buf []byte, a arrow.Array, i int) []byte {
	switch a.DataType().ID() {
	case arrow.BOOL:
		if a.(*array.Boolean).Value(i) {
			return append(buf, "true"...)
		}
		return append(buf, "false"...)
	case arrow.INT16:
		return strconv.AppendInt(buf, int64(vals[int16](a)[i]), 10)
	case arrow.INT32:
		return strconv.AppendInt(buf, int64(vals[int32](a)[i]), 10)
	case arrow.INT64:
		return strconv.AppendInt(buf, vals[int64](a)[i], 10)
	case arrow.FLOAT32:
		return appendFloat(buf, float64(vals[float32](a)[i]), 32)
	case arrow.FLOAT64:
		return appendFloat(buf, vals[float64](a)[i], 64)
	case arrow.DECIMAL128:
		return append(buf, vals[num](a)[i].ToString(decScale(a.DataType()))...)
	case arrow.STRING, arrow.BINARY:
		b := strsOf(a).at(i)
		if a.DataType().ID() == arrow.BINARY {
			buf = append(buf, `\x`...)
			return hex.AppendEncode(buf, b)
		}
		return append(buf, b...)
	case arrow.DATE32:
		return appendDate(buf, vals[int32](a)[i])
	case arrow.TIMESTAMP:
		buf = appendTimestamp(buf, vals[int64](a)[i])
		if isTSTZ(a.DataType()) {
			buf = append(buf, "+00"...)
		}
		return buf
	case arrow.INTERVAL_MONTH_DAY_NANO:
		return appendInterval(buf, vals[arrow.MonthDayNanoInterval](a)[i])
	}
	return fmt.Append(buf, a.ValueStr(i))
}

// appendFloat is PostgreSQL's shortest float output: exponent form below 1e-4 and
// from 1e15 (1e6 for real), "NaN", "Infinity".
func appendFloat(buf []byte, f float64, bitSize int) []byte {
	switch {
	case math.IsNaN(f):
		return append(buf, "NaN"...)
	case math.IsInf(f, 1):
		return append(buf, "Infinity"...)
	case math.IsInf(f, -1):
		return append(buf, "-Infinity"...)
	case f == 0:
		if math.Signbit(f) {
			return append(buf, "-0"...)
		}
		return append(buf, '0')
	}
	e := strconv.FormatFloat(f, 'e', -1, bitSize)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	limit := 15
	if bitSize == 32 {
		limit = 6
	}
	if exp < -4 || exp >= limit {
		return append(buf, e...)
	}
	return strconv.AppendFloat(buf, f, 'f', -1, bitSize)
}

func civil(days int32) (y int, m time.Month, d int) {
	return time.Unix(int64(days)*86400, 0).UTC().Date()
}

func daysOf(y int, m time.Month, d int) int32 {
	return int32(floorDiv(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix(), 86400))
}

func appendDate(buf []byte, days int32) []byte {
	y, m, d := civil(days)
	return appendYMD(buf, y, int(m), d)
}

func appendYMD(buf []byte, y, m, d int) []byte {
	bc := y <= 0
	if bc {
		y = 1 - y
	}
	buf = fmt.Appendf(buf, "%04d-%02d-%02d", y, m, d)
	if bc {
		buf = append(buf, " BC"...)
	}
	return buf
}

func tsTime(us int64) time.Time { return time.UnixMicro(us).UTC() }

func appendTimestamp(buf []byte, us int64) []byte {
	t := tsTime(us)
	y, m, d := t.Date()
	buf = appendYMD(buf, y, int(m), d)
	buf = fmt.Appendf(buf, " %02d:%02d:%02d", t.Hour(), t.Minute(), t.Second())
	if f := floorMod(us, 1e6); f != 0 {
		s := fmt.Sprintf("%06d", f)
		buf = append(buf, '.')
		buf = append(buf, strings.TrimRight(s, "0")...)
	}
	if y <= 0 { // move BC after the time
		if i := strings.Index(string(buf), " BC"); i >= 0 {
			buf = append(buf[:i:i], append(buf[i+3:], " BC"...)...)
		}
	}
	return buf
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// appendInterval is PostgreSQL's default interval output:
// "1 year 2 mons 3 days 04:05:06.5".
func appendInterval(buf []byte, v arrow.MonthDayNanoInterval) []byte {
	start := len(buf)
	part := func(n int64, unit string) {
		if n == 0 {
			return
		}
		if len(buf) > start {
			buf = append(buf, ' ')
		}
		buf = strconv.AppendInt(buf, n, 10)
		buf = append(buf, ' ')
		buf = append(buf, unit...)
		if n != 1 {
			buf = append(buf, 's')
		}
	}
	part(int64(v.Months/12), "year")
	part(int64(v.Months%12), "mon")
	part(int64(v.Days), "day")
	us := v.Nanoseconds / 1000
	if us != 0 || len(buf) == start {
		if len(buf) > start {
			buf = append(buf, ' ')
		}
		if us < 0 {
			buf = append(buf, '-')
			us = -us
		}
		h, m, s, f := us/3600e6, us/60e6%60, us/1e6%60, us%1e6
		buf = fmt.Appendf(buf, "%02d:%02d:%02d", h, m, s)
		if f != 0 {
			buf = append(buf, '.')
			buf = append(buf, strings.TrimRight(fmt.Sprintf("%06d", f), "0")...)
		}
	}
	return buf
}

func invalid(t arrow.DataType, s string) error {
	return fmt.Errorf("%w for type %s: %q", ErrInvalidInput, shortName(t), s)
}

// parseArray converts text rows to type to; a row that does not parse is an error
// naming the value.
func parseArray(ctx *Context, a arrow.Array, to arrow.DataType, vb *memory.Buffer, nulls int) (arrow.Array, error) {
	mem := ctx.mem()
	n := a.Len()
	var valid []byte
	if vb != nil {
		valid = vb.Bytes()
	}
	s := strsOf(a)
	release := func(bs ...*memory.Buffer) {
		for _, b := range bs {
			if b != nil {
				b.Release()
			}
		}
	}
	var err error
	each := func(f func(i int, v string) error) error {
		for i := range n {
			if !validAt(valid, i) {
				continue
			}
			if err := f(i, string(s.at(i))); err != nil {
				return err
			}
		}
		return nil
	}
	switch to.ID() {
	case arrow.BOOL:
		ob, out := allocBits(mem, n)
		err = each(func(i int, v string) error {
			b, err := parseBool(v)
			if b {
				out[i>>3] |= 1 << (i & 7)
			}
			return err
		})
		if err != nil {
			release(vb, ob)
			return nil, err
		}
		return makeArray(to, n, nulls, vb, ob), nil
	case arrow.INT16, arrow.INT32, arrow.INT64:
		bits := map[arrow.Type]int{arrow.INT16: 16, arrow.INT32: 32, arrow.INT64: 64}[to.ID()]
		tmp := make([]int64, n)
		err = each(func(i int, v string) error {
			x, err := strconv.ParseInt(strings.TrimSpace(v), 10, bits)
			if err != nil {
				if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
					return fmt.Errorf("%w: value %q is out of range for type %s", ErrOutOfRange, v, TypeName(to))
				}
				return invalid(to, v)
			}
			tmp[i] = x
			return nil
		})
		if err != nil {
			release(vb)
			return nil, err
		}
		switch bits {
		case 16:
			ob, out := allocFixed[int16](mem, n)
			for i, v := range tmp {
				out[i] = int16(v)
			}
			return makeArray(to, n, nulls, vb, ob), nil
		case 32:
			ob, out := allocFixed[int32](mem, n)
			for i, v := range tmp {
				out[i] = int32(v)
			}
			return makeArray(to, n, nulls, vb, ob), nil
		}
		ob, out := allocFixed[int64](mem, n)
		copy(out, tmp)
		return makeArray(to, n, nulls, vb, ob), nil
	case arrow.FLOAT32, arrow.FLOAT64:
		tmp := make([]float64, n)
		bits := 64
		if to.ID() == arrow.FLOAT32 {
			bits = 32
		}
		err = each(func(i int, v string) error {
			t := strings.TrimSpace(v)
			switch strings.ToLower(t) {
			case "infinity", "+infinity", "inf", "+inf":
				tmp[i] = math.Inf(1)
				return nil
			case "-infinity", "-inf":
				tmp[i] = math.Inf(-1)
				return nil
			case "nan":
				tmp[i] = math.NaN()
				return nil
			}
			x, err := strconv.ParseFloat(t, bits)
			if err != nil {
				if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
					return fmt.Errorf("%w: %q is out of range for type %s", ErrOutOfRange, v, TypeName(to))
				}
				return invalid(to, v)
			}
			tmp[i] = x
			return nil
		})
		if err != nil {
			release(vb)
			return nil, err
		}
		if bits == 32 {
			ob, out := allocFixed[float32](mem, n)
			for i, v := range tmp {
				out[i] = float32(v)
			}
			return makeArray(to, n, nulls, vb, ob), nil
		}
		ob, out := allocFixed[float64](mem, n)
		copy(out, tmp)
		return makeArray(to, n, nulls, vb, ob), nil
	case arrow.DECIMAL128:
		ob, out := allocFixed[num](mem, n)
		err = each(func(i int, v string) error {
			r, err := parseDecimal(v, to.(*arrow.Decimal128Type))
			out[i] = r
			return err
		})
		if err != nil {
			release(vb, ob)
			return nil, err
		}
		return makeArray(to, n, nulls, vb, ob), nil
	case arrow.DATE32:
		ob, out := allocFixed[int32](mem, n)
		err = each(func(i int, v string) error {
			d, err := parseDate(v)
			out[i] = d
			return err
		})
		if err != nil {
			release(vb, ob)
			return nil, err
		}
		return makeArray(to, n, nulls, vb, ob), nil
	case arrow.TIMESTAMP:
		ob, out := allocFixed[int64](mem, n)
		tz := isTSTZ(to)
		err = each(func(i int, v string) error {
			us, err := parseTimestamp(v, tz)
			out[i] = us
			return err
		})
		if err != nil {
			release(vb, ob)
			return nil, err
		}
		return makeArray(to, n, nulls, vb, ob), nil
	case arrow.INTERVAL_MONTH_DAY_NANO:
		ob, out := allocFixed[arrow.MonthDayNanoInterval](mem, n)
		err = each(func(i int, v string) error {
			iv, err := parseInterval(v)
			out[i] = iv
			return err
		})
		if err != nil {
			release(vb, ob)
			return nil, err
		}
		return makeArray(to, n, nulls, vb, ob), nil
	case arrow.BINARY:
		sb := newStrBuilder(mem, n, 0)
		err = nil
		for i := range n {
			if !validAt(valid, i) {
				sb.add(nil)
				continue
			}
			v := s.at(i)
			if len(v) >= 2 && v[0] == '\\' && v[1] == 'x' {
				b, e := hex.DecodeString(string(v[2:]))
				if e != nil {
					release(vb)
					return nil, invalid(to, string(v))
				}
				sb.add(b)
				continue
			}
			sb.add(v)
		}
		return sb.finish(to, vb, nulls), nil
	}
	release(vb)
	return nil, fmt.Errorf("%w: cannot cast type text to %s", ErrType, TypeName(to))
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "t", "tr", "tru", "true", "y", "ye", "yes", "on", "1":
		return true, nil
	case "f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0":
		return false, nil
	}
	return false, invalid(Bool, v)
}

// parseDate parses YYYY-MM-DD (also YYYYMMDD), checking the day exists.
func parseDate(v string) (int32, error) {
	s := strings.TrimSpace(v)
	var y, m, d int
	var err error
	if len(s) == 8 && !strings.Contains(s, "-") {
		y, err = strconv.Atoi(s[:4])
		if err == nil {
			m, err = strconv.Atoi(s[4:6])
		}
		if err == nil {
			d, err = strconv.Atoi(s[6:])
		}
	} else {
		parts := strings.Split(s, "-")
		if len(parts) != 3 {
			return 0, invalid(Date, v)
		}
		y, err = strconv.Atoi(parts[0])
		if err == nil {
			m, err = strconv.Atoi(parts[1])
		}
		if err == nil {
			d, err = strconv.Atoi(parts[2])
		}
	}
	if err != nil || y < 1 {
		return 0, invalid(Date, v)
	}
	if m < 1 || m > 12 || d < 1 || d > daysIn(y, time.Month(m)) {
		return 0, msgError{fmt.Sprintf("expr: date/time field value out of range: %q", v), ErrOutOfRange}
	}
	return daysOf(y, time.Month(m), d), nil
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// parseTimestamp parses "YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]][Z|±HH[:MM]]" or a date;
// a zone offset is applied for timestamptz and ignored for timestamp, as in
// PostgreSQL.
func parseTimestamp(v string, tz bool) (int64, error) {
	t := Timestamp
	if tz {
		t = TimestampTZ
	}
	s := strings.TrimSpace(v)
	datePart, timePart := s, ""
	if i := strings.IndexAny(s, "T "); i >= 0 {
		datePart, timePart = s[:i], strings.TrimSpace(s[i+1:])
	}
	days, err := parseDate(datePart)
	if err != nil {
		return 0, invalid(t, v)
	}
	us := int64(days) * usPerDay
	if timePart == "" {
		return us, nil
	}
	off := int64(0)
	if strings.HasSuffix(timePart, "Z") || strings.HasSuffix(strings.ToUpper(timePart), " UTC") {
		timePart = strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(timePart, "Z"), " UTC"), " utc"))
	} else if i := strings.LastIndexAny(timePart, "+-"); i > 0 {
		z := timePart[i+1:]
		sign := int64(1)
		if timePart[i] == '-' {
			sign = -1
		}
		z = strings.ReplaceAll(z, ":", "")
		var hh, mm int
		switch len(z) {
		case 1, 2:
			hh, err = strconv.Atoi(z)
		case 4:
			hh, err = strconv.Atoi(z[:2])
			if err == nil {
				mm, err = strconv.Atoi(z[2:])
			}
		default:
			err = fmt.Errorf("bad zone")
		}
		if err != nil {
			return 0, invalid(t, v)
		}
		off = sign * (int64(hh)*3600 + int64(mm)*60) * 1e6
		timePart = strings.TrimSpace(timePart[:i])
	}
	hms := strings.Split(timePart, ":")
	if len(hms) < 2 || len(hms) > 3 {
		return 0, invalid(t, v)
	}
	h, err1 := strconv.Atoi(hms[0])
	mi, err2 := strconv.Atoi(hms[1])
	var sec float64
	var err3 error
	var frac int64
	if len(hms) == 3 {
		ss, fs, _ := strings.Cut(hms[2], ".")
		var si int
		si, err3 = strconv.Atoi(ss)
		sec = float64(si)
		if fs != "" && err3 == nil {
			if len(fs) > 6 {
				fs = fs[:6]
			}
			for len(fs) < 6 {
				fs += "0"
			}
			frac, err3 = strconv.ParseInt(fs, 10, 64)
		}
	}
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || h > 24 || mi < 0 || mi > 59 || sec < 0 || sec > 60 {
		return 0, invalid(t, v)
	}
	us += (int64(h)*3600+int64(mi)*60+int64(sec))*1e6 + frac
	if tz {
		us -= off
	}
	return us, nil
}

// parseInterval parses PostgreSQL's interval input: "1 year 2 mons 3 days
// 04:05:06", "3 days", "-2 hours", "1 day ago", "10:00".
func parseInterval(v string) (arrow.MonthDayNanoInterval, error) {
	var r arrow.MonthDayNanoInterval
	bad := func() (arrow.MonthDayNanoInterval, error) { return arrow.MonthDayNanoInterval{}, invalid(Interval, v) }
	f := strings.Fields(strings.ToLower(strings.TrimSpace(v)))
	if len(f) == 0 {
		return bad()
	}
	ago := false
	if f[len(f)-1] == "ago" {
		ago = true
		f = f[:len(f)-1]
	}
	for i := 0; i < len(f); i++ {
		tok := f[i]
		if strings.Contains(tok, ":") {
			neg := strings.HasPrefix(tok, "-")
			tok = strings.TrimLeft(tok, "+-")
			p := strings.Split(tok, ":")
			if len(p) > 3 {
				return bad()
			}
			var ns int64
			mult := []int64{3600e9, 60e9, 1e9}
			for j, x := range p {
				if j == len(p)-1 && strings.Contains(x, ".") {
					fv, err := strconv.ParseFloat(x, 64)
					if err != nil {
						return bad()
					}
					ns += int64(math.Round(fv * float64(mult[j])))
					continue
				}
				n, err := strconv.ParseInt(x, 10, 64)
				if err != nil {
					return bad()
				}
				ns += n * mult[j]
			}
			if neg {
				ns = -ns
			}
			r.Nanoseconds += ns
			continue
		}
		num, unit := tok, ""
		// "3days" or "3 days"
		j := 0
		for j < len(tok) && (tok[j] == '-' || tok[j] == '+' || tok[j] == '.' || (tok[j] >= '0' && tok[j] <= '9')) {
			j++
		}
		if j < len(tok) {
			num, unit = tok[:j], tok[j:]
		} else if i+1 < len(f) {
			i++
			unit = f[i]
		}
		x, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return bad()
		}
		unit = strings.TrimSuffix(unit, ",")
		switch unit {
		case "year", "years", "y", "yr", "yrs":
			r.Months += int32(math.Round(x * 12))
		case "month", "months", "mon", "mons":
			whole := math.Trunc(x)
			r.Months += int32(whole)
			r.Days += int32(math.Round((x - whole) * 30))
		case "week", "weeks", "w":
			r.Days += int32(math.Round(x * 7))
		case "day", "days", "d":
			whole := math.Trunc(x)
			r.Days += int32(whole)
			r.Nanoseconds += int64(math.Round((x - whole) * 86400e9))
		case "hour", "hours", "h", "hr", "hrs":
			r.Nanoseconds += int64(math.Round(x * 3600e9))
		case "minute", "minutes", "min", "mins", "m":
			r.Nanoseconds += int64(math.Round(x * 60e9))
		case "second", "seconds", "sec", "secs", "s", "":
			r.Nanoseconds += int64(math.Round(x * 1e9))
		case "millisecond", "milliseconds", "ms", "msec", "msecs":
			r.Nanoseconds += int64(math.Round(x * 1e6))
		case "microsecond", "microseconds", "us", "usec", "usecs":
			r.Nanoseconds += int64(math.Round(x * 1e3))
		default:
			return bad()
		}
	}
	if ago {
		r = arrow.MonthDayNanoInterval{Months: -r.Months, Days: -r.Days, Nanoseconds: -r.Nanoseconds}
	}
	return r, nil
}

// literalText is a literal as SQL.
func literalText(sc scalar.Scalar) string {
	if !sc.IsValid() {
		if isNull(sc.DataType()) {
			return "NULL"
		}
		return "CAST(NULL AS " + TypeName(sc.DataType()) + ")"
	}
	a, err := scalar.MakeArrayFromScalar(sc, 1, memory.DefaultAllocator)
	if err != nil {
		return sc.String()
	}
	defer a.Release()
	if nt, ok := normalize(a.DataType()); ok && !sameType(nt, a.DataType()) {
		w, err := widen(&Context{}, a, nt)
		if err != nil {
			return sc.String()
		}
		defer w.Release()
		a = w
	}
	txt := string(appendText(nil, a, 0))
	switch a.DataType().ID() {
	case arrow.STRING:
		return "'" + strings.ReplaceAll(txt, "'", "''") + "'"
	case arrow.BOOL:
		return strings.ToUpper(txt)
	case arrow.INT16, arrow.INT32, arrow.INT64, arrow.DECIMAL128, arrow.FLOAT64:
		if strings.HasPrefix(txt, "-") {
			return "(" + txt + ")"
		}
		if a.DataType().ID() == arrow.FLOAT64 && (strings.ContainsAny(txt, "IN")) {
			return "'" + txt + "'::double precision"
		}
		return txt
	case arrow.DATE32:
		return "DATE '" + txt + "'"
	case arrow.TIMESTAMP:
		if isTSTZ(a.DataType()) {
			return "TIMESTAMPTZ '" + txt + "'"
		}
		return "TIMESTAMP '" + txt + "'"
	case arrow.INTERVAL_MONTH_DAY_NANO:
		return "INTERVAL '" + txt + "'"
	}
	return "'" + strings.ReplaceAll(txt, "'", "''") + "'::" + TypeName(a.DataType())
}

var infix = map[string]string{
	"+": "+", "-": "-", "*": "*", "/": "/", "%": "%", "=": "=", "<>": "<>", "<": "<", "<=": "<=",
	">": ">", ">=": ">=", "and": "AND", "or": "OR", "||": "||", "like": "LIKE", "ilike": "ILIKE",
	"not_like": "NOT LIKE", "not_ilike": "NOT ILIKE", "is_distinct_from": "IS DISTINCT FROM",
	"is_not_distinct_from": "IS NOT DISTINCT FROM",
}

// operand text: nested operators get parentheses.
func argText(e Expr) string {
	if c, ok := e.(*Call); ok {
		if _, ok := infix[c.Name]; ok {
			return "(" + c.String() + ")"
		}
		switch c.Name {
		case "not", "is_null", "is_not_null", "in", "not_in", "between", "not_between", "neg":
			return "(" + c.String() + ")"
		}
	}
	return e.String()
}

func callText(c *Call) string {
	if op, ok := infix[c.Name]; ok && len(c.Args) == 2 {
		return argText(c.Args[0]) + " " + op + " " + argText(c.Args[1])
	}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = a.String()
	}
	switch c.Name {
	case "neg":
		return "-" + argText(c.Args[0])
	case "not":
		return "NOT " + argText(c.Args[0])
	case "is_null":
		return argText(c.Args[0]) + " IS NULL"
	case "is_not_null":
		return argText(c.Args[0]) + " IS NOT NULL"
	case "in", "not_in":
		kw := " IN ("
		if c.Name == "not_in" {
			kw = " NOT IN ("
		}
		return argText(c.Args[0]) + kw + strings.Join(args[1:], ", ") + ")"
	case "between", "not_between":
		kw := " BETWEEN "
		if c.Name == "not_between" {
			kw = " NOT BETWEEN "
		}
		return argText(c.Args[0]) + kw + argText(c.Args[1]) + " AND " + argText(c.Args[2])
	case "like", "ilike", "not_like", "not_ilike":
		t := argText(c.Args[0]) + " " + infix[c.Name] + " " + argText(c.Args[1])
		if l, ok := c.Args[2].(*Literal); ok && l.Value.IsValid() && string(constBytes(l.Value)) == `\` {
			return t
		}
		return t + " ESCAPE " + args[2]
	case "extract":
		if l, ok := c.Args[0].(*Literal); ok && l.Value.IsValid() {
			return "EXTRACT(" + strings.ToUpper(string(constBytes(l.Value))) + " FROM " + args[1] + ")"
		}
	case "current_date":
		return "CURRENT_DATE"
	}
	return c.Name + "(" + strings.Join(args, ", ") + ")"
}
