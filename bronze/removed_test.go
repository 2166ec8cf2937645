package bronze_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
)

// A file named in a later commit's Removed is no longer live: Verify skips it and
// CleanOrphans deletes it; a commit listing the name again makes it live again.
// Snapshots are verified and orphan-cleaned like data files.
func TestManifestRemovedFilesAreNotLive(t *testing.T) {
	ctx := context.Background()
	s, err := bronze.OpenDir(t.TempDir())
	require.NoError(t, err)
	m, err := bronze.OpenManifest(ctx, s)
	require.NoError(t, err)
	a := putFile(t, s, "bronze/t/a", "t", "a")
	b := putFile(t, s, "bronze/t/b", "t", "b")
	snap := putFile(t, s, "snapshot/t/00000000000000000001.parquet", "t", "snapshot")
	_, err = m.Append(ctx, bronze.Commit{Position: cdc.Position{Major: 1}, Files: []bronze.FileEntry{a, b}})
	require.NoError(t, err)
	_, err = m.Append(ctx, bronze.Commit{Position: cdc.Position{Major: 1}, Snapshots: []bronze.SnapshotEntry{{
		Table: "t", Name: snap.Name, Bytes: snap.Bytes, SHA256: snap.SHA256, CommitID: 1, Position: cdc.Position{Major: 1}}}})
	require.NoError(t, err)
	_, err = m.Append(ctx, bronze.Commit{Position: cdc.Position{Major: 1}, Removed: []string{a.Name}})
	require.NoError(t, err)
	putFile(t, s, "snapshot/t/00000000000000000009.parquet", "t", "orphan")

	require.NoError(t, s.Put(ctx, a.Name, []byte("overwritten: a removed file is not checked")))
	require.NoError(t, m.Verify(ctx))
	require.NoError(t, s.Put(ctx, snap.Name, []byte("damaged")))
	err = m.Verify(ctx)
	require.ErrorIs(t, err, bronze.ErrChecksum)
	assert.ErrorContains(t, err, snap.Name)
	require.NoError(t, s.Put(ctx, snap.Name, []byte("snapshot")))

	removed, err := m.CleanOrphans(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{a.Name, "snapshot/t/00000000000000000009.parquet"}, removed)
	assert.Equal(t, map[string]uint64{a.Name: 3}, m.RemovedFiles())

	again := putFile(t, s, a.Name, "t", "a again")
	_, err = m.Append(ctx, bronze.Commit{Position: cdc.Position{Major: 2}, Files: []bronze.FileEntry{again}})
	require.NoError(t, err)
	removed, err = m.CleanOrphans(ctx)
	require.NoError(t, err)
	assert.Empty(t, removed, "a name listed again after its removal is live")
	assert.Empty(t, m.RemovedFiles())
	require.NoError(t, m.Verify(ctx))
}
