package silver

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/strata-data/strata/change"
)

// Data files
//
// A data file is one zstd Parquet file written by arrow-go's pqarrow with the Arrow
// schema stored: the rows of one partition that one snapshot wrote (sorted by key), in
// the table's schema version of that snapshot. Parquet has no seconds unit, so time32[s]
// and timestamp[s] columns are written in milliseconds and divided back exactly on
// read (as bronze snapshots do). Key-value metadata: strata.format (silver-data/1),
// strata.table, strata.schema_version, strata.rows.
//
// A delete file is a zstd Parquet file of two columns, file (utf8) and pos (int64):
// the data file and 0-based row of every row an apply made dead (updated or deleted),
// sorted. Rows are addressed by position, not by key, so a scan skips dead rows with
// a bitmap per file and never hashes a key: merge-on-read stays as fast as a plain read.

const (
	dataFormat   = "silver-data/1"
	deleteFormat = "silver-deletes/1"
	metaFormat   = "strata.format"
	metaTable    = "strata.table"
	metaVersion  = "strata.schema_version"
	metaRows     = "strata.rows"
)

// parquetType returns the type a column is written to Parquet as, and the factor its
// values are multiplied by: Parquet has no seconds unit, so seconds become milliseconds.
func parquetType(t arrow.DataType) (arrow.DataType, int64) {
	switch t := t.(type) {
	case *arrow.Time32Type:
		if t.Unit == arrow.Second {
			return arrow.FixedWidthTypes.Time32ms, 1000
		}
	case *arrow.TimestampType:
		if t.Unit == arrow.Second {
			return &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: t.TimeZone}, 1000
		}
	}
	return t, 1
}

// physical returns the schema files of s are written with, its per-column factors,
// and whether any factor is not 1.
func physical(s *change.Schema) (*change.Schema, []int64, bool, error) {
	fields := s.Fields()
	scale := make([]int64, len(fields))
	scaled := false
	for i := range fields {
		fields[i].Type, scale[i] = parquetType(fields[i].Type)
		scaled = scaled || scale[i] != 1
	}
	if !scaled {
		return s, scale, false, nil
	}
	md := s.Arrow().Metadata()
	ps, err := change.FromArrow(arrow.NewSchema(fields, &md))
	return ps, scale, true, err
}

// writerProps are the Parquet settings of silver files: zstd, and dictionary encoding
// for text columns only (keys, amounts and timestamps are mostly distinct, where a
// dictionary costs a hash per value and saves nothing).
func writerProps(mem memory.Allocator, rowGroup int, s *arrow.Schema) (*parquet.WriterProperties, pqarrow.ArrowWriterProperties) {
	opts := []parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithAllocator(mem),
		parquet.WithMaxRowGroupLength(int64(rowGroup)),
		parquet.WithDictionaryDefault(false),
	}
	for _, f := range s.Fields() {
		if f.Type.ID() == arrow.STRING || f.Type.ID() == arrow.BINARY {
			opts = append(opts, parquet.WithDictionaryFor(f.Name, true))
		}
	}
	return parquet.NewWriterProperties(opts...),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(mem))
}

// encodeData writes n rows of s (row(i) returns the i-th, a full row) as a data file.
// An absent cell (a partial image with no earlier row to complete it) is stored as
// NULL, or is an error in a NOT NULL column.
func encodeData(w io.Writer, s *change.Schema, table string, version int, n int, row func(int) change.Row, mem memory.Allocator, rowGroup int) error {
	ps, scale, scaled, err := physical(s)
	if err != nil {
		return err
	}
	props, aprops := writerProps(mem, rowGroup, ps.Arrow())
	fw, err := pqarrow.NewFileWriter(ps.Arrow(), w, props, aprops)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			fw.Close()
		}
	}()
	for _, kv := range [][2]string{
		{metaFormat, dataFormat},
		{metaTable, table},
		{metaVersion, strconv.Itoa(version)},
		{metaRows, strconv.Itoa(n)},
	} {
		if err := fw.AppendKeyValueMetadata(kv[0], kv[1]); err != nil {
			return err
		}
	}
	b := change.NewBuilder(mem, ps)
	defer b.Release()
	scratch := make(change.Row, s.NumFields())
	flush := func() error {
		batch := b.NewBatch()
		defer batch.Release()
		return fw.WriteBuffered(batch.Record())
	}
	for i := range n {
		r := row(i)
		if len(r) != len(scratch) {
			return fmt.Errorf("row %s has %d values, the schema %d columns", r, len(r), len(scratch))
		}
		src := r
		if scaled || hasAbsent(r) {
			for c, v := range r {
				switch {
				case v.IsAbsent():
					if !s.Field(c).Nullable {
						return fmt.Errorf("row with key %s: NOT NULL column %q was absent from a partial image and no earlier row gives it",
							s.KeyOf(r), s.Field(c).Name)
					}
					v = change.Null()
				case scale[c] != 1 && v.Kind() == change.KindInt:
					x := v.AsInt()
					if x > math.MaxInt64/scale[c] || x < math.MinInt64/scale[c] {
						return fmt.Errorf("row with key %s: column %q: %d seconds do not fit Parquet's milliseconds", s.KeyOf(r), s.Field(c).Name, x)
					}
					v = change.Int(x * scale[c])
				}
				scratch[c] = v
			}
			src = scratch
		}
		if err := b.Append(change.Insert, src); err != nil {
			return fmt.Errorf("row with key %s: %w", s.KeyOf(r), err)
		}
		if b.Len() >= rowGroup {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if b.Len() > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	closed = true
	return fw.Close()
}

func hasAbsent(r change.Row) bool {
	for _, v := range r {
		if v.IsAbsent() {
			return true
		}
	}
	return false
}

// dataReader reads a data file's rows through a (later) table schema: columns by name,
// added columns NULL, widened types converted by change.Evolution, seconds restored.
// Records come projected to cols (indices into the target schema).
type dataReader struct {
	pr     *file.Reader
	rr     pqarrow.RecordReader
	target *change.Schema // the projection of the target schema
	mem    memory.Allocator
	// fast: the file's columns are the target's, read as they are.
	fast bool
	// slow path: every file column is read and each row evolved.
	evo    *change.Evolution
	scale  []int64
	cols   []int // target columns of the projection
	b      *change.Builder
	fromRo change.Row
	rec    arrow.RecordBatch
	name   string
}

// openData opens a data file for reading. data is its checked bytes; from is the
// schema it was written in, to the schema to read it through, cols the projection.
func openData(ctx context.Context, data []byte, name string, from, to *change.Schema, cols []int, proj *change.Schema, mem memory.Allocator, batchRows int) (d *dataReader, err error) {
	defer recoverFile(name, &err)
	pr, err := file.NewParquetReader(bytes.NewReader(data), file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFile, name, err)
	}
	d = &dataReader{pr: pr, target: proj, mem: mem, cols: cols, name: name}
	if f := pr.MetaData().KeyValueMetadata().FindValue(metaFormat); f == nil || *f != dataFormat {
		pr.Close()
		return nil, fmt.Errorf("%w: %s is not a silver data file", ErrFile, name)
	}
	ps, scale, scaled, err := physical(from)
	if err != nil {
		pr.Close()
		return nil, err
	}
	d.scale = scale
	d.fast = !scaled && from.Equal(to)
	if err := checkStoredSchema(pr, ps.Arrow(), mem, name); err != nil {
		pr.Close()
		return nil, err
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: int64(batchRows)}, mem)
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrFile, name, err)
	}
	var read []int
	if d.fast {
		read = cols
	} else {
		if !from.Equal(to) {
			if d.evo, err = change.NewEvolution(from, to); err != nil {
				pr.Close()
				return nil, fmt.Errorf("silver: %s cannot be read through the table's schema: %w", name, err)
			}
		}
		d.b = change.NewBuilder(mem, proj)
		d.fromRo = make(change.Row, from.NumFields())
	}
	rr, err := fr.GetRecordReader(ctx, read, nil)
	if err != nil {
		d.close()
		return nil, fmt.Errorf("%w: %s: %v", ErrFile, name, err)
	}
	d.rr = rr
	got := rr.Schema()
	want := ps.Fields()
	if read != nil {
		want = want[:0:0]
		for _, c := range read {
			want = append(want, ps.Field(c))
		}
	}
	if got.NumFields() != len(want) {
		d.close()
		return nil, fmt.Errorf("%w: %s has %d columns, its schema %d", ErrFile, name, got.NumFields(), len(want))
	}
	for i, f := range want {
		if g := got.Field(i); g.Name != f.Name || !arrow.TypeEqual(g.Type, f.Type) {
			d.close()
			return nil, fmt.Errorf("%w: %s: column %d is %s %s, its schema says %s %s", ErrFile, name, i, g.Name, g.Type, f.Name, f.Type)
		}
	}
	return d, nil
}

// recoverFile turns a panic of the Parquet decoder into an ErrFile naming the file.
// Files are checksummed before they are decoded, so only a file that was damaged
// before its checksum was taken (or a foreign one) gets here; arrow-go's decoder
// panics on some malformed pages (found by FuzzDecodeFiles).
func recoverFile(name string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %s: the Parquet decoder failed: %v", ErrFile, name, r)
	}
}

// checkStoredSchema refuses a file whose stored Arrow schema is not exactly the one a
// writer of s stores: pqarrow would deserialize it, and a damaged one can make the
// deserializer allocate without bound (found by FuzzDecodeFiles).
func checkStoredSchema(pr *file.Reader, s *arrow.Schema, mem memory.Allocator, name string) error {
	got := pr.MetaData().KeyValueMetadata().FindValue("ARROW:schema")
	want := base64.StdEncoding.EncodeToString(flight.SerializeSchema(s, mem))
	if got == nil || *got != want {
		return fmt.Errorf("%w: %s: its stored Arrow schema is not the one its snapshot names", ErrFile, name)
	}
	return nil
}

// next returns the next record (projected, in the target's types), or nil at the end.
// The record stays valid until the next call.
func (d *dataReader) next() (rec arrow.RecordBatch, err error) {
	defer recoverFile(d.name, &err)
	if d.rec != nil {
		d.rec.Release()
		d.rec = nil
	}
	if !d.rr.Next() {
		if err := d.rr.Err(); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, nil
	}
	src := d.rr.RecordBatch()
	if d.fast {
		d.rec = array.NewRecordBatch(d.target.Arrow(), src.Columns(), src.NumRows())
		return d.rec, nil
	}
	var full change.Row
	for r := 0; r < int(src.NumRows()); r++ {
		for c := range d.fromRo {
			v := change.ValueAt(src.Column(c), r)
			if d.scale[c] != 1 && v.Kind() == change.KindInt {
				if v.AsInt()%d.scale[c] != 0 {
					return nil, fmt.Errorf("column %d holds %d ms, not a whole number of seconds", c, v.AsInt())
				}
				v = change.Int(v.AsInt() / d.scale[c])
			}
			d.fromRo[c] = v
		}
		row := d.fromRo
		if d.evo != nil {
			full = d.evo.Apply(full, d.fromRo)
			row = full
		}
		out := make(change.Row, len(d.cols))
		for i, c := range d.cols {
			out[i] = row[c]
		}
		if err := d.b.Append(change.Insert, out); err != nil {
			return nil, err
		}
	}
	batch := d.b.NewBatch()
	d.rec = batch.Record()
	return d.rec, nil
}

func (d *dataReader) close() {
	if d.rec != nil {
		d.rec.Release()
		d.rec = nil
	}
	if d.rr != nil {
		d.rr.Release()
	}
	if d.b != nil {
		d.b.Release()
	}
	d.pr.Close()
}

// deleteSchema is the layout of delete files.
var deleteSchema = arrow.NewSchema([]arrow.Field{
	{Name: "file", Type: arrow.BinaryTypes.String},
	{Name: "pos", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// filePositions are the dead rows of one data file, ascending.
type filePositions struct {
	file string
	pos  []int64
}

// encodeDeletes writes a delete file.
func encodeDeletes(w io.Writer, table string, dels []filePositions, mem memory.Allocator) error {
	props, aprops := writerProps(mem, 1<<20, deleteSchema)
	fw, err := pqarrow.NewFileWriter(deleteSchema, w, props, aprops)
	if err != nil {
		return err
	}
	if err := fw.AppendKeyValueMetadata(metaFormat, deleteFormat); err != nil {
		fw.Close()
		return err
	}
	if err := fw.AppendKeyValueMetadata(metaTable, table); err != nil {
		fw.Close()
		return err
	}
	rb := array.NewRecordBuilder(mem, deleteSchema)
	defer rb.Release()
	fb := rb.Field(0).(*array.StringBuilder)
	pb := rb.Field(1).(*array.Int64Builder)
	for _, d := range dels {
		for range d.pos {
			fb.Append(d.file)
		}
		pb.AppendValues(d.pos, nil)
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()
	if err := fw.Write(rec); err != nil {
		fw.Close()
		return err
	}
	return fw.Close()
}

// decodeDeletes reads a delete file back, grouped by data file.
func decodeDeletes(ctx context.Context, data []byte, name string, mem memory.Allocator) (_ []filePositions, err error) {
	defer recoverFile(name, &err)
	pr, err := file.NewParquetReader(bytes.NewReader(data), file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFile, name, err)
	}
	defer pr.Close()
	if f := pr.MetaData().KeyValueMetadata().FindValue(metaFormat); f == nil || *f != deleteFormat {
		return nil, fmt.Errorf("%w: %s is not a silver delete file", ErrFile, name)
	}
	if err := checkStoredSchema(pr, deleteSchema, mem, name); err != nil {
		return nil, err
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 1 << 20}, mem)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFile, name, err)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFile, name, err)
	}
	defer rr.Release()
	var out []filePositions
	for rr.Next() {
		rec := rr.RecordBatch()
		fs, ok1 := rec.Column(0).(*array.String)
		ps, ok2 := rec.Column(1).(*array.Int64)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: %s: columns are %s, want file utf8, pos int64", ErrFile, name, rec.Schema())
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			f := fs.Value(i)
			if n := len(out); n == 0 || out[n-1].file != f {
				out = append(out, filePositions{file: strings.Clone(f)})
			}
			out[len(out)-1].pos = append(out[len(out)-1].pos, ps.Value(i))
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s: %v", ErrFile, name, err)
	}
	return out, nil
}

// scaleUp converts a time32[s] or timestamp[s] column to its Parquet type in ms (to),
// multiplying by factor.
func scaleUp(mem memory.Allocator, a arrow.Array, to arrow.DataType, factor int64) arrow.Array {
	switch a := a.(type) {
	case *array.Time32:
		b := array.NewTime32Builder(mem, to.(*arrow.Time32Type))
		defer b.Release()
		for i := 0; i < a.Len(); i++ {
			if a.IsNull(i) {
				b.AppendNull()
			} else {
				b.Append(arrow.Time32(int64(a.Value(i)) * factor))
			}
		}
		return b.NewArray()
	case *array.Timestamp:
		b := array.NewTimestampBuilder(mem, to.(*arrow.TimestampType))
		defer b.Release()
		for i := 0; i < a.Len(); i++ {
			if a.IsNull(i) {
				b.AppendNull()
			} else {
				b.Append(arrow.Timestamp(int64(a.Value(i)) * factor))
			}
		}
		return b.NewArray()
	}
	panic(fmt.Sprintf("silver: no seconds column of type %s to scale", a.DataType()))
}
