package plan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
)

// writeParquet writes rows in row groups of rgRows.
func writeParquet(t *testing.T, path string, s *change.Schema, rows [][]any, rgRows int64) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	w, err := pqarrow.NewFileWriter(s.Arrow(), f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(rgRows), parquet.WithStats(true)), pqarrow.DefaultWriterProps())
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
}

func TestParquetTablePrunesRowGroups(t *testing.T) {
	dir := t.TempDir()
	s := change.MustSchema([]arrow.Field{i64("id"), str("name"), dec("amount", 10, 2), date("day")})
	var rows [][]any
	for i := range 1000 {
		rows = append(rows, []any{int64(i), "n" + string(rune('a'+i%26)), "1.50", int64(19000 + i/100)})
	}
	writeParquet(t, filepath.Join(dir, "a.parquet"), s, rows[:500], 100)
	writeParquet(t, filepath.Join(dir, "b.parquet"), s, rows[500:], 100)
	tab, err := OpenParquet(dir)
	require.NoError(t, err)
	st, err := tab.Stats(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 1000, st.Rows)
	assert.True(t, st.Columns[0].HasMinMax)
	assert.Equal(t, int64(0), st.Columns[0].Min.AsInt())
	assert.Equal(t, int64(999), st.Columns[0].Max.AsInt())
	all, err := tab.Splits(context.Background(), ScanRequest{Columns: []int{0}})
	require.NoError(t, err)
	assert.Len(t, all, 10)
	some, err := tab.Splits(context.Background(), ScanRequest{Columns: []int{0}, Filter: []Predicate{{Column: 0, Op: OpGe, Value: change.Int(750)}}})
	require.NoError(t, err)
	assert.Len(t, some, 3)

	cat := NewMemCatalog()
	cat.Add("t", tab)
	assert.Equal(t, []string{"250|375.00"}, runSQL(t, cat, "SELECT count(*), sum(amount) FROM t WHERE id >= 750"))
	assert.Equal(t, []string{"1000"}, runSQL(t, cat, "SELECT count(*) FROM t"))
	assert.Equal(t, []string{"2022-01-09|100"}, runSQL(t, cat, "SELECT day, count(*) FROM t WHERE day = date '2022-01-09' GROUP BY day"))
	// date + interval is a timestamp: compared with a date column it becomes a date
	// comparison again, which prunes
	assert.Equal(t, []string{"300"}, runSQL(t, cat, "SELECT count(*) FROM t WHERE day < date '2022-01-08' + interval '3 days'"))
	jd, err := NewPlanner(cat, Options{}).Plan(context.Background(), "SELECT count(*) FROM t WHERE day < date '2022-01-08' + interval '3 days'")
	require.NoError(t, err)
	defer jd.Release()
	assert.Contains(t, jd.Explain(false), "filter=t.day < DATE '2022-01-11' prune=[day < 2022-01-11] splits=3/10")
	// BETWEEN prunes as two bounds
	assert.Equal(t, []string{"200"}, runSQL(t, cat, "SELECT count(*) FROM t WHERE id BETWEEN 300 AND 499"))
	jb, err := NewPlanner(cat, Options{}).Plan(context.Background(), "SELECT count(*) FROM t WHERE id BETWEEN 300 AND 499")
	require.NoError(t, err)
	defer jb.Release()
	assert.Contains(t, jb.Explain(false), "prune=[id >= 300, id <= 499] splits=2/10")
	j, err := NewPlanner(cat, Options{}).Plan(context.Background(), "SELECT name FROM t WHERE id < 150 AND day >= '2022-01-01'")
	require.NoError(t, err)
	defer j.Release()
	assert.Contains(t, j.Explain(false), "prune=[id < 150, day >= 2022-01-01] splits=2/10")
}

func TestCSVTableInfersTypes(t *testing.T) {
	dir := t.TempDir()
	csv := "id,price,day,ok,name,empty\n1,1.5,2024-01-02,true,\"a, b\",\n2,,2024-01-03,false,c,\n3,2.25,,TRUE,\"say \"\"hi\"\"\",\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x.csv"), []byte(csv), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "y.csv"), []byte("id,price,day,ok,name,empty\n4,10,2024-02-01,false,d,\n"), 0o644))
	tab, err := OpenPath(dir)
	require.NoError(t, err)
	fs := tab.Schema().Fields()
	assert.Equal(t, arrow.INT64, fs[0].Type.ID())
	assert.Equal(t, "decimal(38, 2)", fs[1].Type.String())
	assert.Equal(t, arrow.DATE32, fs[2].Type.ID())
	assert.Equal(t, arrow.BOOL, fs[3].Type.ID())
	assert.Equal(t, arrow.STRING, fs[4].Type.ID())
	assert.Equal(t, arrow.STRING, fs[5].Type.ID())
	cat := NewMemCatalog()
	cat.Add("x", tab)
	assert.Equal(t, []string{
		"1|1.50|2024-01-02|true|a, b|NULL",
		"2|NULL|2024-01-03|false|c|NULL",
		"3|2.25|NULL|true|say \"hi\"|NULL",
		"4|10.00|2024-02-01|false|d|NULL",
	}, runSQL(t, cat, "SELECT * FROM x ORDER BY id"))
	assert.Equal(t, []string{"13.75"}, runSQL(t, cat, "SELECT sum(price) FROM x"))
}

// Strings and binary are read through the file's dictionary and handed on as plain
// arrays: values, empty strings and NULLs come back as written, in batches smaller
// than a row group, beside a plain-encoded column.
func TestParquetReadsDictionaryColumnsDense(t *testing.T) {
	dir := t.TempDir()
	s := change.MustSchema([]arrow.Field{i64("id"), str("name"), change.Col("raw", arrow.BinaryTypes.Binary)})
	var rows [][]any
	want := map[int64]string{}
	for i := range 1000 {
		var name, raw any = []string{"ann", "", "bob", "cy"}[i%4], []byte{byte(i % 3)}
		w := name.(string) + "|" + string(rune('0'+i%3))
		if i%7 == 0 {
			name = nil
			w = "<nil>|" + string(rune('0'+i%3))
		}
		rows = append(rows, []any{int64(i), name, raw})
		want[int64(i)] = w
	}
	path := filepath.Join(dir, "d.parquet")
	writeParquet(t, path, s, rows, 300)
	tab, err := OpenParquet(path)
	require.NoError(t, err)
	tab.BatchRows = 64
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	splits, err := tab.Splits(context.Background(), ScanRequest{Columns: []int{2, 1, 0}})
	require.NoError(t, err)
	seen := 0
	for _, sp := range splits {
		r, err := sp.Open(context.Background(), mem)
		require.NoError(t, err)
		for {
			rec, err := r.Next(context.Background())
			if err != nil {
				break
			}
			require.Equal(t, arrow.BinaryTypes.String, rec.Column(1).DataType())
			require.Equal(t, arrow.BinaryTypes.Binary, rec.Column(0).DataType())
			for i := range int(rec.NumRows()) {
				id := rec.Column(2).(*array.Int64).Value(i)
				name := "<nil>"
				if rec.Column(1).IsValid(i) {
					name = rec.Column(1).(*array.String).Value(i)
				}
				raw := rec.Column(0).(*array.Binary).Value(i)
				assert.Equal(t, want[id], name+"|"+string(rune('0'+raw[0])), "row %d", id)
				seen++
			}
			rec.Release()
		}
		require.NoError(t, r.Close())
	}
	assert.Equal(t, 1000, seen)
}

// A string column is read through its dictionary only where every data page of the
// chunk is dictionary encoded: not where the writer wrote plain pages from the start
// (dictionary off) or fell back to them when the dictionary grew too big (pqarrow
// would hash every value into a dictionary of its own). Values come back right in
// every case.
func TestParquetReadsDictionaryOnlyWhereEveryPageIsDictionaryEncoded(t *testing.T) {
	dir := t.TempDir()
	s := change.MustSchema([]arrow.Field{i64("id"), str("few"), str("plain"), str("many")})
	path := filepath.Join(dir, "e.parquet")
	f, err := os.Create(path)
	require.NoError(t, err)
	props := parquet.NewWriterProperties(parquet.WithStats(true), parquet.WithDictionaryFor("plain", false),
		parquet.WithDictionaryPageSizeLimit(2000), parquet.WithDataPageSize(512), parquet.WithBatchSize(64))
	w, err := pqarrow.NewFileWriter(s.Arrow(), f, props, pqarrow.DefaultWriterProps())
	require.NoError(t, err)
	var rows [][]any
	want := map[int64]string{}
	for i := range 2000 {
		few, plain, many := []string{"x", "yy", ""}[i%3], fmt.Sprintf("p%d", i%5), fmt.Sprintf("distinct value %05d", i)
		rows = append(rows, []any{change.Insert, int64(i), few, plain, many})
		want[int64(i)] = few + "|" + plain + "|" + many
	}
	b, err := change.FromRows(memory.DefaultAllocator, s, rows)
	require.NoError(t, err)
	require.NoError(t, w.WriteBuffered(b.Record()))
	b.Release()
	require.NoError(t, w.Close())

	pf, err := file.OpenParquetFile(path, false)
	require.NoError(t, err)
	rg := pf.MetaData().RowGroup(0)
	for leaf, wantDict := range []bool{false, true, false, false} {
		cc, err := rg.ColumnChunk(leaf)
		require.NoError(t, err)
		if leaf == 3 {
			require.True(t, cc.HasDictionaryPage(), "many: starts with a dictionary, then falls back")
		}
		if leaf > 0 {
			assert.Equal(t, wantDict, dictEncoded(cc), "column %d: %v", leaf, cc.EncodingStats())
		}
	}
	require.NoError(t, pf.Close())

	tab, err := OpenParquet(path)
	require.NoError(t, err)
	tab.BatchRows = 300
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	splits, err := tab.Splits(context.Background(), ScanRequest{Columns: []int{0, 1, 2, 3}})
	require.NoError(t, err)
	seen := 0
	for _, sp := range splits {
		r, err := sp.Open(context.Background(), mem)
		require.NoError(t, err)
		assert.Equal(t, []bool{false, true, false, false}, r.(*parquetReader).dense)
		for {
			rec, err := r.Next(context.Background())
			if err != nil {
				break
			}
			for i := range int(rec.NumRows()) {
				id := rec.Column(0).(*array.Int64).Value(i)
				got := rec.Column(1).(*array.String).Value(i) + "|" + rec.Column(2).(*array.String).Value(i) + "|" + rec.Column(3).(*array.String).Value(i)
				assert.Equal(t, want[id], got)
				seen++
			}
			rec.Release()
		}
		require.NoError(t, r.Close())
	}
	assert.Equal(t, 2000, seen)
}

// A Parquet row group is read in batches of DefaultBatchRows unless BatchRows says
// otherwise.
func TestParquetBatchRows(t *testing.T) {
	dir := t.TempDir()
	s := change.MustSchema([]arrow.Field{i64("id")})
	rows := make([][]any, 40000)
	for i := range rows {
		rows[i] = []any{int64(i)}
	}
	path := filepath.Join(dir, "b.parquet")
	writeParquet(t, path, s, rows, 40000)
	tab, err := OpenParquet(path)
	require.NoError(t, err)
	require.EqualValues(t, DefaultBatchRows, tab.BatchRows)
	for _, c := range []struct {
		batch int64
		want  []int64
	}{{0, []int64{16384, 16384, 7232}}, {30000, []int64{30000, 10000}}} {
		if c.batch > 0 {
			tab.BatchRows = c.batch
		}
		splits, err := tab.Splits(context.Background(), ScanRequest{Columns: []int{0}})
		require.NoError(t, err)
		require.Len(t, splits, 1)
		r, err := splits[0].Open(context.Background(), memory.DefaultAllocator)
		require.NoError(t, err)
		var got []int64
		for {
			rec, err := r.Next(context.Background())
			if err != nil {
				break
			}
			got = append(got, rec.NumRows())
			rec.Release()
		}
		require.NoError(t, r.Close())
		assert.Equal(t, c.want, got)
	}
}
