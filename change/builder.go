package change

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Builder appends rows to a change batch under construction. It is not safe for
// concurrent use; call Release when done with it.
type Builder struct {
	schema *Schema
	rb     *array.RecordBuilder
	ops    []Op
	put    []func(Value)
	fields []array.Builder
	cols   []colCheck
}

// colCheck is what Append checks a value against, precomputed per column so the check
// costs no interface calls.
type colCheck struct {
	kind     Kind
	nullable bool
	lo, hi   int64 // integer range
}

// NewBuilder returns a builder for batches of schema s, allocating from mem (nil means
// the default Go allocator).
func NewBuilder(mem memory.Allocator, s *Schema) *Builder {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	b := &Builder{schema: s, rb: array.NewRecordBuilder(mem, s.arrow)}
	b.put = make([]func(Value), s.NumFields())
	b.cols = make([]colCheck, s.NumFields())
	b.fields = b.rb.Fields()
	for i, f := range s.Fields() {
		b.put[i] = appender(b.rb.Field(i), f)
		lo, hi := intRange(f.Type)
		b.cols[i] = colCheck{kind: KindOf(f.Type), nullable: f.Nullable, lo: lo, hi: hi}
	}
	return b
}

// Schema returns the schema the builder builds.
func (b *Builder) Schema() *Schema { return b.schema }

// Len returns the number of rows appended since the last NewBatch.
func (b *Builder) Len() int { return len(b.ops) }

// Append adds one row. Absent values are stored as NULL. On error (a value of the wrong
// kind for its column, NULL in a non-nullable column, a short row) nothing is appended
// and the error names the column.
func (b *Builder) Append(op Op, row Row) error {
	if !op.Valid() {
		return fmt.Errorf("change: invalid op %d", op)
	}
	if len(row) != len(b.put) {
		return fmt.Errorf("change: row has %d values, schema has %d columns", len(row), len(b.put))
	}
	for i, v := range row {
		c := &b.cols[i]
		k := v.kind
		if k == c.kind && (k != KindInt || int64(v.lo) >= c.lo && int64(v.lo) <= c.hi) ||
			k == KindAbsent || k == KindNull && c.nullable {
			continue // the usual case, without a call
		}
		if err := checkValue(b.schema.arrow.Field(i), v); err != nil {
			return err
		}
	}
	for i, v := range row {
		if v.kind == KindNull || v.kind == KindAbsent {
			b.fields[i].AppendNull()
			continue
		}
		b.put[i](v) // checked above
	}
	b.ops = append(b.ops, op)
	return nil
}

// AppendAny adds one row of plain Go values (see [ValueOf]).
func (b *Builder) AppendAny(op Op, vals ...any) error {
	if len(vals) != len(b.put) {
		return fmt.Errorf("change: row has %d values, schema has %d columns", len(vals), len(b.put))
	}
	row := make(Row, len(vals))
	for i, x := range vals {
		f := b.schema.arrow.Field(i)
		v, err := ValueOf(x, f.Type)
		if err != nil {
			return fmt.Errorf("change: column %q: %w", f.Name, err)
		}
		row[i] = v
	}
	return b.Append(op, row)
}

// NewBatch returns the rows appended so far as a batch (holding one reference) and
// resets the builder for reuse.
func (b *Builder) NewBatch() *Batch {
	rec := b.rb.NewRecordBatch()
	ops := b.ops
	b.ops = make([]Op, 0, cap(ops))
	return &Batch{schema: b.schema, rec: rec, ops: ops}
}

// Release frees the builder's buffers.
func (b *Builder) Release() { b.rb.Release() }

// FromRows builds a batch from plain rows, each led by its Op:
// FromRows(mem, s, [][]any{{change.Insert, 1, "a"}}).
func FromRows(mem memory.Allocator, s *Schema, rows [][]any) (*Batch, error) {
	b := NewBuilder(mem, s)
	defer b.Release()
	for i, r := range rows {
		if len(r) == 0 {
			return nil, fmt.Errorf("change: row %d is empty", i)
		}
		op, ok := r[0].(Op)
		if !ok {
			return nil, fmt.Errorf("change: row %d starts with %T, want change.Op", i, r[0])
		}
		if err := b.AppendAny(op, r[1:]...); err != nil {
			return nil, fmt.Errorf("change: row %d: %w", i, err)
		}
	}
	return b.NewBatch(), nil
}

// checkValue reports whether v can be stored in a column f.
func checkValue(f arrow.Field, v Value) error {
	k := v.Kind()
	if k == KindNull || k == KindAbsent {
		if !f.Nullable && k == KindNull {
			return fmt.Errorf("change: column %q is not nullable", f.Name)
		}
		return nil
	}
	want := KindOf(f.Type)
	if k == want || (want == KindFloat && k == KindInt) || (want == KindDecimal && k == KindInt) ||
		(want == KindBytes && k == KindString) {
		if want == KindInt && k == KindInt {
			return checkIntRange(f, v.AsInt())
		}
		return nil
	}
	return fmt.Errorf("change: column %q of type %s cannot hold a %s value", f.Name, f.Type, k)
}

func checkIntRange(f arrow.Field, i int64) error {
	if lo, hi := intRange(f.Type); i < lo || i > hi {
		return fmt.Errorf("change: value %d out of range for column %q of type %s", i, f.Name, f.Type)
	}
	return nil
}

// intRange returns the range of integers a column of type t holds.
func intRange(t arrow.DataType) (int64, int64) {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	switch t.ID() {
	case arrow.INT8:
		lo, hi = math.MinInt8, math.MaxInt8
	case arrow.INT16:
		lo, hi = math.MinInt16, math.MaxInt16
	case arrow.INT32, arrow.DATE32, arrow.TIME32:
		lo, hi = math.MinInt32, math.MaxInt32
	case arrow.UINT8:
		lo, hi = 0, math.MaxUint8
	case arrow.UINT16:
		lo, hi = 0, math.MaxUint16
	case arrow.UINT32:
		lo, hi = 0, math.MaxUint32
	}
	return lo, hi
}

// KindOf returns the Value kind a column of type t holds.
func KindOf(t arrow.DataType) Kind {
	switch t.ID() {
	case arrow.BOOL:
		return KindBool
	case arrow.FLOAT32, arrow.FLOAT64:
		return KindFloat
	case arrow.DECIMAL128:
		return KindDecimal
	case arrow.STRING:
		return KindString
	case arrow.BINARY:
		return KindBytes
	}
	return KindInt
}

// appender returns a function storing a checked, non-null value into builder ab.
func appender(ab array.Builder, f arrow.Field) func(Value) {
	switch b := ab.(type) {
	case *array.BooleanBuilder:
		return func(v Value) {
			b.Append(v.lo != 0)
		}
	case *array.Int8Builder:
		return func(v Value) {
			b.Append(int8(v.lo))
		}
	case *array.Int16Builder:
		return func(v Value) {
			b.Append(int16(v.lo))
		}
	case *array.Int32Builder:
		return func(v Value) {
			b.Append(int32(v.lo))
		}
	case *array.Int64Builder:
		return func(v Value) {
			b.Append(int64(v.lo))
		}
	case *array.Uint8Builder:
		return func(v Value) {
			b.Append(uint8(v.lo))
		}
	case *array.Uint16Builder:
		return func(v Value) {
			b.Append(uint16(v.lo))
		}
	case *array.Uint32Builder:
		return func(v Value) {
			b.Append(uint32(v.lo))
		}
	case *array.Uint64Builder:
		return func(v Value) {
			b.Append(v.lo)
		}
	case *array.Float32Builder:
		return func(v Value) {
			b.Append(float32(v.AsFloat()))
		}
	case *array.Float64Builder:
		return func(v Value) {
			b.Append(v.AsFloat())
		}
	case *array.Decimal128Builder:
		scale := f.Type.(*arrow.Decimal128Type).Scale
		return func(v Value) {
			if v.kind == KindInt {
				b.Append(decimal128.FromI64(int64(v.lo)).IncreaseScaleBy(scale))
			} else {
				b.Append(decimal128.New(v.hi, v.lo))
			}
		}
	case *array.StringBuilder:
		return func(v Value) {
			b.Append(v.s)
		}
	case *array.BinaryBuilder:
		return func(v Value) {
			b.AppendString(v.s)
		}
	case *array.Date32Builder:
		return func(v Value) {
			b.Append(arrow.Date32(int32(v.lo)))
		}
	case *array.Time32Builder:
		return func(v Value) {
			b.Append(arrow.Time32(int32(v.lo)))
		}
	case *array.Time64Builder:
		return func(v Value) {
			b.Append(arrow.Time64(int64(v.lo)))
		}
	case *array.TimestampBuilder:
		return func(v Value) {
			b.Append(arrow.Timestamp(int64(v.lo)))
		}
	}
	panic(fmt.Sprintf("change: no appender for %s", f.Type)) // Supported() guards schemas
}
