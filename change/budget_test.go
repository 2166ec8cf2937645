package change_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
)

func TestBudgetCountsArrowAndReservedBytes(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.DefaultAllocator)
	b := change.NewBudget(1<<20, checked)
	s := change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int64)}, "id")
	bld := change.NewBuilder(b, s)
	for i := range 1000 {
		require.NoError(t, bld.AppendAny(change.Insert, int64(i)))
	}
	batch := bld.NewBatch()
	bld.Release()
	assert.Positive(t, b.Allocated())
	assert.True(t, b.Fits(1000))
	b.Reserve(1 << 20)
	assert.False(t, b.Fits(1), "over the limit once the reservation counts")
	peak := b.Peak()
	b.Unreserve(1 << 20)
	batch.Release()
	assert.Zero(t, b.Allocated())
	assert.Equal(t, peak, b.Peak(), "the peak stays")
	assert.GreaterOrEqual(t, peak, int64(1<<20+8000))
	checked.AssertSize(t, 0)
	assert.True(t, change.NewBudget(0, nil).Fits(1<<40), "0 is unlimited")
}
