package postgres

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/strata-data/strata/change"
)

// colKind says how the text form of a column's values is decoded.
type colKind uint8

const (
	kInt colKind = iota
	kFloat
	kBool
	kText // kept as text: text-like types, json, uuid, enums, unconstrained numeric, fallbacks
	kBytes
	kDecimal
	kDate
	kTime
	kTimestamp
	kTimestampTZ
	kArray // PostgreSQL array literal → JSON array text
)

// colType is the decoded form of one column's PostgreSQL type.
type colType struct {
	kind  colKind
	bits  int   // integer width, for range checks
	scale int32 // decimal scale
	typ   arrow.DataType
	// logical names the logical type of a text column (change.MetaLogical).
	logical string
	// oid is the PostgreSQL type; for arrays, the array type (decoded through pgtype).
	oid uint32
	// fallback is set when the type has no mapping and is kept as text (logged once).
	fallback bool
}

// Built-in type OIDs (pg_type.h).
const (
	oidBool        = 16
	oidBytea       = 17
	oidChar        = 18
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidXML         = 142
	oidFloat4      = 700
	oidFloat8      = 701
	oidMoney       = 790
	oidMacaddr     = 829
	oidInet        = 869
	oidCidr        = 650
	oidMacaddr8    = 774
	oidBpchar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestampTZ = 1184
	oidInterval    = 1186
	oidTimeTZ      = 1266
	oidBit         = 1560
	oidVarbit      = 1562
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
	oidTSVector    = 3614
)

// typeInfo is what the catalog says of a type that is not built in.
type typeInfo struct {
	typtype    byte   // b base, e enum, d domain, c composite, r range, m multirange, p pseudo
	category   byte   // pg_type.typcategory: A for arrays
	base       uint32 // typbasetype of a domain
	baseTypmod int32  // typtypmod of a domain
	elem       uint32 // typelem of an array
	name       string // schema-qualified type name, for warnings
}

// typeLookup returns catalog facts for a type OID that is not built in.
type typeLookup func(oid uint32) (typeInfo, error)

// mapType maps a column's PostgreSQL type (with its typmod) to the Arrow type the
// Debezium decoder would produce for the same column under Debezium's defaults
// (decimal.handling.mode=precise, time.precision.mode=adaptive_time_microseconds).
func (d *decoder) mapType(oid uint32, typmod int32, lookup typeLookup) (colType, error) {
	switch oid {
	case oidBool:
		return colType{kind: kBool, typ: arrow.FixedWidthTypes.Boolean, oid: oid}, nil
	case oidInt2:
		return colType{kind: kInt, bits: 16, typ: arrow.PrimitiveTypes.Int16, oid: oid}, nil
	case oidInt4:
		return colType{kind: kInt, bits: 32, typ: arrow.PrimitiveTypes.Int32, oid: oid}, nil
	case oidInt8, oidOID:
		return colType{kind: kInt, bits: 64, typ: arrow.PrimitiveTypes.Int64, oid: oid}, nil
	case oidFloat4:
		return colType{kind: kFloat, typ: arrow.PrimitiveTypes.Float32, oid: oid}, nil
	case oidFloat8:
		return colType{kind: kFloat, typ: arrow.PrimitiveTypes.Float64, oid: oid}, nil
	case oidText, oidVarchar, oidBpchar, oidName, oidChar, oidXML, oidInet, oidCidr, oidMacaddr, oidMacaddr8, oidBit, oidVarbit:
		return colType{kind: kText, typ: arrow.BinaryTypes.String, oid: oid}, nil
	case oidBytea:
		return colType{kind: kBytes, typ: arrow.BinaryTypes.Binary, oid: oid}, nil
	case oidJSON, oidJSONB:
		return colType{kind: kText, typ: arrow.BinaryTypes.String, logical: "json", oid: oid}, nil
	case oidUUID:
		return colType{kind: kText, typ: arrow.BinaryTypes.String, logical: "uuid", oid: oid}, nil
	case oidNumeric:
		if typmod >= 4 {
			prec, scale := int32((typmod-4)>>16), int32((typmod-4)&0xffff)
			if prec >= 1 && prec <= 38 && scale <= prec {
				return colType{kind: kDecimal, scale: scale, typ: &arrow.Decimal128Type{Precision: prec, Scale: scale}, oid: oid}, nil
			}
		}
		// Unconstrained (or wider than 38 digits): exact text, as Debezium's VariableScaleDecimal.
		return colType{kind: kText, typ: arrow.BinaryTypes.String, logical: "decimal", oid: oid}, nil
	case oidDate:
		return colType{kind: kDate, typ: arrow.FixedWidthTypes.Date32, oid: oid}, nil
	case oidTime:
		return colType{kind: kTime, typ: arrow.FixedWidthTypes.Time64us, oid: oid}, nil
	case oidTimeTZ:
		return colType{kind: kText, typ: arrow.BinaryTypes.String, logical: "zoned-time", oid: oid}, nil
	case oidTimestamp:
		return colType{kind: kTimestamp, typ: &arrow.TimestampType{Unit: arrow.Microsecond}, oid: oid}, nil
	case oidTimestampTZ:
		return colType{kind: kTimestampTZ, typ: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, oid: oid}, nil
	}
	if t, ok := d.types.TypeForOID(oid); ok {
		if _, isArray := t.Codec.(*pgtype.ArrayCodec); isArray {
			return colType{kind: kArray, typ: arrow.BinaryTypes.String, logical: "json", oid: oid}, nil
		}
	}
	if oid < 10000 || lookup == nil {
		// A built-in type without a mapping (interval, money, ranges, geometric types, ...).
		return colType{kind: kText, typ: arrow.BinaryTypes.String, oid: oid, fallback: true}, nil
	}
	ti, err := lookup(oid)
	if err != nil {
		return colType{}, err
	}
	switch {
	case ti.typtype == 'e':
		return colType{kind: kText, typ: arrow.BinaryTypes.String, logical: "enum", oid: oid}, nil
	case ti.typtype == 'd':
		return d.mapType(ti.base, ti.baseTypmod, lookup)
	case ti.category == 'A' && ti.elem != 0:
		return colType{kind: kArray, typ: arrow.BinaryTypes.String, logical: "json", oid: oid}, nil
	}
	return colType{kind: kText, typ: arrow.BinaryTypes.String, oid: oid, fallback: true}, nil
}

// field returns the Arrow column of a mapped type.
func (c colType) field(name string, notNull bool) arrow.Field {
	f := change.Col(name, c.typ)
	f.Nullable = !notNull
	if c.logical != "" {
		f = change.Logical(f, c.logical)
	}
	return f
}

// decoder turns text-format values into change.Values; it owns scratch state for arrays.
type decoder struct {
	types *pgtype.Map
}

func newDecoder() *decoder { return &decoder{types: pgtype.NewMap()} }

// bstr views b as a string without copying, for parsers that do not keep it.
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// value decodes the text form of one value of column type c.
func (d *decoder) value(c *colType, b []byte) (change.Value, error) {
	switch c.kind {
	case kInt:
		n, err := parseInt(b)
		if err != nil {
			return change.Value{}, err
		}
		if c.bits < 64 {
			lim := int64(1) << (c.bits - 1)
			if n < -lim || n >= lim {
				return change.Value{}, fmt.Errorf("integer %d out of range for %d bits", n, c.bits)
			}
		}
		return change.Int(n), nil
	case kFloat:
		f, err := strconv.ParseFloat(bstr(b), 64)
		if err != nil {
			return change.Value{}, err
		}
		return change.Float(f), nil
	case kBool:
		if len(b) == 1 && (b[0] == 't' || b[0] == 'f') {
			return change.Bool(b[0] == 't'), nil
		}
		return change.Value{}, fmt.Errorf("invalid boolean %q", b)
	case kText:
		return change.Str(string(b)), nil
	case kBytes:
		if len(b) < 2 || b[0] != '\\' || b[1] != 'x' {
			return change.Value{}, fmt.Errorf("bytea not in hex format (set bytea_output=hex): %.20q", b)
		}
		out := make([]byte, hex.DecodedLen(len(b)-2))
		if _, err := hex.Decode(out, b[2:]); err != nil {
			return change.Value{}, fmt.Errorf("bytea: %w", err)
		}
		return change.BytesString(unsafe.String(unsafe.SliceData(out), len(out))), nil
	case kDecimal:
		n, err := change.ParseDecimal(bstr(b), c.scale)
		if err != nil {
			return change.Value{}, err
		}
		return change.Decimal(n), nil
	case kDate:
		days, err := parseDate(b)
		if err != nil {
			return change.Value{}, err
		}
		return change.Int(days), nil
	case kTime:
		us, err := parseClock(b)
		if err != nil {
			return change.Value{}, err
		}
		return change.Int(us), nil
	case kTimestamp, kTimestampTZ:
		us, err := parseTimestamp(b, c.kind == kTimestampTZ)
		if err != nil {
			return change.Value{}, err
		}
		return change.Int(us), nil
	case kArray:
		return d.array(c, b)
	}
	return change.Value{}, fmt.Errorf("no decoder for kind %d", c.kind)
}

// array decodes an array literal through pgtype and renders it as a JSON array.
func (d *decoder) array(c *colType, b []byte) (change.Value, error) {
	t, ok := d.types.TypeForOID(c.oid)
	if !ok {
		// An array of a type pgtype does not know (enum arrays, ...): elements as text.
		t = &pgtype.Type{Name: "array", OID: c.oid, Codec: &pgtype.ArrayCodec{ElementType: &pgtype.Type{Name: "text", OID: oidText, Codec: pgtype.TextCodec{}}}}
		d.types.RegisterType(t)
	}
	var arr pgtype.Array[any]
	if err := d.types.PlanScan(c.oid, pgtype.TextFormatCode, &arr).Scan(b, &arr); err != nil {
		return change.Value{}, fmt.Errorf("array %.40q: %w", b, err)
	}
	for i := range arr.Elements {
		arr.Elements[i] = jsonable(arr.Elements[i])
	}
	out, err := json.Marshal(nest(arr.Elements, arr.Dims))
	if err != nil {
		return change.Value{}, fmt.Errorf("array %.40q: %w", b, err)
	}
	return change.Str(string(out)), nil
}

// nest shapes the flat elements of a multidimensional array as nested JSON arrays.
func nest(elems []any, dims []pgtype.ArrayDimension) any {
	if len(dims) <= 1 {
		if elems == nil {
			return []any{}
		}
		return elems
	}
	n := int(dims[0].Length)
	per := len(elems) / max(n, 1)
	out := make([]any, n)
	for i := range out {
		out[i] = nest(elems[i*per:(i+1)*per], dims[1:])
	}
	return out
}

// jsonable replaces values json.Marshal would render poorly: numerics as exact JSON
// numbers, times in RFC 3339 (UTC), and recurses into nested arrays.
func jsonable(v any) any {
	switch x := v.(type) {
	case []any:
		for i := range x {
			x[i] = jsonable(x[i])
		}
		return x
	case pgtype.Numeric:
		if !x.Valid {
			return nil
		}
		if x.NaN || x.InfinityModifier != pgtype.Finite {
			b, _ := x.MarshalJSON()
			return json.RawMessage(b)
		}
		return json.Number(exactDecimal(x.Int.String(), int(x.Exp)))
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return strconv.FormatFloat(float64(x), 'g', -1, 32)
		}
	}
	return v
}

// exactDecimal renders digits × 10^exp as plain decimal text ("1250", -2 → "12.50").
func exactDecimal(digits string, exp int) string {
	neg := strings.HasPrefix(digits, "-")
	digits = strings.TrimPrefix(digits, "-")
	if exp >= 0 {
		digits += strings.Repeat("0", exp)
	} else {
		if len(digits) <= -exp {
			digits = strings.Repeat("0", -exp-len(digits)+1) + digits
		}
		digits = digits[:len(digits)+exp] + "." + digits[len(digits)+exp:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

func parseInt(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 20 {
		return 0, fmt.Errorf("invalid integer %q", b)
	}
	neg := b[0] == '-'
	i := 0
	if neg || b[0] == '+' {
		i = 1
	}
	if i == len(b) {
		return 0, fmt.Errorf("invalid integer %q", b)
	}
	var n uint64
	for ; i < len(b); i++ {
		c := b[i] - '0'
		if c > 9 {
			return 0, fmt.Errorf("invalid integer %q", b)
		}
		if n > (math.MaxUint64-uint64(c))/10 {
			return 0, fmt.Errorf("integer %q out of range", b)
		}
		n = n*10 + uint64(c)
	}
	if neg {
		if n > 1<<63 {
			return 0, fmt.Errorf("integer %q out of range", b)
		}
		return -int64(n), nil
	}
	if n > math.MaxInt64 {
		return 0, fmt.Errorf("integer %q out of range", b)
	}
	return int64(n), nil
}

// num reads n decimal digits at b[i:].
func num(b []byte, i, n int) (int, bool) {
	if i+n > len(b) {
		return 0, false
	}
	v := 0
	for _, c := range b[i : i+n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// daysFromCivil returns days since 1970-01-01 of a proleptic Gregorian date (Howard
// Hinnant's algorithm), valid for any year including those before 1 AD (year 0 = 1 BC).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// parseDateAt reads "YYYY-MM-DD" (four or more year digits) and returns days and the
// index after it. A trailing " BC" is handled by the caller.
func parseDateAt(b []byte) (int64, int, error) {
	j := 0
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	y, ok1 := num(b, 0, j)
	m, ok2 := num(b, j+1, 2)
	d, ok3 := num(b, j+4, 2)
	if j < 4 || !ok1 || !ok2 || !ok3 || b[j] != '-' || b[j+3] != '-' || m < 1 || m > 12 || d < 1 || d > 31 {
		return 0, 0, fmt.Errorf("invalid date %q (want ISO DateStyle)", b)
	}
	return daysFromCivil(y, m, d), j + 6, nil
}

func bc(b []byte) ([]byte, bool) {
	if n := len(b); n > 3 && string(b[n-3:]) == " BC" {
		return b[:n-3], true
	}
	return b, false
}

func parseDate(b []byte) (int64, error) {
	if s := bstr(b); s == "infinity" || s == "-infinity" {
		return 0, fmt.Errorf("date %s has no Arrow representation", s)
	}
	b, isBC := bc(b)
	days, n, err := parseDateAt(b)
	if err != nil || n != len(b) {
		return 0, fmt.Errorf("invalid date %q (want ISO DateStyle)", b)
	}
	if isBC {
		days = bcDays(b)
	}
	return days, nil
}

// bcDays recomputes a BC date: year N BC is astronomical year 1-N.
func bcDays(b []byte) int64 {
	j := 0
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	y, _ := num(b, 0, j)
	m, _ := num(b, j+1, 2)
	d, _ := num(b, j+4, 2)
	return daysFromCivil(1-y, m, d)
}

// parseClockAt reads "HH:MM:SS[.ffffff]" and returns microseconds and the index after.
func parseClockAt(b []byte) (int64, int, error) {
	h, ok1 := num(b, 0, 2)
	mi, ok2 := num(b, 3, 2)
	s, ok3 := num(b, 6, 2)
	if !ok1 || !ok2 || !ok3 || b[2] != ':' || b[5] != ':' {
		return 0, 0, fmt.Errorf("invalid time %q", b)
	}
	us := (int64(h)*3600+int64(mi)*60+int64(s))*1e6 + 0
	i := 8
	if i < len(b) && b[i] == '.' {
		i++
		frac, digits := int64(0), 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if digits < 6 {
				frac = frac*10 + int64(b[i]-'0')
				digits++
			}
			i++
		}
		for ; digits < 6; digits++ {
			frac *= 10
		}
		us += frac
	}
	return us, i, nil
}

func parseClock(b []byte) (int64, error) {
	us, n, err := parseClockAt(b)
	if err != nil || n != len(b) {
		return 0, fmt.Errorf("invalid time %q", b)
	}
	return us, nil
}

// parseTimestamp reads "YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM[:SS]]][ BC]" into
// microseconds since the epoch (UTC for timestamptz; wall clock for timestamp).
func parseTimestamp(b []byte, zoned bool) (int64, error) {
	if s := bstr(b); s == "infinity" || s == "-infinity" {
		return 0, fmt.Errorf("timestamp %s has no Arrow representation", s)
	}
	b, isBC := bc(b)
	days, n, err := parseDateAt(b)
	if err != nil || n >= len(b) || b[n] != ' ' {
		return 0, fmt.Errorf("invalid timestamp %q (want ISO DateStyle)", b)
	}
	if isBC {
		days = bcDays(b[:n])
	}
	us, m, err := parseClockAt(b[n+1:])
	if err != nil {
		return 0, fmt.Errorf("invalid timestamp %q", b)
	}
	rest := b[n+1+m:]
	if zoned {
		off, ok := parseOffset(rest)
		if !ok {
			return 0, fmt.Errorf("invalid timestamptz offset in %q", b)
		}
		us -= off * 1e6
	} else if len(rest) != 0 {
		return 0, fmt.Errorf("invalid timestamp %q", b)
	}
	return days*86400*1e6 + us, nil
}

// parseOffset reads "+HH", "+HH:MM" or "+HH:MM:SS" into seconds.
func parseOffset(b []byte) (int64, bool) {
	if len(b) < 3 || b[0] != '+' && b[0] != '-' {
		return 0, false
	}
	h, ok := num(b, 1, 2)
	if !ok {
		return 0, false
	}
	sec := int64(h) * 3600
	i := 3
	for _, mul := range []int64{60, 1} {
		if i == len(b) {
			break
		}
		v, ok := num(b, i+1, 2)
		if b[i] != ':' || !ok {
			return 0, false
		}
		sec += int64(v) * mul
		i += 3
	}
	if i != len(b) {
		return 0, false
	}
	if b[0] == '-' {
		sec = -sec
	}
	return sec, true
}
