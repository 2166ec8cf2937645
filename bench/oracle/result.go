package oracle

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"
)

// ErrResult is wrapped by errors converting a result.
var ErrResult = errors.New("oracle: result")

// Kind is the normalized kind of a Value.
type Kind uint8

const (
	// Null is SQL NULL; the zero Value.
	Null Kind = iota
	// Bool is a boolean in I (0 or 1).
	Bool
	// Exact is an integer or decimal, exactly, in R.
	Exact
	// Float is a float32 or float64 in F.
	Float
	// String is text in S.
	String
	// Date is days since 1970-01-01 in I.
	Date
	// Timestamp is microseconds since 1970-01-01 UTC in I.
	Timestamp
	// Bytes is binary data in S.
	Bytes
)

// Value is one normalized cell. Results are small (query answers), so exact numbers
// are big.Rat: integer widths and decimal scales differ between engines.
type Value struct {
	Kind Kind
	I    int64
	F    float64
	R    *big.Rat
	S    string
}

func (v Value) String() string {
	switch v.Kind {
	case Null:
		return "NULL"
	case Bool:
		return strconv.FormatBool(v.I != 0)
	case Exact:
		if v.R.IsInt() {
			return v.R.Num().String()
		}
		return v.R.FloatString(10)
	case Float:
		return strconv.FormatFloat(v.F, 'g', -1, 64)
	case String:
		return strconv.Quote(v.S)
	case Date:
		return time.Unix(v.I*86400, 0).UTC().Format(time.DateOnly)
	case Timestamp:
		return time.UnixMicro(v.I).UTC().Format("2006-01-02 15:04:05.999999")
	case Bytes:
		return fmt.Sprintf("%x", v.S)
	}
	return "?"
}

// Result is a query's answer.
type Result struct {
	Columns []string
	Rows    [][]Value
}

// String renders the result as lines of tab-separated values (for failure messages).
func (r Result) String() string {
	var b strings.Builder
	b.WriteString(strings.Join(r.Columns, "\t"))
	for _, row := range r.Rows {
		b.WriteByte('\n')
		for i, v := range row {
			if i > 0 {
				b.WriteByte('\t')
			}
			b.WriteString(v.String())
		}
	}
	return b.String()
}

func exactInt(i int64) Value { return Value{Kind: Exact, R: new(big.Rat).SetInt64(i)} }

// FromSQL reads all rows (and closes them).
func FromSQL(rows *sql.Rows) (Result, error) {
	defer rows.Close()
	var res Result
	cols, err := rows.ColumnTypes()
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrResult, err)
	}
	for _, c := range cols {
		res.Columns = append(res.Columns, c.Name())
	}
	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return res, fmt.Errorf("%w: %w", ErrResult, err)
		}
		row := make([]Value, len(cols))
		for i, x := range raw {
			v, err := fromGo(x, cols[i].DatabaseTypeName())
			if err != nil {
				return res, fmt.Errorf("%w: column %s: %w", ErrResult, cols[i].Name(), err)
			}
			row[i] = v
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("%w: %w", ErrResult, err)
	}
	return res, nil
}

func fromGo(x any, dbType string) (Value, error) {
	switch x := x.(type) {
	case nil:
		return Value{}, nil
	case bool:
		if x {
			return Value{Kind: Bool, I: 1}, nil
		}
		return Value{Kind: Bool}, nil
	case int8:
		return exactInt(int64(x)), nil
	case int16:
		return exactInt(int64(x)), nil
	case int32:
		return exactInt(int64(x)), nil
	case int64:
		return exactInt(x), nil
	case uint8:
		return exactInt(int64(x)), nil
	case uint16:
		return exactInt(int64(x)), nil
	case uint32:
		return exactInt(int64(x)), nil
	case uint64:
		return Value{Kind: Exact, R: new(big.Rat).SetInt(new(big.Int).SetUint64(x))}, nil
	case *big.Int:
		return Value{Kind: Exact, R: new(big.Rat).SetInt(x)}, nil
	case float32:
		return Value{Kind: Float, F: float64(x)}, nil
	case float64:
		return Value{Kind: Float, F: x}, nil
	case duckdb.Decimal:
		r := new(big.Rat).SetInt(x.Value)
		return Value{Kind: Exact, R: r.Quo(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(x.Scale)), nil)))}, nil
	case string:
		return Value{Kind: String, S: x}, nil
	case []byte:
		return Value{Kind: Bytes, S: string(x)}, nil
	case time.Time:
		if dbType == "DATE" {
			return Value{Kind: Date, I: floorDiv(x.Unix(), 86400)}, nil
		}
		return Value{Kind: Timestamp, I: x.UnixMicro()}, nil
	}
	return Value{}, fmt.Errorf("unsupported Go type %T (%s)", x, dbType)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// FromArrow reads record batches of one schema (as strata's planner returns them).
func FromArrow(schema *arrow.Schema, recs []arrow.RecordBatch) (Result, error) {
	var res Result
	for _, f := range schema.Fields() {
		res.Columns = append(res.Columns, f.Name)
	}
	for _, rec := range recs {
		n := int(rec.NumRows())
		base := len(res.Rows)
		for range n {
			res.Rows = append(res.Rows, make([]Value, rec.NumCols()))
		}
		for c, col := range rec.Columns() {
			for i := range n {
				v, err := fromArrow(col, i)
				if err != nil {
					return res, fmt.Errorf("%w: column %s: %w", ErrResult, schema.Field(c).Name, err)
				}
				res.Rows[base+i][c] = v
			}
		}
	}
	return res, nil
}

func fromArrow(col arrow.Array, i int) (Value, error) {
	if col.IsNull(i) {
		return Value{}, nil
	}
	switch a := col.(type) {
	case *array.Boolean:
		if a.Value(i) {
			return Value{Kind: Bool, I: 1}, nil
		}
		return Value{Kind: Bool}, nil
	case *array.Int8:
		return exactInt(int64(a.Value(i))), nil
	case *array.Int16:
		return exactInt(int64(a.Value(i))), nil
	case *array.Int32:
		return exactInt(int64(a.Value(i))), nil
	case *array.Int64:
		return exactInt(a.Value(i)), nil
	case *array.Uint8:
		return exactInt(int64(a.Value(i))), nil
	case *array.Uint16:
		return exactInt(int64(a.Value(i))), nil
	case *array.Uint32:
		return exactInt(int64(a.Value(i))), nil
	case *array.Uint64:
		return Value{Kind: Exact, R: new(big.Rat).SetInt(new(big.Int).SetUint64(a.Value(i)))}, nil
	case *array.Float32:
		return Value{Kind: Float, F: float64(a.Value(i))}, nil
	case *array.Float64:
		return Value{Kind: Float, F: a.Value(i)}, nil
	case *array.Decimal128:
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		r := new(big.Rat).SetInt(a.Value(i).BigInt())
		return Value{Kind: Exact, R: r.Quo(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))}, nil
	case *array.String:
		return Value{Kind: String, S: a.Value(i)}, nil
	case *array.LargeString:
		return Value{Kind: String, S: a.Value(i)}, nil
	case *array.Binary:
		return Value{Kind: Bytes, S: string(a.Value(i))}, nil
	case *array.Date32:
		return Value{Kind: Date, I: int64(a.Value(i))}, nil
	case *array.Date64:
		return Value{Kind: Date, I: floorDiv(int64(a.Value(i)), 86_400_000)}, nil
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		v := int64(a.Value(i))
		switch unit {
		case arrow.Second:
			v *= 1_000_000
		case arrow.Millisecond:
			v *= 1_000
		case arrow.Nanosecond:
			v = floorDiv(v, 1_000)
		}
		return Value{Kind: Timestamp, I: v}, nil
	}
	return Value{}, fmt.Errorf("unsupported Arrow type %s", col.DataType())
}

// asFloat returns a numeric value as float64.
func asFloat(v Value) float64 {
	if v.Kind == Float {
		return v.F
	}
	f, _ := v.R.Float64()
	return f
}

func isNumber(k Kind) bool { return k == Exact || k == Float }

// FloatTolerance is the relative difference allowed between a float and a number.
const FloatTolerance = 1e-9

// Equal reports whether two values match: exact numbers exactly, a float against a
// number within FloatTolerance relative, everything else by kind and value.
func Equal(a, b Value) bool {
	if a.Kind == Exact && b.Kind == Exact {
		return a.R.Cmp(b.R) == 0
	}
	if isNumber(a.Kind) && isNumber(b.Kind) {
		x, y := asFloat(a), asFloat(b)
		if x == y || (math.IsNaN(x) && math.IsNaN(y)) {
			return true
		}
		return math.Abs(x-y) <= FloatTolerance*math.Max(math.Abs(x), math.Abs(y))
	}
	// A date matches a timestamp at its midnight: PostgreSQL's date_trunc and date +
	// interval give timestamps where DuckDB keeps dates.
	if a.Kind == Date && b.Kind == Timestamp {
		return a.I*86_400_000_000 == b.I
	}
	if a.Kind == Timestamp && b.Kind == Date {
		return b.I*86_400_000_000 == a.I
	}
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case Null:
		return true
	case String, Bytes:
		return a.S == b.S
	default:
		return a.I == b.I
	}
}

// cmpValue orders values for sorting rows into a canonical order: by kind (numbers
// together), then value.
func cmpValue(a, b Value) int {
	ka, kb := a.Kind, b.Kind
	if isNumber(ka) && isNumber(kb) {
		if ka == Exact && kb == Exact {
			return a.R.Cmp(b.R)
		}
		x, y := asFloat(a), asFloat(b)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	if isNumber(ka) {
		ka = Exact
	}
	if isNumber(kb) {
		kb = Exact
	}
	if ka != kb {
		return int(ka) - int(kb)
	}
	switch ka {
	case String, Bytes:
		return strings.Compare(a.S, b.S)
	case Null:
		return 0
	}
	switch {
	case a.I < b.I:
		return -1
	case a.I > b.I:
		return 1
	}
	return 0
}
