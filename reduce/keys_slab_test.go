package reduce

import (
	"runtime"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
)

// A join table released gives its large arrays to the next table of its size, which
// then takes (almost) no fresh memory; and the reused slots start empty.
func TestJoinTableReusesReleasedArrays(t *testing.T) {
	s := change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int64)})
	const rows = 100_000
	in := benchInts(t, s, rows)
	j, err := NewHashJoin(HashJoinConfig{Left: s, Right: s, LeftKeys: []string{"id"}, RightKeys: []string{"id"}, Build: RightSide})
	require.NoError(t, err)
	build := func() (*joinTable, uint64) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tbl := newJoinTable(j.spec, 1, emitNone, emitNone, false)
		tbl.reserve(rows)
		for _, b := range in {
			b.Retain()
			tbl.add(b)
		}
		runtime.ReadMemStats(&after)
		return tbl, after.TotalAlloc - before.TotalAlloc
	}
	first, fresh := build()
	require.Equal(t, rows, first.keys.Len())
	first.release()
	for try := 0; ; try++ { // a collection in between may empty the pool: try again
		second, again := build()
		require.Equal(t, rows, second.keys.Len(), "every key new: the reused slots were cleared")
		second.release()
		if again < fresh/4 {
			break
		}
		require.Less(t, try, 3, "a table of %d keys took %d bytes after one was released, the first %d", rows, again, fresh)
	}
}

func benchInts(t *testing.T, s *change.Schema, n int) []*change.Batch {
	var out []*change.Batch
	bld := change.NewBuilder(nil, s)
	defer bld.Release()
	for i := range n {
		require.NoError(t, bld.Append(change.Insert, change.Row{change.Int(int64(i) * 3)}))
		if bld.Len() == 8192 || i == n-1 {
			out = append(out, bld.NewBatch())
		}
	}
	t.Cleanup(func() {
		for _, b := range out {
			b.Release()
		}
	})
	return out
}
