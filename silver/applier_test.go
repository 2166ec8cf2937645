package silver_test

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/silver"
)

func ingest(t *testing.T, store bronze.Store, cfg cdc.GeneratorConfig, commitEvents int) {
	t.Helper()
	_, err := bronze.Ingest(context.Background(), bronze.IngestConfig{Source: cdc.NewGenerator(cfg),
		Writer: bronze.WriterConfig{Store: store}, CommitEvents: commitEvents, ExitWhenIdle: true})
	require.NoError(t, err)
}

// bronzeRows folds the lake with bronze's own compaction, the oracle: the latest row
// per key of every table.
func bronzeRows(t *testing.T, store bronze.Store) map[string][]change.Row {
	t.Helper()
	ctx := context.Background()
	m, err := bronze.OpenManifest(ctx, store)
	require.NoError(t, err)
	_, err = bronze.Compact(ctx, m, bronze.CompactOptions{})
	require.NoError(t, err)
	out := map[string][]change.Row{}
	sch, err := m.Schemas()
	require.NoError(t, err)
	for _, name := range sch.Tables() {
		e, ok := m.LatestSnapshot(name, 0)
		require.True(t, ok, name)
		b, err := bronze.ReadSnapshot(ctx, store, e, nil)
		require.NoError(t, err)
		out[name] = b.Rows()
		b.Release()
	}
	return out
}

func silverRows(t *testing.T, tb *silver.Table) []change.Row {
	t.Helper()
	sc, err := tb.Scan(context.Background(), silver.ScanOptions{})
	require.NoError(t, err)
	var rows []change.Row
	for b, err := range sc.All() {
		require.NoError(t, err)
		rows = append(rows, b.Rows()...)
	}
	return rows
}

// An applier following a lake that grows keeps every silver table equal to bronze's
// own fold of the lake; it resumes after a restart from the silver manifests, and
// a restart with nothing new publishes nothing.
func TestApplierFollowsBronze(t *testing.T) {
	ctx := context.Background()
	store := bronze.NewMemStore()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	reg := prometheus.NewRegistry()
	metrics := silver.NewMetrics(reg)
	newApplier := func() *silver.Applier {
		a, err := silver.NewApplier(silver.ApplierConfig{Store: store, BatchChanges: 1500, Compact: true, Metrics: metrics,
			Table: silver.Config{Mem: mem, Compaction: silver.CompactPolicy{MaxFiles: 3}}})
		require.NoError(t, err)
		return a
	}
	a := newApplier()
	st, err := a.CatchUp(ctx)
	require.NoError(t, err)
	require.Zero(t, st.Txs, "an empty lake")

	for i, events := range []int{4000, 9000, 15000} {
		ingest(t, store, cdc.GeneratorConfig{Seed: 11, Events: events, AddColumnAt: 6000}, 1000)
		if i == 1 {
			a = newApplier() // a restart
		}
		st, err := a.CatchUp(ctx)
		require.NoError(t, err)
		require.NotZero(t, st.Txs)
		for _, name := range a.Names() {
			tb, _ := a.Table(name)
			require.Equal(t, st.Position, tb.Position(), "%s is current, touched by the last transaction or not", name)
		}
		want := bronzeRows(t, store)
		require.Len(t, want, 3)
		for name, rows := range want {
			tb, ok := a.Table(name)
			require.True(t, ok, name)
			got := silverRows(t, tb)
			requireSameRows(t, tb.Schema(), rows, got, name)
		}
	}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	changes, series := 0.0, 0
	for _, mf := range mfs {
		if mf.GetName() == "strata_silver_changes_total" {
			for _, m := range mf.GetMetric() {
				changes += m.GetCounter().GetValue()
				series++
			}
		}
	}
	require.Equal(t, 3, series, "one series per table")
	require.EqualValues(t, 15000, changes, "every generated row event applied once")

	// A restart with nothing new reads the tail again but publishes nothing.
	before := map[string]uint64{}
	for _, n := range []string{"public.customers", "public.orders", "public.payments"} {
		tb, _ := a.Table(n)
		s, _ := tb.Latest()
		before[n] = s.ID
	}
	a = newApplier()
	st, err = a.CatchUp(ctx)
	require.NoError(t, err)
	require.Zero(t, st.Snapshots)
	for n, id := range before {
		tb, _ := a.Table(n)
		s, _ := tb.Latest()
		require.Equal(t, id, s.ID, n)
	}
	st, err = a.CatchUp(ctx)
	require.NoError(t, err)
	require.Zero(t, st.Txs, "the applier remembers what it read")
}

// requireSameRows compares two sets of full rows by key.
func requireSameRows(t *testing.T, s *change.Schema, want, got []change.Row, what string) {
	t.Helper()
	key := func(r change.Row) string { return s.KeyOf(r).String() }
	wm := map[string]change.Row{}
	for _, r := range want {
		wm[key(r)] = r
	}
	require.Equal(t, len(want), len(got), "%s: rows", what)
	for _, r := range got {
		require.Equal(t, wm[key(r)], r, "%s: key %s", what, key(r))
	}
}
