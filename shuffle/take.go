package shuffle

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
)

// takeBatch gathers rows idx of b into a new batch allocated from mem.
func takeBatch(mem memory.Allocator, b *change.Batch, idx []int32) *change.Batch {
	cols := make([]arrow.Array, b.Record().NumCols())
	for c := range cols {
		cols[c] = Take(mem, b.Column(c), idx)
	}
	rec := array.NewRecordBatch(b.Schema().Arrow(), cols, int64(len(idx)))
	for _, c := range cols {
		c.Release()
	}
	src := b.Ops()
	ops := make([]change.Op, len(idx))
	for i, j := range idx {
		ops[i] = src[j]
	}
	out, err := change.NewBatch(b.Schema(), rec, ops)
	if err != nil {
		panic(err) // same schema, valid ops
	}
	return out
}

// CanTake reports whether Take serves arrays of type t: booleans, strings and binary,
// and fixed-width types of 1, 2, 4, 8 or 16 bytes (not dictionaries).
func CanTake(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.BOOL, arrow.STRING, arrow.BINARY:
		return true
	case arrow.DICTIONARY, arrow.NULL, arrow.EXTENSION:
		return false
	}
	fw, ok := t.(arrow.FixedWidthDataType)
	if !ok {
		return false
	}
	switch fw.BitWidth() {
	case 8, 16, 32, 64, 128:
		return true
	}
	return false
}

// Take gathers elements idx of a into a new array allocated from mem (the caller
// releases it), typed, without per-element interface calls. It serves every column
// type change.Supported accepts and panics on others (a programmer error).
func Take(mem memory.Allocator, a arrow.Array, idx []int32) arrow.Array {
	n := len(idx)
	d := a.Data()
	off := d.Offset()
	var validity *memory.Buffer
	nulls := 0
	if a.NullN() > 0 {
		validity = memory.NewResizableBuffer(mem)
		validity.Resize(int(bitutil.BytesForBits(int64(n))))
		bm, src := validity.Bytes(), d.Buffers()[0].Bytes()
		clear(bm)
		for i, j := range idx {
			if bitutil.BitIsSet(src, off+int(j)) {
				bitutil.SetBit(bm, i)
			} else {
				nulls++
			}
		}
		if nulls == 0 {
			validity.Release()
			validity = nil
		}
	}
	var bufs []*memory.Buffer
	switch a := a.(type) {
	case *array.Boolean:
		vals := memory.NewResizableBuffer(mem)
		vals.Resize(int(bitutil.BytesForBits(int64(n))))
		bm, src := vals.Bytes(), d.Buffers()[1].Bytes()
		clear(bm)
		for i, j := range idx {
			if bitutil.BitIsSet(src, off+int(j)) {
				bitutil.SetBit(bm, i)
			}
		}
		bufs = []*memory.Buffer{validity, vals}
	case *array.String:
		bufs = takeBinary(mem, validity, a.ValueOffsets(), a.ValueBytes(), idx)
	case *array.Binary:
		bufs = takeBinary(mem, validity, a.ValueOffsets(), a.ValueBytes(), idx)
	default:
		fw, ok := a.DataType().(arrow.FixedWidthDataType)
		if !ok {
			panic(fmt.Sprintf("shuffle: cannot gather a column of type %s", a.DataType()))
		}
		w := fw.Bytes()
		vals := memory.NewResizableBuffer(mem)
		vals.Resize(n * w)
		src := d.Buffers()[1].Bytes()[off*w:]
		dst := vals.Bytes()
		switch w {
		case 1:
			takeFixed(dst, src, idx)
		case 2:
			takeFixed(arrow.Uint16Traits.CastFromBytes(dst), arrow.Uint16Traits.CastFromBytes(src), idx)
		case 4:
			takeFixed(arrow.Uint32Traits.CastFromBytes(dst), arrow.Uint32Traits.CastFromBytes(src), idx)
		case 8:
			takeFixed(arrow.Uint64Traits.CastFromBytes(dst), arrow.Uint64Traits.CastFromBytes(src), idx)
		case 16:
			takeFixed(arrow.Decimal128Traits.CastFromBytes(dst), arrow.Decimal128Traits.CastFromBytes(src), idx)
		default:
			panic(fmt.Sprintf("shuffle: cannot gather %d-byte values of %s", w, a.DataType()))
		}
		bufs = []*memory.Buffer{validity, vals}
	}
	data := array.NewData(a.DataType(), n, bufs, nil, nulls, 0)
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	out := array.MakeFromData(data)
	data.Release()
	return out
}

// takeFixed gathers src[idx] into dst, copying runs of consecutive indices (a filter
// that keeps most rows) whole.
func takeFixed[T any](dst, src []T, idx []int32) {
	dst = dst[:len(idx)]
	for i := 0; i < len(idx); {
		k := runEnd(idx, i)
		if k-i >= minRun {
			copy(dst[i:k], src[idx[i]:int(idx[i])+k-i])
		} else {
			for ; i < k; i++ {
				dst[i] = src[idx[i]]
			}
		}
		i = k
	}
}

// minRun is the shortest run of consecutive indices copied whole.
const minRun = 8

// runEnd returns the end of the run of consecutive indices starting at idx[i].
func runEnd(idx []int32, i int) int {
	k := i + 1
	for k < len(idx) && idx[k] == idx[k-1]+1 {
		k++
	}
	return k
}

// takeBinary gathers variable-width values: offsets (of the array's elements) index
// into data, which starts at offsets[0].
func takeBinary(mem memory.Allocator, validity *memory.Buffer, offsets []int32, data []byte, idx []int32) []*memory.Buffer {
	total := 0
	for _, j := range idx {
		total += int(offsets[j+1] - offsets[j])
	}
	offBuf := memory.NewResizableBuffer(mem)
	offBuf.Resize((len(idx) + 1) * 4)
	dataBuf := memory.NewResizableBuffer(mem)
	dataBuf.Resize(total)
	offs := arrow.Int32Traits.CastFromBytes(offBuf.Bytes())
	dst := dataBuf.Bytes()
	pos, base := int32(0), offsets[0]
	offs[0] = 0
	for i := 0; i < len(idx); {
		k := runEnd(idx, i)
		if k-i >= minRun { // one copy for the run, offsets shifted
			first, last := idx[i], idx[k-1]
			shift := pos - (offsets[first] - base)
			copy(dst[pos:], data[offsets[first]-base:offsets[last+1]-base])
			for r := i; r < k; r++ {
				offs[r+1] = offsets[idx[r]+1] - base + shift
			}
			pos = offs[k]
			i = k
			continue
		}
		for ; i < k; i++ {
			j := idx[i]
			pos += int32(copy(dst[pos:], data[offsets[j]-base:offsets[j+1]-base]))
			offs[i+1] = pos
		}
	}
	return []*memory.Buffer{validity, offBuf, dataBuf}
}
