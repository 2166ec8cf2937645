package reduce

import (
	"encoding/binary"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
)

// A row reference: the index of a batch among a side's sources in the upper 32 bits,
// the row in the lower; nullRef stands for a row of NULLs.
const nullRef = ^uint64(0)

func rowRef(batch, row int) uint64 { return uint64(batch)<<32 | uint64(uint32(row)) }

func refBatch(r uint64) int { return int(r >> 32) }

func refRow(r uint64) int { return int(uint32(r)) }

// emitter collects output rows as references into the two sides' batches and turns
// them into output batches of up to batchRows rows, one typed gather per column.
// References must stay valid until flush: callers flush before releasing a source.
type emitter struct {
	spec   *joinSpec
	mem    memory.Allocator
	emit   Emit
	srcs   [2][]*change.Batch
	dicts  [2]joinDicts // per side: its columns encoded by the table (see joinDicts)
	refs   [2][]uint64
	ops    []change.Op
	starts []int32 // gatherDict's scratch, reused across batches
	acct   account
	nrows  int64 // rows emitted
}

func newEmitter(spec *joinSpec, emit Emit) *emitter {
	e := &emitter{spec: spec, mem: memory.DefaultAllocator, emit: emit, acct: account{budget: spec.budget}}
	if spec.budget != nil {
		e.mem = spec.budget
	}
	n := spec.batchRows
	e.refs = [2][]uint64{make([]uint64, 0, n), make([]uint64, 0, n)}
	e.ops = make([]change.Op, 0, n)
	e.acct.set(int64(17 * n))
	return e
}

// add queues an output row of left row l and right row r (either may be nullRef).
func (e *emitter) add(l, r uint64, op change.Op) error {
	e.refs[0] = append(e.refs[0], l)
	e.refs[1] = append(e.refs[1], r)
	e.ops = append(e.ops, op)
	if len(e.ops) >= e.spec.batchRows {
		return e.flush()
	}
	return nil
}

// flush emits the queued rows as one batch.
func (e *emitter) flush() error {
	n := len(e.ops)
	if n == 0 {
		return nil
	}
	cols := make([]arrow.Array, len(e.spec.cols))
	for i, c := range e.spec.cols {
		if d := e.dicts[c.side][c.col]; d != nil {
			cols[i] = gatherWith(e.mem, e.spec.out.Field(i).Type, e.srcs[c.side], c.col, e.refs[c.side], d, &e.starts)
			continue
		}
		cols[i] = gather(e.mem, e.spec.out.Field(i).Type, e.srcs[c.side], c.col, e.refs[c.side])
	}
	rec := array.NewRecordBatch(e.spec.out.Arrow(), cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	ops := make([]change.Op, n)
	copy(ops, e.ops)
	e.refs[0], e.refs[1], e.ops = e.refs[0][:0], e.refs[1][:0], e.ops[:0]
	b, err := change.NewBatch(e.spec.out, rec, ops)
	if err != nil {
		rec.Release()
		return err
	}
	e.nrows += int64(n)
	return e.emit(b)
}

// release gives back the emitter's count; queued rows are dropped.
func (e *emitter) release() {
	e.refs[0], e.refs[1], e.ops = nil, nil, nil
	e.acct.set(0)
}

// gather builds a column of type dt from column col of srcs, row by row as refs say
// (nullRef: NULL), writing the Arrow buffers directly.
func gather(mem memory.Allocator, dt arrow.DataType, srcs []*change.Batch, col int, refs []uint64) arrow.Array {
	return gatherWith(mem, dt, srcs, col, refs, nil, nil)
}

// gatherWith is gather of a string or binary column that dict (when not nil) encodes,
// with scratch (nil: none) for gatherDict.
func gatherWith(mem memory.Allocator, dt arrow.DataType, srcs []*change.Batch, col int, refs []uint64, dict *strDict, scratch *[]int32) arrow.Array {
	n := len(refs)
	datas := make([]arrow.ArrayData, len(srcs))
	withNulls := false
	for i, b := range srcs {
		datas[i] = b.Column(col).Data()
		withNulls = withNulls || datas[i].NullN() > 0
	}
	for _, r := range refs {
		if r == nullRef {
			withNulls = true
			break
		}
	}
	var valid *memory.Buffer
	nulls := 0
	if withNulls {
		valid = memory.NewResizableBuffer(mem)
		valid.Resize(int(bitutil.BytesForBits(int64(n))))
		bm := valid.Bytes()
		clear(bm)
		for i, r := range refs {
			if r == nullRef {
				nulls++
				continue
			}
			d := datas[refBatch(r)]
			if d.NullN() > 0 && bitutil.BitIsNotSet(d.Buffers()[0].Bytes(), d.Offset()+refRow(r)) {
				nulls++
				continue
			}
			bitutil.SetBit(bm, i)
		}
	}
	var bufs []*memory.Buffer
	switch dt.ID() {
	case arrow.STRING, arrow.BINARY:
		if dict != nil {
			bufs = gatherDict(mem, dict, refs, scratch)
			break
		}
		bufs = gatherBytes(mem, datas, refs)
	case arrow.BOOL:
		bufs = []*memory.Buffer{gatherBools(mem, datas, refs)}
	default:
		switch dt.(arrow.FixedWidthDataType).BitWidth() {
		case 8:
			bufs = []*memory.Buffer{gatherFixed[int8](mem, datas, refs)}
		case 16:
			bufs = []*memory.Buffer{gatherFixed[int16](mem, datas, refs)}
		case 32:
			bufs = []*memory.Buffer{gatherFixed[int32](mem, datas, refs)}
		case 64:
			bufs = []*memory.Buffer{gatherFixed[int64](mem, datas, refs)}
		case 128:
			bufs = []*memory.Buffer{gatherFixed[decimal128.Num](mem, datas, refs)}
		}
	}
	data := array.NewData(dt, n, append([]*memory.Buffer{valid}, bufs...), nil, nulls, 0)
	if valid != nil {
		valid.Release()
	}
	for _, b := range bufs {
		b.Release()
	}
	out := array.MakeFromData(data)
	data.Release()
	return out
}

func gatherFixed[T arrow.FixedWidthType](mem memory.Allocator, datas []arrow.ArrayData, refs []uint64) *memory.Buffer {
	var zero T
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(len(refs) * int(unsafe.Sizeof(zero)))
	dst := arrow.GetData[T](buf.Bytes())
	src := make([][]T, len(datas))
	for i, d := range datas {
		src[i] = arrow.GetValues[T](d, 1)
	}
	if len(src) == 1 {
		s := src[0]
		for i, r := range refs {
			if r == nullRef {
				dst[i] = zero
				continue
			}
			dst[i] = s[refRow(r)]
		}
		return buf
	}
	for i, r := range refs {
		if r == nullRef {
			dst[i] = zero
			continue
		}
		dst[i] = src[refBatch(r)][refRow(r)]
	}
	return buf
}

func gatherBools(mem memory.Allocator, datas []arrow.ArrayData, refs []uint64) *memory.Buffer {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(int(bitutil.BytesForBits(int64(len(refs)))))
	dst := buf.Bytes()
	clear(dst)
	for i, r := range refs {
		if r == nullRef {
			continue
		}
		d := datas[refBatch(r)]
		if bitutil.BitIsSet(d.Buffers()[1].Bytes(), d.Offset()+refRow(r)) {
			bitutil.SetBit(dst, i)
		}
	}
	return buf
}

func gatherBytes(mem memory.Allocator, datas []arrow.ArrayData, refs []uint64) []*memory.Buffer {
	cols := make([]byteCol, len(datas))
	for i, d := range datas {
		cols[i] = byteCol{offs: arrow.GetOffsets[int32](d, 1)}
		if b := d.Buffers()[2]; b != nil {
			cols[i].data = b.Buf() // to its capacity: the copies below may read past the end
		}
	}
	offBuf := memory.NewResizableBuffer(mem)
	offBuf.Resize(4 * (len(refs) + 1))
	offs := arrow.GetData[int32](offBuf.Bytes())
	total := 0
	offs[0] = 0
	for i, r := range refs {
		if r != nullRef {
			c := cols[refBatch(r)]
			total += int(c.offs[refRow(r)+1] - c.offs[refRow(r)])
		}
		offs[i+1] = int32(total)
	}
	dataBuf := memory.NewResizableBuffer(mem)
	dataBuf.Reserve(total + 16)
	dataBuf.ResizeNoShrink(total)
	dst := dataBuf.Buf()
	for i, r := range refs {
		if r == nullRef {
			continue
		}
		c := &cols[refBatch(r)]
		from, o, n := int(c.offs[refRow(r)]), int(offs[i]), int(offs[i+1]-offs[i])
		if n <= 16 && from+16 <= len(c.data) {
			// A short string (the usual key or label) is copied as two words, without
			// a call: the bytes written past its end belong to the strings after it,
			// which are written next, or to the slack reserved above.
			binary.LittleEndian.PutUint64(dst[o:], binary.LittleEndian.Uint64(c.data[from:]))
			binary.LittleEndian.PutUint64(dst[o+8:], binary.LittleEndian.Uint64(c.data[from+8:]))
			continue
		}
		copy(dst[o:o+n], c.data[from:from+n])
	}
	clear(dst[total:])
	return []*memory.Buffer{offBuf, dataBuf}
}
