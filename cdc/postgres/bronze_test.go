package postgres_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/cdc/postgres"
)

// eventsOnly hides ReadTx, so that bronze.Ingest assembles the source's framed events.
type eventsOnly struct{ cdc.Source }

func ingest(t *testing.T, store bronze.Store, src cdc.Source) bronze.IngestStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := bronze.Ingest(ctx, bronze.IngestConfig{Source: src, Writer: bronze.WriterConfig{Store: store},
		ExitWhenIdle: true, CommitEvents: 500})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// replay applies the whole lake in commit order.
func replay(t *testing.T, store bronze.Store) applied {
	t.Helper()
	src := bronze.NewSource(bronze.SourceConfig{Store: store})
	if err := src.Open(context.Background(), cdc.Position{}); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got := applied{}
	var last cdc.Position
	for {
		tx, err := src.ReadTx(context.Background())
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		if !last.Less(tx.Commit) {
			t.Fatalf("lake transaction at %s after %s", tx.Commit, last)
		}
		last = tx.Commit
		got.apply(t, tx.Events)
	}
}

func TestIngestIntoBronzeMatchesTable(t *testing.T) {
	t.Parallel() // the only parallel test on the shared cluster with the default slot name
	dsn := newDB(t)
	exec(t, connect(t, dsn), "CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)",
		"INSERT INTO kv SELECT g, 'init' || g FROM generate_series(1, 2000) g")
	store, err := bronze.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := postgres.Config{DSN: dsn, SnapshotChunk: 300, IdleWait: 300 * time.Millisecond}
	workload(t, dsn, "kv", 3, 20, 7)
	// Run 1: snapshot and stream, as whole transactions (cdc.TxSource).
	src := postgres.NewSource(cfg)
	st := ingest(t, store, src)
	src.Close()
	if st.Events < 2000 {
		t.Fatalf("first run committed %d events", st.Events)
	}
	if err := replay(t, store).equal(tableState(t, dsn, "kv")); err != nil {
		t.Fatalf("after run 1: %v", err)
	}
	// Run 2: more changes, read as framed events through the assembler.
	workload(t, dsn, "kv", 3, 20, 8)
	src = postgres.NewSource(cfg)
	st2 := ingest(t, store, eventsOnly{src})
	src.Close()
	if st2.Events == 0 || st2.Skipped != 0 {
		t.Fatalf("second run: %+v", st2)
	}
	if err := replay(t, store).equal(tableState(t, dsn, "kv")); err != nil {
		t.Fatalf("after run 2: %v", err)
	}
	// Run 3: a truncate and new rows.
	exec(t, connect(t, dsn), "TRUNCATE kv", "INSERT INTO kv VALUES (1, 'after truncate')")
	src = postgres.NewSource(cfg)
	ingest(t, store, src)
	src.Close()
	if err := replay(t, store).equal(tableState(t, dsn, "kv")); err != nil {
		t.Fatalf("after run 3: %v", err)
	}
	// Run 4: nothing new; nothing is committed again.
	src = postgres.NewSource(cfg)
	st3 := ingest(t, store, src)
	src.Close()
	if st3.Events != 0 {
		t.Fatalf("fourth run committed %d events again", st3.Events)
	}
}
