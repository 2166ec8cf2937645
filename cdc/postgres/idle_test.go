package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/cdc/postgres"
)

// A reopened source is not idle while the server still decodes WAL written before
// Open: here a large transaction on an unpublished table takes the walsender a while,
// and the published row committed after it must arrive before the first ErrIdle (an
// ingest with --exit-when-idle stopped early and left it out).
func TestNotIdleBeforeCaughtUp(t *testing.T) {
	t.Parallel() // a slot name of its own
	dsn := newDB(t)
	conn := connect(t, dsn)
	exec(t, conn, "CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)", "CREATE TABLE bulk (id bigint, pad text)")
	cfg := postgres.Config{DSN: dsn, Slot: "idle", Tables: []string{"kv"}, Snapshot: postgres.SnapshotNever, IdleWait: 5 * time.Millisecond}
	src := openSource(t, cfg, cdc.Position{})
	expectIdle(t, src, 50*time.Millisecond)
	src.Close()

	exec(t, conn, "INSERT INTO bulk SELECT g, repeat('x', 100) FROM generate_series(1, 60000) g",
		"INSERT INTO kv VALUES (1, 'after the bulk load')")
	src = openSource(t, cfg, cdc.Position{})
	start := time.Now()
	for {
		tx, err := src.ReadTx(context.Background())
		if errors.Is(err, cdc.ErrIdle) {
			t.Fatalf("idle after %v before the row committed before Open arrived", time.Since(start))
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := tx.Events[0].After[0].AsInt(); got != 1 {
			t.Fatalf("got id %d, want 1", got)
		}
		break
	}
	t.Logf("row arrived after %v", time.Since(start))
	expectIdle(t, src, 50*time.Millisecond)
}
