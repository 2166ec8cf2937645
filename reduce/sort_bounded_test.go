package reduce_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/reduce/reducetest"
)

// The bounded-memory tests of the sort, the merge join and the aggregate: inputs more
// than 10 times the budget; each spills, the budget's peak stays within its limit
// plus boundedSlack, and the output equals the in-memory run's.
//
// boundedSlack is what these kernels may hold beyond the limit: with a limit this
// small (2 MiB), the floor of their spilling: a spill writer's block buffers
// (shuffle.SpillScratch, ~1.5 MiB) while the run or the groups it writes are held, or
// two run readers (~0.5 MiB each) of a merge with the output batch; and the input
// batch being read. With a limit well above the floor (a few times
// shuffle.SpillScratch) the kernels plan their memory within the limit, and the slack
// is the input batch and estimates.
const boundedSlack = 2 << 20

const boundedLimit = 2 << 20

var events = change.MustSchema([]arrow.Field{
	change.NotNull("id", arrow.PrimitiveTypes.Int64),
	change.Col("user", arrow.PrimitiveTypes.Int64),
	change.Col("kind", arrow.BinaryTypes.String),
	change.Col("amount", &arrow.Decimal128Type{Precision: 12, Scale: 2}),
	change.Col("score", arrow.PrimitiveTypes.Float64),
	change.Col("note", arrow.BinaryTypes.String),
})

// eventsInput is n rows of events over users users.
func eventsInput(n, users int) reducetest.Input {
	kinds := []change.Value{change.Str("view"), change.Str("click"), change.Str("buy"), {}}
	notes := make([]change.Value, 40)
	for i := range notes {
		notes[i] = change.Str(strings.Repeat("n", 5+i))
	}
	return reducetest.Generate(events, n, func(i int, row change.Row) change.Op {
		row[0] = change.Int(int64(i))
		if i%97 != 0 {
			row[1] = change.Int(int64(i*7919) % int64(users))
		}
		row[2] = kinds[i%4]
		v, _ := change.ValueOf(strconv.Itoa(i%100_000)+".25", events.Field(3).Type)
		row[3] = v
		row[4] = change.Float(float64(i%1000) / 4)
		row[5] = notes[(i*31)%40]
		return change.Insert
	})
}

func equalRows(t *testing.T, got, want [][]any) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		if !assert.Equal(t, want[i], got[i], "row %d", i) {
			return
		}
	}
}

func TestSortBoundedMemory(t *testing.T) {
	const batchRows = 1024
	in := eventsInput(300_000, 50_000)
	size := inputBytes(in, batchRows)
	require.GreaterOrEqual(t, size, int64(10*boundedLimit))
	keys := []reduce.SortKey{{Column: "user", Desc: true, NullsFirst: true}, {Column: "note"}}
	whole := reducetest.Run(t, newSort(t, reduce.SortConfig{Schema: events, Keys: keys}), reducetest.Options{BatchRows: batchRows}, in)
	for _, limit := range []int{0, 1000} {
		dir := t.TempDir()
		budget := reducetest.NewBudget(boundedLimit)
		s := newSort(t, reduce.SortConfig{Schema: events, Keys: keys, Budget: budget, SpillDir: dir, Limit: limit})
		bounded := reducetest.Run(t, s, reducetest.Options{Budget: budget, BatchRows: batchRows}, in)
		want := whole.Rows
		if limit > 0 {
			want = want[:limit]
		}
		equalRows(t, bounded.Rows, want)
		assert.LessOrEqual(t, bounded.Peak, int64(boundedLimit+boundedSlack))
		assertEmptyDir(t, dir)
		t.Logf("limit %d: input %d bytes, budget %d: peak %d bytes (in memory: %d), %+v", limit, size, boundedLimit, bounded.Peak, whole.Peak, s.Stats())
	}
}
