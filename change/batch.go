package change

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Batch is a columnar change batch: an Arrow record plus one Op per row. It holds one
// reference to the record; Retain and Release count references, and the last Release
// frees the columns. A Batch is immutable and safe for concurrent readers.
type Batch struct {
	schema *Schema
	rec    arrow.RecordBatch
	ops    []Op
}

// NewBatch wraps rec (taking over the caller's reference) with one op per row. The
// record's schema must equal the schema's Arrow schema (metadata aside).
func NewBatch(s *Schema, rec arrow.RecordBatch, ops []Op) (*Batch, error) {
	if int64(len(ops)) != rec.NumRows() {
		return nil, fmt.Errorf("change: batch has %d rows but %d ops", rec.NumRows(), len(ops))
	}
	if !rec.Schema().Equal(s.arrow) {
		return nil, fmt.Errorf("change: record schema %s does not match %s", rec.Schema(), s.arrow)
	}
	for i, op := range ops {
		if !op.Valid() {
			return nil, fmt.Errorf("change: row %d has invalid op %d", i, op)
		}
	}
	return &Batch{schema: s, rec: rec, ops: ops}, nil
}

// Schema returns the batch's schema.
func (b *Batch) Schema() *Schema { return b.schema }

// Record returns the Arrow record; it stays valid while the batch holds a reference.
func (b *Batch) Record() arrow.RecordBatch { return b.rec }

// Ops returns the per-row ops (read-only).
func (b *Batch) Ops() []Op { return b.ops }

// Len returns the number of rows.
func (b *Batch) Len() int { return len(b.ops) }

// Column returns column i.
func (b *Batch) Column(i int) arrow.Array { return b.rec.Column(i) }

// Retain adds a reference.
func (b *Batch) Retain() { b.rec.Retain() }

// Release drops a reference; the last one frees the columns.
func (b *Batch) Release() { b.rec.Release() }

// Value returns the cell at (row, col).
func (b *Batch) Value(row, col int) Value { return ValueAt(b.rec.Column(col), row) }

// Row returns row i as values (strings and bytes are copied out of the record).
func (b *Batch) Row(i int) Row {
	r := make(Row, b.rec.NumCols())
	for c := range r {
		r[c] = ValueAt(b.rec.Column(c), i)
	}
	return r
}

// Rows returns every row as values.
func (b *Batch) Rows() []Row {
	out := make([]Row, b.Len())
	for i := range out {
		out[i] = b.Row(i)
	}
	return out
}

// Plain returns every row as plain Go values (see [Value.Any]) preceded by its op, for
// tests and debugging: [][]any{{change.Insert, int64(1), "a"}, ...}.
func (b *Batch) Plain() [][]any {
	fs := b.schema.Fields()
	out := make([][]any, b.Len())
	for i := range out {
		row := make([]any, 1+len(fs))
		row[0] = b.ops[i]
		for c, f := range fs {
			row[1+c] = ValueAt(b.rec.Column(c), i).Any(f.Type)
		}
		out[i] = row
	}
	return out
}

// String renders the batch as a small table for debugging.
func (b *Batch) String() string {
	var sb strings.Builder
	sb.WriteString("op")
	for _, f := range b.schema.Fields() {
		sb.WriteString(" | ")
		sb.WriteString(f.Name)
	}
	sb.WriteByte('\n')
	for i, row := range b.Plain() {
		sb.WriteString(b.ops[i].String())
		for _, v := range row[1:] {
			sb.WriteString(" | ")
			if v == nil {
				sb.WriteString("NULL")
			} else {
				fmt.Fprint(&sb, v)
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// ValueAt reads one cell of an Arrow array of a supported type.
func ValueAt(a arrow.Array, i int) Value {
	if a.IsNull(i) {
		return Null()
	}
	switch a := a.(type) {
	case *array.Boolean:
		return Bool(a.Value(i))
	case *array.Int8:
		return Int(int64(a.Value(i)))
	case *array.Int16:
		return Int(int64(a.Value(i)))
	case *array.Int32:
		return Int(int64(a.Value(i)))
	case *array.Int64:
		return Int(a.Value(i))
	case *array.Uint8:
		return Int(int64(a.Value(i)))
	case *array.Uint16:
		return Int(int64(a.Value(i)))
	case *array.Uint32:
		return Int(int64(a.Value(i)))
	case *array.Uint64:
		return Int(int64(a.Value(i)))
	case *array.Float32:
		return Float(float64(a.Value(i)))
	case *array.Float64:
		return Float(a.Value(i))
	case *array.Decimal128:
		return Decimal(a.Value(i))
	case *array.String:
		return Str(strings.Clone(a.Value(i)))
	case *array.Binary:
		return Bytes(a.Value(i))
	case *array.Date32:
		return Int(int64(a.Value(i)))
	case *array.Time32:
		return Int(int64(a.Value(i)))
	case *array.Time64:
		return Int(int64(a.Value(i)))
	case *array.Timestamp:
		return Int(int64(a.Value(i)))
	}
	panic(fmt.Sprintf("change: unsupported array type %s", a.DataType()))
}
