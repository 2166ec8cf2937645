package reduce_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/reduce/reducetest"
	"github.com/strata-data/strata/shuffle"
)

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, ents, "spill files left behind")
}

func TestExternalSortEqualsInMemorySort(t *testing.T) {
	rows := genSortRows(11, 2000)
	for i, keys := range append(randomKeys(12, 4), allSortKeys()[20:22]...) {
		for _, fan := range []int{2, 3, 0} {
			t.Run(fmt.Sprint(keys, fan), func(t *testing.T) {
				dir := t.TempDir()
				budget := reducetest.NewBudget(64 << 10) // far below the input's ~300 KB
				s := newSort(t, reduce.SortConfig{Keys: keys, Budget: budget, BatchRows: 500, SpillDir: dir,
					MaxFanIn: fan, SpillCodec: shuffle.Codec(i % 3)})
				res := reducetest.Run(t, s, reducetest.Options{Budget: budget, BatchRows: 100}, sortInput(rows))
				res.AssertOrdered(t, wantRows(refSort(rows, keys))...)
				st := s.Stats()
				assert.Greater(t, st.Runs, int64(4), "runs of a few input batches")
				assert.Positive(t, st.SpilledBytes)
				if fan == 2 || fan == 3 {
					assert.Positive(t, st.Merges, "more runs than the fan-in: several passes")
				}
				assertEmptyDir(t, dir)
			})
		}
	}
}

func TestExternalTopNEqualsFirstRowsOfTheSort(t *testing.T) {
	rows := genSortRows(13, 2000)
	for _, keys := range randomKeys(14, 4) {
		full := refSort(rows, keys)
		for _, n := range []int{5, 300, 1500} {
			t.Run(fmt.Sprint(keys, n), func(t *testing.T) {
				dir := t.TempDir()
				budget := reducetest.NewBudget(64 << 10)
				s := newSort(t, reduce.SortConfig{Keys: keys, Limit: n, Budget: budget, SpillDir: dir, MaxFanIn: 3})
				res := reducetest.Run(t, s, reducetest.Options{Budget: budget, BatchRows: 100}, sortInput(rows))
				res.AssertOrdered(t, wantRows(full[:n])...)
				if n == 5 {
					assert.Zero(t, s.Stats().Runs, "5 rows stay in the heap")
				} else {
					assert.Positive(t, s.Stats().Runs, "the limit's rows do not fit: an external sort")
				}
				assertEmptyDir(t, dir)
			})
		}
	}
}

func TestExternalSortCleansUpOnFailureAndEarlyClose(t *testing.T) {
	rows := genSortRows(15, 2000)
	keys := []reduce.SortKey{{Column: "s"}, {Column: "id", Desc: true}}
	dir := t.TempDir()
	budget := reducetest.NewBudget(64 << 10)
	s := newSort(t, reduce.SortConfig{Keys: keys, Budget: budget, SpillDir: dir, MaxFanIn: 4, BatchRows: 100})
	err := reducetest.RunError(t, s, reducetest.Options{Budget: budget, BatchRows: 100, FailEmitAfter: 3}, sortInput(rows))
	assert.ErrorIs(t, err, reducetest.ErrInjected)
	assertEmptyDir(t, dir)

	ctx, cancel := context.WithCancel(context.Background())
	in := shuffle.NewSliceStream(buildBatches(t, budget, rows, 100)...)
	out, err := s.Sorted(ctx, in)
	require.NoError(t, err)
	b, err := out.Next(ctx)
	require.NoError(t, err)
	b.Release()
	ents, _ := os.ReadDir(dir)
	assert.NotEmpty(t, ents, "the merge reads its runs")
	cancel()
	_, err = out.Next(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	require.NoError(t, out.Close())
	require.NoError(t, in.Close())
	assert.Zero(t, budget.Allocated())
	assertEmptyDir(t, dir)
}
