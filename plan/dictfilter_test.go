package plan

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/expr"
)

// dictFilterTable writes rows (id, mode, plain, tag, n) to Parquet in row groups of
// 700 with small pages: mode and tag are dictionary encoded (with NULLs), plain is
// not (dictionary off). It returns the Parquet table (batches of 128 rows) and a
// catalog holding it as "p" and the same rows in memory as "m".
func dictFilterTable(t *testing.T) (*ParquetTable, *MemCatalog) {
	t.Helper()
	fields := []arrow.Field{i64("id"), str("mode"), str("plain"), str("tag"), i64("n")}
	s := change.MustSchema(fields)
	var rows [][]any
	for i := range 3000 {
		var mode, plain, tag any = []string{"MAIL", "SHIP", "AIR", "", "REG AIR", "mail"}[i%6], fmt.Sprintf("p%d", i%9), fmt.Sprintf("t%d", i%4)
		if i%11 == 0 {
			mode = nil
		}
		if i%13 == 0 {
			plain = nil
		}
		if i%5 == 0 || i >= 2100 && i < 2800 { // one row group's tag is all NULL
			tag = nil
		}
		rows = append(rows, []any{int64(i), mode, plain, tag, int64(i % 7)})
	}
	path := filepath.Join(t.TempDir(), "f.parquet")
	f, err := os.Create(path)
	require.NoError(t, err)
	props := parquet.NewWriterProperties(parquet.WithStats(true), parquet.WithDictionaryFor("plain", false),
		parquet.WithMaxRowGroupLength(700), parquet.WithDataPageSize(256), parquet.WithBatchSize(64))
	w, err := pqarrow.NewFileWriter(s.Arrow(), f, props, pqarrow.DefaultWriterProps())
	require.NoError(t, err)
	in := make([][]any, len(rows))
	for i, r := range rows {
		in[i] = append([]any{change.Insert}, r...)
	}
	b, err := change.FromRows(memory.DefaultAllocator, s, in)
	require.NoError(t, err)
	require.NoError(t, w.WriteBuffered(b.Record()))
	b.Release()
	require.NoError(t, w.Close())
	tab, err := OpenParquet(path)
	require.NoError(t, err)
	tab.BatchRows = 128
	cat := newTestCatalog(t, tableDef{name: "m", fields: fields, rows: rows, split: 500})
	cat.Add("p", tab)
	return tab, cat
}

// Conditions on one dictionary-encoded column are evaluated on the dictionary: the
// same rows come back as from the same data in memory, with SQL's NULL semantics
// (NULL IN (...), NULL = x, NULL LIKE p are NULL: the row is dropped; NOT of them too),
// for =, <>, IN, NOT IN, LIKE, ILIKE, negations, several conditions on one column or
// on several, beside conditions on a plain column and on other types.
func TestParquetDictionaryConditions(t *testing.T) {
	_, cat := dictFilterTable(t)
	for _, where := range []string{
		"mode IN ('MAIL', 'SHIP')",
		"mode NOT IN ('MAIL', 'SHIP')",
		"mode IN ('MAIL', NULL)",
		"mode NOT IN ('MAIL', NULL)",
		"mode = 'AIR'",
		"mode <> 'AIR'",
		"mode = ''",
		"mode IS NULL",
		"mode IS NOT NULL",
		"mode LIKE '%AIR'",
		"mode NOT LIKE '%AIR'",
		"mode ILIKE 'mail'",
		"NOT (mode = 'SHIP' OR mode LIKE 'R%')",
		"mode IS DISTINCT FROM 'MAIL'",
		"mode > 'M' AND mode < 'T'",
		"mode IN ('MAIL', 'SHIP') AND tag = 't1'",
		"mode IN ('MAIL', 'SHIP') AND tag IS NULL",
		"mode = 'nothing'",
		"mode IN ('MAIL', 'SHIP') AND plain IN ('p1', 'p2')",
		"plain LIKE 'p1%' AND n < 3",
		"mode LIKE 'M%' AND n = 2 AND tag <> 't3'",
		"(mode = 'MAIL' OR tag = 't2')",
		"mode = plain",
		"COALESCE(mode, 'x') = 'x'",
		// conditions on columns read as they are, evaluated before the batch is
		// gathered: alone, after dictionary conditions keeping many or few rows (then
		// on those rows gathered), on a nullable string without a dictionary
		"n < 3",
		"n = 2 AND id >= 1500",
		"id < 0",
		"plain = 'p1'",
		"plain IS NULL OR n = 6",
		"mode IN ('MAIL', 'SHIP') AND n = 2",
		"mode = 'AIR' AND tag = 't2' AND n < 3",
		"mode = 'AIR' AND tag = 't2' AND id % 2 = 0",
		"tag = 't1' AND plain <> 'p1' AND n > 0",
	} {
		t.Run(where, func(t *testing.T) {
			q := "SELECT id, mode, plain, tag, n FROM %[1]s WHERE %[2]s ORDER BY id"
			want := runSQL(t, cat, fmt.Sprintf(q, "m", where))
			got := runSQL(t, cat, fmt.Sprintf(q, "p", where))
			require.Equal(t, want, got, "WHERE %s", where)
			cnt := "SELECT count(*), count(mode), count(tag) FROM %[1]s WHERE %[2]s"
			require.Equal(t, runSQL(t, cat, fmt.Sprintf(cnt, "m", where)), runSQL(t, cat, fmt.Sprintf(cnt, "p", where)), "WHERE %s", where)
		})
	}
}

// A Parquet split takes the safe conditions on one dictionary-read column, and those
// on columns it reads as they are (a string column without a dictionary), and leaves
// the others (on two columns, ones that may fail) to the caller, in order; its
// batches hold only the rows passing what it took, and the strings of the dropped
// rows are never expanded.
func TestParquetSplitTakesDictionaryConditions(t *testing.T) {
	tab, _ := dictFilterTable(t)
	col := func(i int, name string) *expr.Column {
		return &expr.Column{Index: i, Name: name, T: arrow.BinaryTypes.String}
	}
	lit := func(s string) expr.Expr { return expr.NewLit(s) }
	call := func(name string, args ...expr.Expr) expr.Expr {
		c, err := expr.NewCall(name, args...)
		require.NoError(t, err)
		return c
	}
	// scan columns: id, mode, plain, tag
	id, mode, plain, tag := &expr.Column{Index: 0, Name: "id", T: arrow.PrimitiveTypes.Int64}, col(1, "mode"), col(2, "plain"), col(3, "tag")
	in := call("in", mode, lit("MAIL"), lit("SHIP"))
	onPlain := call("=", plain, lit("p1"))
	two := call("=", mode, tag)
	like := call("not_like", tag, lit("%1"))
	lower := call("=", call("lower", mode), lit("mail"))                              // a function: not taken
	mod := call(">", call("%", id, expr.NewLit(int64(1000))), expr.NewLit(int64(10))) // may fail: not taken
	conds := []expr.Expr{onPlain, in, two, like, lower, mod}
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	splits, err := tab.Splits(context.Background(), ScanRequest{Columns: []int{0, 1, 2, 3}})
	require.NoError(t, err)
	require.Len(t, splits, 5)
	rows := 0
	for si, sp := range splits {
		r, rest, err := sp.(whereSplit).OpenWhere(context.Background(), mem, &expr.Context{Alloc: mem}, conds)
		require.NoError(t, err)
		// plain is read as it is (no dictionary), and so are split 3's tags (all
		// NULL, written without one): the split takes the conditions on them too.
		require.Equal(t, []expr.Expr{two, lower, mod}, rest, "split %d", si)
		for {
			rec, err := r.Next(context.Background())
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			for i := range int(rec.NumRows()) {
				m := rec.Column(1)
				require.True(t, m.IsValid(i))
				assert.Contains(t, []string{"MAIL", "SHIP"}, m.ValueStr(i))
				assert.Equal(t, "p1", rec.Column(2).ValueStr(i))
				require.True(t, rec.Column(3).IsValid(i), "NOT LIKE of NULL is NULL")
				assert.NotEqual(t, "t1", rec.Column(3).ValueStr(i))
				rows++
			}
			rec.Release()
		}
		require.NoError(t, r.Close())
	}
	// mode IN ('MAIL', 'SHIP'): i%6 in {0,1}, i%11 != 0; plain = 'p1': i%9 == 1,
	// i%13 != 0; tag NOT LIKE '%1': tag not NULL (i%5 != 0, not in split 3) and
	// i%4 != 1
	want := 0
	for i := range 3000 {
		if i%6 <= 1 && i%11 != 0 && i%9 == 1 && i%13 != 0 && !(i >= 2100 && i < 2800) && i%5 != 0 && i%4 != 1 {
			want++
		}
	}
	require.Positive(t, want)
	assert.Equal(t, want, rows)
}

// A dictionary condition is evaluated again only when a batch's dictionary differs:
// sameStrings compares values, NULLs and lengths, not identity.
func TestSameStrings(t *testing.T) {
	mk := func(vals []string, valid []bool) arrow.Array {
		b := array.NewStringBuilder(memory.DefaultAllocator)
		defer b.Release()
		b.AppendValues(vals, valid)
		return b.NewArray()
	}
	a := mk([]string{"MAIL", "SHIP", ""}, nil)
	for _, c := range []struct {
		b    arrow.Array
		same bool
	}{
		{mk([]string{"MAIL", "SHIP", ""}, nil), true},
		{mk([]string{"MAIL", "SHIQ", ""}, nil), false},
		{mk([]string{"MAILS", "HIP", ""}, nil), false},
		{mk([]string{"MAIL", "SHIP"}, nil), false},
		{mk([]string{"MAIL", "SHIP", ""}, []bool{true, true, false}), false},
		{array.NewSlice(mk([]string{"x", "MAIL", "SHIP", ""}, nil), 1, 4), true},
	} {
		assert.Equal(t, c.same, sameStrings(a, c.b), "%v", c.b)
		assert.Equal(t, c.same, sameStrings(c.b, a), "%v", c.b)
	}
	e := mk(nil, nil)
	assert.True(t, sameStrings(e, mk(nil, nil)))
	assert.False(t, sameStrings(e, a))
}

// denseOf expands a dictionary-encoded string column, all rows or listed ones, the
// same way whether every dictionary value has one width (1 byte, several bytes),
// several widths, or the column has NULLs.
func TestDenseOf(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	for _, dict := range [][]string{{"A", "N", "R"}, {"MAIL", "SHIP", "RAIL"}, {"MAIL", "SHIP", "REG AIR", ""}, {"x"}} {
		for _, withNulls := range []bool{false, true} {
			db := array.NewStringBuilder(mem)
			db.AppendValues(dict, nil)
			dv := db.NewArray()
			db.Release()
			ib := array.NewInt32Builder(mem)
			var want []string
			for i := range 100 {
				if withNulls && i%7 == 3 {
					ib.AppendNull()
					want = append(want, "(null)")
					continue
				}
				c := (i * 5) % len(dict)
				ib.Append(int32(c))
				want = append(want, dict[c])
			}
			iv := ib.NewArray()
			ib.Release()
			dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
			d := array.NewDictionaryArray(dt, iv, dv)
			iv.Release()
			dv.Release()
			strs := func(a arrow.Array) []string {
				var out []string
				for i := range a.Len() {
					if a.IsNull(i) {
						out = append(out, "(null)")
					} else {
						out = append(out, a.(*array.String).Value(i))
					}
				}
				return out
			}
			all := denseOf(mem, d, arrow.BinaryTypes.String, nil)
			require.Equal(t, want, strs(all), "dict %q nulls %v", dict, withNulls)
			all.Release()
			rows := []int32{0, 3, 4, 10, 11, 12, 50, 99}
			var wantRows []string
			for _, r := range rows {
				wantRows = append(wantRows, want[r])
			}
			some := denseOf(mem, d, arrow.BinaryTypes.String, rows)
			require.Equal(t, wantRows, strs(some), "dict %q nulls %v rows", dict, withNulls)
			some.Release()
			d.Release()
		}
	}
}
