package reduce_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/reduce/reducetest"
)

// The aggregate's bounded-memory test (see boundedSlack): 100 000 groups whose states
// (with count distinct's values) are several times the budget.
func TestHashAggregateBoundedMemory(t *testing.T) {
	const batchRows = 1024
	in := eventsInput(300_000, 100_000)
	size := inputBytes(in, batchRows)
	require.GreaterOrEqual(t, size, int64(10*boundedLimit))
	aggs := []reduce.Agg{{Func: reduce.CountStar}, {Func: reduce.Sum, Column: "amount"}, {Func: reduce.Avg, Column: "score"},
		{Func: reduce.Min, Column: "note"}, {Func: reduce.Max, Column: "id"}, {Func: reduce.CountDistinct, Column: "kind"}}
	cfg := func(budget *change.Budget, dir string) reduce.AggregateConfig {
		return reduce.AggregateConfig{Schema: events, GroupBy: []string{"user"}, Aggs: aggs, InsertOnly: true, Budget: budget, SpillDir: dir}
	}
	whole := reducetest.Run(t, newAgg(t, cfg(reducetest.NewBudget(0), "")), reducetest.Options{BatchRows: batchRows}, in)
	dir := t.TempDir()
	budget := reducetest.NewBudget(boundedLimit)
	a := newAgg(t, cfg(budget, dir))
	bounded := reducetest.Run(t, a, reducetest.Options{Budget: budget, BatchRows: batchRows}, in)
	require.Len(t, bounded.Rows, 100_001)
	bounded.AssertSame(t, whole)
	assert.Positive(t, a.Stats().Spills)
	assert.LessOrEqual(t, bounded.Peak, int64(boundedLimit+boundedSlack))
	assertEmptyDir(t, dir)
	t.Logf("input %d bytes, budget %d: peak %d bytes (in memory: %d), %+v", size, boundedLimit, bounded.Peak, whole.Peak, a.Stats())
}
