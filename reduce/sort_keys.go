package reduce

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/strata-data/strata/change"
)

// A sort compares rows of several batches (its sources: the batches of a run held in
// memory, or the current batches of the runs a merge reads) by reference: the
// source's index in the upper 32 bits, the row in the lower. Each row also gets a
// 64-bit prefix of its first key, order-preserving, so most comparisons are one
// integer compare; only rows whose prefixes tie go through the typed comparators of
// the key columns, one function call per column.

// sortKind is how a key column orders, by physical type.
type sortKind uint8

const (
	sortSigned sortKind = iota
	sortUnsigned
	sortFloat
	sortDecimal
	sortBytes
	sortBool
)

// sortColumn is a typed key column over the sources.
type sortColumn interface {
	// set makes a the column of source i.
	set(i int, a arrow.Array)
	// compare compares the non-NULL values of rows x and y, ascending.
	compare(x, y uint64) int
	// prefix writes the order-preserving prefix of each value of a (NULLs: anything)
	// and reports whether equal prefixes mean equal values.
	prefix(a arrow.Array, out []uint64) (exact bool)
}

func refSrc(r uint64) int { return int(r >> 32) }
func refPos(r uint64) int { return int(uint32(r)) }
func mkRef(src, row int) uint64 {
	return uint64(src)<<32 | uint64(uint32(row))
}

// sortKeyCol is one resolved key of a sort order.
type sortKeyCol struct {
	col        int // column index in the schema
	name       string
	desc       bool
	nullsFirst bool
	kind       sortKind
	typed      sortColumn
	valid      [][]byte // per source: validity bitmap, nil without NULLs
	voff       []int
}

func newSortColumn(t arrow.DataType) (sortColumn, sortKind, error) {
	switch t.ID() {
	case arrow.INT8:
		return &intColumn[int8]{}, sortSigned, nil
	case arrow.INT16:
		return &intColumn[int16]{}, sortSigned, nil
	case arrow.INT32, arrow.DATE32, arrow.TIME32:
		return &intColumn[int32]{}, sortSigned, nil
	case arrow.INT64, arrow.TIME64, arrow.TIMESTAMP:
		return &intColumn[int64]{}, sortSigned, nil
	case arrow.UINT8:
		return &intColumn[uint8]{}, sortUnsigned, nil
	case arrow.UINT16:
		return &intColumn[uint16]{}, sortUnsigned, nil
	case arrow.UINT32:
		return &intColumn[uint32]{}, sortUnsigned, nil
	case arrow.UINT64:
		return &intColumn[uint64]{}, sortUnsigned, nil
	case arrow.FLOAT32:
		return &floatColumn[float32]{}, sortFloat, nil
	case arrow.FLOAT64:
		return &floatColumn[float64]{}, sortFloat, nil
	case arrow.DECIMAL128:
		return &decimalColumn{}, sortDecimal, nil
	case arrow.STRING, arrow.BINARY:
		return &bytesColumn{}, sortBytes, nil
	case arrow.BOOL:
		return &boolColumn{}, sortBool, nil
	}
	return nil, 0, fmt.Errorf("cannot sort by a column of type %s", t)
}

// resolveSortKeys resolves keys against schema s; errors name the column.
func resolveSortKeys(s *change.Schema, keys []SortKey) ([]*sortKeyCol, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no sort keys", ErrSortConfig)
	}
	out := make([]*sortKeyCol, len(keys))
	for i, k := range keys {
		c := s.FieldIndex(k.Column)
		if c < 0 {
			return nil, fmt.Errorf("%w: sort key %q is not a column of %s", ErrSortConfig, k.Column, s)
		}
		typed, kind, err := newSortColumn(s.Field(c).Type)
		if err != nil {
			return nil, fmt.Errorf("%w: sort key %q: %v", ErrSortConfig, k.Column, err)
		}
		out[i] = &sortKeyCol{col: c, name: k.Column, desc: k.Desc, nullsFirst: k.NullsFirst, kind: kind, typed: typed}
	}
	return out, nil
}

// set makes b source i of every key.
func setSource(keys []*sortKeyCol, i int, b *change.Batch) {
	for _, k := range keys {
		a := b.Column(k.col)
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
}

func (k *sortKeyCol) isNull(r uint64) bool {
	v := k.valid[refSrc(r)]
	return v != nil && bitutil.BitIsNotSet(v, k.voff[refSrc(r)]+refPos(r))
}

// compareFunc returns the comparison of rows under k, NULLs and direction included.
func (k *sortKeyCol) compareFunc() func(x, y uint64) int {
	c := k.typed.compare
	nullCmp := 1
	if k.nullsFirst {
		nullCmp = -1
	}
	desc := k.desc
	return func(x, y uint64) int {
		if k.valid[refSrc(x)] != nil || k.valid[refSrc(y)] != nil {
			xn, yn := k.isNull(x), k.isNull(y)
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

// keysComparator compares rows by keys[from:] (0 when they tie on all of them).
func keysComparator(keys []*sortKeyCol, from int) func(x, y uint64) int {
	fs := make([]func(x, y uint64) int, 0, len(keys)-from)
	for _, k := range keys[from:] {
		fs = append(fs, k.compareFunc())
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

// rowComparator compares rows by keys[from:], then by reference, so that a sort by
// it is stable when references follow input order.
func rowComparator(keys []*sortKeyCol, from int) func(x, y uint64) int {
	c := keysComparator(keys, from)
	return func(x, y uint64) int {
		if r := c(x, y); r != 0 {
			return r
		}
		return cmp.Compare(x, y)
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
	return cmp.Compare(c.vals[refSrc(x)][refPos(x)], c.vals[refSrc(y)][refPos(y)])
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
	return compareFloat(float64(c.vals[refSrc(x)][refPos(x)]), float64(c.vals[refSrc(y)][refPos(y)]))
}

func (c *floatColumn[T]) prefix(a arrow.Array, out []uint64) bool {
	for i, v := range arrow.GetValues[T](a.Data(), 1) {
		out[i] = floatPrefix(float64(v))
	}
	return true
}

// compareFloat orders floats as PostgreSQL does: NaN equal to itself and after every
// number, -0 equal to 0.
func compareFloat(x, y float64) int {
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

// floatPrefix maps a float to an unsigned integer of the same order (compareFloat's):
// the canonical bits, negatives inverted, positives with the sign bit set.
func floatPrefix(f float64) uint64 {
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
	return c.vals[refSrc(x)][refPos(x)].Cmp(c.vals[refSrc(y)][refPos(y)])
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
	s, p := refSrc(r), refPos(r)
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
	if bitutil.BitIsSet(c.bits[refSrc(r)], c.off[refSrc(r)]+refPos(r)) {
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
