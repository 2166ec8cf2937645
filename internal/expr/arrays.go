package expr

import (
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// vals is the fixed-width value buffer of a as []T, from a's offset.
func vals[T any](a arrow.Array) []T {
	d := a.Data()
	n := d.Len()
	if n == 0 {
		return nil
	}
	b := d.Buffers()[1].Bytes()
	var z T
	sz := int(unsafe.Sizeof(z))
	all := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/sz)
	return all[d.Offset() : d.Offset()+n]
}

// allocFixed allocates a buffer of n values of T (not zeroed).
func allocFixed[T any](mem memory.Allocator, n int) (*memory.Buffer, []T) {
	var z T
	sz := int(unsafe.Sizeof(z))
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(n * sz)
	if n == 0 {
		return buf, nil
	}
	return buf, unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(buf.Bytes()))), n)
}

// allocBits allocates a zeroed bitmap of n bits, with whole 8-byte words.
func allocBits(mem memory.Allocator, n int) (*memory.Buffer, []byte) {
	buf := memory.NewResizableBuffer(mem)
	nb := (n + 63) / 64 * 8
	buf.Resize(nb)
	b := buf.Buf()[:nb]
	clear(b)
	return buf, b
}

// words views a bitmap from allocBits as words.
func words(b []byte) []uint64 {
	if len(b) < 8 {
		return nil
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/8)
}

// andValidity is the AND of the validity bitmaps of the arrays (nil ones and those
// without NULLs skipped): nil when no row is NULL.
func andValidity(mem memory.Allocator, n int, arrs ...arrow.Array) (*memory.Buffer, int) {
	var out *memory.Buffer
	var ob []byte
	for _, a := range arrs {
		if a == nil || a.NullN() == 0 {
			continue
		}
		bm := a.NullBitmapBytes()
		if bm == nil { // all NULL without a bitmap (a NULL-typed array)
			if out == nil {
				out, ob = allocBits(mem, n)
			}
			clear(ob)
			continue
		}
		if out == nil {
			out, ob = allocBits(mem, n)
			bitutil.CopyBitmap(bm, a.Data().Offset(), n, ob, 0)
			continue
		}
		bitutil.BitmapAnd(ob, bm, 0, int64(a.Data().Offset()), ob, 0, int64(n))
	}
	if out == nil {
		return nil, 0
	}
	nulls := n - bitutil.CountSetBits(ob, 0, n)
	if nulls == 0 {
		out.Release()
		return nil, 0
	}
	return out, nulls
}

// makeArray builds an array of type dt from buffers, which it takes over.
func makeArray(dt arrow.DataType, n int, nulls int, bufs ...*memory.Buffer) arrow.Array {
	d := array.NewData(dt, n, bufs, nil, nulls, 0)
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	a := array.MakeFromData(d)
	d.Release()
	return a
}

// isValid reports whether row i of a is not NULL (a nil bitmap: all valid).
func validAt(valid []byte, i int) bool { return valid == nil || bitutil.BitIsSet(valid, i) }

// bitmapOf is a's validity bitmap and offset, nil without NULLs.
func bitmapOf(a arrow.Array) ([]byte, int) {
	if a == nil || a.NullN() == 0 {
		return nil, 0
	}
	return a.NullBitmapBytes(), a.Data().Offset()
}

// broadcast is sc repeated n times.
func broadcast(mem memory.Allocator, sc scalar.Scalar, n int) (arrow.Array, error) {
	if sc.DataType().ID() == arrow.NULL {
		return array.NewNull(n), nil
	}
	if !sc.IsValid() {
		return array.MakeArrayOfNull(mem, sc.DataType(), n), nil
	}
	return scalar.MakeArrayFromScalar(sc, n, mem)
}

// constVal is the value of a valid fixed-width scalar as T.
func constVal[T any](sc scalar.Scalar) T {
	a, err := scalar.MakeArrayFromScalar(sc, 1, memory.DefaultAllocator)
	if err != nil {
		panic(err)
	}
	defer a.Release()
	return vals[T](a)[0]
}

// constBytes is the value of a valid string or binary scalar.
func constBytes(sc scalar.Scalar) []byte {
	return sc.(scalar.BinaryScalar).Data()
}

// scalarAt is row i of a as a scalar that does not share a's memory.
func scalarAt(a arrow.Array, i int) (scalar.Scalar, error) {
	if a.IsNull(i) {
		return scalar.MakeNullScalar(a.DataType()), nil
	}
	switch a := a.(type) {
	case *array.String:
		return scalar.NewStringScalar(a.Value(i)), nil
	case *array.Binary:
		return scalar.NewBinaryScalar(memory.NewBufferBytes(append([]byte(nil), a.Value(i)...)), a.DataType()), nil
	}
	return scalar.GetScalar(a, i)
}

// strs gives the bytes of the rows of a string or binary array.
type strs struct {
	off  []int32
	data []byte
}

func strsOf(a arrow.Array) strs {
	d := a.Data()
	if d.Len() == 0 {
		return strs{}
	}
	off := arrow.GetOffsets[int32](d, 1)
	var data []byte
	if b := d.Buffers()[2]; b != nil {
		data = b.Bytes()
	}
	return strs{off: off, data: data}
}

func (s strs) at(i int) []byte { return s.data[s.off[i]:s.off[i+1]] }

// strBuilder builds a string array without per-row boxing.
type strBuilder struct {
	mem  memory.Allocator
	off  []int32
	data []byte
}

func newStrBuilder(mem memory.Allocator, n, bytesHint int) *strBuilder {
	b := &strBuilder{mem: mem, off: make([]int32, 1, n+1)}
	b.data = make([]byte, 0, bytesHint)
	return b
}

func (b *strBuilder) add(v []byte) {
	b.data = append(b.data, v...)
	b.off = append(b.off, int32(len(b.data)))
}

func (b *strBuilder) addString(v string) {
	b.data = append(b.data, v...)
	b.off = append(b.off, int32(len(b.data)))
}

// finish makes the array, taking over valid.
func (b *strBuilder) finish(dt arrow.DataType, valid *memory.Buffer, nulls int) arrow.Array {
	n := len(b.off) - 1
	ob, o := allocFixed[int32](b.mem, n+1)
	copy(o, b.off)
	db := memory.NewResizableBuffer(b.mem)
	db.Resize(len(b.data))
	copy(db.Bytes(), b.data)
	return makeArray(dt, n, nulls, valid, ob, db)
}
