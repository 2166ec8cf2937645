package shuffle_test

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zeebo/xxh3"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// hash1 hashes one value in a one-column batch of type t.
func hash1(t *testing.T, typ arrow.DataType, v any) uint64 {
	t.Helper()
	s := change.MustSchema([]arrow.Field{change.Col("k", typ)})
	b, err := change.FromRows(nil, s, [][]any{{change.Insert, v}})
	require.NoError(t, err)
	defer b.Release()
	out := make([]uint64, 1)
	shuffle.HashKeys(b, []int{0}, out)
	return out[0]
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// The hash is a contract across processes and versions: these values must never
// change. A failure here means partitions written by another version (or process)
// would no longer line up.
func TestHashKeysKnownValues(t *testing.T) {
	dec := func(p, s int32) arrow.DataType { return &arrow.Decimal128Type{Precision: p, Scale: s} }
	// XXH3-64 of the empty input, from the reference implementation's test vectors.
	assert.Equal(t, uint64(0x2d06800538d394c2), hash1(t, arrow.BinaryTypes.Binary, []byte{}))
	assert.Equal(t, uint64(0x2d06800538d394c2), xxh3.Hash(nil))

	const five = uint64(0x8e03e9aa39aaa78c)
	for _, typ := range []arrow.DataType{arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32,
		arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32,
		arrow.PrimitiveTypes.Uint64, arrow.FixedWidthTypes.Date32, arrow.FixedWidthTypes.Time32ms,
		arrow.FixedWidthTypes.Time64us, arrow.FixedWidthTypes.Timestamp_us} {
		assert.Equal(t, five, hash1(t, typ, 5), "%s 5", typ)
	}
	assert.Equal(t, xxh3.Hash(le64(5)), five, "the int64 encoding")
	assert.Equal(t, hash1(t, arrow.PrimitiveTypes.Int64, int64(math.MinInt64)), hash1(t, arrow.PrimitiveTypes.Uint64, uint64(1)<<63))
	assert.Equal(t, uint64(0x5111c7e47d784413), hash1(t, arrow.PrimitiveTypes.Int64, -1))

	const null = uint64(0x602b0e2cd6662c8b)
	for _, typ := range []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.BinaryTypes.String, arrow.FixedWidthTypes.Boolean,
		arrow.PrimitiveTypes.Float64, dec(10, 2)} {
		assert.Equal(t, null, hash1(t, typ, nil), "NULL %s", typ)
	}
	assert.Equal(t, xxh3.HashSeed(nil, shuffle.NullSeed), null)

	const strata = uint64(0x4b61a1897bfc215f)
	assert.Equal(t, strata, hash1(t, arrow.BinaryTypes.String, "strata"))
	assert.Equal(t, strata, hash1(t, arrow.BinaryTypes.Binary, []byte("strata")))
	assert.Equal(t, xxh3.HashString("strata"), strata)

	assert.Equal(t, uint64(0xe12ef9d2eb86ceeb), hash1(t, arrow.FixedWidthTypes.Boolean, true))
	assert.Equal(t, uint64(0xc44bdff4074eecdb), hash1(t, arrow.FixedWidthTypes.Boolean, false))

	const onePointFive = uint64(0x2561a4889ff63458)
	assert.Equal(t, onePointFive, hash1(t, arrow.PrimitiveTypes.Float64, 1.5))
	assert.Equal(t, onePointFive, hash1(t, arrow.PrimitiveTypes.Float32, float32(1.5)))
	assert.Equal(t, xxh3.Hash(le64(math.Float64bits(1.5))), onePointFive)
	zero := hash1(t, arrow.PrimitiveTypes.Float64, 0.0)
	assert.Equal(t, xxh3.Hash(le64(0)), zero)
	assert.Equal(t, zero, hash1(t, arrow.PrimitiveTypes.Float64, math.Copysign(0, -1)), "-0 is 0")
	nan := hash1(t, arrow.PrimitiveTypes.Float64, math.NaN())
	assert.Equal(t, xxh3.Hash(le64(0x7ff8000000000000)), nan)
	assert.Equal(t, nan, hash1(t, arrow.PrimitiveTypes.Float64, math.Float64frombits(0xfff0000000000123)), "one NaN")
	assert.Equal(t, nan, hash1(t, arrow.PrimitiveTypes.Float32, float32(math.NaN())))

	// Decimals by value: 1.50 (scale 2) = 1.5 (scale 1) = unscaled 15 at scale 1.
	decHash := func(lo uint64, hi int64, scale int32) uint64 {
		b := binary.LittleEndian.AppendUint64(nil, lo)
		b = binary.LittleEndian.AppendUint64(b, uint64(hi))
		return xxh3.Hash(binary.LittleEndian.AppendUint32(b, uint32(scale)))
	}
	const decOnePointFive = uint64(0xf3012eb3166269a0)
	assert.Equal(t, decOnePointFive, hash1(t, dec(10, 2), "1.50"))
	assert.Equal(t, decOnePointFive, hash1(t, dec(10, 1), "1.5"))
	assert.Equal(t, decOnePointFive, hash1(t, dec(38, 9), "1.500000000"))
	assert.Equal(t, decHash(15, 0, 1), decOnePointFive)
	assert.Equal(t, decHash(^uint64(14), -1, 1), hash1(t, dec(10, 3), "-1.500"))
	assert.Equal(t, decHash(12, 0, -2), hash1(t, dec(10, 0), "1200"), "trailing zeros of an integer")
	assert.Equal(t, decHash(0, 0, 0), hash1(t, dec(10, 4), "0.0000"))
	big, err := change.ParseDecimal("12345678901234567890123456789.000000000", 9)
	require.NoError(t, err)
	want, _ := change.ParseDecimal("12345678901234567890123456789", 0)
	assert.Equal(t, decHash(want.LowBits(), want.HighBits(), 0), hash1(t, dec(38, 9), big), "128-bit values normalize too")
	assert.Equal(t, decHash(want.Negate().LowBits(), want.Negate().HighBits(), 0), hash1(t, dec(38, 9), big.Negate()))

	// Two columns chain: the second is hashed with the first's hash as seed.
	s := change.MustSchema([]arrow.Field{change.Col("a", arrow.PrimitiveTypes.Int64), change.Col("b", arrow.BinaryTypes.String)})
	b, err := change.FromRows(nil, s, [][]any{{change.Insert, 5, "a"}, {change.Insert, nil, "a"}})
	require.NoError(t, err)
	defer b.Release()
	out := make([]uint64, 2)
	shuffle.HashKeys(b, []int{0, 1}, out)
	assert.Equal(t, uint64(0x2bc630aa9b5fa930), out[0])
	assert.Equal(t, xxh3.HashStringSeed("a", five), out[0])
	assert.Equal(t, xxh3.HashStringSeed("a", null), out[1])
	shuffle.HashKeys(b, nil, out)
	assert.Equal(t, []uint64{0, 0}, out, "no key columns: 0")

	assert.Equal(t, 0, shuffle.PartitionOf(0, 7))
	assert.Equal(t, 6, shuffle.PartitionOf(math.MaxUint64, 7))
	assert.Equal(t, 3, shuffle.PartitionOf(0x8000000000000000, 7), "(2^31 × 7) >> 32")
	assert.Equal(t, 3, shuffle.PartitionOf(0x80000000ffffffff, 7), "low bits do not count")
}

func TestHashKeysColumnBoundariesAndNulls(t *testing.T) {
	s := change.MustSchema([]arrow.Field{change.Col("a", arrow.BinaryTypes.String), change.Col("b", arrow.BinaryTypes.String)})
	b, err := change.FromRows(nil, s, [][]any{
		{change.Insert, "ab", "c"}, {change.Insert, "a", "bc"},
		{change.Insert, nil, ""}, {change.Insert, "", nil}, {change.Insert, "", ""}, {change.Insert, nil, nil},
		{change.Insert, "ab", "c"},
	})
	require.NoError(t, err)
	defer b.Release()
	h := make([]uint64, b.Len())
	shuffle.HashKeys(b, []int{0, 1}, h)
	assert.Equal(t, h[0], h[6], "equal keys")
	seen := map[uint64]int{}
	for i, x := range h[:6] {
		_, dup := seen[x]
		assert.False(t, dup, "row %d collides with row %d", i, seen[x])
		seen[x] = i
	}
}

// A slice hashes like the same rows of the whole batch, for every type.
func TestHashKeysOnSlices(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	s := allTypes()
	b := randomBatch(t, rng, nil, s, 0, 1000, 20)
	defer b.Release()
	part := slice(t, b, 333, 777)
	defer part.Release()
	for c := range s.NumFields() {
		whole := make([]uint64, b.Len())
		shuffle.HashKeys(b, []int{c, 0}, whole)
		sub := make([]uint64, part.Len())
		shuffle.HashKeys(part, []int{c, 0}, sub)
		assert.Equal(t, whole[333:777], sub, s.Field(c).Name)
	}
}

func TestHashPartitioner(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	s := allTypes()
	b := randomBatch(t, rng, nil, s, 0, 40000, 20)
	defer b.Release()

	p := shuffle.NewHashPartitioner(8) // the primary key: id
	assert.Equal(t, 8, p.NumPartitions())
	out := make([]int, b.Len())
	require.NoError(t, p.Partition(b, out))
	h := make([]uint64, b.Len())
	shuffle.HashKeys(b, s.Key(), h)
	counts := make([]int, 8)
	for i, x := range h {
		require.Equal(t, shuffle.PartitionOf(x, 8), out[i])
		counts[out[i]]++
	}
	for _, c := range counts {
		assert.InDelta(t, 5000, c, 400, "balanced: %v", counts)
	}

	// Rows with equal keys go to one partition, whatever the other columns.
	p2 := shuffle.NewHashPartitioner(5, "b", "i8")
	require.NoError(t, p2.Partition(b, out))
	where := map[string]int{}
	for i := range b.Len() {
		k := fmt.Sprint(b.Value(i, 1), b.Value(i, 2))
		if q, ok := where[k]; ok {
			require.Equal(t, q, out[i], "key %s", k)
		}
		where[k] = out[i]
	}
	assert.Len(t, where, 3*257, "true, false, NULL × 256 values and NULL")

	err := shuffle.NewHashPartitioner(4, "nope").Partition(b, out)
	assert.ErrorContains(t, err, `"nope"`)
	noKey := change.MustSchema([]arrow.Field{change.Col("x", arrow.PrimitiveTypes.Int64)})
	nb, err := change.FromRows(nil, noKey, [][]any{{change.Insert, 1}})
	require.NoError(t, err)
	defer nb.Release()
	assert.ErrorContains(t, shuffle.NewHashPartitioner(4).Partition(nb, out), "no primary key")
	assert.ErrorContains(t, p.Partition(b, out[:10]), "out has 10")
	assert.Panics(t, func() { shuffle.NewHashPartitioner(0) })
}

// One partitioner serves batches of several schemas from several goroutines.
func TestHashPartitionerConcurrentSchemas(t *testing.T) {
	a := change.MustSchema([]arrow.Field{change.Col("k", arrow.PrimitiveTypes.Int64), change.Col("v", arrow.BinaryTypes.String)})
	c := change.MustSchema([]arrow.Field{change.Col("v", arrow.BinaryTypes.String), change.Col("k", arrow.PrimitiveTypes.Int32)})
	ba, err := change.FromRows(nil, a, [][]any{{change.Insert, 1, "x"}, {change.Insert, 2, "y"}})
	require.NoError(t, err)
	defer ba.Release()
	bc, err := change.FromRows(nil, c, [][]any{{change.Insert, "z", 1}, {change.Insert, "w", 2}})
	require.NoError(t, err)
	defer bc.Release()
	p := shuffle.NewHashPartitioner(16, "k")
	want := make([]int, 2)
	require.NoError(t, p.Partition(ba, want))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			out := make([]int, 2)
			for i := range 500 {
				b := ba
				if (i+g)%2 == 1 {
					b = bc
				}
				if err := p.Partition(b, out); err != nil || !slices.Equal(out, want) {
					t.Errorf("got %v, %v; want %v", out, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// sortSchema has sort keys with duplicates, NULLs, NaN, -0 and text.
var sortSchema = change.MustSchema([]arrow.Field{
	change.Col("n", arrow.PrimitiveTypes.Int64),
	change.Col("f", arrow.PrimitiveTypes.Float64),
	change.Col("s", arrow.BinaryTypes.String),
	change.Col("id", arrow.PrimitiveTypes.Int64),
})

func sortBatch(t testing.TB, rng *rand.Rand, first, n int) *change.Batch {
	bld := change.NewBuilder(nil, sortSchema)
	defer bld.Release()
	floats := []float64{math.NaN(), math.Copysign(0, -1), 0, math.Inf(-1), math.Inf(1), -2.5, 1e9}
	for i := range n {
		row := change.Row{change.Null(), change.Null(), change.Null(), change.Int(int64(first + i))}
		if rng.IntN(10) > 0 {
			row[0] = change.Int(int64(rng.IntN(50) - 25))
		}
		if rng.IntN(10) > 0 {
			if rng.IntN(3) == 0 {
				row[1] = change.Float(floats[rng.IntN(len(floats))])
			} else {
				row[1] = change.Float(rng.NormFloat64())
			}
		}
		if rng.IntN(10) > 0 {
			texts := []string{"", "a", "ab", "b", "ba", "é", "z"}
			row[2] = change.Str(texts[rng.IntN(len(texts))])
		}
		require.NoError(t, bld.Append(change.Insert, row))
	}
	return bld.NewBatch()
}

// refCompare is an independent reference ordering over plain rows (op first).
func refCompare(keys []shuffle.SortKey) func(a, b []any) int {
	col := map[string]int{"n": 1, "f": 2, "s": 3}
	return func(a, b []any) int {
		for _, k := range keys {
			x, y := a[col[k.Column]], b[col[k.Column]]
			var c int
			switch {
			case x == nil && y == nil:
				c = 0
			case x == nil || y == nil:
				c = 1
				if (x == nil) == k.NullsFirst {
					c = -1
				}
			default:
				switch x := x.(type) {
				case int64:
					c = cmp.Compare(x, y.(int64))
				case string:
					c = cmp.Compare(x, y.(string))
				case float64:
					// cmp.Compare puts NaN first; SQL puts it last.
					xn, yn := math.IsNaN(x), math.IsNaN(y.(float64))
					switch {
					case xn && yn:
					case xn:
						c = 1
					case yn:
						c = -1
					default:
						c = cmp.Compare(x, y.(float64))
					}
				}
				if k.Desc {
					c = -c
				}
			}
			if c != 0 {
				return c
			}
		}
		return 0
	}
}

func TestRangePartitionerConcatenatesToSortedOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	var data []*change.Batch
	for i := range 6 {
		data = append(data, sortBatch(t, rng, i*3000, 3000))
	}
	defer releaseAll(data)
	sample := data[:2]
	orders := [][]shuffle.SortKey{
		{{Column: "n"}},
		{{Column: "n", Desc: true, NullsFirst: true}, {Column: "s"}},
		{{Column: "f"}, {Column: "n", NullsFirst: true}},
		{{Column: "f", Desc: true}},
		{{Column: "s", Desc: true}, {Column: "f", NullsFirst: true}, {Column: "n", Desc: true}},
	}
	for _, keys := range orders {
		t.Run(fmt.Sprint(keys), func(t *testing.T) {
			const n = 7
			p, err := shuffle.NewRangePartitioner(n, keys, sample)
			require.NoError(t, err)
			assert.Equal(t, n, p.NumPartitions())
			parts := make([][][]any, n)
			var all [][]any
			for _, b := range data {
				out := make([]int, b.Len())
				require.NoError(t, p.Partition(b, out))
				rows := b.Plain()
				for i, q := range out {
					require.True(t, q >= 0 && q < n)
					parts[q] = append(parts[q], rows[i])
				}
				all = append(all, rows...)
			}
			ref := refCompare(keys)
			var concat [][]any
			nonEmpty := 0
			for _, part := range parts {
				slices.SortStableFunc(part, ref)
				concat = append(concat, part...)
				if len(part) > 0 {
					nonEmpty++
				}
			}
			require.True(t, slices.IsSortedFunc(concat, ref), "partitions concatenated in order are sorted")
			slices.SortStableFunc(all, ref)
			assert.Equal(t, len(all), len(concat))
			for i := range all {
				require.Equal(t, 0, ref(all[i], concat[i]), "row %d", i)
			}
			assert.GreaterOrEqual(t, nonEmpty, 2, "the data is split")
		})
	}
}

func TestRangePartitionerBalancesDistinctKeys(t *testing.T) {
	s := change.MustSchema([]arrow.Field{change.Col("k", arrow.BinaryTypes.String)})
	bld := change.NewBuilder(nil, s)
	rng := rand.New(rand.NewPCG(10, 10))
	for range 20000 {
		require.NoError(t, bld.Append(change.Insert, change.Row{change.Str(fmt.Sprintf("%08d", rng.IntN(1e8)))}))
	}
	b := bld.NewBatch()
	bld.Release()
	defer b.Release()
	p, err := shuffle.NewRangePartitioner(4, []shuffle.SortKey{{Column: "k"}}, []*change.Batch{b})
	require.NoError(t, err)
	out := make([]int, b.Len())
	require.NoError(t, p.Partition(b, out))
	counts := make([]int, 4)
	for _, q := range out {
		counts[q]++
	}
	for _, c := range counts {
		assert.InDelta(t, 5000, c, 10, "quantiles of the sample itself: %v", counts)
	}
}

func TestRangePartitionerErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	b := sortBatch(t, rng, 0, 100)
	defer b.Release()
	_, err := shuffle.NewRangePartitioner(0, []shuffle.SortKey{{Column: "n"}}, nil)
	assert.Error(t, err)
	_, err = shuffle.NewRangePartitioner(3, nil, nil)
	assert.ErrorContains(t, err, "no sort keys")
	_, err = shuffle.NewRangePartitioner(3, []shuffle.SortKey{{Column: "zz"}}, []*change.Batch{b})
	assert.ErrorContains(t, err, `"zz"`)

	p, err := shuffle.NewRangePartitioner(3, []shuffle.SortKey{{Column: "n"}}, []*change.Batch{b})
	require.NoError(t, err)
	other := change.MustSchema([]arrow.Field{change.Col("n", arrow.PrimitiveTypes.Int32)})
	ob, err := change.FromRows(nil, other, [][]any{{change.Insert, 1}})
	require.NoError(t, err)
	defer ob.Release()
	assert.ErrorContains(t, p.Partition(ob, make([]int, 1)), "int32")

	// No sample: one range.
	p, err = shuffle.NewRangePartitioner(3, []shuffle.SortKey{{Column: "n"}}, nil)
	require.NoError(t, err)
	one := slice(t, b, 0, 1)
	defer one.Release()
	out := []int{9, 9}
	require.NoError(t, p.Partition(one, out))
	assert.Equal(t, []int{0, 9}, out, "only b.Len() entries written")

	// A sample of empty batches: one range too.
	none := slice(t, b, 5, 5)
	defer none.Release()
	p, err = shuffle.NewRangePartitioner(3, []shuffle.SortKey{{Column: "s"}}, []*change.Batch{none})
	require.NoError(t, err)
	require.NoError(t, p.Partition(one, out))
	assert.Equal(t, 0, out[0])
	assert.Equal(t, "n DESC NULLS FIRST", shuffle.SortKey{Column: "n", Desc: true, NullsFirst: true}.String())
}

// Every supported type can be a sort key; the order of partitions follows the values.
func TestRangePartitionerEveryType(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(12, 12))
	s := allTypes()
	b := randomBatch(t, rng, mem, s, 0, 2000, 10)
	defer b.Release()
	for c := range s.NumFields() {
		name := s.Field(c).Name
		p, err := shuffle.NewRangePartitioner(4, []shuffle.SortKey{{Column: name}, {Column: "id"}}, []*change.Batch{b})
		require.NoError(t, err, name)
		out := make([]int, b.Len())
		require.NoError(t, p.Partition(b, out))
		counts := make([]int, 4)
		for _, q := range out {
			counts[q]++
		}
		for _, x := range counts {
			assert.InDelta(t, 500, x, 1, "%s: %v", name, counts)
		}
		// Non-null values of a lower partition never exceed those of a higher one.
		if name == "b" {
			continue // two values
		}
		maxBelow := map[int]change.Value{}
		for i, q := range out {
			v := b.Value(i, c)
			if v.IsNull() {
				assert.Equal(t, 3, q, "%s: NULLs last", name)
				continue
			}
			if w, ok := maxBelow[q]; !ok || lessValue(name, w, v) {
				maxBelow[q] = v
			}
		}
		for i, q := range out {
			v := b.Value(i, c)
			for lower := 0; lower < q && !v.IsNull(); lower++ {
				if w, ok := maxBelow[lower]; ok {
					assert.False(t, lessValue(name, v, w), "%s: %v in partition %d below %v in %d", name, v, q, w, lower)
				}
			}
		}
	}
}

// lessValue orders two non-NULL values of one column (floats without NaN here).
func lessValue(col string, a, b change.Value) bool {
	if col == "u64" {
		return uint64(a.AsInt()) < uint64(b.AsInt())
	}
	switch a.Kind() {
	case change.KindBool:
		return !a.AsBool() && b.AsBool()
	case change.KindInt:
		return a.AsInt() < b.AsInt()
	case change.KindFloat:
		return a.AsFloat() < b.AsFloat()
	case change.KindDecimal:
		return a.AsDecimal().Less(b.AsDecimal())
	}
	return a.AsString() < b.AsString()
}
