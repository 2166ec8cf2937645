package shuffle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/zeebo/xxh3"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/order"
)

// NullSeed is xor-ed into the running seed to hash a NULL (see HashKeys).
const NullSeed uint64 = 0x9e3779b97f4a7c15

// HashKeys writes into out[:b.Len()] the hash of each row's key columns cols. The hash
// is part of strata's contract, the same in every process, machine and version, so
// map tasks anywhere agree on where a key goes; tests pin known values.
//
// It is XXH3-64 (github.com/zeebo/xxh3, the reference algorithm) chained across the
// key columns: h0 = 0, and for key column c, hc = XXH3_64(enc(v), seed = h(c-1)), or
// for a NULL hc = XXH3_64("", seed = h(c-1) ^ NullSeed). The hash is hk. enc(v), the
// canonical encoding of a non-NULL value:
//   - integers of every width, signed or not, dates (days), times and timestamps (in
//     their unit): the value as an int64, 8 bytes little-endian; so int32 5 and
//     int64 5 hash alike, and a uint64 above 2^63 like the int64 of the same bits;
//   - float32 and float64: the float64 value, 8 bytes little-endian of its bits, with
//     -0 as 0 and every NaN as 0x7ff8000000000000;
//   - decimal128: the value with trailing zero digits removed from the unscaled
//     integer (scale lowered by as many, and 0 at scale 0), then 16 bytes of the
//     unscaled integer (low 64 bits, then high, little-endian) and 4 bytes of the
//     scale (int32, little-endian); so 1.50 at scale 2 and 1.5 at scale 1 hash alike;
//   - bool: one byte, 0 or 1;
//   - string and binary: their bytes (so "ab" and binary "ab" hash alike).
//
// Values equal within those families hash alike; across them (an int and a float, a
// timestamp in ms and one in µs) they do not: cast keys to one type before shuffling.
// It runs column by column over typed arrays; out is overwritten.
func HashKeys(b *change.Batch, cols []int, out []uint64) {
	n := b.Len()
	out = out[:n]
	clear(out)
	for _, c := range cols {
		hashColumn(b.Column(c), out)
	}
}

// PartitionOf maps a hash to one of n partitions: (hash>>32 × n) >> 32, the high 32
// bits scaled to [0, n) without a division. Using the high bits leaves the low ones
// independent for the hash tables reducers build from the same hash.
func PartitionOf(hash uint64, n int) int {
	return int((hash >> 32) * uint64(n) >> 32)
}

// hashColumn folds column a into the running hashes h.
func hashColumn(a arrow.Array, h []uint64) {
	nulls := a.NullN() > 0
	var buf [20]byte
	hashInt := func(i int, v int64) {
		binary.LittleEndian.PutUint64(buf[:8], uint64(v))
		h[i] = xxh3.HashSeed(buf[:8], h[i])
	}
	switch a := a.(type) {
	case *array.Int64:
		vs := a.Int64Values()
		for i := range h {
			if nulls && a.IsNull(i) {
				h[i] = hashNull(h[i])
				continue
			}
			hashInt(i, vs[i])
		}
	case *array.Int32:
		hashInts(a, a.Int32Values(), nulls, h, hashInt)
	case *array.Int16:
		hashInts(a, a.Int16Values(), nulls, h, hashInt)
	case *array.Int8:
		hashInts(a, a.Int8Values(), nulls, h, hashInt)
	case *array.Uint64:
		hashInts(a, a.Uint64Values(), nulls, h, hashInt)
	case *array.Uint32:
		hashInts(a, a.Uint32Values(), nulls, h, hashInt)
	case *array.Uint16:
		hashInts(a, a.Uint16Values(), nulls, h, hashInt)
	case *array.Uint8:
		hashInts(a, a.Uint8Values(), nulls, h, hashInt)
	case *array.Date32:
		hashInts(a, a.Date32Values(), nulls, h, hashInt)
	case *array.Time32:
		hashInts(a, a.Time32Values(), nulls, h, hashInt)
	case *array.Time64:
		hashInts(a, a.Time64Values(), nulls, h, hashInt)
	case *array.Timestamp:
		hashInts(a, a.TimestampValues(), nulls, h, hashInt)
	case *array.Float64:
		for i, v := range a.Float64Values() {
			if nulls && a.IsNull(i) {
				h[i] = hashNull(h[i])
				continue
			}
			binary.LittleEndian.PutUint64(buf[:8], canonicalFloat(v))
			h[i] = xxh3.HashSeed(buf[:8], h[i])
		}
	case *array.Float32:
		for i, v := range a.Float32Values() {
			if nulls && a.IsNull(i) {
				h[i] = hashNull(h[i])
				continue
			}
			binary.LittleEndian.PutUint64(buf[:8], canonicalFloat(float64(v)))
			h[i] = xxh3.HashSeed(buf[:8], h[i])
		}
	case *array.Decimal128:
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		for i, v := range a.Values() {
			if nulls && a.IsNull(i) {
				h[i] = hashNull(h[i])
				continue
			}
			lo, hi, s := normalizeDecimal(v.LowBits(), v.HighBits(), scale)
			binary.LittleEndian.PutUint64(buf[0:8], lo)
			binary.LittleEndian.PutUint64(buf[8:16], uint64(hi))
			binary.LittleEndian.PutUint32(buf[16:20], uint32(s))
			h[i] = xxh3.HashSeed(buf[:20], h[i])
		}
	case *array.Boolean:
		for i := range h {
			if nulls && a.IsNull(i) {
				h[i] = hashNull(h[i])
				continue
			}
			buf[0] = 0
			if a.Value(i) {
				buf[0] = 1
			}
			h[i] = xxh3.HashSeed(buf[:1], h[i])
		}
	case *array.String:
		for i := range h {
			if nulls && a.IsNull(i) {
				h[i] = hashNull(h[i])
				continue
			}
			h[i] = xxh3.HashStringSeed(a.Value(i), h[i])
		}
	case *array.Binary:
		for i := range h {
			if nulls && a.IsNull(i) {
				h[i] = hashNull(h[i])
				continue
			}
			h[i] = xxh3.HashSeed(a.Value(i), h[i])
		}
	default:
		panic(fmt.Sprintf("shuffle: cannot hash a column of type %s", a.DataType())) // change.Supported guards schemas
	}
}

func hashNull(seed uint64) uint64 { return xxh3.HashSeed(nil, seed^NullSeed) }

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

func hashInts[T integer](a arrow.Array, vs []T, nulls bool, h []uint64, hashInt func(int, int64)) {
	for i, v := range vs[:len(h)] {
		if nulls && a.IsNull(i) {
			h[i] = hashNull(h[i])
			continue
		}
		hashInt(i, int64(v))
	}
}

// canonicalFloat returns the bits of f with -0 as 0 and one NaN.
func canonicalFloat(f float64) uint64 {
	switch {
	case f == 0:
		return 0
	case f != f:
		return 0x7ff8000000000000
	}
	return math.Float64bits(f)
}

// normalizeDecimal removes trailing zero digits of the unscaled value (hi:lo, two's
// complement), lowering the scale by as many; zero becomes 0 at scale 0.
func normalizeDecimal(lo uint64, hi int64, scale int32) (uint64, int64, int32) {
	if lo == 0 && hi == 0 {
		return 0, 0, 0
	}
	neg := hi < 0
	mhi, mlo := uint64(hi), lo
	if neg { // magnitude of a two's complement 128-bit integer
		mlo = ^lo + 1
		mhi = ^uint64(hi)
		if mlo == 0 {
			mhi++
		}
	}
	for {
		qhi, r := bits.Div64(0, mhi, 10)
		qlo, r := bits.Div64(r, mlo, 10)
		if r != 0 {
			break
		}
		mhi, mlo = qhi, qlo
		scale--
	}
	if neg {
		mlo = ^mlo + 1
		mhi = ^mhi
		if mlo == 0 {
			mhi++
		}
	}
	return mlo, int64(mhi), scale
}

// HashPartitioner assigns rows to partitions by HashKeys of key columns, resolved by
// name in each batch's schema, and PartitionOf. It is safe for concurrent use.
type HashPartitioner struct {
	n    int
	keys []string
	last atomic.Pointer[resolved]
	pool sync.Pool // *[]uint64
}

type resolved struct {
	schema *change.Schema
	cols   []int
	err    error
}

// NewHashPartitioner returns a partitioner over n partitions (n ≥ 1) by the named key
// columns; with none, by each schema's primary key.
func NewHashPartitioner(n int, keyColumns ...string) *HashPartitioner {
	if n < 1 {
		panic(fmt.Sprintf("shuffle: NewHashPartitioner: %d partitions", n))
	}
	return &HashPartitioner{n: n, keys: slices.Clone(keyColumns)}
}

// NumPartitions implements Partitioner.
func (p *HashPartitioner) NumPartitions() int { return p.n }

// KeyColumns returns the indices of the key columns in schema s.
func (p *HashPartitioner) KeyColumns(s *change.Schema) ([]int, error) {
	if r := p.last.Load(); r != nil && r.schema == s {
		return r.cols, r.err
	}
	r := &resolved{schema: s}
	switch {
	case len(p.keys) > 0:
		for _, k := range p.keys {
			i := s.FieldIndex(k)
			if i < 0 {
				r.err = fmt.Errorf("shuffle: hash partitioner: key column %q is not in schema (%s)", k, s)
				break
			}
			r.cols = append(r.cols, i)
		}
	case len(s.Key()) > 0:
		r.cols = s.Key()
	default:
		r.err = fmt.Errorf("shuffle: hash partitioner: no key columns given and schema (%s) has no primary key", s)
	}
	p.last.Store(r)
	return r.cols, r.err
}

// Partition implements Partitioner.
func (p *HashPartitioner) Partition(b *change.Batch, out []int) error {
	cols, err := p.KeyColumns(b.Schema())
	if err != nil {
		return err
	}
	n := b.Len()
	if len(out) < n {
		return fmt.Errorf("shuffle: Partition: out has %d entries for %d rows", len(out), n)
	}
	hp, _ := p.pool.Get().(*[]uint64)
	if hp == nil {
		hp = new([]uint64)
	}
	if cap(*hp) < n {
		*hp = make([]uint64, n)
	}
	h := (*hp)[:n]
	HashKeys(b, cols, h)
	for i, x := range h {
		out[i] = PartitionOf(x, p.n)
	}
	p.pool.Put(hp)
	return nil
}

// SortKey is one key of a sort order. The zero value of the flags is ascending with
// NULLs last; SQL's default for DESC is NULLS FIRST, so set both.
type SortKey struct {
	Column     string
	Desc       bool
	NullsFirst bool
}

// String renders the key as SQL: "amount DESC NULLS FIRST".
func (k SortKey) String() string {
	var b strings.Builder
	b.WriteString(k.Column)
	if k.Desc {
		b.WriteString(" DESC")
	}
	if k.NullsFirst {
		b.WriteString(" NULLS FIRST")
	} else {
		b.WriteString(" NULLS LAST")
	}
	return b.String()
}

// RangePartitioner assigns rows to partitions by ranges of sort keys, so that the
// partitions, each sorted and concatenated in partition order, are sorted: partition
// p holds the rows with bound(p-1) < key ≤ bound(p). The n-1 bounds are quantiles of
// a sample; rows with equal keys always share a partition, so a skewed key leaves
// some partitions empty rather than splitting. Floats order NaN after every number
// and -0 equal to 0; strings and binaries order by bytes. It is safe for concurrent
// use.
type RangePartitioner struct {
	n      int
	keys   []SortKey
	types  []arrow.DataType
	bounds []arrow.Array // one array per key: the bound rows
}

// NewRangePartitioner returns a partitioner over n partitions whose bounds are
// quantiles of every row of sample (the caller samples; the batches stay the
// caller's). With an empty sample every row goes to partition 0.
func NewRangePartitioner(n int, keys []SortKey, sample []*change.Batch) (*RangePartitioner, error) {
	if n < 1 {
		return nil, fmt.Errorf("shuffle: NewRangePartitioner: %d partitions", n)
	}
	if len(keys) == 0 {
		return nil, errors.New("shuffle: NewRangePartitioner: no sort keys")
	}
	p := &RangePartitioner{n: n, keys: slices.Clone(keys)}
	if len(sample) == 0 {
		return p, nil
	}
	// Concatenate each key column of the sample.
	cols := make([]arrow.Array, len(keys))
	for k, key := range keys {
		parts := make([]arrow.Array, 0, len(sample))
		for _, b := range sample {
			i := b.Schema().FieldIndex(key.Column)
			if i < 0 {
				return nil, fmt.Errorf("shuffle: range partitioner: sort column %q is not in sample schema (%s)", key.Column, b.Schema())
			}
			if len(parts) > 0 && !arrow.TypeEqual(parts[0].DataType(), b.Column(i).DataType()) {
				return nil, fmt.Errorf("shuffle: range partitioner: sort column %q is %s in one sample batch and %s in another",
					key.Column, parts[0].DataType(), b.Column(i).DataType())
			}
			parts = append(parts, b.Column(i))
		}
		all, err := array.Concatenate(parts, memory.DefaultAllocator)
		if err != nil {
			return nil, fmt.Errorf("shuffle: range partitioner: sample column %q: %w", key.Column, err)
		}
		cols[k] = all
		p.types = append(p.types, all.DataType())
	}
	m := cols[0].Len()
	if m == 0 {
		for _, c := range cols {
			c.Release()
		}
		return p, nil
	}
	ocols, err := orderColumns(keys, p.types)
	if err != nil {
		for _, c := range cols {
			c.Release()
		}
		return nil, err
	}
	for k := range keys {
		ocols[k].Set(0, cols[k])
	}
	cmp := order.Comparator(ocols)
	rowCmp := func(i, j int) int { return cmp(order.Ref(0, i), order.Ref(0, j)) }
	rows := make([]int, m)
	for i := range rows {
		rows[i] = i
	}
	slices.SortFunc(rows, rowCmp)
	var picks []int
	for q := 1; q < n && m > 0; q++ {
		i := rows[q*m/n]
		if len(picks) > 0 && rowCmp(picks[len(picks)-1], i) == 0 {
			continue
		}
		picks = append(picks, i)
	}
	idx := make([]int32, len(picks))
	for i, x := range picks {
		idx[i] = int32(x)
	}
	for k := range keys {
		p.bounds = append(p.bounds, Take(memory.DefaultAllocator, cols[k], idx))
		cols[k].Release()
	}
	return p, nil
}

// NumPartitions implements Partitioner.
func (p *RangePartitioner) NumPartitions() int { return p.n }

// Keys returns the sort keys.
func (p *RangePartitioner) Keys() []SortKey { return p.keys }

// Partition implements Partitioner.
func (p *RangePartitioner) Partition(b *change.Batch, out []int) error {
	n := b.Len()
	if len(out) < n {
		return fmt.Errorf("shuffle: Partition: out has %d entries for %d rows", len(out), n)
	}
	if len(p.bounds) == 0 || p.bounds[0].Len() == 0 {
		clear(out[:n])
		return nil
	}
	ocols, err := orderColumns(p.keys, p.types)
	if err != nil {
		return err
	}
	for k, key := range p.keys {
		i := b.Schema().FieldIndex(key.Column)
		if i < 0 {
			return fmt.Errorf("shuffle: range partitioner: sort column %q is not in schema (%s)", key.Column, b.Schema())
		}
		if t := b.Column(i).DataType(); !arrow.TypeEqual(t, p.types[k]) {
			return fmt.Errorf("shuffle: range partitioner: sort column %q is %s, the sample's was %s", key.Column, t, p.types[k])
		}
		ocols[k].Set(0, b.Column(i))
		ocols[k].Set(1, p.bounds[k])
	}
	cmp := order.Comparator(ocols)
	nb := p.bounds[0].Len()
	for row := range n {
		lo, hi := 0, nb
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if cmp(order.Ref(0, row), order.Ref(1, mid)) > 0 {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		out[row] = lo
	}
	return nil
}

// orderColumns returns the comparators of keys, of column types types.
func orderColumns(keys []SortKey, types []arrow.DataType) ([]*order.Column, error) {
	out := make([]*order.Column, len(keys))
	for k, key := range keys {
		c, err := order.New(types[k], key.Desc, key.NullsFirst)
		if err != nil {
			return nil, fmt.Errorf("shuffle: range partitioner: sort column %q: %w", key.Column, err)
		}
		out[k] = c
	}
	return out, nil
}
