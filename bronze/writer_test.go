package bronze_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
)

// ingest runs generator -> assembler -> writer from the writer's position, committing
// every `every` transactions, and stops after `stopAfter` commits (0: at the end).
func ingest(t *testing.T, ctx context.Context, store bronze.Store, events, every, stopAfter int) error {
	t.Helper()
	w, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: store})
	if err != nil {
		return err
	}
	src := cdc.NewGenerator(cdc.GeneratorConfig{Seed: 3, Events: events})
	require.NoError(t, src.Open(ctx, w.Position()))
	asm := cdc.NewAssembler(cdc.AssemblerConfig{DeadLetters: cdc.NewMemoryDeadLetters()})
	commits := 0
	drain := func() error {
		for tx, ok := asm.Next(); ok; tx, ok = asm.Next() {
			require.NoError(t, w.Append(tx))
			if w.Pending() >= int64(every) {
				c, err := w.Commit(ctx)
				if err != nil {
					return err
				}
				require.NoError(t, src.Ack(ctx, c.Position))
				if commits++; stopAfter > 0 && commits == stopAfter {
					return io.ErrUnexpectedEOF // simulated stop
				}
			}
		}
		return nil
	}
	for {
		ev, err := src.Read(ctx)
		if errors.Is(err, io.EOF) {
			require.NoError(t, asm.Flush(ctx))
			if err := drain(); err != nil {
				return err
			}
			_, err := w.Commit(ctx)
			return err
		}
		require.NoError(t, err)
		require.NoError(t, asm.Add(ctx, &ev))
		if err := drain(); err != nil {
			return err
		}
	}
}

// lakeEvents reads every committed event back, checking checksums.
func lakeEvents(t *testing.T, ctx context.Context, store bronze.Store) []cdc.Event {
	m, err := bronze.OpenManifest(ctx, store)
	require.NoError(t, err)
	var out []cdc.Event
	for _, c := range m.Commits() {
		for _, f := range c.Files {
			b, err := m.ReadFile(ctx, f)
			require.NoError(t, err)
			evs, err := bronze.DecodeEvents(bytes.NewReader(b))
			require.NoError(t, err)
			require.Len(t, evs, int(f.Rows))
			out = append(out, evs...)
		}
	}
	return out
}

// positions returns the multiset of (table, position) of events, to compare lakes.
func positions(evs []cdc.Event) map[string]int {
	m := map[string]int{}
	for _, e := range evs {
		m[e.Table+"@"+e.Pos.String()]++
	}
	return m
}

func TestWriterCommitsWholeTransactionsExactlyOnce(t *testing.T) {
	ctx := context.Background()
	ref := bronze.NewMemStore()
	require.NoError(t, ingest(t, ctx, ref, 3000, 50, 0))
	want := lakeEvents(t, ctx, ref)
	require.Len(t, want, 3000)
	for _, n := range positions(want) {
		require.Equal(t, 1, n, "no duplicate positions")
	}

	// Stop after a few commits, then crash while publishing a commit (its files are
	// put, its manifest entry is not), restart: the lake ends identical to the reference.
	mem := bronze.NewMemStore()
	err := ingest(t, ctx, mem, 3000, 50, 4)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	f := bronze.NewFaultStore(mem)
	f.Inject(bronze.Fault{Op: "put", Prefix: bronze.ManifestPrefix, Skip: 2, Times: 1})
	require.ErrorIs(t, ingest(t, ctx, f, 3000, 50, 0), bronze.ErrInjected)
	files, _ := mem.List(ctx, bronze.DataPrefix)
	m, _ := bronze.OpenManifest(ctx, mem)
	committed := 0
	for _, c := range m.Commits() {
		committed += len(c.Files)
	}
	assert.Greater(t, len(files), committed, "the failed commit left orphan files")

	require.NoError(t, ingest(t, ctx, mem, 3000, 50, 0))
	got := lakeEvents(t, ctx, mem)
	assert.Equal(t, positions(want), positions(got), "every event exactly once")
	files, _ = mem.List(ctx, bronze.DataPrefix)
	m, _ = bronze.OpenManifest(ctx, mem)
	committed = 0
	for _, c := range m.Commits() {
		committed += len(c.Files)
	}
	assert.Equal(t, committed, len(files), "orphans were cleaned on reopen")
	require.NoError(t, m.Verify(ctx))
}

func TestWriterRefusesTransactionsAtOrBeforeItsPosition(t *testing.T) {
	ctx := context.Background()
	w, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: bronze.NewMemStore()})
	require.NoError(t, err)
	require.NoError(t, w.Append(cdc.Tx{ID: "1", Commit: cdc.Position{Major: 5}}))
	assert.ErrorContains(t, w.Append(cdc.Tx{ID: "0", Commit: cdc.Position{Major: 5}}), "is not after")
	_, err = bronze.OpenWriter(ctx, bronze.WriterConfig{})
	assert.ErrorContains(t, err, "Store is required")
}
