package sink_test

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/silver"
	"github.com/strata-data/strata/sink"
)

func openSilver(t *testing.T, store bronze.Store, mem memory.Allocator, reg prometheus.Registerer, maxPending int) *sink.Silver {
	t.Helper()
	var m *sink.Metrics
	if reg != nil {
		m = sink.NewMetrics(reg)
	}
	s, err := sink.OpenSilver(context.Background(), sink.SilverConfig{Store: store, Table: "derived.mart", Schema: martSchema,
		Config: silver.Config{Mem: mem}, MaxPendingChanges: maxPending, Metrics: m})
	require.NoError(t, err)
	return s
}

func silverTable(t *testing.T, tb *silver.Table) map[string][]any {
	t.Helper()
	got := map[string][]any{}
	sc, err := tb.Scan(context.Background(), silver.ScanOptions{})
	require.NoError(t, err)
	for b, err := range sc.All() {
		require.NoError(t, err)
		collectRows(t, got)(b)
	}
	return got
}

// The silver sink holds the net rows after every flush, records the position in the
// table's snapshots and skips what a replay from an earlier position brings again.
func TestSilverSinkAppliesAndSkipsReplays(t *testing.T) {
	mem := checkedMem(t)
	ctx := context.Background()
	store := bronze.NewMemStore()
	steps, tables := changelog(3, 60, 40)
	reg := prometheus.NewRegistry()
	s := openSilver(t, store, mem, reg, 0)
	for i, st := range steps {
		require.NoError(t, s.Write(ctx, st.batch(t, mem), st.pos))
		if i%7 == 6 || i == len(steps)-1 {
			require.NoError(t, s.Flush(ctx))
			require.Equal(t, tableOf(tables[i]), silverTable(t, s.Table()), "after step %d", i)
			require.Equal(t, st.pos, s.Committed())
		}
	}
	snaps := len(s.Table().Snapshots())
	applies := 0
	for _, sn := range s.Table().Snapshots() {
		if sn.Op == "apply" {
			applies++
		}
	}
	require.Equal(t, 9, applies, "one apply per flush")
	require.NoError(t, s.Close())

	// Reopened, a replay from an earlier position applies only what is new, and a
	// small MaxPendingChanges applies at position boundaries before Flush.
	s = openSilver(t, store, mem, nil, 1)
	require.Equal(t, steps[59].pos, s.Committed())
	for _, st := range steps[20:] {
		require.NoError(t, s.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, s.Flush(ctx))
	require.Len(t, s.Table().Snapshots(), snaps, "a replay of applied positions publishes nothing")
	more, moreTables := changelog(3, 70, 40)
	for _, st := range more[50:] {
		require.NoError(t, s.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.Greater(t, len(s.Table().Snapshots()), snaps+5, "applied before Flush")
	require.NoError(t, s.Flush(ctx))
	require.Equal(t, tableOf(moreTables[69]), silverTable(t, s.Table()))
	require.Equal(t, more[69].pos, s.Committed())
	require.ErrorIs(t, s.Write(ctx, more[60].batch(t, mem), more[69].pos), sink.ErrOrder, "after a flush at its position")
	require.NoError(t, s.Close())
	require.Equal(t, 60.0, counter(t, reg, "strata_sink_batches_total", "derived.mart"))
}

// Within a position a key's changes are netted as a multiset, whatever their order;
// a key left with two rows is an error.
func TestSilverSinkNetsAKeysChanges(t *testing.T) {
	ctx := context.Background()
	store := bronze.NewMemStore()
	kv := change.MustSchema([]arrow.Field{change.NotNull("k", arrow.PrimitiveTypes.Int64), change.Col("v", arrow.BinaryTypes.String)}, "k")
	s, err := sink.OpenSilver(ctx, sink.SilverConfig{Store: store, Table: "kv", Schema: kv})
	require.NoError(t, err)
	write := func(p uint64, rows ...[]any) error { return s.Write(ctx, batchOf(t, nil, kv, rows...), pos(p)) }
	require.NoError(t, write(1, []any{change.Insert, 1, "a"}, []any{change.Insert, 2, "b"}, []any{change.Insert, 3, "c"}))
	require.NoError(t, write(2,
		[]any{change.Insert, 1, "a2"}, []any{change.Delete, 1, "a"}, // the new row before the old one's retraction
		[]any{change.Insert, 4, "d"}, []any{change.Delete, 4, "d"}, // added and retracted again
		[]any{change.UpdateBefore, 2, "b"}, []any{change.UpdateAfter, 5, "b"})) // a key change
	require.NoError(t, write(2, []any{change.Delete, 3, "c"})) // another batch of the same position
	require.NoError(t, s.Flush(ctx))
	got := map[int64]string{}
	for _, r := range silverRowsOf(t, s.Table()) {
		got[r[0].(int64)] = r[1].(string)
	}
	require.Equal(t, map[int64]string{1: "a2", 5: "b"}, got)
	require.NoError(t, write(3, []any{change.Insert, 7, "x"}, []any{change.Insert, 7, "y"}))
	require.ErrorIs(t, s.Flush(ctx), sink.ErrSchema)

	// The table's schema is the sink's.
	other := change.MustSchema([]arrow.Field{change.NotNull("k", arrow.PrimitiveTypes.Int64)}, "k")
	_, err = sink.OpenSilver(ctx, sink.SilverConfig{Store: store, Table: "kv", Schema: other})
	require.ErrorIs(t, err, sink.ErrSchema)
}

func silverRowsOf(t *testing.T, tb *silver.Table) [][]any {
	sc, err := tb.Scan(context.Background(), silver.ScanOptions{})
	require.NoError(t, err)
	var out [][]any
	for b, err := range sc.All() {
		require.NoError(t, err)
		for _, r := range b.Plain() {
			out = append(out, r[1:])
		}
	}
	return out
}
