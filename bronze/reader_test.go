package bronze_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// reference returns the generator's transactions as the assembler cuts them, each
// transaction as its events' normalized JSON.
func reference(t *testing.T, cfg cdc.GeneratorConfig) ([][]string, []cdc.Position) {
	t.Helper()
	ctx := context.Background()
	g := cdc.NewGenerator(cfg)
	require.NoError(t, g.Open(ctx, cdc.Position{}))
	a := cdc.NewAssembler(cdc.AssemblerConfig{})
	var out [][]string
	var commits []cdc.Position
	take := func() {
		for tx, ok := a.Next(); ok; tx, ok = a.Next() {
			out = append(out, txJSON(tx))
			commits = append(commits, tx.Commit)
		}
	}
	for {
		ev, err := g.Read(ctx)
		if errors.Is(err, io.EOF) {
			require.NoError(t, a.Flush(ctx))
			take()
			return out, commits
		}
		require.NoError(t, err)
		require.NoError(t, a.Add(ctx, &ev))
		take()
	}
}

func txJSON(tx cdc.Tx) []string {
	var out []string
	for i := range tx.Events {
		out = append(out, string(cdc.AppendEventJSON(nil, &tx.Events[i])))
	}
	return out
}

// lake ingests the generator's stream into a directory lake in several commits.
func lake(t *testing.T, cfg cdc.GeneratorConfig, commitEvents int) bronze.Store {
	t.Helper()
	store, err := bronze.OpenDir(t.TempDir())
	require.NoError(t, err)
	st, err := bronze.Ingest(context.Background(), bronze.IngestConfig{
		Source: cdc.NewGenerator(cfg), Writer: bronze.WriterConfig{Store: store}, CommitEvents: commitEvents})
	require.NoError(t, err)
	require.EqualValues(t, cfg.Events, st.Events)
	require.Greater(t, st.Commits, int64(2))
	return store
}

func TestReplayReturnsTransactionsInCommitOrder(t *testing.T) {
	ctx := context.Background()
	for _, meta := range []bool{false, true} {
		cfg := cdc.GeneratorConfig{Seed: 7, Events: 3000, TxMetadata: meta}
		want, _ := reference(t, cfg)
		store := lake(t, cfg, 700)
		r, err := bronze.OpenReader(ctx, store)
		require.NoError(t, err)

		var got [][]string
		for tx, err := range r.Transactions(ctx, bronze.ReplayOptions{}) {
			require.NoError(t, err)
			for i := range tx.Events {
				require.Equal(t, tx.Commit, tx.Events[i].Tx.Commit)
				require.False(t, tx.Events[i].Arrival.IsZero(), "ingest stamps arrival")
			}
			got = append(got, txJSON(tx))
		}
		require.Equal(t, want, got, "meta=%v", meta)

		// Events alone come in the same order, positions strictly increasing.
		var prev cdc.Position
		n := 0
		for ev, err := range r.Replay(ctx, bronze.ReplayOptions{}) {
			require.NoError(t, err)
			require.True(t, prev.Less(ev.Pos), "event %d at %s after %s", n, ev.Pos, prev)
			prev = ev.Pos
			n++
		}
		require.Equal(t, 3000, n)
	}
}

func TestReplayBoundsAndTables(t *testing.T) {
	ctx := context.Background()
	cfg := cdc.GeneratorConfig{Seed: 11, Events: 2000}
	want, commits := reference(t, cfg)
	store := lake(t, cfg, 500)
	r, err := bronze.OpenReader(ctx, store)
	require.NoError(t, err)

	lo, hi := len(want)/3, 2*len(want)/3
	var got [][]string
	for tx, err := range r.Transactions(ctx, bronze.ReplayOptions{After: commits[lo], Through: commits[hi]}) {
		require.NoError(t, err)
		got = append(got, txJSON(tx))
	}
	require.Equal(t, want[lo+1:hi+1], got)

	n := 0
	for ev, err := range r.Replay(ctx, bronze.ReplayOptions{Tables: []string{"public.customers"}}) {
		require.NoError(t, err)
		require.Equal(t, "public.customers", ev.Table)
		n++
	}
	require.Positive(t, n)
	for _, f := range r.Files(bronze.FileFilter{Tables: []string{"public.customers"}}) {
		require.Equal(t, "public.customers", f.Table)
	}
	all := r.Files(bronze.FileFilter{})
	late := r.Files(bronze.FileFilter{After: commits[hi]})
	require.Less(t, len(late), len(all))
	for _, f := range late {
		require.True(t, commits[hi].Less(f.MaxPos))
	}
	require.Empty(t, r.Files(bronze.FileFilter{Since: time.Now().Add(time.Hour)}))
	require.Len(t, r.Files(bronze.FileFilter{Until: time.Now().Add(time.Hour)}), len(all))
}

func TestVerifyCountsAndFindsDamage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := bronze.OpenDir(dir)
	require.NoError(t, err)
	_, err = bronze.Ingest(ctx, bronze.IngestConfig{Source: cdc.NewGenerator(cdc.GeneratorConfig{Seed: 5, Events: 2500}),
		Writer: bronze.WriterConfig{Store: store}, CommitEvents: 600})
	require.NoError(t, err)

	r, err := bronze.OpenReader(ctx, store)
	require.NoError(t, err)
	rep, err := r.Verify(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 2500, rep.Events)
	assert.Zero(t, rep.DuplicatePositions)
	assert.Zero(t, rep.OutOfOrder)
	assert.Equal(t, len(r.Manifest().Commits()), rep.Commits)
	assert.Equal(t, 3, rep.Tables) // customers, orders, payments

	// The same file committed again: every one of its events is a duplicate.
	files := r.Files(bronze.FileFilter{})
	dup := files[1]
	b, err := store.Get(ctx, dup.Name)
	require.NoError(t, err)
	again := bronze.Entry(dup.Name+".again.avro", dup.Table, b)
	again.Rows, again.MinPos, again.MaxPos = dup.Rows, dup.MinPos, dup.MaxPos
	require.NoError(t, store.Put(ctx, again.Name, b))
	_, err = r.Manifest().Append(ctx, bronze.Commit{Position: r.Manifest().Position(), Files: []bronze.FileEntry{again}})
	require.NoError(t, err)
	rep, err = r.Verify(ctx)
	require.NoError(t, err)
	assert.Equal(t, dup.Rows, rep.DuplicatePositions)
	assert.Zero(t, rep.OutOfOrder)

	// A flipped byte is a checksum error naming the file, and replay stops there.
	victim := files[2]
	path := filepath.Join(dir, filepath.FromSlash(victim.Name))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	raw[len(raw)/2] ^= 1
	require.NoError(t, os.WriteFile(path, raw, 0o644))
	_, err = r.Verify(ctx)
	require.ErrorIs(t, err, bronze.ErrChecksum)
	require.Contains(t, err.Error(), victim.Name)
	var replayErr error
	for _, err := range r.Replay(ctx, bronze.ReplayOptions{}) {
		if err != nil {
			replayErr = err
		}
	}
	require.ErrorIs(t, replayErr, bronze.ErrChecksum)
	require.Contains(t, replayErr.Error(), victim.Name)
}

func TestSourceResumesAndFramesTransactions(t *testing.T) {
	ctx := context.Background()
	cfg := cdc.GeneratorConfig{Seed: 13, Events: 1500, TxMetadata: true}
	want, commits := reference(t, cfg)
	store := lake(t, cfg, 400)

	// ReadTx from the middle: the transactions after it, whole.
	mid := len(want) / 2
	src := bronze.NewSource(bronze.SourceConfig{Store: store})
	require.NoError(t, src.Open(ctx, commits[mid]))
	var got [][]string
	for {
		tx, err := src.ReadTx(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		got = append(got, txJSON(tx))
	}
	require.Equal(t, want[mid+1:], got)
	require.NoError(t, src.Ack(ctx, commits[len(commits)-1]))
	require.Equal(t, commits[len(commits)-1], src.Acked())
	require.NoError(t, src.Close())

	// Read, through an assembler, cuts the same transactions: BEGIN/END frame them.
	src = bronze.NewSource(bronze.SourceConfig{Store: store})
	require.NoError(t, src.Open(ctx, cdc.Position{}))
	a := cdc.NewAssembler(cdc.AssemblerConfig{DeadLetters: cdc.NewMemoryDeadLetters()})
	got = nil
	for {
		ev, err := src.Read(ctx)
		if errors.Is(err, io.EOF) {
			require.NoError(t, a.Flush(ctx))
		} else {
			require.NoError(t, err)
			require.NoError(t, a.Add(ctx, &ev))
		}
		for tx, ok := a.Next(); ok; tx, ok = a.Next() {
			got = append(got, txJSON(tx))
		}
		if err != nil {
			break
		}
	}
	require.Equal(t, want, got)
}

func TestSourceFollowsNewCommits(t *testing.T) {
	ctx := context.Background()
	store, err := bronze.OpenDir(t.TempDir())
	require.NoError(t, err)
	ingest := func(events int) int {
		st, err := bronze.Ingest(ctx, bronze.IngestConfig{Source: cdc.NewGenerator(cdc.GeneratorConfig{Seed: 2, Events: events}),
			Writer: bronze.WriterConfig{Store: store}})
		require.NoError(t, err)
		return int(st.Events)
	}
	require.Equal(t, 300, ingest(300))
	src := bronze.NewSource(bronze.SourceConfig{Store: store, Follow: true})
	require.NoError(t, src.Open(ctx, cdc.Position{}))
	count := func() int {
		n := 0
		for {
			tx, err := src.ReadTx(ctx)
			if errors.Is(err, cdc.ErrIdle) {
				return n
			}
			require.NoError(t, err)
			n += len(tx.Events)
		}
	}
	require.Equal(t, 300, count())
	// A longer run of the same workload: the lake resumes after what it holds, and
	// the follower sees exactly what that run committed.
	added := ingest(800)
	require.Greater(t, added, 400)
	require.Equal(t, added, count())
}

// A replay from snapshots folds to the same state as the full replay, also once
// retention has dropped the files the snapshots cover (when the full replay can no
// longer run and says why).
func TestReplayFromSnapshotsEqualsFullReplay(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store, err := bronze.OpenDir(t.TempDir())
	require.NoError(t, err)
	ingest := func(events int) {
		_, err := bronze.Ingest(ctx, bronze.IngestConfig{Source: cdc.NewGenerator(cdc.GeneratorConfig{Seed: 21, Events: events}),
			Writer: bronze.WriterConfig{Store: store, Now: clk.Now}, CommitEvents: 400, Now: clk.Now})
		require.NoError(t, err)
	}
	tables := []string{"public.customers", "public.orders", "public.payments"}
	fold := func(r *bronze.Reader, opts bronze.ReplayOptions) (map[string]*oracle, error) {
		out := map[string]*oracle{}
		for _, tb := range tables {
			out[tb] = newOracle(tb)
		}
		for ev, err := range r.Replay(ctx, opts) {
			if err != nil {
				return nil, err
			}
			out[ev.Table].apply(ev)
		}
		return out, nil
	}
	ingest(2000)
	m, err := bronze.OpenManifest(ctx, store)
	require.NoError(t, err)
	rep, err := bronze.Compact(ctx, m, bronze.CompactOptions{Now: clk.Now})
	require.NoError(t, err)
	require.Len(t, rep.Snapshots(), 3)
	clk.Advance(48 * time.Hour)
	ingest(4000) // the tail, two days later

	r, err := bronze.OpenReader(ctx, store)
	require.NoError(t, err)
	full, err := fold(r, bronze.ReplayOptions{})
	require.NoError(t, err)
	fromSnap, err := fold(r, bronze.ReplayOptions{FromSnapshots: true})
	require.NoError(t, err)
	n := 0
	for ev, err := range r.Replay(ctx, bronze.ReplayOptions{FromSnapshots: true}) {
		require.NoError(t, err)
		if ev.Op != cdc.OpRead {
			break
		}
		n++
	}
	require.Equal(t, int(rep.Snapshots()[0].Rows+rep.Snapshots()[1].Rows+rep.Snapshots()[2].Rows), n, "snapshot rows first")

	// Retention drops what the snapshots cover; only the replay from snapshots still runs.
	ret, err := bronze.Retain(ctx, r.Manifest(), bronze.RetentionOptions{OlderThan: 24 * time.Hour, Now: clk.Now})
	require.NoError(t, err)
	require.NotEmpty(t, ret.Removed)
	require.NoError(t, r.Refresh(ctx))
	_, err = fold(r, bronze.ReplayOptions{})
	require.ErrorIs(t, err, bronze.ErrRemoved)
	afterRetention, err := fold(r, bronze.ReplayOptions{FromSnapshots: true})
	require.NoError(t, err)
	for _, tb := range tables {
		s := latestSchema(t, r, tb)
		require.Equal(t, plain(s, full[tb]), plain(s, fromSnap[tb]), tb)
		require.Equal(t, plain(s, full[tb]), plain(s, afterRetention[tb]), tb)
		require.NotEmpty(t, full[tb].rows, tb)
	}
	vr, err := r.Verify(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, vr.Snapshots)

	// The source replays from snapshots too.
	src := bronze.NewSource(bronze.SourceConfig{Store: store, FromSnapshots: true})
	require.NoError(t, src.Open(ctx, cdc.Position{}))
	viaSource := map[string]*oracle{}
	for _, tb := range tables {
		viaSource[tb] = newOracle(tb)
	}
	for {
		tx, err := src.ReadTx(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		for _, ev := range tx.Events {
			viaSource[ev.Table].apply(ev)
		}
	}
	for _, tb := range tables {
		s := latestSchema(t, r, tb)
		require.Equal(t, plain(s, full[tb]), plain(s, viaSource[tb]), tb)
	}
}

func latestSchema(t *testing.T, r *bronze.Reader, table string) *change.Schema {
	reg, err := r.Manifest().Schemas()
	require.NoError(t, err)
	sv, ok := reg.Latest(table)
	require.True(t, ok, table)
	return sv.Schema
}
