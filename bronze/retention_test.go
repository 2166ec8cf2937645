package bronze_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
)

const day = 24 * time.Hour

func customer(id int64) cdc.Event {
	ev := ins(order(id, "customer", 0, 0, ""))
	ev.Table = "public.customers"
	return ev
}

// names returns the names of a commit's files.
func names(files []bronze.FileEntry) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	return out
}

func keptNames(kept []bronze.KeptFile) map[string]string {
	out := map[string]string{}
	for _, k := range kept {
		out[k.Name] = k.Reason
	}
	return out
}

func requireGone(t *testing.T, ctx context.Context, store bronze.Store, names ...string) {
	t.Helper()
	for _, n := range names {
		_, err := store.Get(ctx, n)
		require.ErrorIs(t, err, bronze.ErrNotFound, "%s was removed", n)
	}
}

func TestRetainDropsOnlyFilesASnapshotCovers(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store, w := openLake(t, ctx, clk)
	var s script
	var txs []cdc.Tx
	add := func(evs ...cdc.Event) cdc.Tx { tx := s.tx(evs...); txs = append(txs, tx); return tx }

	c1 := commit(t, ctx, w, add(ins(order(1, "new", 1, 1, "a")), ins(order(2, "new", 2, 2, "b")), auditLine("x"), message()))
	clk.Advance(day)
	c2 := commit(t, ctx, w, add(partial(1, "paid"), customer(7)))
	clk.Advance(day)
	first := compact(t, ctx, w.Manifest(), bronze.CompactOptions{Now: clk.Now})
	require.Len(t, first.Snapshots(), 2, "orders and customers; audit has no key")
	clk.Advance(day)
	c4 := commit(t, ctx, w, add(del(2), ins(order(3, "new", 3, 3, "c"))))
	clk.Advance(10 * day)

	// Nothing is old enough yet.
	rep, err := bronze.Retain(ctx, w.Manifest(), bronze.RetentionOptions{OlderThan: 30 * day, Now: clk.Now, Logger: quiet})
	require.NoError(t, err)
	assert.Zero(t, rep.Commit.ID)
	assert.Empty(t, rep.Removed)

	rep, err = bronze.Retain(ctx, w.Manifest(), bronze.RetentionOptions{OlderThan: 5 * day, Now: clk.Now, Logger: quiet})
	require.NoError(t, err)
	assert.Equal(t, clk.Now().Add(-5*day), rep.Cutoff)
	var orders1, audit1, msg1 string
	for _, f := range c1.Files {
		switch f.Table {
		case orders:
			orders1 = f.Name
		case audit:
			audit1 = f.Name
		case "":
			msg1 = f.Name
		}
	}
	covered := append([]string{orders1}, names(c2.Files)...)
	assert.ElementsMatch(t, covered, rep.Removed, "commit 1's orders file and all of commit 2 are covered")
	assert.Equal(t, rep.Removed, rep.Commit.Removed)
	assert.Empty(t, rep.Commit.Files)
	assert.Equal(t, c4.Position, rep.Commit.Position)
	kept := keptNames(rep.Kept)
	assert.Contains(t, kept[audit1], "no snapshot of its table")
	assert.Contains(t, kept[msg1], "without a table")
	assert.Contains(t, kept[c4.Files[0].Name], "does not cover commit 4")
	for _, snap := range first.Snapshots() {
		assert.Equal(t, "the latest snapshot of its table", kept[snap.Name])
	}
	requireGone(t, ctx, store, rep.Removed...)
	_, err = store.Get(ctx, audit1)
	require.NoError(t, err, "an uncovered file stays")

	m, err := bronze.OpenManifest(ctx, store)
	require.NoError(t, err)
	require.NoError(t, m.Verify(ctx), "Verify skips removed files")
	assert.Equal(t, map[string]uint64{orders1: rep.Commit.ID, c2.Files[0].Name: rep.Commit.ID, c2.Files[1].Name: rep.Commit.ID}, m.RemovedFiles())

	// The history the removed files held lives on in the snapshot: a compaction after
	// retention starts from it and equals the full fold.
	second := compact(t, ctx, m, bronze.CompactOptions{Now: clk.Now})
	snap, ok := second.Snapshot(orders)
	require.True(t, ok)
	want := newOracle(orders)
	want.applyTxs(txs)
	requireSnapshot(t, ctx, store, snap, want)

	// Later, the new snapshot covers commit 4 and supersedes the first snapshot of orders;
	// customers' only snapshot stays.
	clk.Advance(10 * day)
	rep, err = bronze.Retain(ctx, m, bronze.RetentionOptions{Before: clk.Now().Add(-day), Now: clk.Now, Logger: quiet})
	require.NoError(t, err)
	firstOrders, _ := first.Snapshot(orders)
	firstCustomers, _ := first.Snapshot("public.customers")
	assert.ElementsMatch(t, []string{c4.Files[0].Name, firstOrders.Name}, rep.Removed)
	kept = keptNames(rep.Kept)
	assert.Equal(t, "the latest snapshot of its table", kept[firstCustomers.Name])
	assert.Equal(t, "the latest snapshot of its table", kept[snap.Name])
	requireGone(t, ctx, store, rep.Removed...)
	require.NoError(t, m.Verify(ctx))
	requireSnapshot(t, ctx, store, snap, want)

	// The lake's Reader verifies it too: removed files and snapshots are not read.
	r, err := bronze.OpenReader(ctx, store)
	require.NoError(t, err)
	vr, err := r.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, vr.Snapshots, "the live snapshots of orders and customers")

	// The lake still opens for writing, and nothing live was taken for an orphan.
	w2, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: store})
	require.NoError(t, err)
	require.NoError(t, w2.Manifest().Verify(ctx))
	_, err = store.Get(ctx, audit1)
	require.NoError(t, err)
}

// A crash after the retention commit is published but before the files are deleted
// leaves a lake that reopens and verifies; the leftovers are orphans the next writer
// removes.
func TestRetainCrashBetweenCommitAndDeletes(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	dir, err := bronze.OpenDir(t.TempDir())
	require.NoError(t, err)
	fs := bronze.NewFaultStore(dir)
	w, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: fs, Now: clk.Now})
	require.NoError(t, err)
	var s script
	c1 := commit(t, ctx, w, s.tx(ins(order(1, "new", 1, 1, "a"))), s.tx(ins(order(2, "new", 2, 2, "b"))))
	compact(t, ctx, w.Manifest(), bronze.CompactOptions{Now: clk.Now})
	clk.Advance(3 * day)

	fs.Inject(bronze.Fault{Op: "delete"}) // the process dies before any delete
	rep, err := bronze.Retain(ctx, w.Manifest(), bronze.RetentionOptions{OlderThan: day, Now: clk.Now, Logger: quiet})
	require.ErrorIs(t, err, bronze.ErrInjected)
	assert.ErrorContains(t, err, c1.Files[0].Name)
	require.Equal(t, names(c1.Files), rep.Removed)
	_, err = dir.Get(ctx, c1.Files[0].Name)
	require.NoError(t, err, "the file outlived the crash")

	reopened, err := bronze.OpenDir(dir.Root())
	require.NoError(t, err)
	m, err := bronze.OpenManifest(ctx, reopened)
	require.NoError(t, err)
	require.NoError(t, m.Verify(ctx))
	assert.Equal(t, rep.Commit, func() bronze.Commit { c, _ := m.Last(); return c }())

	w2, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: reopened})
	require.NoError(t, err)
	requireGone(t, ctx, reopened, rep.Removed...)
	require.NoError(t, w2.Manifest().Verify(ctx))
	snap, ok := w2.Manifest().LatestSnapshot(orders, 0)
	require.True(t, ok)
	want := newOracle(orders)
	want.apply(ins(order(1, "new", 1, 1, "a")), ins(order(2, "new", 2, 2, "b")))
	requireSnapshot(t, ctx, reopened, snap, want)
}

func TestRetentionOptionsValidate(t *testing.T) {
	assert.ErrorContains(t, bronze.RetentionOptions{}.Validate(), "needs OlderThan or Before")
	assert.ErrorContains(t, bronze.RetentionOptions{OlderThan: -time.Hour}.Validate(), "negative")
	assert.ErrorContains(t, bronze.RetentionOptions{OlderThan: time.Hour, Before: time.Now()}.Validate(), "both")
	assert.NoError(t, bronze.RetentionOptions{OlderThan: time.Hour}.Validate())
	_, err := bronze.Retain(context.Background(), mustManifest(t, bronze.NewMemStore()), bronze.RetentionOptions{})
	assert.Error(t, err)
}

// A snapshot as of commit k covers commit k and nothing after it.
func TestRetainKeepsTheCommitRightAfterTheSnapshot(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store, w := openLake(t, ctx, clk)
	var s script
	c1 := commit(t, ctx, w, s.tx(ins(order(1, "new", 1, 1, "a"))))
	c2 := commit(t, ctx, w, s.tx(ins(order(2, "new", 2, 2, "b"))))
	compact(t, ctx, w.Manifest(), bronze.CompactOptions{UpTo: c1.ID, Now: clk.Now})
	clk.Advance(2 * day)
	rep, err := bronze.Retain(ctx, w.Manifest(), bronze.RetentionOptions{OlderThan: day, Now: clk.Now, Logger: quiet})
	require.NoError(t, err)
	assert.Equal(t, names(c1.Files), rep.Removed)
	assert.Contains(t, keptNames(rep.Kept)[c2.Files[0].Name], "as of commit 1, does not cover commit 2")
	requireGone(t, ctx, store, c1.Files[0].Name)
	_, err = store.Get(ctx, c2.Files[0].Name)
	require.NoError(t, err)
}
