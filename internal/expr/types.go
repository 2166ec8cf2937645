package expr

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// The Arrow types that stand for PostgreSQL's types.
var (
	Bool        arrow.DataType = arrow.FixedWidthTypes.Boolean
	Int16       arrow.DataType = arrow.PrimitiveTypes.Int16 // smallint
	Int32       arrow.DataType = arrow.PrimitiveTypes.Int32 // integer
	Int64       arrow.DataType = arrow.PrimitiveTypes.Int64 // bigint
	Float32     arrow.DataType = arrow.PrimitiveTypes.Float32
	Float64     arrow.DataType = arrow.PrimitiveTypes.Float64
	Text        arrow.DataType = arrow.BinaryTypes.String
	Bytea       arrow.DataType = arrow.BinaryTypes.Binary
	Date        arrow.DataType = arrow.FixedWidthTypes.Date32
	Timestamp   arrow.DataType = &arrow.TimestampType{Unit: arrow.Microsecond}
	TimestampTZ arrow.DataType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	Interval    arrow.DataType = arrow.FixedWidthTypes.MonthDayNanoInterval
	Unknown     arrow.DataType = arrow.Null // the type of an untyped NULL
)

// maxPrec is the precision of computed numeric results.
const maxPrec = 38

// Numeric is numeric(p, s) as decimal128.
func Numeric(p, s int32) arrow.DataType { return &arrow.Decimal128Type{Precision: p, Scale: s} }

// TypeName is PostgreSQL's name for t, as used in error messages.
func TypeName(t arrow.DataType) string {
	switch t.ID() {
	case arrow.NULL:
		return "unknown"
	case arrow.BOOL:
		return "boolean"
	case arrow.INT16:
		return "smallint"
	case arrow.INT32:
		return "integer"
	case arrow.INT64:
		return "bigint"
	case arrow.FLOAT32:
		return "real"
	case arrow.FLOAT64:
		return "double precision"
	case arrow.DECIMAL128:
		d := t.(*arrow.Decimal128Type)
		return fmt.Sprintf("numeric(%d,%d)", d.Precision, d.Scale)
	case arrow.STRING, arrow.LARGE_STRING:
		return "text"
	case arrow.BINARY, arrow.LARGE_BINARY:
		return "bytea"
	case arrow.DATE32:
		return "date"
	case arrow.TIMESTAMP:
		if t.(*arrow.TimestampType).TimeZone != "" {
			return "timestamp with time zone"
		}
		return "timestamp without time zone"
	case arrow.INTERVAL_MONTH_DAY_NANO:
		return "interval"
	}
	return t.String()
}

// shortName is the name used in "operator does not exist" messages: numeric without
// its typmod, like PostgreSQL.
func shortName(t arrow.DataType) string {
	if t.ID() == arrow.DECIMAL128 {
		return "numeric"
	}
	return TypeName(t)
}

func isInt(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT16, arrow.INT32, arrow.INT64:
		return true
	}
	return false
}

func isFloat(t arrow.DataType) bool { return t.ID() == arrow.FLOAT32 || t.ID() == arrow.FLOAT64 }
func isDec(t arrow.DataType) bool   { return t.ID() == arrow.DECIMAL128 }
func isNumeric(t arrow.DataType) bool {
	return isInt(t) || isFloat(t) || isDec(t)
}
func isText(t arrow.DataType) bool     { return t.ID() == arrow.STRING }
func isNull(t arrow.DataType) bool     { return t.ID() == arrow.NULL }
func isTS(t arrow.DataType) bool       { return t.ID() == arrow.TIMESTAMP }
func isTSTZ(t arrow.DataType) bool     { return isTS(t) && t.(*arrow.TimestampType).TimeZone != "" }
func isDate(t arrow.DataType) bool     { return t.ID() == arrow.DATE32 }
func isIntv(t arrow.DataType) bool     { return t.ID() == arrow.INTERVAL_MONTH_DAY_NANO }
func isTemporal(t arrow.DataType) bool { return isDate(t) || isTS(t) }

func decScale(t arrow.DataType) int32 { return t.(*arrow.Decimal128Type).Scale }
func decPrec(t arrow.DataType) int32  { return t.(*arrow.Decimal128Type).Precision }

// numRank orders the numeric types by PostgreSQL's implicit promotion.
func numRank(t arrow.DataType) int {
	switch t.ID() {
	case arrow.INT16:
		return 1
	case arrow.INT32:
		return 2
	case arrow.INT64:
		return 3
	case arrow.DECIMAL128:
		return 4
	case arrow.FLOAT32:
		return 5
	case arrow.FLOAT64:
		return 6
	}
	return 0
}

// intDigits is the number of integer digits a value of numeric type t may have.
func intDigits(t arrow.DataType) int32 {
	switch t.ID() {
	case arrow.INT16:
		return 5
	case arrow.INT32:
		return 10
	case arrow.INT64:
		return 19
	case arrow.DECIMAL128:
		return decPrec(t) - decScale(t)
	}
	return 0
}

// asDecimal is the decimal type an integer or decimal type converts to exactly.
func asDecimal(t arrow.DataType) arrow.DataType {
	if isDec(t) {
		return t
	}
	return Numeric(intDigits(t), 0)
}

// commonNumeric is the type two numeric operands are converted to: the higher of the
// two by rank, with float4 against anything but float4 giving float8 (PostgreSQL's
// preferred type), and two decimals widened to hold both.
func commonNumeric(a, b arrow.DataType) arrow.DataType {
	ra, rb := numRank(a), numRank(b)
	switch {
	case ra == 5 && rb == 5:
		return Float32
	case ra >= 5 || rb >= 5:
		return Float64
	case ra == 4 || rb == 4:
		da, db := asDecimal(a), asDecimal(b)
		s := max(decScale(da), decScale(db))
		p := min(maxPrec, max(intDigits(da), intDigits(db))+s)
		return Numeric(p, s)
	case ra >= rb:
		return a
	default:
		return b
	}
}

// normalize maps types PostgreSQL lacks to the one evaluation uses (int8/uint to a
// wider signed integer, other timestamp units to microseconds, large strings to
// strings); ok is false for types expr cannot evaluate.
func normalize(t arrow.DataType) (arrow.DataType, bool) {
	switch t.ID() {
	case arrow.NULL, arrow.BOOL, arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32,
		arrow.FLOAT64, arrow.DECIMAL128, arrow.STRING, arrow.BINARY, arrow.DATE32,
		arrow.INTERVAL_MONTH_DAY_NANO:
		return t, true
	case arrow.INT8, arrow.UINT8:
		return Int16, true
	case arrow.UINT16:
		return Int32, true
	case arrow.UINT32:
		return Int64, true
	case arrow.UINT64:
		return Numeric(20, 0), true
	case arrow.FLOAT16:
		return Float32, true
	case arrow.LARGE_STRING:
		return Text, true
	case arrow.LARGE_BINARY:
		return Bytea, true
	case arrow.DATE64:
		return Date, true
	case arrow.TIMESTAMP:
		ts := t.(*arrow.TimestampType)
		if ts.Unit == arrow.Microsecond {
			return t, true
		}
		if ts.TimeZone != "" {
			return TimestampTZ, true
		}
		return Timestamp, true
	}
	return t, false
}

// sameType reports whether a and b are the same for evaluation (decimal typmods
// included; time zone names only as with/without).
func sameType(a, b arrow.DataType) bool {
	if a.ID() != b.ID() {
		return false
	}
	switch a.ID() {
	case arrow.DECIMAL128:
		return decScale(a) == decScale(b) && decPrec(a) == decPrec(b)
	case arrow.TIMESTAMP:
		ta, tb := a.(*arrow.TimestampType), b.(*arrow.TimestampType)
		return ta.Unit == tb.Unit && (ta.TimeZone == "") == (tb.TimeZone == "")
	}
	return true
}
