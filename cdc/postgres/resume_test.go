package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/cdc/postgres"
	"github.com/strata-data/strata/internal/pgtest"
)

func confirmedFlush(t testing.TB, dsn, slot string) pglogrepl.LSN {
	t.Helper()
	var s string
	if err := connect(t, dsn).QueryRow(context.Background(), "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&s); err != nil {
		t.Fatal(err)
	}
	lsn, err := pglogrepl.ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

func insertRange(t testing.TB, dsn string, from, to int) {
	t.Helper()
	conn := connect(t, dsn)
	for i := from; i < to; i++ {
		exec(t, conn, fmt.Sprintf("INSERT INTO kv VALUES (%d, 'v%d')", i, i))
	}
}

// ids returns the ids of insert/read events in order, failing on doubles.
func ids(t testing.TB, txs []cdc.Tx) []int64 {
	t.Helper()
	var out []int64
	for _, tx := range txs {
		for _, ev := range tx.Events {
			out = append(out, ev.After[0].AsInt())
		}
	}
	return out
}

func checkRange(t testing.TB, got []int64, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Fatalf("got %d rows %v, want ids %d..%d exactly once", len(got), got, from, to-1)
	}
	for i, id := range got {
		if id != int64(from+i) {
			t.Fatalf("row %d is id %d, want %d (lost or doubled)", i, id, from+i)
		}
	}
}

func TestAckAdvancesSlotAndResume(t *testing.T) {
	t.Parallel() // a slot name of its own
	dsn := newDB(t)
	exec(t, connect(t, dsn), "CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)")
	cfg := postgres.Config{DSN: dsn, Slot: "acks", StatusInterval: 50 * time.Millisecond}
	src := openSource(t, cfg, cdc.Position{})
	insertRange(t, dsn, 0, 10)
	txs := readTxs(t, src, 10, 10*time.Second)
	checkRange(t, ids(t, txs), 0, 10)
	// Nothing acked: the slot stays before the first transaction, through status updates
	// and keepalives. (Before it, an idle keepalive may move it: other tests running in
	// parallel write WAL.)
	start := confirmedFlush(t, dsn, "acks")
	time.Sleep(300 * time.Millisecond)
	if got := confirmedFlush(t, dsn, "acks"); got != start || got > pglogrepl.LSN(txs[0].Commit.Major) {
		t.Fatalf("slot confirmed %s before any ack, want %s, before the first transaction at %s", got, start, pglogrepl.LSN(txs[0].Commit.Major))
	}
	// Ack the 4th transaction: the slot moves past its commit, not further.
	if err := src.Ack(context.Background(), txs[3].Commit); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for confirmedFlush(t, dsn, "acks") <= pglogrepl.LSN(txs[3].Commit.Major) {
		if time.Now().After(deadline) {
			t.Fatalf("slot not advanced past %s after ack", pglogrepl.LSN(txs[3].Commit.Major))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := confirmedFlush(t, dsn, "acks"); got > pglogrepl.LSN(txs[4].Commit.Major) {
		t.Fatalf("slot at %s, past the unacked transaction at %s", got, pglogrepl.LSN(txs[4].Commit.Major))
	}
	src.Close()

	// Reopen with downstream at the 4th transaction (acked): 4.. arrive again, once.
	src = openSource(t, cfg, txs[3].Commit)
	checkRange(t, ids(t, readTxs(t, src, 6, 10*time.Second)), 4, 10)
	expectIdle(t, src, 300*time.Millisecond)
	src.Close()

	// Reopen with downstream at the 7th transaction, ahead of the slot (committed, the
	// ack lost in a crash): the slot resends from the 5th; the source skips to the 8th.
	src = openSource(t, cfg, txs[6].Commit)
	insertRange(t, dsn, 10, 12)
	checkRange(t, ids(t, readTxs(t, src, 5, 10*time.Second)), 7, 12)
	expectIdle(t, src, 300*time.Millisecond)
}

func TestResumeAfterSnapshotNotAcked(t *testing.T) {
	dsn := newDB(t)
	conn := connect(t, dsn)
	exec(t, conn, "CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)")
	insertRange(t, dsn, 0, 5)
	cfg := postgres.Config{DSN: dsn, SnapshotChunk: 2}
	src := openSource(t, cfg, cdc.Position{})
	snap := readTxs(t, src, 5, 10*time.Second)
	checkRange(t, ids(t, snap), 0, 5)
	src.Close()
	// Downstream kept only the first chunk, and row 0 it holds was deleted since: the
	// snapshot is taken again, whole, after a truncate of the table, so that downstream
	// does not keep row 0.
	exec(t, conn, "DELETE FROM kv WHERE id = 0")
	insertRange(t, dsn, 5, 6)
	src = openSource(t, cfg, snap[0].Commit)
	again := readTxs(t, src, 6, 10*time.Second)
	if ev := again[0].Events[0]; ev.Op != cdc.OpTruncate || ev.Table != "public.kv" || !snap[0].Commit.Less(ev.Pos) {
		t.Fatalf("second snapshot begins with %s of %s at %s, want a truncate of public.kv after %s", ev.Op, ev.Table, ev.Pos, snap[0].Commit)
	}
	again[0].Events = again[0].Events[1:]
	checkRange(t, ids(t, again), 1, 6)
	if again[0].Events[0].Op != cdc.OpRead {
		t.Fatalf("second snapshot: %s, want reads", again[0].Events[0].Op)
	}
	src.Close()
	// Downstream has the whole snapshot: streaming continues after it.
	src = openSource(t, cfg, again[len(again)-1].Commit)
	insertRange(t, dsn, 6, 8)
	checkRange(t, ids(t, readTxs(t, src, 2, 10*time.Second)), 6, 8)
}

func terminateWalsender(t testing.TB, dsn, slot string) {
	t.Helper()
	var n int
	if err := connect(t, dsn).QueryRow(context.Background(),
		"SELECT count(pg_terminate_backend(active_pid)) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL", slot).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("terminated %d walsenders", n)
	}
}

func TestKilledWalsenderMidStream(t *testing.T) {
	dsn := newDB(t)
	exec(t, connect(t, dsn), "CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)")
	reg := prometheus.NewRegistry()
	metrics := postgres.NewMetrics(reg)
	src := openSource(t, postgres.Config{DSN: dsn, Metrics: metrics}, cdc.Position{})
	insertRange(t, dsn, 0, 5)
	first := readTxs(t, src, 3, 10*time.Second) // two left unread in the queue or the socket
	if err := src.Ack(context.Background(), first[0].Commit); err != nil {
		t.Fatal(err)
	}
	terminateWalsender(t, dsn, "strata")
	insertRange(t, dsn, 5, 10)
	rest := readTxs(t, src, 7, 20*time.Second)
	checkRange(t, append(ids(t, first), ids(t, rest)...), 0, 10)
	expectIdle(t, src, 300*time.Millisecond)
	for name, want := range map[string]float64{"strata_postgres_reconnects_total": 1, "strata_postgres_transactions_total": 10, "strata_postgres_events_total": 10} {
		if got := metricValue(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestServerRestartAndCrashMidStream(t *testing.T) {
	t.Parallel() // its own cluster
	c := pgtest.Start(t)
	dsn := c.DSN("")
	exec(t, connect(t, dsn), "CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)")
	src := openSource(t, postgres.Config{DSN: dsn}, cdc.Position{})
	insertRange(t, dsn, 0, 5)
	txs := readTxs(t, src, 5, 10*time.Second)
	got := ids(t, txs)
	// A clean shutdown waits until the walsender's client confirms all WAL sent: a
	// consumer acks what it committed (an unacked source holds the shutdown, as any
	// logical replication client does).
	if err := src.Ack(context.Background(), txs[len(txs)-1].Commit); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	insertRange(t, dsn, 5, 10)
	got = append(got, ids(t, readTxs(t, src, 5, 30*time.Second))...)
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the source retries against a dead server
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	insertRange(t, dsn, 10, 15)
	got = append(got, ids(t, readTxs(t, src, 5, 30*time.Second))...)
	checkRange(t, got, 0, 15)
	expectIdle(t, src, 300*time.Millisecond)
}

// Changes of a table dropped before they are streamed still arrive, typed from the
// stream's RELATION message.
func TestChangesOfDroppedTable(t *testing.T) {
	dsn := newDB(t)
	conn := connect(t, dsn)
	exec(t, conn, "CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)")
	src := openSource(t, postgres.Config{DSN: dsn}, cdc.Position{})
	insertRange(t, dsn, 0, 1)
	first := readTxs(t, src, 1, 10*time.Second)
	src.Close()
	exec(t, conn, "CREATE TABLE gone (id int PRIMARY KEY, n numeric(5,1))", "INSERT INTO gone VALUES (1, 2.5)", "DROP TABLE gone")
	insertRange(t, dsn, 1, 2)
	src = openSource(t, postgres.Config{DSN: dsn}, first[0].Commit)
	evs := events(readTxs(t, src, 2, 10*time.Second))
	if evs[0].Table != "public.gone" || evs[0].After[1].AsDecimal().LowBits() != 25 || evs[0].Key[0].AsInt() != 1 ||
		evs[0].Schema.String() != "id int32, n decimal(5, 1) (key: id)" {
		t.Fatalf("dropped table's insert: %s %v key %v schema %s", evs[0].Table, evs[0].After, evs[0].Key, evs[0].Schema)
	}
	if evs[1].Table != "public.kv" || evs[1].After[0].AsInt() != 1 {
		t.Fatalf("then %s %v", evs[1].Table, evs[1].After)
	}
}

// Each outage gets its own ReconnectTimeout: short outages spread over a longer time
// never add up to a failure.
func TestRepeatedOutages(t *testing.T) {
	t.Parallel() // a slot name of its own
	dsn := newDB(t)
	exec(t, connect(t, dsn), "CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)")
	src := openSource(t, postgres.Config{DSN: dsn, Slot: "outages", ReconnectTimeout: 1500 * time.Millisecond}, cdc.Position{})
	var got []int64
	for i := range 4 {
		insertRange(t, dsn, i, i+1)
		got = append(got, ids(t, readTxs(t, src, 1, 10*time.Second))...)
		terminateWalsender(t, dsn, "outages")
		time.Sleep(700 * time.Millisecond)
	}
	insertRange(t, dsn, 4, 5)
	got = append(got, ids(t, readTxs(t, src, 1, 10*time.Second))...)
	checkRange(t, got, 0, 5)
}

// A consumer that stops reading does not lose the connection: the source answers the
// server's keepalives while it reads, and reports on its own while it waits for room
// in the queue, well within wal_sender_timeout.
func TestKeepalivesKeepASlowConsumerConnected(t *testing.T) {
	t.Parallel() // its own cluster
	c := pgtest.Start(t)
	dsn := c.DSN("")
	exec(t, connect(t, dsn), "ALTER SYSTEM SET wal_sender_timeout = '2s'", "SELECT pg_reload_conf()",
		"CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)")
	reg := prometheus.NewRegistry()
	src := openSource(t, postgres.Config{DSN: dsn, QueueTxs: 1, StatusInterval: 300 * time.Millisecond,
		Metrics: postgres.NewMetrics(reg), ReconnectTimeout: time.Minute}, cdc.Position{})
	insertRange(t, dsn, 0, 1)
	got := ids(t, readTxs(t, src, 1, 10*time.Second))
	time.Sleep(5 * time.Second) // idle: keepalives only
	insertRange(t, dsn, 1, 4)   // the queue holds one; the reader waits with two
	time.Sleep(5 * time.Second)
	got = append(got, ids(t, readTxs(t, src, 3, 10*time.Second))...)
	// One more round trip: a reconnect, had there been one, is counted before it.
	insertRange(t, dsn, 4, 5)
	got = append(got, ids(t, readTxs(t, src, 1, 10*time.Second))...)
	checkRange(t, got, 0, 5)
	if n := metricValue(t, reg, "strata_postgres_reconnects_total"); n != 0 {
		t.Fatalf("%v reconnects: the server dropped a slow consumer", n)
	}
}

// A transaction the reader holds while the consumer's queue is full is delivered even
// when the connection fails under it (a status update that cannot be written): it was
// counted as delivered, so the stream resumed on a new connection skips it.
func TestConnectionLostWhileQueueFull(t *testing.T) {
	dsn := newDB(t)
	conn := connect(t, dsn)
	exec(t, conn, "CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)")
	cfg := postgres.Config{DSN: dsn, Slot: "queuefull", Snapshot: postgres.SnapshotNever, QueueTxs: 1,
		StatusInterval: 50 * time.Millisecond}
	src := openSource(t, cfg, cdc.Position{})
	for i := range 4 { // one transaction each
		insertRange(t, dsn, i, i+1)
	}
	// The reader fills the queue (one transaction) and waits with the second; the
	// walsender goes away, and its status updates fail.
	time.Sleep(500 * time.Millisecond)
	terminateWalsender(t, dsn, "queuefull")
	time.Sleep(time.Second)
	checkRange(t, ids(t, readTxs(t, src, 4, 30*time.Second)), 0, 4)
	expectIdle(t, src, 300*time.Millisecond)
}
