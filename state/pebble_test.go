package state_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-data/strata/state"
)

// A closed Pebble backend reopens with its data, TTLs included; Pebble's own
// messages go to the configured slog logger.
func TestPebbleReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	now := time.Unix(1000, 0)
	cfg := state.PebbleConfig{Dir: dir, Config: state.Config{Logger: logger, Now: func() time.Time { return now }}}
	p, err := state.OpenPebble(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Put("ns", []byte("k"), []byte("v"))
	_ = p.PutTTL("ns", []byte("ttl"), []byte("t"), time.Minute)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p, err = state.OpenPebble(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if v, ok, err := p.Get("ns", []byte("k"), nil); err != nil || !ok || string(v) != "v" {
		t.Fatalf("after reopen: %q %v %v", v, ok, err)
	}
	if _, ok, _ := p.Get("ns", []byte("ttl"), nil); !ok {
		t.Fatal("TTL entry lost on reopen")
	}
	now = now.Add(2 * time.Minute)
	if _, ok, _ := p.Get("ns", []byte("ttl"), nil); ok {
		t.Fatal("TTL entry outlived its expiry after reopen")
	}
	if err := p.Checkpoint(context.Background(), filepath.Join(t.TempDir(), "cp")); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(logs.Bytes(), []byte("pebble:")) {
		t.Fatalf("no pebble messages reached the slog logger at debug level (%d bytes of logs)", logs.Len())
	}
}

func TestPebbleConfigValidate(t *testing.T) {
	if _, err := state.OpenPebble(state.PebbleConfig{}); err == nil {
		t.Fatal("OpenPebble without Dir succeeded")
	}
	if err := (state.PebbleConfig{Dir: "x", CacheSize: -1}).Validate(); err == nil {
		t.Fatal("negative cache size validated")
	}
}
