// Package order compares rows of Arrow columns in SQL sort order, typed per column
// and without boxing: ascending or descending, NULLs first or last, NaN after every
// number and equal to itself, -0 equal to 0, strings and binaries by bytes. It is
// the one comparator behind shuffle's range partitions and reduce's sort, so that a
// range partition and the sort within it agree.
//
// An order compares rows of several sources (arrays: the batches of a sort run, a
// batch and a partitioner's bounds) addressed by reference: the source in the upper
// 32 bits, the row in the lower. A column also reduces its values to 64-bit
// order-preserving prefixes, so most comparisons can be one integer compare.
package order

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// Ref is the reference of row of source src.
func Ref(src, row int) uint64 { return uint64(src)<<32 | uint64(uint32(row)) }

// Src is the source of a reference.
func Src(r uint64) int { return int(r >> 32) }

// Row is the row of a reference.
func Row(r uint64) int { return int(uint32(r)) }

// typed is a typed key column over the sources.
type typed interface {
	// set makes a the column of source i.
	set(i int, a arrow.Array)
	// compare compares the non-NULL values of rows x and y, ascending.
	compare(x, y uint64) int
	// prefix writes the order-preserving prefix of each value of a (NULLs: anything)
	// and reports whether equal prefixes mean equal values.
	prefix(a arrow.Array, out []uint64) (exact bool)
}

// Column is one key column of an order. It is not safe for concurrent use: each user
// makes its own.
type Column struct {
	desc, nullsFirst bool
	typed            typed
	valid            [][]byte // per source: validity bitmap, nil without NULLs
	voff             []int
}

// New returns a key column of type t.
func New(t arrow.DataType, desc, nullsFirst bool) (*Column, error) {
	var c typed
	switch t.ID() {
	case arrow.INT8:
		c = &intColumn[int8]{}
	case arrow.INT16:
		c = &intColumn[int16]{}
	case arrow.INT32, arrow.DATE32, arrow.TIME32:
		c = &intColumn[int32]{}
	case arrow.INT64, arrow.TIME64, arrow.TIMESTAMP:
		c = &intColumn[int64]{}
	case arrow.UINT8:
		c = &intColumn[uint8]{}
	case arrow.UINT16:
		c = &intColumn[uint16]{}
	case arrow.UINT32:
		c = &intColumn[uint32]{}
	case arrow.UINT64:
		c = &intColumn[uint64]{}
	case arrow.FLOAT32:
		c = &floatColumn[float32]{}
	case arrow.FLOAT64:
		c = &floatColumn[float64]{}
	case arrow.DECIMAL128:
		c = &decimalColumn{}
	case arrow.STRING, arrow.BINARY:
		c = &bytesColumn{}
	case arrow.BOOL:
		c = &boolColumn{}
	default:
		return nil, fmt.Errorf("cannot order by a column of type %s", t)
	}
	return &Column{desc: desc, nullsFirst: nullsFirst, typed: c}, nil
}

// Desc reports whether the column orders descending.
func (k *Column) Desc() bool { return k.desc }

// NullsFirst reports whether NULLs come before values.
func (k *Column) NullsFirst() bool { return k.nullsFirst }

// Set makes a (of the column's type) source i.
func (k *Column) Set(i int, a arrow.Array) {
	k.typed.set(i, a)
	for len(k.valid) <= i {
		k.valid = append(k.valid, nil)
		k.voff = append(k.voff, 0)
	}
	k.valid[i], k.voff[i] = nil, 0
	if a.NullN() > 0 {
		k.valid[i], k.voff[i] = a.NullBitmapBytes(), a.Data().Offset()
	}
}

// IsNull reports whether row r is NULL.
func (k *Column) IsNull(r uint64) bool {
	v := k.valid[Src(r)]
	return v != nil && bitutil.BitIsNotSet(v, k.voff[Src(r)]+Row(r))
}

// Func returns the comparison of two rows under the column's order, NULLs and
// direction included.
func (k *Column) Func() func(x, y uint64) int {
	c := k.typed.compare
	nullCmp := 1
	if k.nullsFirst {
		nullCmp = -1
	}
	desc := k.desc
	return func(x, y uint64) int {
		if k.valid[Src(x)] != nil || k.valid[Src(y)] != nil {
			xn, yn := k.IsNull(x), k.IsNull(y)
			switch {
			case xn && yn:
				return 0
			case xn:
				return nullCmp
			case yn:
				return -nullCmp
			}
		}
		if desc {
			return c(y, x)
		}
		return c(x, y)
	}
}

// Prefix writes into out[:a.Len()] the prefix of each value of a (an array of the
// column's type) in the column's direction: for non-NULL values x and y, x orders
// before y only if prefix(x) ≤ prefix(y), and when exact, equal prefixes mean equal
// values. NULLs get arbitrary prefixes: test them apart.
func (k *Column) Prefix(a arrow.Array, out []uint64) (exact bool) {
	exact = k.typed.prefix(a, out)
	if k.desc {
		for i := range out[:a.Len()] {
			out[i] = ^out[i]
		}
	}
	return exact
}

// Comparator compares rows by cols (0 when they tie on all of them).
func Comparator(cols []*Column) func(x, y uint64) int {
	fs := make([]func(x, y uint64) int, len(cols))
	for i, k := range cols {
		fs[i] = k.Func()
	}
	if len(fs) == 1 {
		return fs[0]
	}
	return func(x, y uint64) int {
		for _, f := range fs {
			if c := f(x, y); c != 0 {
				return c
			}
		}
		return 0
	}
}

// integer is every Arrow integer's physical type.
type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

type intColumn[T integer] struct{ vals [][]T }

func (c *intColumn[T]) set(i int, a arrow.Array) {
	for len(c.vals) <= i {
		c.vals = append(c.vals, nil)
	}
	c.vals[i] = arrow.GetValues[T](a.Data(), 1)
}

func (c *intColumn[T]) compare(x, y uint64) int {
	return cmp.Compare(c.vals[Src(x)][Row(x)], c.vals[Src(y)][Row(y)])
}

func (c *intColumn[T]) prefix(a arrow.Array, out []uint64) bool {
	vs := arrow.GetValues[T](a.Data(), 1)
	var zero T
	if ^zero < 0 { // signed: flip the sign bit so two's complement orders as unsigned
		for i, v := range vs {
			out[i] = uint64(int64(v)) ^ 1<<63
		}
	} else {
		for i, v := range vs {
			out[i] = uint64(v)
		}
	}
	return true
}

type floatColumn[T float32 | float64] struct{ vals [][]T }

func (c *floatColumn[T]) set(i int, a arrow.Array) {
	for len(c.vals) <= i {
		c.vals = append(c.vals, nil)
	}
	c.vals[i] = arrow.GetValues[T](a.Data(), 1)
}

func (c *floatColumn[T]) compare(x, y uint64) int {
	return CompareFloat(float64(c.vals[Src(x)][Row(x)]), float64(c.vals[Src(y)][Row(y)]))
}

func (c *floatColumn[T]) prefix(a arrow.Array, out []uint64) bool {
	for i, v := range arrow.GetValues[T](a.Data(), 1) {
		out[i] = FloatPrefix(float64(v))
	}
	return true
}

// CompareFloat orders floats as PostgreSQL does: NaN equal to itself and after every
// number, -0 equal to 0.
func CompareFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	case x == y:
		return 0
	case x != x && y != y:
		return 0
	case x != x:
		return 1
	}
	return -1
}

// FloatPrefix maps a float to an unsigned integer of the same order (CompareFloat's):
// the canonical bits, negatives inverted, positives with the sign bit set.
func FloatPrefix(f float64) uint64 {
	switch {
	case f == 0:
		return 1 << 63
	case f != f:
		return math.MaxUint64
	}
	b := math.Float64bits(f)
	if b>>63 != 0 {
		return ^b
	}
	return b | 1<<63
}

type decimalColumn struct{ vals [][]decimal128.Num }

func (c *decimalColumn) set(i int, a arrow.Array) {
	for len(c.vals) <= i {
		c.vals = append(c.vals, nil)
	}
	c.vals[i] = arrow.GetValues[decimal128.Num](a.Data(), 1)
}

func (c *decimalColumn) compare(x, y uint64) int {
	return c.vals[Src(x)][Row(x)].Cmp(c.vals[Src(y)][Row(y)])
}

func (c *decimalColumn) prefix(a arrow.Array, out []uint64) bool {
	for i, v := range arrow.GetValues[decimal128.Num](a.Data(), 1) {
		out[i] = uint64(v.HighBits()) ^ 1<<63
	}
	return false
}

type bytesColumn struct {
	offs [][]int32
	data [][]byte
}

func (c *bytesColumn) set(i int, a arrow.Array) {
	for len(c.offs) <= i {
		c.offs = append(c.offs, nil)
		c.data = append(c.data, nil)
	}
	c.offs[i] = arrow.GetOffsets[int32](a.Data(), 1)
	c.data[i] = nil
	if buf := a.Data().Buffers()[2]; buf != nil {
		c.data[i] = buf.Bytes()
	}
}

func (c *bytesColumn) at(r uint64) []byte {
	s, p := Src(r), Row(r)
	o := c.offs[s]
	return c.data[s][o[p]:o[p+1]]
}

func (c *bytesColumn) compare(x, y uint64) int { return bytes.Compare(c.at(x), c.at(y)) }

func (c *bytesColumn) prefix(a arrow.Array, out []uint64) bool {
	offs := arrow.GetOffsets[int32](a.Data(), 1)
	var data []byte
	if buf := a.Data().Buffers()[2]; buf != nil {
		data = buf.Bytes()
	}
	var pad [8]byte
	for i := range out[:a.Len()] {
		s := data[offs[i]:offs[i+1]]
		if len(s) >= 8 {
			out[i] = binary.BigEndian.Uint64(s)
			continue
		}
		pad = [8]byte{}
		copy(pad[:], s)
		out[i] = binary.BigEndian.Uint64(pad[:])
	}
	return false
}

type boolColumn struct {
	bits [][]byte
	off  []int
}

func (c *boolColumn) set(i int, a arrow.Array) {
	for len(c.bits) <= i {
		c.bits = append(c.bits, nil)
		c.off = append(c.off, 0)
	}
	c.bits[i], c.off[i] = a.Data().Buffers()[1].Bytes(), a.Data().Offset()
}

func (c *boolColumn) bit(r uint64) int {
	if bitutil.BitIsSet(c.bits[Src(r)], c.off[Src(r)]+Row(r)) {
		return 1
	}
	return 0
}

func (c *boolColumn) compare(x, y uint64) int { return c.bit(x) - c.bit(y) }

func (c *boolColumn) prefix(a arrow.Array, out []uint64) bool {
	bits, off := a.Data().Buffers()[1].Bytes(), a.Data().Offset()
	for i := range out[:a.Len()] {
		out[i] = 0
		if bitutil.BitIsSet(bits, off+i) {
			out[i] = 1
		}
	}
	return true
}
