package plan

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/internal/expr"
	"github.com/strata-data/strata/shuffle"
)

// fixedTestRecord is n rows of every type a fixedCol reads, each column both
// required and nullable (every third row NULL), beside a string column that pqarrow
// reads.
func fixedTestRecord(mem memory.Allocator, n int) arrow.RecordBatch {
	types := []arrow.DataType{
		arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32, arrow.FixedWidthTypes.Date32,
		&arrow.Decimal128Type{Precision: 9, Scale: 2}, &arrow.Decimal128Type{Precision: 15, Scale: 2},
		arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Float32,
		&arrow.Decimal128Type{Precision: 30, Scale: 3}, // FIXED_LEN_BYTE_ARRAY: pqarrow reads it
		arrow.BinaryTypes.String,
	}
	var fields []arrow.Field
	for _, nullable := range []bool{false, true} {
		for _, t := range types {
			name := t.String()
			if nullable {
				name += "?"
			}
			fields = append(fields, arrow.Field{Name: name, Type: t, Nullable: nullable})
		}
	}
	b := array.NewRecordBuilder(mem, arrow.NewSchema(fields, nil))
	defer b.Release()
	for i := range n {
		v := int64(i*7919%100003) - 50000 // negatives too
		for c, f := range fields {
			fb := b.Field(c)
			if f.Nullable && i%3 == 1 {
				fb.AppendNull()
				continue
			}
			switch fb := fb.(type) {
			case *array.Int64Builder:
				fb.Append(v * 1_000_003)
			case *array.Int32Builder:
				fb.Append(int32(v))
			case *array.Date32Builder:
				fb.Append(arrow.Date32(v))
			case *array.Decimal128Builder:
				fb.Append(decimal128.FromI64(v * 101))
			case *array.Float64Builder:
				fb.Append(float64(v) / 8)
			case *array.Float32Builder:
				fb.Append(float32(v) / 4)
			case *array.StringBuilder:
				fb.Append(string(rune('a' + i%26)))
			}
		}
	}
	return b.NewRecordBatch()
}

// Fixed-width columns (integers, dates, floats, decimals stored as INT32 or INT64),
// required or nullable, come back as written, in batches that cross data pages and
// row groups: read from their pages (pageCol) where every data page is PLAIN or
// dictionary encoded, through parquet's column readers (fixedCol) otherwise.
func TestParquetFixedWidthColumns(t *testing.T) {
	const n = 5000
	rec := fixedTestRecord(memory.DefaultAllocator, n)
	defer rec.Release()
	var delta []parquet.WriterProperty // every fixed-width column in an encoding pageCol does not read
	for c, fl := range rec.Schema().Fields() {
		switch {
		case c%9 < 5:
			delta = append(delta, parquet.WithEncodingFor(fl.Name, parquet.Encodings.DeltaBinaryPacked))
		case c%9 < 7:
			delta = append(delta, parquet.WithEncodingFor(fl.Name, parquet.Encodings.ByteStreamSplit))
		}
	}
	for _, v := range []struct {
		name  string
		props []parquet.WriterProperty
		kind  string
	}{
		{"dictionary", nil, "*plan.pageCol"},
		{"plain", []parquet.WriterProperty{parquet.WithDictionaryDefault(false)}, "*plan.pageCol"},
		{"delta", append([]parquet.WriterProperty{parquet.WithDictionaryDefault(false)}, delta...), "*plan.fixedCol"},
	} {
		t.Run(v.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.parquet")
			f, err := os.Create(path)
			require.NoError(t, err)
			w, err := pqarrow.NewFileWriter(rec.Schema(), f, parquet.NewWriterProperties(append([]parquet.WriterProperty{
				parquet.WithMaxRowGroupLength(2000), parquet.WithDataPageSize(1024), parquet.WithStoreDecimalAsInteger(true),
				parquet.WithCompression(0)}, v.props...)...), pqarrow.DefaultWriterProps())
			require.NoError(t, err)
			require.NoError(t, w.Write(rec))
			require.NoError(t, w.Close())
			checkFixedWidth(t, rec, path, v.kind)
		})
	}
}

func checkFixedWidth(t *testing.T, rec arrow.RecordBatch, path, kind string) {
	tab, err := OpenParquet(path)
	require.NoError(t, err)
	tab.BatchRows = 300
	for c, fl := range rec.Schema().Fields() {
		require.True(t, arrow.TypeEqual(fl.Type, tab.Schema().Field(c).Type), "column %s read as %s", fl.Name, tab.Schema().Field(c).Type)
	}
	for _, cols := range [][]int{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}, // with columns pqarrow reads
		{13, 4, 9, 0},             // fixed-width only
		{14, 3, 12, 1, 10, 5, 15}, // fixed-width only, nullable and not
	} {
		mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
		splits, err := tab.Splits(context.Background(), ScanRequest{Columns: cols})
		require.NoError(t, err)
		require.Len(t, splits, 3)
		got := make([][]arrow.Array, len(cols))
		for _, sp := range splits {
			r, err := sp.Open(context.Background(), mem)
			require.NoError(t, err)
			nf := 0
			for _, dc := range r.(*parquetReader).direct {
				if strings.HasPrefix(fmt.Sprintf("%T", dc), kind) {
					nf++
				}
			}
			nfixed := 0
			for _, c := range cols {
				if c%9 < 7 {
					nfixed++
				}
			}
			require.Equal(t, nfixed, nf, "columns read by %s", kind)
			for {
				b, err := r.Next(context.Background())
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				require.LessOrEqual(t, b.NumRows(), int64(300))
				for i := range cols {
					a := b.Column(i)
					a.Retain()
					got[i] = append(got[i], a)
				}
				b.Release()
			}
			require.NoError(t, r.Close())
		}
		for i, c := range cols {
			all, err := array.Concatenate(got[i], memory.DefaultAllocator)
			require.NoError(t, err)
			assert.True(t, array.Equal(rec.Column(c), all), "column %s:\n%v\n%v", rec.Schema().Field(c).Name, rec.Column(c), all)
			all.Release()
			for _, a := range got[i] {
				a.Release()
			}
		}
		if kind != "*plan.fixedCol" { // arrow-go's DELTA_BINARY_PACKED decoder does not free its blocks
			mem.AssertSize(t, 0)
		}
	}
}

// A column chunk holding fewer values than its row group says is an error, not a
// short or misaligned batch.
func TestParquetFixedColumnShort(t *testing.T) {
	rec := fixedTestRecord(memory.DefaultAllocator, 100)
	defer rec.Release()
	path := filepath.Join(t.TempDir(), "f.parquet")
	f, err := os.Create(path)
	require.NoError(t, err)
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, parquet.NewWriterProperties(parquet.WithStoreDecimalAsInteger(true)), pqarrow.DefaultWriterProps())
	require.NoError(t, err)
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Close())
	tab, err := OpenParquet(path)
	require.NoError(t, err)
	tab.groups[0].rows = 150 // as a footer claiming more rows than the pages hold
	splits, err := tab.Splits(context.Background(), ScanRequest{Columns: []int{0}})
	require.NoError(t, err)
	r, err := splits[0].Open(context.Background(), memory.DefaultAllocator)
	require.NoError(t, err)
	defer r.Close()
	b, err := r.Next(context.Background())
	if err == nil {
		b.Release()
	}
	require.ErrorContains(t, err, "the column chunk ended before the row group")
}

// With a condition the split takes, the fixed-width columns it does not read are read
// after it, only for the rows it keeps (decimals widened only for those), and move
// on past batches where it keeps none.
func TestParquetLateColumns(t *testing.T) {
	const n = 3000
	rec := fixedTestRecord(memory.DefaultAllocator, n)
	defer rec.Release()
	fields := append(rec.Schema().Fields(), arrow.Field{Name: "row", Type: arrow.PrimitiveTypes.Int64})
	rb := array.NewInt64Builder(memory.DefaultAllocator)
	for i := range n {
		rb.Append(int64(i))
	}
	ids := rb.NewArray()
	rb.Release()
	all := array.NewRecordBatch(arrow.NewSchema(fields, nil), append(rec.Columns(), ids), n)
	ids.Release()
	defer all.Release()
	for _, dict := range []bool{true, false} { // dictionary pages, PLAIN pages
		t.Run(fmt.Sprint("dictionary=", dict), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "l.parquet")
			f, err := os.Create(path)
			require.NoError(t, err)
			w, err := pqarrow.NewFileWriter(all.Schema(), f, parquet.NewWriterProperties(
				parquet.WithMaxRowGroupLength(1500), parquet.WithDataPageSize(2048), parquet.WithStoreDecimalAsInteger(true), parquet.WithDictionaryDefault(dict)), pqarrow.DefaultWriterProps())
			require.NoError(t, err)
			require.NoError(t, w.Write(all))
			require.NoError(t, w.Close())
			tab, err := OpenParquet(path)
			require.NoError(t, err)
			tab.BatchRows = 200

			// scan columns: row, then every fixed-width and string column
			cols := []int{18, 0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 17}
			row := &expr.Column{Index: 0, Name: "row", T: arrow.PrimitiveTypes.Int64}
			// rows 130-169 but 155, 1000-1009 and 1020-1039 (across a page boundary
			// inside a batch): most batches keep none
			between := func(lo, hi int64) expr.Expr {
				return mustCall(t, "and", mustCall(t, ">=", row, expr.NewLit(lo)), mustCall(t, "<", row, expr.NewLit(hi)))
			}
			conds := []expr.Expr{mustCall(t, "or", mustCall(t, "or", between(130, 170), between(1000, 1010)), between(1020, 1040)), mustCall(t, "<>", row, expr.NewLit(int64(155)))}
			keep := func(i int) bool {
				return (i >= 130 && i < 170 && i != 155) || (i >= 1000 && i < 1010) || (i >= 1020 && i < 1040)
			}

			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			splits, err := tab.Splits(context.Background(), ScanRequest{Columns: cols})
			require.NoError(t, err)
			require.Len(t, splits, 2)
			got := make([][]arrow.Array, len(cols))
			for _, sp := range splits {
				r, rest, err := sp.(whereSplit).OpenWhere(context.Background(), mem, &expr.Context{Alloc: mem}, conds)
				require.NoError(t, err)
				require.Empty(t, rest)
				require.Len(t, r.(*parquetReader).late, 14, "fixed-width columns the conditions do not read")
				for {
					b, err := r.Next(context.Background())
					if err == io.EOF {
						break
					}
					require.NoError(t, err)
					for i := range cols {
						a := b.Column(i)
						a.Retain()
						got[i] = append(got[i], a)
					}
					b.Release()
				}
				require.NoError(t, r.Close())
			}
			var kept []int32
			for i := range n {
				if keep(i) {
					kept = append(kept, int32(i))
				}
			}
			for i, c := range cols {
				res, err := array.Concatenate(got[i], memory.DefaultAllocator)
				require.NoError(t, err)
				want := shuffle.Take(memory.DefaultAllocator, all.Column(c), kept)
				assert.True(t, array.Equal(want, res), "column %s:\n%v\n%v", all.Schema().Field(c).Name, want, res)
				want.Release()
				res.Release()
				for _, a := range got[i] {
					a.Release()
				}
			}
		})
	}
}

func mustCall(t *testing.T, name string, args ...expr.Expr) expr.Expr {
	t.Helper()
	c, err := expr.NewCall(name, args...)
	require.NoError(t, err)
	return c
}

// A required fixed-width column (dates, decimals) that only conditions on it alone
// read is read through its dictionary: the conditions are evaluated on the
// dictionary's values, and the column expands only for the rows kept. A column also
// read by a condition on two columns is read as values.
func TestParquetFixedDictionaryConditions(t *testing.T) {
	const n = 3000
	rec := fixedTestRecord(memory.DefaultAllocator, n)
	defer rec.Release()
	fields := append(rec.Schema().Fields(), arrow.Field{Name: "row", Type: arrow.PrimitiveTypes.Int64})
	rb := array.NewInt64Builder(memory.DefaultAllocator)
	for i := range n {
		rb.Append(int64(i))
	}
	ids := rb.NewArray()
	rb.Release()
	all := array.NewRecordBatch(arrow.NewSchema(fields, nil), append(rec.Columns(), ids), n)
	ids.Release()
	defer all.Release()
	path := filepath.Join(t.TempDir(), "d.parquet")
	f, err := os.Create(path)
	require.NoError(t, err)
	w, err := pqarrow.NewFileWriter(all.Schema(), f, parquet.NewWriterProperties(
		parquet.WithMaxRowGroupLength(1500), parquet.WithDataPageSize(2048), parquet.WithStoreDecimalAsInteger(true)), pqarrow.DefaultWriterProps())
	require.NoError(t, err)
	require.NoError(t, w.Write(all))
	require.NoError(t, w.Close())
	tab, err := OpenParquet(path)
	require.NoError(t, err)
	tab.BatchRows = 200

	// scan columns: row, date32, decimal(15, 2), int32, float64, string, int64
	cols := []int{18, 2, 4, 1, 5, 8, 0}
	row := &expr.Column{Index: 0, Name: "row", T: arrow.PrimitiveTypes.Int64}
	day := &expr.Column{Index: 1, Name: "date32", T: arrow.FixedWidthTypes.Date32}
	d152 := &arrow.Decimal128Type{Precision: 15, Scale: 2}
	price := &expr.Column{Index: 2, Name: "decimal(15, 2)", T: d152}
	i32 := &expr.Column{Index: 3, Name: "int32", T: arrow.PrimitiveTypes.Int32}
	date := func(d int32) expr.Expr { return expr.NewLiteral(scalar.NewDate32Scalar(arrow.Date32(d))) }
	money := func(u int64) expr.Expr {
		return expr.NewLiteral(scalar.NewDecimal128Scalar(decimal128.FromI64(u), d152))
	}
	conds := []expr.Expr{
		mustCall(t, ">=", day, date(-20000)),
		mustCall(t, "<", day, date(30000)),
		mustCall(t, "between", price, money(-1_000_000), money(2_000_000)),
		mustCall(t, "<>", i32, row), // two columns
	}
	keep := func(i int) bool {
		v := int64(i*7919%100003) - 50000
		return v >= -20000 && v < 30000 && v*101 >= -1_000_000 && v*101 <= 2_000_000 && v != int64(i)
	}
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	splits, err := tab.Splits(context.Background(), ScanRequest{Columns: cols})
	require.NoError(t, err)
	got := make([][]arrow.Array, len(cols))
	for _, sp := range splits {
		r, rest, err := sp.(whereSplit).OpenWhere(context.Background(), mem, &expr.Context{Alloc: mem}, conds)
		require.NoError(t, err)
		pr := r.(*parquetReader)
		require.Equal(t, []bool{false, true, true, false, false, true, false}, pr.dense, "columns read through their dictionary")
		require.Len(t, pr.conds, 3, "conditions evaluated on dictionaries")
		require.Len(t, pr.rowConds, 1)
		require.Empty(t, rest)
		for {
			b, err := r.Next(context.Background())
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			for i := range cols {
				require.True(t, arrow.TypeEqual(all.Schema().Field(cols[i]).Type, b.Column(i).DataType()))
				a := b.Column(i)
				a.Retain()
				got[i] = append(got[i], a)
			}
			b.Release()
		}
		require.NoError(t, r.Close())
	}
	var kept []int32
	for i := range n {
		if keep(i) {
			kept = append(kept, int32(i))
		}
	}
	require.NotEmpty(t, kept)
	for i, c := range cols {
		res, err := array.Concatenate(got[i], memory.DefaultAllocator)
		require.NoError(t, err)
		want := shuffle.Take(memory.DefaultAllocator, all.Column(c), kept)
		assert.True(t, array.Equal(want, res), "column %s:\n%v\n%v", all.Schema().Field(c).Name, want, res)
		want.Release()
		res.Release()
		for _, a := range got[i] {
			a.Release()
		}
	}
}
