package plan

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/mempool"
)

// testCatalog builds tables from literal rows.
type tableDef struct {
	name   string
	fields []arrow.Field
	rows   [][]any
	split  int // rows per batch (0: one batch)
}

func newTestCatalog(t testing.TB, defs ...tableDef) *MemCatalog {
	t.Helper()
	cat := NewMemCatalog()
	for _, d := range defs {
		s := change.MustSchema(d.fields)
		var recs []arrow.RecordBatch
		per := d.split
		if per <= 0 {
			per = max(len(d.rows), 1)
		}
		for i := 0; i < len(d.rows) || i == 0; i += per {
			end := min(len(d.rows), i+per)
			rows := make([][]any, 0, end-i)
			for _, r := range d.rows[i:end] {
				rows = append(rows, append([]any{change.Insert}, r...))
			}
			b, err := change.FromRows(memory.DefaultAllocator, s, rows)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, b.Record())
			if end >= len(d.rows) {
				break
			}
		}
		mt, err := NewMemTable(s.Arrow(), recs...)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			r.Release()
		}
		t.Cleanup(mt.Release)
		cat.Add(d.name, mt)
	}
	return cat
}

var testNow = time.Date(2024, 3, 15, 12, 0, 0, 0, time.UTC)

// query runs sql and renders each row as "v1|v2|..." (NULL for NULL), checking that
// no Arrow memory is left.
func runSQL(t *testing.T, cat Catalog, sql string, opts ...Option) []string {
	t.Helper()
	rows, err := queryErr(t, cat, sql, opts...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return rows
}

func queryErr(t *testing.T, cat Catalog, sql string, opts ...Option) ([]string, error) {
	t.Helper()
	mem := memory.NewCheckedAllocator(mempool.NewScope())
	o := append([]Option{WithAllocator(mem), func(o *Options) { o.Now = testNow }}, opts...)
	res, err := Query(context.Background(), cat, sql, o...)
	if err != nil {
		mem.AssertSize(t, 0)
		return nil, err
	}
	var out []string
	for _, b := range res.Batches {
		for r := range int(b.NumRows()) {
			parts := make([]string, b.NumCols())
			for c := range parts {
				parts[c] = cell(b.Column(c), r)
			}
			out = append(out, strings.Join(parts, "|"))
		}
	}
	res.Release()
	mem.AssertSize(t, 0)
	return out, nil
}

func cell(a arrow.Array, r int) string {
	if a.IsNull(r) {
		return "NULL"
	}
	v := change.ValueAt(a, r)
	switch t := a.DataType().(type) {
	case *arrow.Decimal128Type:
		return change.FormatDecimal(v.AsDecimal(), t.Scale)
	case *arrow.Date32Type:
		return time.Unix(v.AsInt()*86400, 0).UTC().Format("2006-01-02")
	case *arrow.TimestampType:
		return change.TimeOf(v.AsInt(), t.Unit).UTC().Format("2006-01-02 15:04:05")
	}
	switch v.Kind() {
	case change.KindFloat:
		return fmt.Sprintf("%g", v.AsFloat())
	case change.KindBool:
		return fmt.Sprint(v.AsBool())
	case change.KindInt:
		return fmt.Sprint(v.AsInt())
	}
	return v.AsString()
}

func sorted(rows []string) []string {
	out := append([]string{}, rows...)
	sort.Strings(out)
	return out
}

func i64(n string) arrow.Field  { return change.Col(n, arrow.PrimitiveTypes.Int64) }
func i32(n string) arrow.Field  { return change.Col(n, arrow.PrimitiveTypes.Int32) }
func str(n string) arrow.Field  { return change.Col(n, arrow.BinaryTypes.String) }
func f64(n string) arrow.Field  { return change.Col(n, arrow.PrimitiveTypes.Float64) }
func date(n string) arrow.Field { return change.Col(n, arrow.FixedWidthTypes.Date32) }
func dec(n string, p, s int32) arrow.Field {
	return change.Col(n, &arrow.Decimal128Type{Precision: p, Scale: s})
}
