package plan

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/expr"
)

// fuzzParquetSeed writes a small file with the column kinds the scan reads its own
// way: int32, int64, a decimal stored as int64, a date, a dictionary-encoded and a
// plain string, a float; NULLs in most; two row groups of several pages.
func fuzzParquetSeed(f *testing.F, codec compress.Compression) []byte {
	f.Helper()
	fields := []arrow.Field{change.Col("i", arrow.PrimitiveTypes.Int32), i64("n"), dec("d", 15, 2), date("day"),
		str("mode"), str("plain"), change.Col("x", arrow.PrimitiveTypes.Float64)}
	s := change.MustSchema(fields)
	var rows [][]any
	for i := range 60 {
		r := []any{change.Insert, int32(i), int64(i * 7), decimal128.FromI64(int64(i * 101)), int32(19000 + i%40),
			[]string{"AIR", "MAIL", "SHIP"}[i%3], fmt.Sprintf("p%d", i), float64(i) / 4}
		if i%7 == 0 {
			r[1], r[3], r[5], r[7] = nil, nil, nil, nil
		}
		rows = append(rows, r)
	}
	b, err := change.FromRows(memory.DefaultAllocator, s, rows)
	if err != nil {
		f.Fatal(err)
	}
	defer b.Release()
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithStats(true), parquet.WithCompression(codec),
		parquet.WithStoreDecimalAsInteger(true), parquet.WithDictionaryDefault(false), parquet.WithDictionaryFor("mode", true),
		parquet.WithMaxRowGroupLength(30), parquet.WithDataPageSize(200), parquet.WithBatchSize(8), parquet.WithStats(false))
	w, err := pqarrow.NewFileWriter(s.Arrow(), &buf, props, pqarrow.DefaultWriterProps())
	if err != nil {
		f.Fatal(err)
	}
	if err := w.WriteBuffered(b.Record()); err != nil {
		f.Fatal(err)
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzParquetScan reads arbitrary bytes as a Parquet file through the scan's own
// readers, without and with conditions (the dictionary and late-column paths): they
// return an error or batches, never panic. A panic in the Parquet library is an
// error (parquetGuard); one in strata's code fails the target.
func FuzzParquetScan(f *testing.F) {
	f.Add(fuzzParquetSeed(f, compress.Codecs.Uncompressed))
	f.Add(fuzzParquetSeed(f, compress.Codecs.Snappy))
	call := func(name string, args ...expr.Expr) expr.Expr {
		c, err := expr.NewCall(name, args...)
		if err != nil {
			f.Fatal(err)
		}
		return c
	}
	conds := []expr.Expr{
		call(">", &expr.Column{Index: 0, Name: "i", T: arrow.PrimitiveTypes.Int32}, expr.NewLit(int32(20))),
		call("=", &expr.Column{Index: 4, Name: "mode", T: arrow.BinaryTypes.String}, expr.NewLit("AIR")),
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, mem := context.Background(), memory.DefaultAllocator
		path := filepath.Join(dir, "f.parquet")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tab, err := OpenParquet(path)
		if err != nil {
			return
		}
		s, where := tab.Schema(), conds
		if s.NumFields() != 7 || !arrow.TypeEqual(s.Field(0).Type, arrow.PrimitiveTypes.Int32) || !arrow.TypeEqual(s.Field(4).Type, arrow.BinaryTypes.String) {
			where = nil // the conditions need the seed's columns
		}
		splits, err := tab.Splits(ctx, ScanRequest{Columns: []int{0, 1, 2, 3, 4, 5, 6}[:s.NumFields()]})
		if err != nil {
			return
		}
		for _, sp := range splits {
			for _, cs := range [][]expr.Expr{nil, where} {
				var r BatchReader
				if cs == nil {
					r, err = sp.Open(ctx, mem)
				} else {
					r, _, err = sp.(whereSplit).OpenWhere(ctx, mem, &expr.Context{Alloc: mem}, cs)
				}
				if err != nil {
					continue
				}
				for {
					b, err := r.Next(ctx)
					if err != nil {
						break
					}
					b.Release()
				}
				r.Close()
			}
		}
	})
}

// A panic in strata's own code is a bug, not a corrupt file: the guard lets it go on
// (the task runner reports it). The crashers under testdata/fuzz/FuzzParquetScan
// show the library's panics turned into errors.
func TestParquetGuardLetsOwnPanicsThrough(t *testing.T) {
	defer func() {
		if r := recover(); r != "strata bug" {
			t.Fatalf("recovered %v, want the panic to pass the guard", r)
		}
	}()
	var err error
	func() {
		defer parquetGuard("f.parquet", &err)
		panic("strata bug")
	}()
	t.Fatalf("no panic; err = %v", err)
}
