package oracle

import (
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func dec(s string) Value {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return Value{Kind: Exact, R: r}
}

func flt(f float64) Value { return Value{Kind: Float, F: f} }
func str(s string) Value  { return Value{Kind: String, S: s} }
func res(rows ...[]Value) Result {
	cols := []string{}
	if len(rows) > 0 {
		for range rows[0] {
			cols = append(cols, "c")
		}
	}
	return Result{Columns: cols, Rows: rows}
}

func TestEqual(t *testing.T) {
	cases := []struct {
		a, b Value
		eq   bool
	}{
		{dec("1.50"), dec("1.5"), true}, // scale does not matter, value does
		{dec("1.50"), dec("1.51"), false},
		{dec("12345678901234567890.01"), dec("12345678901234567890.02"), false}, // exact beyond float64
		{exactInt(3), dec("3.00"), true},
		{flt(0.1 + 0.2), dec("0.3"), true},
		{flt(1), flt(1 + 1e-10), true},
		{flt(1), flt(1 + 1e-8), false},
		{flt(0), flt(1e-300), false},
		{flt(math.NaN()), flt(math.NaN()), true},
		{flt(math.Inf(1)), flt(math.Inf(1)), true},
		{Value{}, Value{}, true},
		{Value{}, exactInt(0), false},
		{str(""), Value{}, false},
		{str("a"), str("a"), true},
		{str("1"), exactInt(1), false},
		{Value{Kind: Date, I: 2}, Value{Kind: Timestamp, I: 2 * 86_400_000_000}, true},
		{Value{Kind: Date, I: 2}, Value{Kind: Timestamp, I: 2*86_400_000_000 + 1}, false},
		{Value{Kind: Date, I: 2}, exactInt(2), false},
		{Value{Kind: Bool, I: 1}, exactInt(1), false},
	}
	for _, c := range cases {
		if got := Equal(c.a, c.b); got != c.eq {
			t.Errorf("Equal(%v, %v) = %v", c.a, c.b, got)
		}
		if got := Equal(c.b, c.a); got != c.eq {
			t.Errorf("Equal(%v, %v) = %v (swapped)", c.b, c.a, got)
		}
	}
}

func TestCompareMultisetAndOrdered(t *testing.T) {
	a := res([]Value{exactInt(1), str("x")}, []Value{exactInt(2), {}}, []Value{exactInt(2), {}})
	b := res([]Value{exactInt(2), {}}, []Value{exactInt(1), str("x")}, []Value{exactInt(2), {}})
	if err := Compare(a, b, false); err != nil {
		t.Errorf("multiset: %v", err)
	}
	if err := Compare(a, b, true); err == nil {
		t.Error("ordered comparison ignores order")
	}
	// Duplicates count: {1, 2, 2} is not {1, 1, 2}.
	c := res([]Value{exactInt(1), str("x")}, []Value{exactInt(1), str("x")}, []Value{exactInt(2), {}})
	if err := Compare(a, c, false); err == nil {
		t.Error("multiset comparison ignores multiplicity")
	}
	if err := Compare(a, res(a.Rows[:2]...), false); err == nil || !strings.Contains(err.Error(), "3 rows, want 2") {
		t.Errorf("row count: %v", err)
	}
	if err := Compare(res([]Value{exactInt(1)}), a, false); err == nil {
		t.Error("column count not compared")
	}
	// Floats within tolerance that sort apart from their match still match.
	f := res([]Value{flt(1.0000000000001), exactInt(2)}, []Value{flt(1), exactInt(1)})
	g := res([]Value{dec("1"), exactInt(2)}, []Value{flt(1.0000000000001), exactInt(1)})
	if err := Compare(f, g, false); err != nil {
		t.Errorf("float tolerance in multisets: %v", err)
	}
}

func TestOrdered(t *testing.T) {
	for q, want := range map[string]bool{
		"select * from t order by id":                                      true,
		"SELECT a FROM t ORDER\n BY 1":                                     true,
		"select row_number() over (order by id) from t":                    false,
		"select * from (select * from t order by id) s":                    false,
		"select 'order by' from t":                                         false,
		"select 1 -- order by\nfrom t":                                     false,
		"with c as (select * from t order by k) select * from c":           false,
		"select k from t union select k from u order by k":                 true,
		`select "order" from t where "by" = 1`:                             false,
		"select id from t where k in (select k from u order by k) limit 3": false,
	} {
		if got := Ordered(q); got != want {
			t.Errorf("Ordered(%q) = %v, want %v", q, got, want)
		}
	}
}

func TestFromArrow(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "d", Type: &arrow.Decimal128Type{Precision: 15, Scale: 2}, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "dt", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond}, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	b.Field(0).(*array.Int32Builder).AppendValues([]int32{-4, 0}, []bool{true, false})
	b.Field(1).(*array.Decimal128Builder).AppendValues([]decimal128.Num{decimal128.FromI64(-1234), decimal128.FromI64(5)}, nil)
	b.Field(2).(*array.StringBuilder).AppendValues([]string{"", "é"}, nil)
	b.Field(3).(*array.Date32Builder).AppendValues([]arrow.Date32{-1, 9131}, nil)
	b.Field(4).(*array.Float64Builder).AppendValues([]float64{0.5, -2}, nil)
	b.Field(5).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{1500, -1}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	got, err := FromArrow(schema, []arrow.RecordBatch{rec, rec})
	if err != nil {
		t.Fatal(err)
	}
	row := []Value{exactInt(-4), dec("-12.34"), str(""), {Kind: Date, I: -1}, flt(0.5), {Kind: Timestamp, I: 1_500_000}}
	row2 := []Value{{}, dec("0.05"), str("é"), {Kind: Date, I: 9131}, flt(-2), {Kind: Timestamp, I: -1000}}
	want := Result{Columns: []string{"i", "d", "s", "dt", "f", "ts"}, Rows: [][]Value{row, row2, row, row2}}
	if err := Compare(got, want, true); err != nil {
		t.Error(err)
	}
	if got.Rows[0][3].String() != "1969-12-31" {
		t.Errorf("date renders as %s", got.Rows[0][3])
	}
}
