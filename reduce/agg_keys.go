package reduce

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
)

// The aggregate keeps its groups in the join's flat key table (keyTable, batchKeys):
// group keys and the values of a group's multiset are normalized and hashed by the
// table's code. Grouping differs from joining in one point: NULL is a group key like
// any value (GROUP BY puts NULLs together). So a group key gets one more word, a mask
// of its NULL columns, and the NULL slots themselves are zeroed (their Arrow content is
// undefined), leaving no row marked NULL for the table to skip.

// groupKeys loads the group-by columns of batches into a batchKeys.
type groupKeys struct {
	k        *batchKeys
	cols     []int
	mask     int // the word of the NULL mask, -1 without nullable columns
	clean    [][]byte
	cleanOff [][]int32
	acct     account
}

// groupLayout returns the key layout of group-by columns of the given types, with a
// NULL-mask word when any is nullable (at most 64 columns then).
func groupLayout(fields []arrow.Field) (*keyLayout, int, error) {
	kinds := make([]keyKind, 0, len(fields)+1)
	nullable := false
	for _, f := range fields {
		_, kind := keyClass(f.Type)
		kinds = append(kinds, kind)
		nullable = nullable || f.Nullable
	}
	mask := -1
	if nullable {
		if len(fields) > 64 {
			return nil, 0, fmt.Errorf("%w: %d nullable group-by columns, at most 64", ErrAggregateConfig, len(fields))
		}
		kinds = append(kinds, kindWord)
	}
	l := newKeyLayout(kinds)
	if nullable {
		mask = l.parts[len(fields)].word
	}
	return l, mask, nil
}

func newGroupKeys(l *keyLayout, mask int, cols []int, budget *change.Budget) *groupKeys {
	return &groupKeys{k: newBatchKeys(l, budget), cols: cols, mask: mask,
		clean: make([][]byte, l.strs), cleanOff: make([][]int32, l.strs), acct: account{budget: budget}}
}

// load normalizes and hashes the group keys of b.
func (g *groupKeys) load(b *change.Batch) {
	k := g.k
	n := b.Len()
	k.n, k.null = n, nil
	if n == 0 {
		return
	}
	var mask []int64
	if g.mask >= 0 {
		mask = k.buf(g.mask, n)
		clear(mask)
		k.words[g.mask] = mask
	}
	for i, c := range g.cols {
		a := b.Column(c)
		p := k.layout.parts[i]
		k.loadColumn(a, p, n)
		if a.NullN() == 0 {
			continue
		}
		if mask == nil {
			panic(fmt.Sprintf("reduce: group-by column %d is not nullable but holds NULLs", c)) // change.Builder refuses them
		}
		bm, off := a.NullBitmapBytes(), a.Data().Offset()
		bit := int64(1) << i
		switch p.kind {
		case kindBytes:
			g.cleanBytes(p.str, bm, off, n)
		default:
			words := 1
			if p.kind == kindDecimal {
				words = 2
			}
			for w := p.word; w < p.word+words; w++ {
				if buf := k.buf(w, n); &buf[0] != &k.words[w][0] {
					copy(buf, k.words[w]) // a view of the batch: copy before zeroing
					k.words[w] = buf
				}
			}
			for r := range n {
				if bitutil.BitIsNotSet(bm, off+r) {
					for w := p.word; w < p.word+words; w++ {
						k.words[w][r] = 0
					}
				}
			}
		}
		for r := range n {
			if bitutil.BitIsNotSet(bm, off+r) {
				mask[r] |= bit
			}
		}
	}
	k.hashKeys(b, g.cols) // NULLs hash alike whatever their slots hold
	var cleanBytes int64
	for s := range g.clean {
		cleanBytes += int64(cap(g.clean[s])) + 4*int64(cap(g.cleanOff[s]))
	}
	k.acct.set(int64(cap(k.nulls)) + 8*int64(cap(k.hash)) + k.bufBytes())
	g.acct.set(cleanBytes)
}

// cleanBytes copies string column s with its NULL slots made empty.
func (g *groupKeys) cleanBytes(s int, bm []byte, off, n int) {
	src := g.k.strs[s]
	offs := g.cleanOff[s][:0]
	data := g.clean[s][:0]
	offs = append(offs, 0)
	for r := range n {
		if bitutil.BitIsSet(bm, off+r) {
			data = append(data, src.at(r)...)
		}
		offs = append(offs, int32(len(data)))
	}
	g.clean[s], g.cleanOff[s] = data, offs
	g.k.strs[s] = byteCol{offs: offs, data: data}
}

func (g *groupKeys) release() {
	g.k.release()
	g.clean, g.cleanOff = make([][]byte, len(g.clean)), make([][]int32, len(g.cleanOff))
	g.acct.set(0)
}

// isNull reports whether group-by column i of group grp is NULL.
func (g *groupKeys) isNull(t *keyTable, i, grp int) bool {
	return g.mask >= 0 && t.words[g.mask][grp]&(1<<i) != 0
}

// loadValues normalizes and hashes, for a multiset, the pairs (group, value of column
// col of b): its layout is a group word and the value's part. The hash is the value's
// (as the key table hashes it: batchKeys.hashKeys) remixed with the group. Rows whose value
// is NULL are marked.
func loadValues(k *batchKeys, groups []int32, b *change.Batch, col int) {
	a := b.Column(col)
	n := a.Len()
	k.n = n
	k.null = nil
	gw := k.buf(0, n)
	for r, g := range groups[:n] {
		gw[r] = int64(g)
	}
	k.words[0] = gw
	k.loadColumn(a, k.layout.parts[1], n)
	if a.NullN() > 0 {
		k.markNulls(a, n)
	}
	k.hashKeys(b, []int{col})
	for r, g := range groups[:n] {
		k.hash[r] = avalanche(k.hash[r] ^ (uint64(g)+1)*0x9e3779b97f4a7c15)
	}
	k.acct.set(int64(cap(k.nulls)) + 8*int64(cap(k.hash)) + k.bufBytes())
}

// normValue is a normalized value: one or two words (a decimal's low and high), or
// bytes.
type normValue struct {
	w0, w1 int64
	s      []byte
}

// buildColumn builds an array of type dt (a key or value type) of n values from their
// normalized form: null(i) says whether value i is NULL, val(i) gives it otherwise.
func buildColumn(mem memory.Allocator, dt arrow.DataType, n int, null func(i int) bool, val func(i int) normValue) arrow.Array {
	b := array.NewBuilder(mem, dt)
	defer b.Release()
	b.Reserve(n)
	appendAll := func(put func(v normValue)) {
		for i := range n {
			if null(i) {
				b.AppendNull()
				continue
			}
			put(val(i))
		}
	}
	switch b := b.(type) {
	case *array.Int8Builder:
		appendAll(func(v normValue) { b.UnsafeAppend(int8(v.w0)) })
	case *array.Int16Builder:
		appendAll(func(v normValue) { b.UnsafeAppend(int16(v.w0)) })
	case *array.Int32Builder:
		appendAll(func(v normValue) { b.UnsafeAppend(int32(v.w0)) })
	case *array.Int64Builder:
		appendAll(func(v normValue) { b.UnsafeAppend(v.w0) })
	case *array.Uint8Builder:
		appendAll(func(v normValue) { b.UnsafeAppend(uint8(v.w0)) })
	case *array.Uint16Builder:
		appendAll(func(v normValue) { b.UnsafeAppend(uint16(v.w0)) })
	case *array.Uint32Builder:
		appendAll(func(v normValue) { b.UnsafeAppend(uint32(v.w0)) })
	case *array.Uint64Builder:
		appendAll(func(v normValue) { b.UnsafeAppend(uint64(v.w0)) })
	case *array.Date32Builder:
		appendAll(func(v normValue) { b.UnsafeAppend(arrow.Date32(v.w0)) })
	case *array.Time32Builder:
		appendAll(func(v normValue) { b.UnsafeAppend(arrow.Time32(v.w0)) })
	case *array.Time64Builder:
		appendAll(func(v normValue) { b.UnsafeAppend(arrow.Time64(v.w0)) })
	case *array.TimestampBuilder:
		appendAll(func(v normValue) { b.UnsafeAppend(arrow.Timestamp(v.w0)) })
	case *array.BooleanBuilder:
		appendAll(func(v normValue) { b.UnsafeAppend(v.w0 != 0) })
	case *array.Float32Builder:
		appendAll(func(v normValue) { b.UnsafeAppend(float32(math.Float64frombits(uint64(v.w0)))) })
	case *array.Float64Builder:
		appendAll(func(v normValue) { b.UnsafeAppend(math.Float64frombits(uint64(v.w0))) })
	case *array.Decimal128Builder:
		appendAll(func(v normValue) { b.UnsafeAppend(decimal128.New(v.w1, uint64(v.w0))) })
	case *array.StringBuilder:
		appendAll(func(v normValue) { b.BinaryBuilder.Append(v.s) })
	case *array.BinaryBuilder:
		appendAll(func(v normValue) { b.Append(v.s) })
	default:
		panic(fmt.Sprintf("reduce: no builder for %s", dt)) // change.Supported guards schemas
	}
	return b.NewArray()
}

// tableValue returns group (or entry) g's normalized value of key part p of table t.
func tableValue(t *keyTable, p keyPart, g int) normValue {
	switch p.kind {
	case kindBytes:
		return normValue{s: t.str(p.str, g)}
	case kindDecimal:
		return normValue{w0: t.words[p.word][g], w1: t.words[p.word+1][g]}
	}
	return normValue{w0: t.words[p.word][g]}
}
