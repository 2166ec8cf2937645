package reduce

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
)

func keySchema(t *testing.T, types ...arrow.DataType) *change.Schema {
	t.Helper()
	var fs []arrow.Field
	for i, ty := range types {
		fs = append(fs, change.Col(fmt.Sprintf("c%d", i), ty))
	}
	return change.MustSchema(fs)
}

func layoutOf(s *change.Schema) *keyLayout {
	var kinds []keyKind
	for _, f := range s.Fields() {
		_, k := keyClass(f.Type)
		kinds = append(kinds, k)
	}
	return newKeyLayout(kinds)
}

func allCols(s *change.Schema) []int {
	out := make([]int, s.NumFields())
	for i := range out {
		out[i] = i
	}
	return out
}

// The table against a Go map: equal keys get one group, distinct keys distinct
// groups, in insertion order; lookups find what was inserted and nothing else; the
// slots double as keys arrive; and the budget counts exactly the table's bytes.
func TestKeyTableAgainstMap(t *testing.T) {
	t.Run("int64,string", func(t *testing.T) { keyTableAgainstMap(t, true) })
	t.Run("int64 inline", func(t *testing.T) { keyTableAgainstMap(t, false) })
}

func keyTableAgainstMap(t *testing.T, withString bool) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	budget := change.NewBudget(0, mem)
	s := keySchema(t, arrow.PrimitiveTypes.Int64, arrow.BinaryTypes.String)
	if !withString {
		s = keySchema(t, arrow.PrimitiveTypes.Int64)
	}
	l := layoutOf(s)
	tab := newKeyTable(l, budget)
	bk := newBatchKeys(l, budget)
	rng := rand.New(rand.NewPCG(1, 2))
	want := make(map[string]int32)
	for batch := range 20 {
		rows := make([][]any, 1+rng.IntN(700))
		for i := range rows {
			var str any = fmt.Sprintf("s%d", rng.IntN(30))
			if rng.IntN(20) == 0 {
				str = nil
			}
			rows[i] = []any{change.Insert, rng.Int64N(300) - 150, str}
			if !withString {
				rows[i] = []any{change.Insert, rng.Int64N(3000) - 1500}
				if str == nil {
					rows[i][1] = nil
				}
			}
		}
		b, err := change.FromRows(mem, s, rows)
		require.NoError(t, err)
		bk.load(b, allCols(s))
		before := tab.bytesAfter(b.Len(), 3*int64(b.Len()))
		groups := make([]int32, b.Len())
		tab.insert(bk, groups)
		assert.LessOrEqual(t, tab.bytes(), before, "bytesAfter bounds the growth")
		for i, r := range rows {
			if r[len(r)-1] == nil || r[1] == nil {
				require.Equal(t, int32(-1), groups[i], "a NULL key is not inserted")
				continue
			}
			k := fmt.Sprint(r[1:])
			g, ok := want[k]
			if !ok {
				g = int32(len(want))
				want[k] = g
			}
			require.Equal(t, g, groups[i], "batch %d row %d %v", batch, i, r)
		}
		b.Release()
	}
	assert.Equal(t, len(want), tab.Len())
	assert.Greater(t, tab.numSlots(), minSlots, "the slots grew")
	assert.LessOrEqual(t, 2*tab.Len(), tab.numSlots(), "at most half full")
	assert.Equal(t, !withString, tab.stride == 2, "a one-word key is kept in the slots")

	// Lookups: every inserted key, and keys never inserted.
	var rows [][]any
	for k := range 4000 {
		rows = append(rows, []any{change.Insert, int64(k - 2000), fmt.Sprintf("s%d", k%40)})
		if !withString {
			rows[k] = rows[k][:2]
		}
	}
	rows = append(rows, []any{change.Insert, nil, "s1"}[:len(rows[0])])
	b, err := change.FromRows(mem, s, rows)
	require.NoError(t, err)
	bk.load(b, allCols(s))
	groups := make([]int32, b.Len())
	tab.lookup(bk, groups)
	b.Release()
	found := 0
	for i, r := range rows {
		g, ok := want[fmt.Sprint(r[1:])]
		if !ok || r[1] == nil {
			g = -1
		} else {
			found++
		}
		require.Equal(t, g, groups[i], "lookup of %v", r)
	}
	assert.Positive(t, found)
	assert.Equal(t, tab.bytes()+bk.acct.n, budget.Allocated(), "the budget counts the table and the key scratch")
	tab.release()
	bk.release()
	assert.Zero(t, budget.Allocated())
}

// Rows whose hashes collide (here: all of them) are told apart by comparing keys,
// on insert and on the batch-at-a-time lookup, which walks on past a candidate whose
// key differs.
func TestKeyTableCollisions(t *testing.T) {
	s := keySchema(t, arrow.PrimitiveTypes.Int32, arrow.BinaryTypes.Binary)
	l := layoutOf(s)
	tab := newKeyTable(l, nil)
	bk := newBatchKeys(l, nil)
	rows := [][]any{}
	for i := range 200 {
		rows = append(rows, []any{change.Insert, i % 7, []byte{byte(i % 5)}})
	}
	b, err := change.FromRows(nil, s, rows)
	require.NoError(t, err)
	defer b.Release()
	bk.load(b, allCols(s))
	for i := range bk.hash {
		bk.hash[i] = 0xdead_beef_0000_0042
	}
	groups := make([]int32, b.Len())
	tab.insert(bk, groups)
	assert.Equal(t, 35, tab.Len())
	for i := range rows {
		assert.Equal(t, groups[i%35], groups[i], "row %d", i)
	}
	probe := make([]int32, b.Len())
	tab.lookup(bk, probe)
	assert.Equal(t, groups, probe)

	// A key not in the table with the same hash walks every candidate to the empty slot.
	miss, err := change.FromRows(nil, s, [][]any{{change.Insert, 99, []byte{1}}, {change.Insert, 1, []byte{1}}})
	require.NoError(t, err)
	defer miss.Release()
	bk.load(miss, allCols(s))
	bk.hash[0], bk.hash[1] = 0xdead_beef_0000_0042, 0xdead_beef_0000_0042
	tab.lookup(bk, probe[:2])
	assert.Equal(t, int32(-1), probe[0])
	assert.Equal(t, groups[1], probe[1], "(1, 0x01) is row 1's key")
}

// The same for keys of one word, kept in the slots.
func TestKeyTableCollisionsInline(t *testing.T) {
	s := keySchema(t, arrow.PrimitiveTypes.Int32)
	l := layoutOf(s)
	tab := newKeyTable(l, nil)
	bk := newBatchKeys(l, nil)
	var rows [][]any
	for i := range 300 {
		rows = append(rows, []any{change.Insert, i % 37})
	}
	b, err := change.FromRows(nil, s, rows)
	require.NoError(t, err)
	defer b.Release()
	bk.load(b, allCols(s))
	for i := range bk.hash {
		bk.hash[i] = 0xdead_beef_0000_0042
	}
	groups := make([]int32, b.Len())
	tab.insert(bk, groups)
	require.Equal(t, 37, tab.Len())
	for i := range rows {
		assert.Equal(t, int32(i%37), groups[i], "row %d", i)
	}
	probe := make([]int32, b.Len())
	tab.lookup(bk, probe)
	assert.Equal(t, groups, probe)
	tab.grow()
	tab.lookup(bk, probe)
	assert.Equal(t, groups, probe, "after a rehash")
	bk.words[0][0] = 99 // a key not in the table, with the same hash
	tab.lookup(bk, probe)
	assert.Equal(t, int32(-1), probe[0])
	assert.Equal(t, groups[1:], probe[1:])
}

// Keys normalize so that what SQL calls equal hashes and compares equal: integers
// of any width, -0 and 0, every NaN; and decimals, booleans, dates keep their values.
func TestKeyNormalization(t *testing.T) {
	hashOf := func(ty arrow.DataType, vals ...any) ([]uint64, [][]int64) {
		s := keySchema(t, ty)
		var rows [][]any
		for _, v := range vals {
			rows = append(rows, []any{change.Insert, v})
		}
		b, err := change.FromRows(nil, s, rows)
		require.NoError(t, err)
		defer b.Release()
		bk := newBatchKeys(layoutOf(s), nil)
		bk.load(b, []int{0})
		var words [][]int64
		for _, w := range bk.words {
			words = append(words, append([]int64(nil), w...))
		}
		return append([]uint64(nil), bk.hash...), words
	}
	h64, _ := hashOf(arrow.PrimitiveTypes.Int64, 5, -1)
	h32, _ := hashOf(arrow.PrimitiveTypes.Int32, 5, -1)
	h8, _ := hashOf(arrow.PrimitiveTypes.Uint8, 5)
	assert.Equal(t, h64, h32)
	assert.Equal(t, h64[0], h8[0])
	assert.NotEqual(t, h64[0], h64[1])

	hf, wf := hashOf(arrow.PrimitiveTypes.Float64, 0.0, math.Copysign(0, -1), math.NaN(), math.Float64frombits(0x7ff8000000000001), 1.5)
	assert.Equal(t, hf[0], hf[1], "-0 is 0")
	assert.Equal(t, hf[2], hf[3], "every NaN is one NaN")
	assert.Equal(t, int64(canonicalNaN), wf[0][3])
	hf32, _ := hashOf(arrow.PrimitiveTypes.Float32, 0.0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.NaN()), 1.5)
	assert.Equal(t, hf, hf32, "float32 keys are their float64 values")

	_, wd := hashOf(&arrow.Decimal128Type{Precision: 38, Scale: 0}, "-1", "99999999999999999999999999999999999999")
	assert.Equal(t, int64(-1), wd[0][0], "low word of -1")
	assert.Equal(t, int64(-1), wd[1][0], "high word of -1")
	assert.Equal(t, []int64{0x4b3b4ca85a86c47a, 0x98a223fffffffff}, []int64{wd[1][1], wd[0][1]}, "10^38-1: high, low")

	_, wb := hashOf(arrow.FixedWidthTypes.Boolean, true, false)
	assert.Equal(t, []int64{1, 0}, wb[0])
	hs, _ := hashOf(arrow.BinaryTypes.String, "ab", "")
	hb, _ := hashOf(arrow.BinaryTypes.Binary, []byte("ab"), []byte{})
	assert.Equal(t, hs, hb, "string and binary keys hash alike")
}

// Sliced batches (an offset into their buffers) read the right keys.
func TestKeysOfSlicedColumns(t *testing.T) {
	s := keySchema(t, arrow.PrimitiveTypes.Int16, arrow.BinaryTypes.String, arrow.FixedWidthTypes.Boolean)
	var rows [][]any
	for i := range 10 {
		rows = append(rows, []any{change.Insert, i, fmt.Sprint("k", i), i%3 == 0})
	}
	b, err := change.FromRows(nil, s, rows)
	require.NoError(t, err)
	defer b.Release()
	rec := b.Record().NewSlice(4, 7)
	sliced, err := change.NewBatch(s, rec, b.Ops()[4:7])
	require.NoError(t, err)
	defer sliced.Release()
	whole, err := change.FromRows(nil, s, rows[4:7])
	require.NoError(t, err)
	defer whole.Release()

	l := layoutOf(s)
	a, w := newBatchKeys(l, nil), newBatchKeys(l, nil)
	a.load(sliced, allCols(s))
	w.load(whole, allCols(s))
	assert.Equal(t, w.hash, a.hash)
	tab := newKeyTable(l, nil)
	g := make([]int32, 3)
	tab.insert(w, g)
	tab.lookup(a, g)
	assert.Equal(t, []int32{0, 1, 2}, g)
}

// Word keys in regular patterns (sequential, strided by powers of two, two words that
// cancel) still spread over a table's slots (low bits) and tags (high bits) about as
// random hashes do: 2^16 keys in 2^16 buckets fill about 1-1/e of them.
func TestHashWordsSpread(t *testing.T) {
	const n = 1 << 16
	spread := func(name string, words ...[]int64) {
		h := make([]uint64, n)
		hashWords(words, h)
		low, high := map[uint64]bool{}, map[uint64]bool{}
		for _, x := range h {
			low[x&(n-1)], high[x>>48] = true, true
		}
		assert.Greater(t, len(low), n*6/10, "%s: slots", name)
		assert.Greater(t, len(high), n*6/10, "%s: tags", name)
	}
	for _, shift := range []int{0, 16, 32, 48} {
		ws := make([]int64, n)
		for i := range ws {
			ws[i] = int64(i) << shift
		}
		spread(fmt.Sprintf("i<<%d", shift), ws)
	}
	a, b := make([]int64, n), make([]int64, n)
	for i := range a {
		a[i], b[i] = int64(i), -int64(i)
	}
	spread("(i, -i)", a, b)
	spread("(i, i)", a, a)
}

// A sealed large table looks keys up through its Bloom filter: every key inserted is
// still found (no false negatives), absent keys are not, for one-word keys kept in the
// slots and for keys with a string; once most probes find their key the filter is
// skipped; and an insert after sealing drops the filter, so new keys are found.
func TestKeyTableBloom(t *testing.T) {
	for _, withString := range []bool{false, true} {
		t.Run(fmt.Sprint("string=", withString), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			s := keySchema(t, arrow.PrimitiveTypes.Int64)
			if withString {
				s = keySchema(t, arrow.PrimitiveTypes.Int64, arrow.BinaryTypes.String)
			}
			l := layoutOf(s)
			tab, bk := newKeyTable(l, nil), newBatchKeys(l, nil)
			defer tab.release()
			defer bk.release()
			batch := func(from, to, step int64) *change.Batch {
				var rows [][]any
				for k := from; k < to; k += step {
					r := []any{change.Insert, k}
					if withString {
						r = append(r, fmt.Sprint("s", k%7))
					}
					rows = append(rows, r)
				}
				b, err := change.FromRows(mem, s, rows)
				require.NoError(t, err)
				return b
			}
			const n = 40000 // keys 0, 3, 6, ... : slots well past bloomMinBytes
			b := batch(0, 3*n, 3)
			bk.load(b, allCols(s))
			tab.insert(bk, make([]int32, b.Len()))
			b.Release()
			tab.seal()
			require.NotNil(t, tab.bloom)

			lookup := func(b *change.Batch) []int32 {
				defer b.Release()
				bk.load(b, allCols(s))
				groups := make([]int32, b.Len())
				tab.lookup(bk, groups)
				return groups
			}
			for round := range 2 { // probes mostly miss: the filter is used
				groups := lookup(batch(0, 3*n, 1))
				for k, g := range groups {
					want := int32(-1)
					if k%3 == 0 {
						want = int32(k / 3)
					}
					require.Equal(t, want, g, "round %d key %d", round, k)
				}
			}
			assert.True(t, tab.useBloom(bk))
			for range 3 { // probes all hit: the filter is skipped
				for k, g := range lookup(batch(0, 3*n, 3)) {
					require.Equal(t, int32(k), g)
				}
			}
			assert.False(t, tab.useBloom(bk), "most probes found their key")

			b = batch(1, 31, 3) // new keys 1, 4, ...
			bk.load(b, allCols(s))
			tab.insert(bk, make([]int32, b.Len()))
			b.Release()
			assert.Nil(t, tab.bloom, "an insert drops the filter")
			for k, g := range lookup(batch(1, 31, 3)) {
				require.Equal(t, int32(n+k), g)
			}
		})
	}
}
