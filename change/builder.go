package change

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Builder appends rows to a change batch under construction. It is not safe for
// concurrent use; call Release when done with it.
//
// Rows are staged in Go slices the builder keeps from batch to batch, and NewBatch
// copies them into Arrow buffers of exactly the batch's size: a dataflow builds
// many batches of one to a few rows, for which Arrow's builders would allocate and
// zero room for 32 values per column (and a validity bitmap) each time.
type Builder struct {
	schema *Schema
	mem    memory.Allocator
	ops    []Op
	cols   []column
	arrs   []arrow.Array // NewBatch's column list, reused
}

// column stages one column's values.
type column struct {
	colCheck
	typ   arrow.DataType
	width int    // bytes per value (fixed width); 0: bool, -1: string/binary
	data  []byte // fixed width: the values, little-endian; bool: a byte per value; string/binary: the bytes
	ends  []int32
	nulls []int32 // rows that are NULL
	scale int32   // decimal: the column's scale
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
	b := &Builder{schema: s, mem: mem, cols: make([]column, s.NumFields())}
	for i, f := range s.Fields() {
		lo, hi := intRange(f.Type)
		c := &b.cols[i]
		c.colCheck = colCheck{kind: KindOf(f.Type), nullable: f.Nullable, lo: lo, hi: hi}
		c.typ = f.Type
		switch t := f.Type.(type) {
		case *arrow.BooleanType:
			c.width = 0
		case *arrow.StringType, *arrow.BinaryType:
			c.width = -1
		case *arrow.Decimal128Type:
			c.width, c.scale = 16, t.Scale
		case arrow.FixedWidthDataType:
			c.width = t.BitWidth() / 8
		default:
			panic(fmt.Sprintf("change: no builder for %s", f.Type)) // Supported() guards schemas
		}
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
	if len(row) != len(b.cols) {
		return fmt.Errorf("change: row has %d values, schema has %d columns", len(row), len(b.cols))
	}
	for i, v := range row {
		c := &b.cols[i].colCheck
		k := v.kind
		if k == c.kind && (k != KindInt || int64(v.lo) >= c.lo && int64(v.lo) <= c.hi) ||
			k == KindAbsent || k == KindNull && c.nullable {
			continue // the usual case, without a call
		}
		if err := checkValue(b.schema.arrow.Field(i), v); err != nil {
			return err
		}
	}
	r := int32(len(b.ops))
	for i, v := range row {
		b.cols[i].append(r, v) // checked above
	}
	b.ops = append(b.ops, op)
	return nil
}

// append stages a checked value (NULL or Absent: a NULL) as row r.
func (c *column) append(r int32, v Value) {
	null := v.kind == KindNull || v.kind == KindAbsent
	if null {
		c.nulls = append(c.nulls, r)
	}
	switch c.width {
	case -1:
		if !null {
			c.data = append(c.data, v.s...)
		}
		c.ends = append(c.ends, int32(len(c.data)))
	case 0:
		c.data = append(c.data, byte(v.lo&1))
	case 1:
		c.data = append(c.data, byte(v.lo))
	case 2:
		c.data = binary.LittleEndian.AppendUint16(c.data, uint16(v.lo))
	case 4:
		if c.kind == KindFloat && !null {
			c.data = binary.LittleEndian.AppendUint32(c.data, math.Float32bits(float32(v.AsFloat())))
		} else {
			c.data = binary.LittleEndian.AppendUint32(c.data, uint32(v.lo))
		}
	case 8:
		if c.kind == KindFloat && !null {
			c.data = binary.LittleEndian.AppendUint64(c.data, math.Float64bits(v.AsFloat()))
		} else {
			c.data = binary.LittleEndian.AppendUint64(c.data, v.lo)
		}
	case 16:
		d := decimal128.New(v.hi, v.lo)
		if v.kind == KindInt {
			d = decimal128.FromI64(int64(v.lo)).IncreaseScaleBy(c.scale)
		} else if null {
			d = decimal128.Num{}
		}
		c.data = binary.LittleEndian.AppendUint64(c.data, d.LowBits())
		c.data = binary.LittleEndian.AppendUint64(c.data, uint64(d.HighBits()))
	}
}

// AppendAny adds one row of plain Go values (see [ValueOf]).
func (b *Builder) AppendAny(op Op, vals ...any) error {
	if len(vals) != len(b.cols) {
		return fmt.Errorf("change: row has %d values, schema has %d columns", len(vals), len(b.cols))
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
	n := len(b.ops)
	var sl slab
	size := 0
	for i := range b.cols {
		size += b.cols[i].bytes(n)
	}
	if size <= maxSlab {
		sl.buf = allocBuffer(b.mem, size)
	}
	// The arrays' buffer lists share one backing array (Arrow keeps each list as
	// given); the record copies the column list, so that one is the builder's.
	bufs := make([]*memory.Buffer, 0, 3*len(b.cols))
	arrs := b.arrs[:0]
	for i := range b.cols {
		var a arrow.Array
		a, bufs = b.cols[i].array(b.mem, &sl, bufs, n)
		arrs = append(arrs, a)
	}
	if sl.buf != nil {
		sl.buf.Release() // the arrays hold it
	}
	rec := array.NewRecordBatch(b.schema.arrow, arrs, int64(n))
	for i, a := range arrs {
		a.Release()
		arrs[i] = nil
	}
	b.arrs = arrs[:0]
	ops := make([]Op, n)
	copy(ops, b.ops)
	b.ops = b.ops[:0]
	return &Batch{schema: b.schema, rec: rec, ops: ops}
}

// maxSlab is the largest batch (in buffer bytes) whose buffers are carved from one
// allocation. Small batches (a transaction's few rows) are most of a stream's, and a
// buffer each cost several allocations per column; a large batch's separate buffers
// let a consumer keep one column without the others.
const maxSlab = 16 << 10

// slab hands out consecutive 8-byte-aligned pieces of one buffer; without one, a
// buffer each from the allocator.
type slab struct {
	buf *memory.Buffer
	off int
}

func (s *slab) take(mem memory.Allocator, size int) *memory.Buffer {
	if s.buf == nil {
		return allocBuffer(mem, size)
	}
	b := memory.SliceBuffer(s.buf, s.off, size)
	s.off += pad8(size)
	return b
}

func pad8(n int) int { return (n + 7) &^ 7 }

// bytes is what array takes from a slab for n rows.
func (c *column) bytes(n int) int {
	size := 0
	if len(c.nulls) > 0 {
		size += pad8(int(bitutil.BytesForBits(int64(n))))
	}
	switch c.width {
	case -1:
		size += pad8(4*(n+1)) + pad8(len(c.data))
	case 0:
		size += pad8(int(bitutil.BytesForBits(int64(n))))
	default:
		size += pad8(len(c.data))
	}
	return size
}

// array moves the staged n values into an Arrow array with buffers of their size,
// taken from sl, and listed after all (returned).
func (c *column) array(mem memory.Allocator, sl *slab, all []*memory.Buffer, n int) (arrow.Array, []*memory.Buffer) {
	var valid *memory.Buffer
	if len(c.nulls) > 0 {
		valid = sl.take(mem, int(bitutil.BytesForBits(int64(n))))
		bits := valid.Bytes()
		bitutil.SetBitsTo(bits, 0, int64(n), true)
		for _, r := range c.nulls {
			bitutil.ClearBit(bits, int(r))
		}
	}
	start := len(all)
	switch c.width {
	case -1:
		offs := sl.take(mem, 4*(n+1))
		o := offs.Bytes()
		binary.LittleEndian.PutUint32(o, 0)
		for r, e := range c.ends {
			binary.LittleEndian.PutUint32(o[4*(r+1):], uint32(e))
		}
		var vals *memory.Buffer
		if len(c.data) > 0 {
			vals = sl.take(mem, len(c.data))
			copy(vals.Bytes(), c.data)
		}
		all = append(all, valid, offs, vals)
	case 0:
		bits := sl.take(mem, int(bitutil.BytesForBits(int64(n))))
		bb := bits.Bytes()
		for r, v := range c.data {
			if v != 0 {
				bitutil.SetBit(bb, r)
			}
		}
		all = append(all, valid, bits)
	default:
		var vals *memory.Buffer
		if len(c.data) > 0 {
			vals = sl.take(mem, len(c.data))
			copy(vals.Bytes(), c.data)
		}
		all = append(all, valid, vals)
	}
	bufs := all[start:len(all):len(all)]
	d := array.NewData(c.typ, n, bufs, nil, len(c.nulls), 0)
	for _, buf := range bufs {
		if buf != nil {
			buf.Release() // d holds them
		}
	}
	a := array.MakeFromData(d)
	d.Release()
	c.data, c.ends, c.nulls = c.data[:0], c.ends[:0], c.nulls[:0]
	return a, all
}

// allocBuffer returns a buffer of size bytes from mem, zeroed.
func allocBuffer(mem memory.Allocator, size int) *memory.Buffer {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(size)
	return buf
}

// Reset drops the staged rows, keeping the space they took for the next ones.
func (b *Builder) Reset() {
	b.ops = b.ops[:0]
	for i := range b.cols {
		c := &b.cols[i]
		c.data, c.ends, c.nulls = c.data[:0], c.ends[:0], c.nulls[:0]
	}
}

// Release frees what the builder holds. Its staged rows are Go memory, so nothing
// is left to give back to the allocator; Release stays for the builders' contract.
func (b *Builder) Release() {
	b.ops = b.ops[:0]
	for i := range b.cols {
		c := &b.cols[i]
		c.data, c.ends, c.nulls = nil, nil, nil
	}
}

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
