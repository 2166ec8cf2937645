package stream_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/silver"
	"github.com/strata-data/strata/stream"
)

var kvSchema = change.MustSchema([]arrow.Field{
	change.NotNull("k", arrow.PrimitiveTypes.Int64),
	change.Col("v", arrow.BinaryTypes.String),
}, "k")

// applyKV applies one transaction at commit position lsn to table: upserts of
// (k, v) pairs, and deletes of the keys in del.
func applyKV(t *testing.T, tb *silver.Table, lsn uint64, kv map[int64]string, del ...int64) {
	t.Helper()
	var evs []cdc.Event
	for k, v := range kv {
		evs = append(evs, cdc.Event{Table: tb.Name(), Op: cdc.OpCreate, Schema: kvSchema, SchemaVersion: 1,
			After: change.Row{change.Int(k), change.Str(v)}})
	}
	for _, k := range del {
		evs = append(evs, cdc.Event{Table: tb.Name(), Op: cdc.OpDelete, Schema: kvSchema, SchemaVersion: 1,
			Before: change.Row{change.Int(k), change.Absent()}})
	}
	_, err := tb.Apply(context.Background(), []cdc.Tx{{Events: evs, Commit: cdc.Position{Major: lsn}}})
	require.NoError(t, err)
}

// step is one transaction of the source, as text.
type step struct {
	pos  cdc.Position
	rows []string // table: op row
}

func readSteps(t *testing.T, src stream.BatchSource) []step {
	t.Helper()
	var out []step
	for {
		tx, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		s := step{pos: tx.Commit}
		for i, b := range tx.Batches {
			for j, r := range b.Rows() {
				s.rows = append(s.rows, tx.Tables[i]+": "+b.Ops()[j].String()+" "+r.String())
			}
		}
		tx.Release()
		out = append(out, s)
	}
}

// The source steps through the tables' snapshots in commit order, each step the net
// changes of the tables with snapshots at its position; reopened after a step, it
// replays the later steps exactly as recorded, though the tables have moved on.
func TestSilverSourceSteps(t *testing.T) {
	ctx := context.Background()
	store := bronze.NewMemStore()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	a, err := silver.Open(ctx, store, "a", silver.Config{})
	require.NoError(t, err)
	b, err := silver.Open(ctx, store, "b", silver.Config{})
	require.NoError(t, err)
	applyKV(t, a, 10, map[int64]string{1: "a1", 2: "a2"})
	applyKV(t, b, 20, map[int64]string{1: "b1"})
	applyKV(t, a, 20, map[int64]string{1: "a1'"}, 2)
	applyKV(t, a, 30, map[int64]string{3: "a3"})
	applyKV(t, a, 31, map[int64]string{3: "a3'"}) // two snapshots, one step
	_, _, err = a.Compact(ctx)                    // same rows, same position: nothing
	require.NoError(t, err)

	cfg := stream.SilverSourceConfig{Store: store, Tables: []string{"a", "b"}, Log: "feeds/test", Mem: mem}
	src, err := stream.NewSilverSource(ctx, cfg)
	require.NoError(t, err)
	require.True(t, src.Schema("a").Equal(kvSchema))
	require.NoError(t, src.Open(ctx, cdc.Position{}))
	got := readSteps(t, src)
	want := []step{
		{cdc.Position{Major: 1}, []string{`a: +I (1, "a1")`, `a: +I (2, "a2")`}},
		{cdc.Position{Major: 2}, []string{`a: -U (1, "a1")`, `a: +U (1, "a1'")`, `a: -D (2, "a2")`, `b: +I (1, "b1")`}},
		{cdc.Position{Major: 3}, []string{`a: +I (3, "a3")`}},
		{cdc.Position{Major: 4}, []string{`a: -U (3, "a3")`, `a: +U (3, "a3'")`}},
	}
	require.Equal(t, want, got)

	// The tables move on; a source reopened after step 1 replays steps 2-4 as they
	// were, then steps through the new snapshots.
	applyKV(t, b, 25, map[int64]string{2: "b2"}) // before step 4's position, published after it
	applyKV(t, a, 40, nil, 1)
	src2, err := stream.NewSilverSource(ctx, cfg)
	require.NoError(t, err)
	require.NoError(t, src2.Open(ctx, cdc.Position{Major: 1}))
	got = readSteps(t, src2)
	require.Equal(t, want[1:], got[:3])
	require.Equal(t, []step{{cdc.Position{Major: 5}, []string{`b: +I (2, "b2")`}},
		{cdc.Position{Major: 6}, []string{`a: -D (1, "a1'")`}}}, got[3:])

	// Ack drops the records before the acknowledged step: opening earlier fails.
	require.NoError(t, src2.Ack(ctx, cdc.Position{Major: 5}))
	require.ErrorIs(t, src2.Open(ctx, cdc.Position{Major: 2}), stream.ErrInput)
	require.NoError(t, src2.Open(ctx, cdc.Position{Major: 5}))
	require.Equal(t, got[4:], readSteps(t, src2))

	// A schema change is an error, not a silent mismatch.
	wide := change.MustSchema(append(kvSchema.Fields(), change.Col("w", arrow.PrimitiveTypes.Int64)), "k")
	_, err = b.Apply(ctx, []cdc.Tx{{Commit: cdc.Position{Major: 50}, Events: []cdc.Event{{Table: "b", Op: cdc.OpCreate,
		Schema: wide, SchemaVersion: 2, After: change.Row{change.Int(9), change.Str("x"), change.Int(1)}}}}})
	require.NoError(t, err)
	_, err = src2.Next(ctx)
	require.ErrorIs(t, err, stream.ErrInput)
}

// A following source waits for new snapshots; while caught up it returns empty
// transactions at its last step until that step is acknowledged, so a dataflow can
// checkpoint.
func TestSilverSourceFollow(t *testing.T) {
	ctx := context.Background()
	store := bronze.NewMemStore()
	a, err := silver.Open(ctx, store, "a", silver.Config{})
	require.NoError(t, err)
	applyKV(t, a, 10, map[int64]string{1: "x"})
	src, err := stream.NewSilverSource(ctx, stream.SilverSourceConfig{Store: store, Tables: []string{"a"}, Log: "feed",
		Follow: true, PollInterval: time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, src.Open(ctx, cdc.Position{}))
	tx, err := src.Next(ctx)
	require.NoError(t, err)
	require.Len(t, tx.Batches, 1)
	tx.Release()
	beat, err := src.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, stream.TxBatches{Commit: cdc.Position{Major: 1}}, beat)
	require.NoError(t, src.Ack(ctx, cdc.Position{Major: 1}))
	go func() {
		time.Sleep(20 * time.Millisecond)
		applyKV(t, a, 20, map[int64]string{2: "y"})
	}()
	tx, err = src.Next(ctx) // no more heartbeats: it waits for the new snapshot
	require.NoError(t, err)
	require.Equal(t, cdc.Position{Major: 2}, tx.Commit)
	require.Len(t, tx.Batches, 1)
	tx.Release()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = src.Next(cctx) // the heartbeat of step 2
	require.NoError(t, err)
	_, err = src.Next(cctx)
	require.NoError(t, err, "a heartbeat per poll until acknowledged")
}
