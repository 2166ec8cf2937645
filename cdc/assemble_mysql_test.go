package cdc_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/cdc"
)

// MySQL events without transaction metadata are grouped by their GTID, so a
// multi-statement transaction is emitted whole rather than one event at a time.
func TestAssembleMySQLByGTID(t *testing.T) {
	ctx := context.Background()
	a := cdc.NewAssembler(cdc.AssemblerConfig{DeadLetters: cdc.NewMemoryDeadLetters()})
	ev := func(off int64, gtid string, pos uint64) cdc.Event {
		return cdc.Event{
			Table: "inventory.orders", Op: cdc.OpCreate,
			Source: cdc.SourceInfo{Connector: "mysql", GTID: gtid, File: "mysql-bin.000003", FilePos: int64(pos)},
			Pos:    cdc.Position{Major: 3, Minor: pos}, Origin: cdc.Origin{Topic: "db.inventory.orders", Offset: off},
		}
	}
	for i, e := range []cdc.Event{ev(0, "uuid:10", 154), ev(1, "uuid:10", 300), ev(2, "uuid:11", 480), ev(3, "uuid:11", 620)} {
		require.NoError(t, a.Add(ctx, &e), i)
	}
	require.NoError(t, a.Flush(ctx))
	var sizes []int
	for tx, ok := a.Next(); ok; tx, ok = a.Next() {
		sizes = append(sizes, len(tx.Events))
	}
	assert.Equal(t, []int{2, 2}, sizes)
}
