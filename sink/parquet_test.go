package sink_test

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/sink"
)

func openParquet(t *testing.T, store bronze.Store, mem memory.Allocator, reg *prometheus.Registry) *sink.Parquet {
	t.Helper()
	cfg := sink.ParquetConfig{Store: store, Prefix: "gold/revenue", Schema: martSchema, Mem: mem, Keep: 2}
	if reg != nil {
		cfg.Metrics = sink.NewMetrics(reg)
	}
	p, err := sink.OpenParquet(context.Background(), cfg)
	require.NoError(t, err)
	return p
}

func readTable(t *testing.T, store bronze.Store, mem memory.Allocator) (map[string][]any, sink.ParquetManifest) {
	t.Helper()
	got := map[string][]any{}
	m, err := sink.ReadParquet(context.Background(), store, "gold/revenue", martSchema, mem, collectRows(t, got))
	require.NoError(t, err)
	return got, m
}

func TestParquetFlushHoldsTheNetRowsAndSkipsReplays(t *testing.T) {
	mem := checkedMem(t)
	ctx := context.Background()
	store, err := bronze.OpenDir(t.TempDir())
	require.NoError(t, err)
	steps, tables := changelog(1, 60, 40)
	reg := prometheus.NewRegistry()
	p := openParquet(t, store, mem, reg)
	for i, st := range steps {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
		if i%7 == 6 || i == len(steps)-1 {
			require.NoError(t, p.Flush(ctx))
			got, m := readTable(t, store, mem)
			require.Equal(t, tableOf(tables[i]), got, "after step %d", i)
			require.Equal(t, st.pos, m.Position)
		}
	}
	require.Equal(t, steps[59].pos, p.Committed())
	require.NoError(t, p.Close())

	// A restart replays from an earlier position: everything up to the committed
	// position is skipped, the rest applied once.
	p = openParquet(t, store, mem, nil)
	require.Equal(t, steps[59].pos, p.Committed())
	v := p.Version().Version
	for _, st := range steps[30:] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, p.Flush(ctx))
	require.Equal(t, v, p.Version().Version, "a replay of committed positions publishes nothing")
	more, moreTables := changelog(1, 70, 40) // the same stream, ten steps further
	for _, st := range more[55:] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, p.Flush(ctx))
	got, _ := readTable(t, store, mem)
	require.Equal(t, tableOf(moreTables[69]), got)
	require.NoError(t, p.Close())

	// Only the kept versions' files remain.
	data, err := store.List(ctx, "gold/revenue/data/")
	require.NoError(t, err)
	mans, err := store.List(ctx, "gold/revenue/manifest/")
	require.NoError(t, err)
	require.Len(t, mans, 2)
	require.Len(t, data, 2)
	require.Greater(t, counter(t, reg, "strata_sink_rows_total", "gold/revenue"), 0.0)
	require.Equal(t, 60.0, counter(t, reg, "strata_sink_batches_total", "gold/revenue"))
}

func TestParquetTwoPhase(t *testing.T) {
	mem := checkedMem(t)
	ctx := context.Background()
	store, err := bronze.OpenDir(t.TempDir())
	require.NoError(t, err)
	steps, tables := changelog(2, 40, 30)
	p := openParquet(t, store, mem, nil)
	var _ sink.TwoPhase = p
	for _, st := range steps[:10] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, sink.PreCommitAt(ctx, p, 1))
	_, found, err := sink.LatestParquet(ctx, store, "gold/revenue")
	require.NoError(t, err)
	require.False(t, found, "a pre-committed checkpoint is invisible")
	for _, st := range steps[10:15] { // written between pre-commit and commit: not in checkpoint 1
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, sink.CommitAt(ctx, p, 1))
	got, m := readTable(t, store, mem)
	require.Equal(t, tableOf(tables[9]), got)
	require.Equal(t, uint64(1), m.Checkpoint)
	require.Equal(t, steps[9].pos, m.Position)
	require.NoError(t, p.Commit(ctx, 1), "commit is idempotent")
	_, m2 := readTable(t, store, mem)
	require.Equal(t, m.Version, m2.Version)

	// Checkpoint 2 is pre-committed, then the process dies before its commit.
	require.NoError(t, p.PreCommit(ctx, 2))
	require.NoError(t, p.Close())

	// The restarted run restores checkpoint 2 and commits it from the store.
	p = openParquet(t, store, mem, nil)
	require.Equal(t, steps[9].pos, p.Committed())
	require.NoError(t, sink.RecoverAt(ctx, p, 2))
	got, m = readTable(t, store, mem)
	require.Equal(t, tableOf(tables[14]), got)
	require.Equal(t, uint64(2), m.Checkpoint)
	require.Equal(t, steps[14].pos, p.Committed())
	// The source resumes at checkpoint 2's position (replaying a little before it).
	for _, st := range steps[12:25] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, p.PreCommit(ctx, 3))
	// Checkpoint 3 fails elsewhere: abort it; its rows go into checkpoint 4.
	require.NoError(t, p.Abort(ctx, 3))
	for _, st := range steps[25:30] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, p.PreCommit(ctx, 4))
	require.NoError(t, p.Commit(ctx, 4))
	got, _ = readTable(t, store, mem)
	require.Equal(t, tableOf(tables[29]), got)
	require.ErrorIs(t, p.Abort(ctx, 4), sink.ErrCheckpoint)
	require.ErrorIs(t, p.Commit(ctx, 5), sink.ErrCheckpoint)

	// A crashed run pre-committed 5; the restart restores 4 and aborts it.
	for _, st := range steps[30:40] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, p.PreCommit(ctx, 5))
	require.NoError(t, p.Close())
	p = openParquet(t, store, mem, nil)
	ids, err := p.Pending(ctx)
	require.NoError(t, err)
	require.Equal(t, []uint64{5}, ids)
	require.NoError(t, sink.RecoverAt(ctx, p, 4))
	ids, err = p.Pending(ctx)
	require.NoError(t, err)
	require.Empty(t, ids)
	got, _ = readTable(t, store, mem)
	require.Equal(t, tableOf(tables[29]), got)
	for _, st := range steps[30:40] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, p.PreCommit(ctx, 5))
	require.NoError(t, p.Commit(ctx, 5))
	got, _ = readTable(t, store, mem)
	require.Equal(t, tableOf(tables[39]), got)
	require.NoError(t, p.Close())
	files, err := store.List(ctx, "gold/revenue/data/")
	require.NoError(t, err)
	require.LessOrEqual(t, len(files), 2, "aborted and superseded attempts are collected: %v", files)
}

// A crash at any put leaves the last committed version readable, and a replay from an
// earlier position converges on the same table.
func TestParquetCrashAtEveryPut(t *testing.T) {
	mem := checkedMem(t)
	ctx := context.Background()
	steps, tables := changelog(3, 24, 20)
	crashes := 0
	for crashAt := int64(0); crashAt < 20000; crashAt += 400 {
		dir := bronze.NewMemStore()
		fs := bronze.NewFaultStore(dir)
		fs.CrashAfter(crashAt)
		p := openParquet(t, fs, mem, nil)
		var committed int = -1
		for i, st := range steps {
			if err := p.Write(ctx, st.batch(t, mem), st.pos); err != nil {
				break
			}
			if i%4 == 3 {
				if err := p.Flush(ctx); err != nil {
					break
				}
				committed = i
			}
		}
		require.NoError(t, p.Close())
		if committed < len(steps)-1 {
			crashes++
		}
		got, _ := readTable(t, dir, mem)
		if committed >= 0 {
			require.Equal(t, tableOf(tables[committed]), got, "crash after %d bytes", crashAt)
		}
		p = openParquet(t, dir, mem, nil)
		for _, st := range steps { // replay everything
			require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
		}
		require.NoError(t, p.Flush(ctx))
		require.NoError(t, p.Close())
		got, _ = readTable(t, dir, mem)
		require.Equal(t, tableOf(tables[len(steps)-1]), got, "crash after %d bytes", crashAt)
	}
	t.Logf("%d runs crashed before the end", crashes)
	require.Greater(t, crashes, 25)
}

func TestParquetDetectsDamage(t *testing.T) {
	mem := checkedMem(t)
	ctx := context.Background()
	store := bronze.NewMemStore()
	steps, _ := changelog(4, 5, 10)
	p := openParquet(t, store, mem, nil)
	for _, st := range steps {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, p.Flush(ctx))
	require.NoError(t, p.Close())
	files, err := store.List(ctx, "gold/revenue/data/")
	require.NoError(t, err)
	data, err := store.Get(ctx, files[0])
	require.NoError(t, err)
	data[len(data)/2] ^= 0xff
	require.NoError(t, store.Put(ctx, files[0], data))
	_, err = sink.ReadParquet(ctx, store, "gold/revenue", martSchema, mem, func(*change.Batch) {})
	require.ErrorIs(t, err, sink.ErrCorrupt)
	require.True(t, strings.Contains(err.Error(), files[0]), err.Error())
	_, err = sink.OpenParquet(ctx, sink.ParquetConfig{Store: store, Prefix: "gold/revenue", Schema: martSchema, Mem: mem})
	require.ErrorIs(t, err, sink.ErrCorrupt)
}

func TestParquetConfig(t *testing.T) {
	store := bronze.NewMemStore()
	noKey := change.MustSchema(martSchema.Fields())
	for _, cfg := range []sink.ParquetConfig{
		{Prefix: "x", Schema: martSchema},
		{Store: store, Prefix: "x"},
		{Store: store, Prefix: "x", Schema: noKey},
		{Store: store, Prefix: "../x", Schema: martSchema},
	} {
		_, err := sink.OpenParquet(context.Background(), cfg)
		require.ErrorIs(t, err, sink.ErrConfig)
	}
}

// Two writers of one table: the second to publish a version is refused.
func TestParquetRefusesASecondWriter(t *testing.T) {
	mem := checkedMem(t)
	ctx := context.Background()
	store, err := bronze.OpenDir(t.TempDir())
	require.NoError(t, err)
	steps, _ := changelog(6, 4, 10)
	a := openParquet(t, store, mem, nil)
	b := openParquet(t, store, mem, nil)
	for _, st := range steps {
		require.NoError(t, a.Write(ctx, st.batch(t, mem), st.pos))
		require.NoError(t, b.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, a.Flush(ctx))
	require.ErrorIs(t, b.Flush(ctx), sink.ErrOrder)
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
}

// Flush and two-phase commits mixed: a commit never takes the table back to an older
// pre-commit, and an empty pre-commit keeps the position.
func TestParquetFlushBetweenPreCommitAndCommit(t *testing.T) {
	mem := checkedMem(t)
	ctx := context.Background()
	store := bronze.NewMemStore()
	steps, tables := changelog(7, 10, 10)
	p := openParquet(t, store, mem, nil)
	for _, st := range steps[:5] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, p.Flush(ctx))
	require.NoError(t, p.Close())

	p = openParquet(t, store, mem, nil)
	require.NoError(t, p.PreCommit(ctx, 1)) // nothing written since the open
	require.NoError(t, p.Abort(ctx, 1))
	require.NoError(t, p.Flush(ctx))
	require.Equal(t, steps[4].pos, p.Committed())

	for _, st := range steps[5:8] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, p.PreCommit(ctx, 2))
	for _, st := range steps[8:] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, p.Flush(ctx))
	require.NoError(t, p.Commit(ctx, 2))
	got, m := readTable(t, store, mem)
	require.Equal(t, tableOf(tables[9]), got)
	require.Equal(t, steps[9].pos, m.Position)
	require.Equal(t, uint64(2), m.Checkpoint)
	require.NoError(t, p.Close())
}
