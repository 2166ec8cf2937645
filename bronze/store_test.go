package bronze_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/bronze/storetest"
)

func TestDirStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) bronze.Store {
		s, err := bronze.OpenDir(t.TempDir())
		require.NoError(t, err)
		return s
	})
}

func TestMemStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) bronze.Store { return bronze.NewMemStore() })
}

func TestFaultStoreWithoutFaultsConforms(t *testing.T) {
	storetest.Run(t, func(t *testing.T) bronze.Store { return bronze.NewFaultStore(bronze.NewMemStore()) })
}

func TestDirStoreNeverEscapesRoot(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "lake")
	s, err := bronze.OpenDir(root)
	require.NoError(t, err)
	ctx := context.Background()
	for _, n := range []string{"../outside", "a/../../outside", "/etc/passwd"} {
		assert.ErrorIs(t, s.Put(ctx, n, []byte("x")), bronze.ErrName, n)
	}
	entries, _ := os.ReadDir(parent)
	assert.Len(t, entries, 1, "nothing written beside the root")
	// A table name from data becomes one safe segment.
	name := "bronze/" + bronze.Escape("../../etc") + "/part-0"
	require.NoError(t, s.Put(ctx, name, []byte("x")))
	_, err = os.Stat(filepath.Join(root, "bronze", bronze.Escape("../../etc"), "part-0"))
	assert.NoError(t, err)
}

func TestDirStoreCleansInterruptedPuts(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "a"), 0o755))
	torn := filepath.Join(root, "a", "obj.tmp-0123456789abcdef")
	require.NoError(t, os.WriteFile(torn, []byte("half"), 0o644))
	old := time.Now().Add(-bronze.StaleTemp - time.Minute)
	require.NoError(t, os.Chtimes(torn, old, old))
	// Another process's Put in progress: too young to be the remains of a crash.
	busy := filepath.Join(root, "a", "obj2.tmp-fedcba9876543210")
	require.NoError(t, os.WriteFile(busy, []byte("writing"), 0o644))
	s, err := bronze.OpenDir(root)
	require.NoError(t, err)
	_, err = os.Stat(torn)
	assert.True(t, errors.Is(err, os.ErrNotExist), "OpenDir removes temporary files of interrupted puts")
	_, err = os.Stat(busy)
	assert.NoError(t, err, "OpenDir leaves a Put in progress alone")
	names, err := s.List(context.Background(), "")
	require.NoError(t, err)
	assert.Empty(t, names)
}

func TestEscape(t *testing.T) {
	for _, in := range []string{"public.orders", "..", ".", ".hidden", "a/b", `a\b`, "", "%", "ünï", "x y", "a\x00"} {
		seg := bronze.Escape(in)
		require.NoError(t, bronze.ValidName(seg), "%q -> %q", in, seg)
		assert.NotContains(t, seg, "/")
		assert.False(t, strings.HasPrefix(seg, "."), seg)
		back, err := bronze.Unescape(seg)
		require.NoError(t, err)
		assert.Equal(t, in, back)
	}
	assert.Equal(t, "public.orders", bronze.Escape("public.orders"), "ordinary names stay readable")

	long1, long2 := strings.Repeat("é", 150)+"a", strings.Repeat("é", 150)+"b"
	s1, s2 := bronze.Escape(long1), bronze.Escape(long2)
	assert.NotEqual(t, s1, s2, "long names that share a prefix stay distinct")
	assert.LessOrEqual(t, len(s1), 200)
	require.NoError(t, bronze.ValidName("bronze/"+s1+"/part-0"))
	_, err := bronze.Unescape(s1)
	assert.ErrorIs(t, err, bronze.ErrName)
	assert.ErrorIs(t, bronze.ValidName(strings.Repeat("a", 256)), bronze.ErrName, "segments over 255 bytes")
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"public.orders", "..", "a/b", "%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seg := bronze.Escape(s)
		if err := bronze.ValidName(seg); err != nil || strings.Contains(seg, "/") {
			t.Fatalf("Escape(%q) = %q is not one valid segment: %v", s, seg, err)
		}
		if strings.Contains(seg, "~") {
			if len(seg) > 200 {
				t.Fatalf("a shortened escape has %d bytes", len(seg))
			}
			return // a shortened long name: not reversible by design
		}
		back, err := bronze.Unescape(seg)
		if err != nil || back != s {
			t.Fatalf("Unescape(Escape(%q)) = %q, %v", s, back, err)
		}
	})
}

func TestFaultStoreFaults(t *testing.T) {
	ctx := context.Background()
	mem := bronze.NewMemStore()
	f := bronze.NewFaultStore(mem)
	f.Inject(bronze.Fault{Op: "put", Prefix: "data/", Skip: 1, Times: 1})
	require.NoError(t, f.Put(ctx, "data/1", []byte("a")))
	assert.ErrorIs(t, f.Put(ctx, "data/2", []byte("b")), bronze.ErrInjected)
	require.NoError(t, f.Put(ctx, "data/3", []byte("c")), "Times bounds the fault")
	_, err := mem.Get(ctx, "data/2")
	assert.ErrorIs(t, err, bronze.ErrNotFound, "a failed put publishes nothing")

	f.Inject(bronze.Fault{Op: "put", Prefix: "torn/", ShortWrite: 3})
	assert.ErrorIs(t, f.Put(ctx, "torn/x", []byte("abcdef")), bronze.ErrInjected)
	got, err := mem.Get(ctx, "torn/x")
	require.NoError(t, err)
	assert.Equal(t, "abc", string(got), "a short write leaves a torn object for checksums to catch")

	f.CrashAfter(10)
	require.NoError(t, f.Put(ctx, "c/1", []byte("123456")))
	assert.ErrorIs(t, f.Put(ctx, "c/2", []byte("123456")), bronze.ErrCrashed)
	assert.True(t, f.Crashed())
	_, err = f.Get(ctx, "c/1")
	assert.ErrorIs(t, err, bronze.ErrCrashed, "nothing works after the crash")
	_, err = mem.Get(ctx, "c/2")
	assert.ErrorIs(t, err, bronze.ErrNotFound, "the put that crossed the limit is not published")
}
