package oracle

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// The oracle's tables: t (200 rows) and u (80 rows) share a small key domain with
// NULLs and duplicates on both sides, some keys only in t and some only in u; e has
// u's schema and no rows.
var (
	tSchema = arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "g", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "d", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}, Nullable: true},
		{Name: "dt", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
	uSchema = arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "amount", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}, Nullable: true},
		{Name: "dt", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	}, nil)
)

// TableNames are the oracle's tables.
var TableNames = []string{"t", "u", "e"}

var words = []string{"apple", "Banana", "cherry pie", "  date  ", "Elder", "fig%", "grape_fruit", "", "HONEY", "kiwi kiwi"}

// WriteTables writes the oracle's tables as <name>.parquet in dir, deterministically
// by seed, and returns the path of each.
func WriteTables(dir string, seed uint64, mem memory.Allocator) (map[string]string, error) {
	r := rand.New(rand.NewPCG(seed, 99))
	null := func(p float64) bool { return r.Float64() < p }
	base := int32(arrow.Date32FromTime(mustDate("1995-01-01")))

	tb := array.NewRecordBuilder(mem, tSchema)
	defer tb.Release()
	for i := range 200 {
		tb.Field(0).(*array.Int64Builder).Append(int64(i + 1))
		if null(0.12) {
			tb.Field(1).AppendNull()
		} else {
			tb.Field(1).(*array.Int64Builder).Append(r.Int64N(10)) // 0..9, many duplicates
		}
		if null(0.1) {
			tb.Field(2).AppendNull()
		} else {
			tb.Field(2).(*array.StringBuilder).Append(string(rune('a' + r.IntN(5))))
		}
		if null(0.1) {
			tb.Field(3).AppendNull()
		} else {
			tb.Field(3).(*array.Float64Builder).Append(float64(r.IntN(20000)-5000) / 7) // inexact in binary
		}
		if null(0.1) {
			tb.Field(4).AppendNull()
		} else {
			tb.Field(4).(*array.Decimal128Builder).Append(decimal128.FromI64(r.Int64N(200000) - 50000)) // -500.00..1499.99
		}
		if null(0.1) {
			tb.Field(5).AppendNull()
		} else {
			tb.Field(5).(*array.Date32Builder).Append(arrow.Date32(base + int32(r.IntN(1500)-300)))
		}
		if null(0.1) {
			tb.Field(6).AppendNull()
		} else {
			tb.Field(6).(*array.StringBuilder).Append(words[r.IntN(len(words))])
		}
		if null(0.15) {
			tb.Field(7).AppendNull()
		} else {
			tb.Field(7).(*array.BooleanBuilder).Append(r.IntN(2) == 0)
		}
		if null(0.1) {
			tb.Field(8).AppendNull()
		} else {
			tb.Field(8).(*array.Int32Builder).Append(int32(r.IntN(41) - 20))
		}
	}
	ub := array.NewRecordBuilder(mem, uSchema)
	defer ub.Release()
	for i := range 80 {
		ub.Field(0).(*array.Int64Builder).Append(int64(i + 1))
		if null(0.1) {
			ub.Field(1).AppendNull()
		} else {
			ub.Field(1).(*array.Int64Builder).Append(5 + r.Int64N(10)) // 5..14: overlaps t.k in 5..9
		}
		if null(0.1) {
			ub.Field(2).AppendNull()
		} else {
			ub.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("n%02d", r.IntN(30)))
		}
		if null(0.1) {
			ub.Field(3).AppendNull()
		} else {
			ub.Field(3).(*array.Decimal128Builder).Append(decimal128.FromI64(r.Int64N(100000)))
		}
		if null(0.1) {
			ub.Field(4).AppendNull()
		} else {
			ub.Field(4).(*array.Date32Builder).Append(arrow.Date32(base + int32(r.IntN(800))))
		}
	}
	eb := array.NewRecordBuilder(mem, uSchema)
	defer eb.Release()

	paths := map[string]string{}
	for name, b := range map[string]*array.RecordBuilder{"t": tb, "u": ub, "e": eb} {
		rec := b.NewRecordBatch()
		p := filepath.Join(dir, name+".parquet")
		err := writeParquet(p, rec, mem)
		rec.Release()
		if err != nil {
			return nil, err
		}
		paths[name] = p
	}
	return paths, nil
}

func writeParquet(path string, rec arrow.RecordBatch, mem memory.Allocator) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("oracle: %w", err)
	}
	props := parquet.NewWriterProperties(parquet.WithAllocator(mem), parquet.WithCompression(compress.Codecs.Snappy), parquet.WithStoreDecimalAsInteger(true))
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
	if err != nil {
		f.Close()
		return fmt.Errorf("oracle: %s: %w", path, err)
	}
	if rec.NumRows() > 0 {
		if err := w.Write(rec); err != nil {
			w.Close()
			return fmt.Errorf("oracle: %s: %w", path, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("oracle: %s: %w", path, err)
	}
	return nil
}

func mustDate(s string) (t time.Time) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}
