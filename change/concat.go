package change

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Concat returns the rows of bs, in order, as one new batch allocated from mem
// (nil: the default allocator). The batches must share a schema; they stay the
// caller's. It copies each column's buffers in one pass, with a validity bitmap
// only when some row is NULL: Arrow's general Concatenate spends most of its time
// on per-array bookkeeping when the batches are small, as a dataflow's are.
func Concat(mem memory.Allocator, bs []*Batch) (*Batch, error) {
	if len(bs) == 0 {
		return nil, fmt.Errorf("change: concat: no batches")
	}
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	s := bs[0].schema
	n := 0
	for _, b := range bs {
		if b.schema != s && !b.schema.arrow.Equal(s.arrow) {
			return nil, fmt.Errorf("change: concat: schema %s differs from %s", b.schema.arrow, s.arrow)
		}
		n += b.Len()
	}
	ops := make([]Op, 0, n)
	for _, b := range bs {
		ops = append(ops, b.ops...)
	}
	cols := make([]arrow.Array, s.NumFields())
	parts := make([]arrow.Array, len(bs))
	for c := range cols {
		for i, b := range bs {
			parts[i] = b.rec.Column(c)
		}
		col, err := concatColumn(mem, parts, n)
		if err != nil {
			for _, done := range cols[:c] {
				done.Release()
			}
			return nil, fmt.Errorf("change: concat column %q: %w", s.Field(c).Name, err)
		}
		cols[c] = col
	}
	rec := array.NewRecordBatch(s.arrow, cols, int64(n))
	for _, col := range cols {
		col.Release()
	}
	return &Batch{schema: s, rec: rec, ops: ops}, nil
}

// concatColumn concatenates arrays of one type holding n values in all.
func concatColumn(mem memory.Allocator, parts []arrow.Array, n int) (arrow.Array, error) {
	typ := parts[0].DataType()
	nulls := 0
	for _, p := range parts {
		nulls += p.NullN()
	}
	var valid *memory.Buffer
	if nulls > 0 {
		valid = allocBuffer(mem, int(bitutil.BytesForBits(int64(n))))
		bits, at := valid.Bytes(), 0
		for _, p := range parts {
			l := p.Len()
			if p.NullN() == 0 {
				bitutil.SetBitsTo(bits, int64(at), int64(l), true)
			} else {
				copyBits(bits, at, p.NullBitmapBytes(), p.Data().Offset(), l)
			}
			at += l
		}
	}
	var bufs []*memory.Buffer
	switch typ.ID() {
	case arrow.STRING, arrow.BINARY:
		size := 0
		for _, p := range parts {
			if p.Len() > 0 {
				offs := valueOffsets(p)
				size += int(offs[len(offs)-1] - offs[0])
			}
		}
		offsBuf := allocBuffer(mem, 4*(n+1))
		offs := arrow.Int32Traits.CastFromBytes(offsBuf.Bytes())
		var vals *memory.Buffer
		var data []byte
		if size > 0 {
			vals = allocBuffer(mem, size)
			data = vals.Bytes()
		}
		at, end := 0, int32(0)
		for _, p := range parts {
			l := p.Len()
			if l == 0 {
				continue
			}
			po := valueOffsets(p)
			base := po[0]
			for i := 1; i <= l; i++ {
				offs[at+i] = end + po[i] - base
			}
			copy(data[end:], valueBytes(p))
			end += po[l] - base
			at += l
		}
		bufs = []*memory.Buffer{valid, offsBuf, vals}
	case arrow.BOOL:
		bitsBuf := allocBuffer(mem, int(bitutil.BytesForBits(int64(n))))
		at := 0
		for _, p := range parts {
			l := p.Len()
			if l > 0 {
				copyBits(bitsBuf.Bytes(), at, p.Data().Buffers()[1].Bytes(), p.Data().Offset(), l)
			}
			at += l
		}
		bufs = []*memory.Buffer{valid, bitsBuf}
	default:
		fw, ok := typ.(arrow.FixedWidthDataType)
		if !ok || fw.BitWidth()%8 != 0 {
			if valid != nil {
				valid.Release()
			}
			return array.Concatenate(parts, mem)
		}
		w := fw.BitWidth() / 8
		var vals *memory.Buffer
		if n > 0 {
			vals = allocBuffer(mem, n*w)
			data, at := vals.Bytes(), 0
			for _, p := range parts {
				l := p.Len()
				if l > 0 {
					off := p.Data().Offset()
					at += copy(data[at:], p.Data().Buffers()[1].Bytes()[off*w:(off+l)*w])
				}
			}
		}
		bufs = []*memory.Buffer{valid, vals}
	}
	d := array.NewData(typ, n, bufs, nil, nulls, 0)
	for _, buf := range bufs {
		if buf != nil {
			buf.Release() // d holds them
		}
	}
	a := array.MakeFromData(d)
	d.Release()
	return a, nil
}

func valueOffsets(a arrow.Array) []int32 {
	if s, ok := a.(*array.String); ok {
		return s.ValueOffsets()
	}
	return a.(*array.Binary).ValueOffsets()
}

func valueBytes(a arrow.Array) []byte {
	if s, ok := a.(*array.String); ok {
		return s.ValueBytes()
	}
	return a.(*array.Binary).ValueBytes()
}

// copyBits copies n bits of src from bit from to dst (zeroed) from bit at: bit by
// bit for the few rows of a dataflow's batches, where CopyBitmap's setup costs
// more than the copy.
func copyBits(dst []byte, at int, src []byte, from, n int) {
	if n > 64 {
		bitutil.CopyBitmap(src, from, n, dst, at)
		return
	}
	for i := range n {
		if src[(from+i)>>3]&(1<<((from+i)&7)) != 0 {
			dst[(at+i)>>3] |= 1 << ((at + i) & 7)
		}
	}
}
