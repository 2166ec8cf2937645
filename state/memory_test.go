package state_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-data/strata/state"
)

// A memory checkpoint that was altered or cut short is refused, and the backend
// keeps what it held.
func TestMemoryRestoreRejectsDamagedCheckpoint(t *testing.T) {
	ctx := context.Background()
	m, err := state.NewMemory(state.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for i := range 100 {
		_ = m.Put("ns", []byte{byte(i)}, []byte("value"))
	}
	cp := filepath.Join(t.TempDir(), "cp")
	if err := m.Checkpoint(ctx, cp); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(cp, "state.mem")
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_ = m.Put("ns", []byte("after"), []byte("x"))
	damaged := map[string][]byte{
		"flipped byte": func() []byte { b := append([]byte(nil), good...); b[len(b)/2] ^= 1; return b }(),
		"truncated":    good[:len(good)-7],
		"empty":        nil,
		"bad magic":    append([]byte("NOTSTATE"), good[8:]...),
	}
	for name, data := range damaged {
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := m.Restore(ctx, cp); !errors.Is(err, state.ErrCorrupt) {
			t.Fatalf("%s: Restore = %v, want ErrCorrupt", name, err)
		}
		if _, ok, _ := m.Get("ns", []byte("after"), nil); !ok {
			t.Fatalf("%s: a refused Restore changed the backend", name)
		}
	}
	if err := os.WriteFile(file, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Restore(ctx, cp); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := m.Get("ns", []byte("after"), nil); ok {
		t.Fatal("Restore kept a key written after the checkpoint")
	}
}
