package silver

import (
	"encoding/binary"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/change"
)

// keyCodec encodes the key of rows of one schema.
type keyCodec struct {
	cols     []int
	unsigned []bool
}

func newKeyCodec(s *change.Schema) keyCodec {
	k := keyCodec{cols: slices.Clone(s.Key())}
	k.unsigned = make([]bool, len(k.cols))
	for i, c := range k.cols {
		k.unsigned[i] = s.Field(c).Type.ID() == arrow.UINT64
	}
	return k
}

// row appends the encoded key of a full row.
func (k keyCodec) row(b []byte, row change.Row) []byte {
	for i, c := range k.cols {
		b = change.AppendKey(b, row[c], k.unsigned[i])
	}
	return b
}

// arrays appends the encoded key of row i of a record whose key columns are cols.
func (k keyCodec) arrays(b []byte, cols []arrow.Array, i int) []byte {
	for j, a := range cols {
		b = change.AppendKey(b, change.ValueAt(a, i), k.unsigned[j])
	}
	return b
}

// AppendKey appends an order-preserving encoding of the primary key of row, a full row
// of s: byte strings of encoded keys compare as the keys do (NULL first, integers by
// value, text and bytes bytewise), so sorting rows by it sorts them by primary key.
func AppendKey(dst []byte, s *change.Schema, row change.Row) []byte {
	return newKeyCodec(s).row(dst, row)
}

// locIndex maps encoded keys to stored rows. A key of one integer column (9 bytes:
// the kind, then 8) lives in a map by uint64, which hashes and compares one word
// rather than a string; any other key lives in a map by string.
type locIndex struct {
	ints map[uint64]loc
	strs map[string]loc
}

func newLocIndex() *locIndex { return &locIndex{ints: map[uint64]loc{}, strs: map[string]loc{}} }

func intKey(key string) (uint64, bool) {
	if len(key) == 9 && key[0] == byte(change.KindInt) {
		return binary.BigEndian.Uint64([]byte(key[1:])), true
	}
	return 0, false
}

func (x *locIndex) get(key string) (loc, bool) {
	if k, ok := intKey(key); ok {
		l, ok := x.ints[k]
		return l, ok
	}
	l, ok := x.strs[key]
	return l, ok
}

func (x *locIndex) set(key string, l loc) {
	if k, ok := intKey(key); ok {
		x.ints[k] = l
		return
	}
	x.strs[key] = l
}

func (x *locIndex) del(key string) {
	if k, ok := intKey(key); ok {
		delete(x.ints, k)
		return
	}
	delete(x.strs, key)
}

// remap moves every entry to f(its location).
func (x *locIndex) remap(f func(loc) loc) {
	for k, l := range x.ints {
		x.ints[k] = f(l)
	}
	for k, l := range x.strs {
		x.strs[k] = f(l)
	}
}
