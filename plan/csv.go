package plan

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	arrowcsv "github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// CSVTable is a table over one CSV file or a directory of .csv files, all with a header
// row and the same columns; one split per file. Column types are inferred from the
// first InferRows rows: integers (int64), decimals (decimal128(38, s), s the largest
// scale seen), dates (YYYY-MM-DD, date32), booleans (true/false), else text. An empty
// field is NULL.
type CSVTable struct {
	files  []string
	schema *arrow.Schema
	rows   int64 // estimate
}

// InferRows is the number of rows read to infer a CSV file's column types.
const InferRows = 10000

var (
	intRe  = regexp.MustCompile(`^[-+]?[0-9]+$`)
	decRe  = regexp.MustCompile(`^[-+]?[0-9]*\.([0-9]+)$`)
	fltRe  = regexp.MustCompile(`^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$`)
	dateRe = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

// OpenCSV opens a CSV file or directory and infers its schema from the first file.
func OpenCSV(path string) (*CSVTable, error) {
	files, err := listFiles(path, ".csv")
	if err != nil {
		return nil, err
	}
	t := &CSVTable{files: files}
	f, err := os.Open(files[0])
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("plan: csv %s: header: %w", files[0], err)
	}
	names := make([]string, len(header))
	copy(names, header)
	type colState struct {
		isInt, isDec, isFloat, isDate, isBool bool
		scale                                 int
		seen                                  bool
	}
	st := make([]colState, len(names))
	for i := range st {
		st[i] = colState{isInt: true, isDec: true, isFloat: true, isDate: true, isBool: true}
	}
	n := 0
	var bytesRead int64
	for ; n < InferRows; n++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("plan: csv %s: %w", files[0], err)
		}
		for i, v := range rec {
			bytesRead += int64(len(v) + 1)
			if i >= len(st) || v == "" {
				continue
			}
			s := &st[i]
			s.seen = true
			if s.isInt && !intRe.MatchString(v) {
				s.isInt = false
			}
			if s.isDec {
				if m := decRe.FindStringSubmatch(v); m != nil {
					s.scale = max(s.scale, len(m[1]))
				} else if !intRe.MatchString(v) {
					s.isDec = false
				}
			}
			if s.isFloat && !fltRe.MatchString(v) && !decRe.MatchString(v) && !intRe.MatchString(v) {
				s.isFloat = false
			}
			if s.isDate && !dateRe.MatchString(v) {
				s.isDate = false
			}
			if lv := strings.ToLower(v); s.isBool && lv != "true" && lv != "false" {
				s.isBool = false
			}
		}
	}
	fields := make([]arrow.Field, len(names))
	for i, name := range names {
		s := st[i]
		var dt arrow.DataType = arrow.BinaryTypes.String
		switch {
		case !s.seen:
		case s.isInt:
			dt = arrow.PrimitiveTypes.Int64
		case s.isDec:
			dt = &arrow.Decimal128Type{Precision: 38, Scale: int32(s.scale)}
		case s.isFloat:
			dt = arrow.PrimitiveTypes.Float64
		case s.isDate:
			dt = arrow.FixedWidthTypes.Date32
		case s.isBool:
			dt = arrow.FixedWidthTypes.Boolean
		}
		fields[i] = arrow.Field{Name: name, Type: dt, Nullable: true}
	}
	t.schema = arrow.NewSchema(fields, nil)
	// Row estimate: bytes of all files over the sampled bytes per row.
	var total int64
	for _, p := range files {
		if fi, err := os.Stat(p); err == nil {
			total += fi.Size()
		}
	}
	if n > 0 {
		t.rows = total * int64(n) / max(bytesRead, 1)
	}
	return t, nil
}

// Schema implements Table.
func (t *CSVTable) Schema() *arrow.Schema { return t.schema }

// Stats implements Table: an estimated row count only.
func (t *CSVTable) Stats(context.Context) (TableStats, error) {
	return TableStats{Rows: t.rows}, nil
}

// Splits implements Table: one split per file.
func (t *CSVTable) Splits(_ context.Context, req ScanRequest) ([]Split, error) {
	out := make([]Split, len(t.files))
	for i, f := range t.files {
		out[i] = &csvSplit{t: t, path: f, cols: req.Columns, rows: t.rows / int64(len(t.files))}
	}
	return out, nil
}

type csvSplit struct {
	t    *CSVTable
	path string
	cols []int
	rows int64
}

func (s *csvSplit) Name() string { return filepath.Base(s.path) }
func (s *csvSplit) Rows() int64  { return s.rows }

func (s *csvSplit) Open(ctx context.Context, mem memory.Allocator) (BatchReader, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	inc := make([]string, len(s.cols))
	for i, c := range s.cols {
		inc[i] = s.t.schema.Field(c).Name
	}
	opts := []arrowcsv.Option{
		arrowcsv.WithHeader(true), arrowcsv.WithNullReader(true, ""), arrowcsv.WithChunk(1 << 14),
		arrowcsv.WithAllocator(mem),
	}
	r := arrowcsv.NewReader(f, s.t.schema, opts...)
	return &csvReader{r: r, f: f, cols: s.cols, path: s.path}, nil
}

type csvReader struct {
	r    *arrowcsv.Reader
	f    *os.File
	cols []int
	path string
}

func (r *csvReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !r.r.Next() {
		if err := r.r.Err(); err != nil {
			return nil, fmt.Errorf("plan: read csv %s: %w", r.path, err)
		}
		return nil, io.EOF
	}
	rec := r.r.RecordBatch()
	cols := make([]arrow.Array, len(r.cols))
	fields := make([]arrow.Field, len(r.cols))
	for i, c := range r.cols {
		cols[i] = rec.Column(c)
		fields[i] = rec.Schema().Field(c)
	}
	return newRecord(arrow.NewSchema(fields, nil), cols, rec.NumRows()), nil
}

func (r *csvReader) Close() error {
	r.r.Release()
	return r.f.Close()
}

// OpenPath opens a Parquet or CSV file, or a directory holding either, as a table.
func OpenPath(path string) (Table, error) {
	lp := strings.ToLower(path)
	switch {
	case strings.HasSuffix(lp, ".parquet"):
		return OpenParquet(path)
	case strings.HasSuffix(lp, ".csv"):
		return OpenCSV(path)
	}
	if _, err := listFiles(path, ".parquet"); err == nil {
		return OpenParquet(path)
	}
	if _, err := listFiles(path, ".csv"); err == nil {
		return OpenCSV(path)
	}
	return nil, fmt.Errorf("plan: %s is neither a Parquet nor a CSV file or directory", path)
}
