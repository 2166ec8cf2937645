package change

import (
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// Kind is the physical kind of a [Value]. The logical type (date, timestamp unit, decimal
// scale, ...) lives in the column's Arrow type, so one int64 kind serves every integer and
// temporal column without boxing.
type Kind uint8

const (
	// KindNull is SQL NULL; the zero Value is NULL.
	KindNull Kind = iota
	// KindAbsent marks a column missing from an image: a partial before-image
	// (REPLICA IDENTITY DEFAULT) or an unchanged TOAST value. It is not NULL.
	KindAbsent
	// KindBool is a boolean.
	KindBool
	// KindInt is any integer, and the physical value of dates (days), times and timestamps (in the column's unit).
	KindInt
	// KindFloat is a float32 or float64.
	KindFloat
	// KindDecimal is the unscaled 128-bit integer of a decimal; the scale is the column's.
	KindDecimal
	// KindString is UTF-8 text (also JSON, UUID and enum columns).
	KindString
	// KindBytes is binary data.
	KindBytes
)

var kindNames = [...]string{"null", "absent", "bool", "int", "float", "decimal", "string", "bytes"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Value is one typed cell without interface boxing: 40 bytes, comparable with ==.
type Value struct {
	kind Kind
	hi   int64  // decimal high bits
	lo   uint64 // int64 bits, float64 bits, bool, decimal low bits
	s    string // string and bytes
}

// Row is one row of values, positional by the schema's fields.
type Row []Value

// Null returns SQL NULL.
func Null() Value { return Value{} }

// Absent returns the marker for a column missing from an image.
func Absent() Value { return Value{kind: KindAbsent} }

// Bool returns a boolean value.
func Bool(b bool) Value {
	if b {
		return Value{kind: KindBool, lo: 1}
	}
	return Value{kind: KindBool}
}

// Int returns an integer value (also dates, times and timestamps in the column's unit).
func Int(i int64) Value { return Value{kind: KindInt, lo: uint64(i)} }

// Float returns a floating-point value.
func Float(f float64) Value { return Value{kind: KindFloat, lo: math.Float64bits(f)} }

// Decimal returns the unscaled value of a decimal; the column's type carries the scale.
func Decimal(n decimal128.Num) Value {
	return Value{kind: KindDecimal, hi: n.HighBits(), lo: n.LowBits()}
}

// Str returns a string value.
func Str(s string) Value { return Value{kind: KindString, s: s} }

// Bytes returns a binary value; b is copied.
func Bytes(b []byte) Value { return Value{kind: KindBytes, s: string(b)} }

// BytesString returns a binary value whose bytes are the string's, without a copy.
func BytesString(s string) Value { return Value{kind: KindBytes, s: s} }

// Kind returns the value's kind.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is SQL NULL.
func (v Value) IsNull() bool { return v.kind == KindNull }

// IsAbsent reports whether v marks a missing column.
func (v Value) IsAbsent() bool { return v.kind == KindAbsent }

// AsBool returns the boolean; false unless the kind is KindBool.
func (v Value) AsBool() bool { return v.kind == KindBool && v.lo != 0 }

// AsInt returns the integer; 0 unless the kind is KindInt.
func (v Value) AsInt() int64 {
	if v.kind != KindInt {
		return 0
	}
	return int64(v.lo)
}

// AsFloat returns the float; integers convert, other kinds give 0.
func (v Value) AsFloat() float64 {
	switch v.kind {
	case KindFloat:
		return math.Float64frombits(v.lo)
	case KindInt:
		return float64(int64(v.lo))
	}
	return 0
}

// AsDecimal returns the unscaled decimal; integers convert, other kinds give 0.
func (v Value) AsDecimal() decimal128.Num {
	switch v.kind {
	case KindDecimal:
		return decimal128.New(v.hi, v.lo)
	case KindInt:
		return decimal128.FromI64(int64(v.lo))
	}
	return decimal128.Num{}
}

// AsString returns the text of a string or bytes value ("" otherwise). For bytes it
// shares memory with the value: treat it as read-only.
func (v Value) AsString() string {
	if v.kind == KindString || v.kind == KindBytes {
		return v.s
	}
	return ""
}

// AsBytes returns a copy of the bytes of a bytes or string value.
func (v Value) AsBytes() []byte {
	if v.kind == KindString || v.kind == KindBytes {
		return []byte(v.s)
	}
	return nil
}

// String formats the value for debugging, without its column type.
func (v Value) String() string {
	switch v.kind {
	case KindNull:
		return "NULL"
	case KindAbsent:
		return "<absent>"
	case KindBool:
		if v.lo != 0 {
			return "true"
		}
		return "false"
	case KindInt:
		return fmt.Sprint(int64(v.lo))
	case KindFloat:
		return fmt.Sprint(math.Float64frombits(v.lo))
	case KindDecimal:
		return decimal128.New(v.hi, v.lo).BigInt().String() + "e?"
	case KindString:
		return fmt.Sprintf("%q", v.s)
	case KindBytes:
		return fmt.Sprintf("0x%x", v.s)
	}
	return "?"
}

// String formats the row for debugging.
func (r Row) String() string {
	var b strings.Builder
	b.WriteByte('(')
	for i, v := range r {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v.String())
	}
	b.WriteByte(')')
	return b.String()
}
