package expr

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	"github.com/stretchr/testify/require"
)

// col is a named test column given as Arrow JSON.
type col struct {
	name string
	t    arrow.DataType
	json string
}

func newMem(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

func mkBatch(t testing.TB, mem memory.Allocator, cols ...col) arrow.RecordBatch {
	t.Helper()
	fields := make([]arrow.Field, len(cols))
	arrs := make([]arrow.Array, len(cols))
	n := int64(-1)
	for i, c := range cols {
		a, _, err := array.FromJSON(mem, c.t, strings.NewReader(c.json))
		require.NoError(t, err, c.name)
		arrs[i] = a
		fields[i] = arrow.Field{Name: c.name, Type: c.t, Nullable: true}
		n = int64(a.Len())
	}
	if n < 0 {
		n = 1
	}
	rb := array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, n)
	for _, a := range arrs {
		a.Release()
	}
	return rb
}

// colRef is the Column for column name of rb.
func colRef(rb arrow.RecordBatch, name string) *Column {
	idx := rb.Schema().FieldIndices(name)
	if len(idx) == 0 {
		panic("no column " + name)
	}
	return &Column{Index: idx[0], Name: name, T: rb.Schema().Field(idx[0]).Type}
}

// texts renders an array as PostgreSQL text, NULL as "NULL".
func texts(a arrow.Array) []string {
	out := make([]string, a.Len())
	for i := range out {
		if a.IsNull(i) {
			out[i] = "NULL"
			continue
		}
		out[i] = string(appendText(nil, a, i))
	}
	return out
}

func call(t testing.TB, name string, args ...Expr) Expr {
	t.Helper()
	e, err := NewCall(name, args...)
	require.NoError(t, err, name)
	return e
}

func lit(v any) *Literal { return NewLit(v) }

func dec(s string, p, sc int32) *Literal {
	v, err := parseDecimal(s, Numeric(p, sc).(*arrow.Decimal128Type))
	if err != nil {
		panic(err)
	}
	return &Literal{Value: scalar.NewDecimal128Scalar(v, Numeric(p, sc))}
}

func typed(s string, t arrow.DataType) Expr {
	e, err := coerce(lit(s), t)
	if err != nil {
		panic(err)
	}
	return e
}

// evalTexts evaluates e on rb and renders the result.
func evalTexts(t testing.TB, mem memory.Allocator, rb arrow.RecordBatch, e Expr) ([]string, error) {
	t.Helper()
	ctx := &Context{Alloc: mem}
	a, err := e.Eval(ctx, rb)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	require.Equal(t, int(rb.NumRows()), a.Len())
	require.True(t, sameType(a.DataType(), e.Type()) || e.Type().ID() == arrow.NULL, "%s: result %s, declared %s", e, a.DataType(), e.Type())
	return texts(a), nil
}
