package silver_test

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/silver"
)

// A key change sent as one update whose after image lacks unchanged TOAST values (as
// pgoutput sends an UPDATE ... SET id = ... of a row with a large column) moves the old
// key's values to the new key, whether the old row is stored or from the same apply.
func TestKeyChangeKeepsAbsentColumnsOfOldKey(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	tb, err := silver.Open(ctx, bronze.NewMemStore(), tbl, silver.Config{Mem: mem})
	require.NoError(t, err)
	pos := uint64(0)
	ev := func(op cdc.Op, before, after change.Row) cdc.Event {
		pos++
		return cdc.Event{Table: tbl, Op: op, Schema: schemaV1, Before: before, After: after, Pos: cdc.Position{Major: pos}}
	}
	full := func(id int64, name string) change.Row {
		return change.Row{change.Int(id), change.Str(name), change.Null(), change.Int(id), change.Null()}
	}
	key := func(id int64) change.Row {
		return change.Row{change.Int(id), change.Absent(), change.Absent(), change.Absent(), change.Absent()}
	}
	moved := func(id int64) change.Row { // name unchanged TOAST: absent
		return change.Row{change.Int(id), change.Absent(), change.Null(), change.Int(7), change.Null()}
	}
	tx := func(evs ...cdc.Event) cdc.Tx { return cdc.Tx{Events: evs, Commit: evs[len(evs)-1].Pos} }
	// Rows 1 and 2 stored; 1 moves to 10 in a later apply. Row 3 is created and moved to
	// 30, then 30 to 31, in one apply.
	_, err = tb.Apply(ctx, []cdc.Tx{tx(ev(cdc.OpCreate, nil, full(1, "one")), ev(cdc.OpCreate, nil, full(2, "two")))})
	require.NoError(t, err)
	_, err = tb.Apply(ctx, []cdc.Tx{
		tx(ev(cdc.OpUpdate, key(1), moved(10))),
		tx(ev(cdc.OpCreate, nil, full(3, "three")), ev(cdc.OpUpdate, key(3), moved(30))),
		tx(ev(cdc.OpUpdate, key(30), moved(31))),
	})
	require.NoError(t, err)
	_, rows := scanRows(t, tb, 0)
	require.Len(t, rows, 3)
	require.Equal(t, change.Str("one"), rows[10][1], "moved from a stored row")
	require.Equal(t, change.Str("two"), rows[2][1])
	require.Equal(t, change.Str("three"), rows[31][1], "moved twice within one apply")
	require.Equal(t, change.Int(7), rows[31][3])
}
