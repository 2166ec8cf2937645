package reduce

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
)

// A build table encodes its output string columns of few distinct values once a pass
// has emitted pairs for a quarter of its rows, not a column of many values, nor a
// column the join does not output; and a gather through the dictionary gives the
// column a gather from the batches gives.
func TestJoinTableDictionaries(t *testing.T) {
	dim := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("region", arrow.BinaryTypes.String),
		change.NotNull("name", arrow.BinaryTypes.String),
		change.NotNull("note", arrow.BinaryTypes.String),
	})
	fact := change.MustSchema([]arrow.Field{change.NotNull("customer", arrow.PrimitiveTypes.Int64)})
	j, err := NewHashJoin(HashJoinConfig{
		Left: fact, Right: dim, LeftKeys: []string{"customer"}, RightKeys: []string{"id"}, Build: RightSide,
		Output: []Column{{Side: RightSide, Name: "region"}, {Side: RightSide, Name: "name"}, {Side: LeftSide, Name: "customer"}},
	})
	require.NoError(t, err)
	const rows = 3*maxDictValues + 100
	rng := rand.New(rand.NewPCG(1, 2))
	bld := change.NewBuilder(memory.DefaultAllocator, dim)
	defer bld.Release()
	tbl := newJoinTable(j.spec, 1, emitNone, emitNone, false)
	defer tbl.release()
	for i := range rows {
		region := change.Str(fmt.Sprintf("region-%02d%s", i%20, string(make([]byte, i%23)))) // 9 to 31 bytes
		if i%7 == 0 {
			region = change.Null()
		}
		require.NoError(t, bld.Append(change.Insert, change.Row{change.Int(int64(i)), region, change.Str(fmt.Sprint("name ", i)), change.Str("n")}))
		if bld.Len() == 1000 || i == rows-1 {
			tbl.add(bld.NewBatch())
		}
	}
	require.Nil(t, tbl.dicts(rows/4-1), "too few pairs yet")
	d := tbl.dicts(rows / 4)
	require.NotNil(t, d[1], "region: 20 values and NULLs")
	require.Nil(t, d[2], "name: a value per row")
	require.Nil(t, d[3], "note: not an output column")

	refs := make([]uint64, 5000)
	for i := range refs {
		if i%11 == 0 {
			refs[i] = nullRef
			continue
		}
		b := rng.IntN(len(tbl.batches))
		refs[i] = rowRef(b, rng.IntN(tbl.batches[b].Len()))
	}
	want := gather(memory.DefaultAllocator, arrow.BinaryTypes.String, tbl.batches, 1, refs)
	defer want.Release()
	got := gatherWith(memory.DefaultAllocator, arrow.BinaryTypes.String, tbl.batches, 1, refs, d[1], nil)
	defer got.Release()
	require.True(t, array.Equal(want, got), "%v\n%v", want, got)
	// With a scratch an earlier batch left starts in (far past the dictionary's
	// bytes), as the emitter reuses one: NULL rows must not read from them.
	scratch := make([]int32, len(refs))
	for i := range scratch {
		scratch[i] = 1 << 30
	}
	again := gatherWith(memory.DefaultAllocator, arrow.BinaryTypes.String, tbl.batches, 1, refs, d[1], &scratch)
	defer again.Release()
	require.True(t, array.Equal(want, again), "%v\n%v", want, again)
	require.Greater(t, tbl.dict.acct.n, int64(0), "the codes are counted")
}
