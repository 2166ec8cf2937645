package cdc_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

func TestAppendChangesFromFixtures(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)

	upd := decode(t, "mysql-update.json", "")
	b := change.NewBuilder(mem, upd.Schema)
	defer b.Release()
	require.NoError(t, cdc.AppendChanges(b, &upd))
	del := decode(t, "mysql-delete.json", "")
	require.NoError(t, cdc.AppendChanges(b, &del))
	batch := b.NewBatch()
	defer batch.Release()
	assert.Equal(t, []change.Op{change.UpdateBefore, change.UpdateAfter, change.Delete}, batch.Ops())
	rows := batch.Plain()
	assert.Equal(t, "Anne", rows[0][2])
	assert.Equal(t, "Anne Marie", rows[1][2])
	assert.Equal(t, int64(1004), rows[2][1])

	// A key-only before-image: the other columns are NULL in the batch.
	pd := decode(t, "pg-update.json", "")
	b2 := change.NewBuilder(mem, pd.Schema)
	defer b2.Release()
	require.NoError(t, cdc.AppendChanges(b2, &pd))
	batch2 := b2.NewBatch()
	defer batch2.Release()
	assert.Equal(t, []any{change.UpdateBefore, int64(1), nil, nil, nil}, batch2.Plain()[0])

	// Another schema is refused, naming the table.
	emp := decode(t, "sqlserver-delete-decimal.json", "")
	assert.ErrorContains(t, cdc.AppendChanges(b2, &emp), "dbo.emp")
}
