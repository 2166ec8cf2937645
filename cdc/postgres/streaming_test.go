package postgres_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/cdc/postgres"
)

// streamingDB returns a database whose walsenders stream a transaction once it holds
// more than 64kB of changes (logical_decoding_work_mem), with table kv.
func streamingDB(t *testing.T) string {
	t.Helper()
	dsn := newDB(t)
	conn := connect(t, dsn)
	var db string
	if err := conn.QueryRow(context.Background(), "SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	exec(t, conn, "ALTER DATABASE "+db+" SET logical_decoding_work_mem = '64kB'",
		"CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)")
	return dsn
}

// insertSQL inserts ids from..to-1 with values of about 100 bytes.
func insertSQL(from, to int) string {
	return fmt.Sprintf("INSERT INTO kv SELECT g, 'v' || g || repeat('x', 100) FROM generate_series(%d, %d) g", from, to-1)
}

// TestStreamingMatchesProtocol1 runs large transactions (committed, aborted, with
// savepoints rolled back and released) interleaved with small ones, and reads them
// through two slots: one streamed (protocol 2, spooled to disk beyond a small memory
// bound), one with protocol 1. Both must give the same transactions, in commit order,
// with the same positions.
func TestStreamingMatchesProtocol1(t *testing.T) {
	t.Parallel() // slots of its own
	dsn := streamingDB(t)
	reg := prometheus.NewRegistry()
	spoolDir := t.TempDir()
	streamed := openSource(t, postgres.Config{DSN: dsn, Slot: "streamed", Streaming: true, StreamMemory: 128 << 10,
		SpoolDir: spoolDir, Snapshot: postgres.SnapshotNever, Metrics: postgres.NewMetrics(reg)}, cdc.Position{})
	plain := openSource(t, postgres.Config{DSN: dsn, Slot: "plain", Snapshot: postgres.SnapshotNever}, cdc.Position{})

	big, small, other := connect(t, dsn), connect(t, dsn), connect(t, dsn)
	exec(t, big, "BEGIN", insertSQL(0, 3000))
	exec(t, small, "INSERT INTO kv VALUES (1000001, 'small 1')") // commits inside the big one
	exec(t, big, insertSQL(3000, 6000), "UPDATE kv SET v = v || 'u' WHERE id < 500", "DELETE FROM kv WHERE id BETWEEN 5900 AND 5999")
	exec(t, small, "INSERT INTO kv VALUES (1000002, 'small 2')")
	exec(t, other, "BEGIN", insertSQL(100000, 105000)) // aborted below
	exec(t, big, "COMMIT")
	exec(t, other, "ROLLBACK")
	// Savepoints: s1 rolled back, s2 released, s3 rolled back with s4 released inside it.
	exec(t, big, "BEGIN", insertSQL(10000, 12000),
		"SAVEPOINT s1", insertSQL(12000, 14000), "ROLLBACK TO s1",
		"SAVEPOINT s2", insertSQL(14000, 15000), "RELEASE s2",
		"SAVEPOINT s3", insertSQL(15000, 16000), "SAVEPOINT s4", insertSQL(16000, 17000), "RELEASE s4", "ROLLBACK TO s3")
	exec(t, small, "INSERT INTO kv VALUES (1000003, 'small 3')")
	exec(t, big, insertSQL(17000, 17100), "COMMIT")
	exec(t, small, "INSERT INTO kv VALUES (1000004, 'small 4')")

	// 6000 inserts, 500 updates, 100 deletes; 3100 inserts; 4 small.
	want := 6000 + 500 + 100 + 3100 + 4
	got := readTxs(t, streamed, want, 60*time.Second)
	ref := readTxs(t, plain, want, 60*time.Second)
	for i := range got {
		t.Logf("streamed %s %d events; protocol 1 %s %d", got[i].ID, len(got[i].Events), ref[i].ID, len(ref[i].Events))
	}
	expectIdle(t, streamed, 300*time.Millisecond)
	if len(got) != 6 || len(ref) != 6 {
		t.Fatalf("%d streamed transactions, %d with protocol 1, want 6", len(got), len(ref))
	}
	for i := range ref {
		g, r := got[i], ref[i]
		if g.ID != r.ID || g.Commit != r.Commit || !g.CommitTime.Equal(r.CommitTime) || len(g.Events) != len(r.Events) {
			t.Fatalf("transaction %d: %s at %s with %d events, protocol 1 %s at %s with %d", i, g.ID, g.Commit, len(g.Events), r.ID, r.Commit, len(r.Events))
		}
		for j := range r.Events {
			ge, re := g.Events[j], r.Events[j]
			if ge.Pos != re.Pos || ge.Op != re.Op || fmt.Sprint(ge.Before, ge.After, ge.Key) != fmt.Sprint(re.Before, re.After, re.Key) ||
				ge.Tx != re.Tx || ge.SchemaVersion != re.SchemaVersion {
				t.Fatalf("transaction %d event %d: %s %s %v, protocol 1 %s %s %v", i, j, ge.Op, ge.Pos, ge.After, re.Op, re.Pos, re.After)
			}
		}
	}
	// Commit order: small 1, small 2, the big one, small 3, the savepoints, small 4.
	first := func(tx cdc.Tx) int64 { return tx.Events[0].After[0].AsInt() }
	if fmt.Sprint(first(got[0]), first(got[1]), first(got[2]), first(got[3]), first(got[4]), first(got[5])) != "1000001 1000002 0 1000003 10000 1000004" {
		t.Fatalf("order %d %d %d %d %d %d", first(got[0]), first(got[1]), first(got[2]), first(got[3]), first(got[4]), first(got[5]))
	}
	var sp []int64
	for _, ev := range got[4].Events {
		sp = append(sp, ev.After[0].AsInt())
	}
	var wantSp []int64
	for _, r := range [][2]int64{{10000, 12000}, {14000, 15000}, {17000, 17100}} {
		for i := r[0]; i < r[1]; i++ {
			wantSp = append(wantSp, i)
		}
	}
	if !slices.Equal(sp, wantSp) {
		t.Fatalf("savepoint transaction: %d rows, want %d (10000..11999, 14000..14999, 17000..17099)", len(sp), len(wantSp))
	}
	// The server did stream, and the source spooled beyond its 128kB.
	if n := metricValue(t, reg, "strata_postgres_stream_segments_total"); n < 10 {
		t.Fatalf("%v stream segments: the server did not stream", n)
	}
	if n := metricValue(t, reg, "strata_postgres_spooled_bytes_total"); n < 256<<10 {
		t.Fatalf("%v bytes spooled to disk", n)
	}
	if files, _ := os.ReadDir(spoolDir); len(files) != 0 {
		t.Fatalf("%d spool files left", len(files))
	}
}

// TestStreamingKilledMidStream kills the walsender while a streamed transaction is in
// progress: the server streams it again from its start on the new connection, and it
// arrives once, whole; a streamed transaction delivered before (not acked) is not
// delivered again.
func TestStreamingKilledMidStream(t *testing.T) {
	t.Parallel()
	dsn := streamingDB(t)
	reg := prometheus.NewRegistry()
	src := openSource(t, postgres.Config{DSN: dsn, Slot: "killed", Streaming: true, Snapshot: postgres.SnapshotNever,
		SpoolDir: t.TempDir(), Metrics: postgres.NewMetrics(reg)}, cdc.Position{})
	big, small := connect(t, dsn), connect(t, dsn)
	exec(t, big, "BEGIN", insertSQL(0, 2000), "COMMIT")
	first := readTxs(t, src, 2000, 30*time.Second)
	checkRange(t, ids(t, first), 0, 2000)

	exec(t, big, "BEGIN", insertSQL(2000, 4000))
	segments := func() float64 { return metricValue(t, reg, "strata_postgres_stream_segments_total") }
	base := segments()
	exec(t, big, insertSQL(4000, 6000))
	deadline := time.Now().Add(30 * time.Second)
	for segments() < base+2 {
		if time.Now().After(deadline) {
			t.Fatal("the in-progress transaction was not streamed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	terminateWalsender(t, dsn, "killed")
	exec(t, small, "INSERT INTO kv VALUES (1000001, 'small')")
	exec(t, big, insertSQL(6000, 8000), "COMMIT")
	rest := readTxs(t, src, 6001, 60*time.Second)
	expectIdle(t, src, 300*time.Millisecond)
	if len(rest) != 2 || rest[0].Events[0].After[0].AsInt() != 1000001 {
		t.Fatalf("%d transactions after the kill, want the small one then the big one", len(rest))
	}
	checkRange(t, ids(t, rest[1:]), 2000, 8000)
	if n := metricValue(t, reg, "strata_postgres_reconnects_total"); n != 1 {
		t.Fatalf("%v reconnects", n)
	}
}
