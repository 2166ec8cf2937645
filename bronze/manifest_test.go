package bronze_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
)

// putFile puts a data file and returns its manifest entry.
func putFile(t *testing.T, s bronze.Store, name, table, content string) bronze.FileEntry {
	t.Helper()
	require.NoError(t, s.Put(context.Background(), name, []byte(content)))
	e := bronze.Entry(name, table, []byte(content))
	e.Rows = 1
	return e
}

func TestManifestAppendReopen(t *testing.T) {
	ctx := context.Background()
	s, err := bronze.OpenDir(t.TempDir())
	require.NoError(t, err)
	m, err := bronze.OpenManifest(ctx, s)
	require.NoError(t, err)
	_, ok := m.Last()
	assert.False(t, ok)
	assert.True(t, m.Position().IsZero(), "an empty lake resumes from the start")

	f1 := putFile(t, s, "bronze/public.orders/part-0", "public.orders", "one")
	c1, err := m.Append(ctx, bronze.Commit{Position: cdc.Position{Major: 10, Minor: 12}, Txs: 1, Files: []bronze.FileEntry{f1}})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), c1.ID)
	f2 := putFile(t, s, "bronze/public.orders/part-1", "public.orders", "two")
	_, err = m.Append(ctx, bronze.Commit{Position: cdc.Position{Major: 20, Minor: 21}, Txs: 3, Files: []bronze.FileEntry{f2}})
	require.NoError(t, err)

	_, err = m.Append(ctx, bronze.Commit{Position: cdc.Position{Major: 5}})
	assert.ErrorContains(t, err, "goes back before commit 2", "commits never go back in source order")

	again, err := bronze.OpenManifest(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, m.Commits(), again.Commits())
	assert.Equal(t, cdc.Position{Major: 20, Minor: 21}, again.Position())
	require.NoError(t, again.Verify(ctx))
}

func TestManifestConflictBetweenWriters(t *testing.T) {
	ctx := context.Background()
	s := bronze.NewMemStore()
	a, err := bronze.OpenManifest(ctx, s)
	require.NoError(t, err)
	b, err := bronze.OpenManifest(ctx, s)
	require.NoError(t, err)
	_, err = a.Append(ctx, bronze.Commit{Position: cdc.Position{Major: 1}})
	require.NoError(t, err)
	_, err = b.Append(ctx, bronze.Commit{Position: cdc.Position{Major: 2}})
	assert.ErrorIs(t, err, bronze.ErrConflict, "the second writer cannot publish commit 1 again")
	m, err := bronze.OpenManifest(ctx, s)
	require.NoError(t, err)
	require.Len(t, m.Commits(), 1)
	assert.Equal(t, cdc.Position{Major: 1}, m.Position())
}

func TestManifestVerifyNamesDamagedFiles(t *testing.T) {
	ctx := context.Background()
	mem := bronze.NewMemStore()
	m, err := bronze.OpenManifest(ctx, mem)
	require.NoError(t, err)
	good := putFile(t, mem, "bronze/t/good", "t", "fine")
	bad := putFile(t, mem, "bronze/t/bad", "t", "original")
	_, err = m.Append(ctx, bronze.Commit{Position: cdc.Position{Major: 1}, Files: []bronze.FileEntry{good, bad}})
	require.NoError(t, err)
	require.NoError(t, m.Verify(ctx))

	// A torn rewrite (what a non-atomic store can leave) is caught by its checksum.
	f := bronze.NewFaultStore(mem)
	f.Inject(bronze.Fault{Op: "put", ShortWrite: 3})
	require.ErrorIs(t, f.Put(ctx, "bronze/t/bad", []byte("original")), bronze.ErrInjected)
	err = m.Verify(ctx)
	require.ErrorIs(t, err, bronze.ErrChecksum)
	assert.Contains(t, err.Error(), "bronze/t/bad")
	assert.NotContains(t, err.Error(), "bronze/t/good")
	_, err = m.ReadFile(ctx, good)
	assert.NoError(t, err)
}

func TestManifestDamageIsAnError(t *testing.T) {
	ctx := context.Background()
	s := bronze.NewMemStore()
	require.NoError(t, s.Put(ctx, "manifest/00000000000000000001.json", []byte(`{"id":1,"position":"0/1/0"}`)))
	require.NoError(t, s.Put(ctx, "manifest/00000000000000000003.json", []byte(`{"id":3,"position":"0/3/0"}`)))
	_, err := bronze.OpenManifest(ctx, s)
	assert.ErrorIs(t, err, bronze.ErrManifest)
	assert.ErrorContains(t, err, "commit 2 missing")

	s2 := bronze.NewMemStore()
	require.NoError(t, s2.Put(ctx, "manifest/00000000000000000001.json", []byte(`{"id":1,`)))
	_, err = bronze.OpenManifest(ctx, s2)
	assert.ErrorIs(t, err, bronze.ErrManifest)
	assert.ErrorContains(t, err, "manifest/00000000000000000001.json")
}

// A writer that crashed after putting its files but before publishing their commit
// leaves orphans: they are invisible to readers and cleaned on the next open.
func TestManifestCleansOrphansOfACrashedCommit(t *testing.T) {
	ctx := context.Background()
	mem := bronze.NewMemStore()
	f := bronze.NewFaultStore(mem)
	m, err := bronze.OpenManifest(ctx, f)
	require.NoError(t, err)
	kept := putFile(t, f, "bronze/t/part-0", "t", "committed")
	_, err = m.Append(ctx, bronze.Commit{Position: cdc.Position{Major: 1}, Files: []bronze.FileEntry{kept}})
	require.NoError(t, err)

	orphan := putFile(t, f, "bronze/t/part-1", "t", "never committed")
	f.Inject(bronze.Fault{Op: "put", Prefix: bronze.ManifestPrefix})
	_, err = m.Append(ctx, bronze.Commit{Position: cdc.Position{Major: 2}, Files: []bronze.FileEntry{orphan}})
	require.ErrorIs(t, err, bronze.ErrInjected)

	reopened, err := bronze.OpenManifest(ctx, mem)
	require.NoError(t, err)
	assert.Equal(t, cdc.Position{Major: 1}, reopened.Position(), "resume after the last published commit")
	removed, err := reopened.CleanOrphans(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"bronze/t/part-1"}, removed)
	names, _ := mem.List(ctx, bronze.DataPrefix)
	assert.Equal(t, []string{"bronze/t/part-0"}, names)
	require.NoError(t, reopened.Verify(ctx))
}
