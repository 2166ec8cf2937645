package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/cdc/postgres"
	"github.com/strata-data/strata/internal/pgtest"
)

// loseSlot makes PostgreSQL invalidate every slot that lags: max_slot_wal_keep_size
// shrinks to 1MB, several WAL segments go by, and a checkpoint removes them.
func loseSlot(t *testing.T, dsn, slot string) {
	t.Helper()
	conn := connect(t, dsn)
	exec(t, conn, "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'", "SELECT pg_reload_conf()")
	for range 4 {
		exec(t, conn, "INSERT INTO filler SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g", "SELECT pg_switch_wal()")
	}
	exec(t, conn, "CHECKPOINT")
	var st string
	for deadline := time.Now().Add(20 * time.Second); ; {
		if err := conn.QueryRow(context.Background(), "SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&st); err != nil {
			t.Fatal(err)
		}
		if st == "lost" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot %s: wal_status %s, want lost", slot, st)
		}
		exec(t, conn, "SELECT pg_switch_wal()", "CHECKPOINT")
		time.Sleep(100 * time.Millisecond)
	}
	exec(t, conn, "ALTER SYSTEM RESET max_slot_wal_keep_size", "SELECT pg_reload_conf()")
}

// applyKV applies kv's events to rows as a keyed table would, truncates included.
func applyKV(t *testing.T, rows map[int64]string, evs []cdc.Event) {
	t.Helper()
	for _, ev := range evs {
		if ev.Table != "public.kv" {
			continue
		}
		switch ev.Op {
		case cdc.OpTruncate:
			clear(rows)
		case cdc.OpDelete:
			delete(rows, ev.Key[0].AsInt())
		default:
			rows[ev.After[0].AsInt()] = ev.After[1].AsString()
		}
	}
}

func kvRows(t *testing.T, dsn string) map[int64]string {
	t.Helper()
	rs, err := connect(t, dsn).Query(context.Background(), "SELECT id, v FROM kv")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]string{}
	for rs.Next() {
		var id int64
		var v string
		if err := rs.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		out[id] = v
	}
	return out
}

// readUntilIdle reads transactions until the source is idle.
func readUntilIdle(t *testing.T, src *postgres.Source) []cdc.Tx {
	t.Helper()
	var txs []cdc.Tx
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		tx, err := src.ReadTx(context.Background())
		if errors.Is(err, cdc.ErrIdle) {
			return txs
		}
		if err != nil {
			t.Fatal(err)
		}
		txs = append(txs, tx)
	}
	t.Fatal("the source never went idle")
	return nil
}

func diffKV(t *testing.T, got, want map[int64]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d rows downstream, %d in PostgreSQL", len(got), len(want))
	}
	var bad []string
	for k, v := range want {
		if got[k] != v {
			bad = append(bad, fmt.Sprintf("%d: %q want %q", k, got[k], v))
		}
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		t.Errorf("rows differ: %v", bad[:min(len(bad), 10)])
	}
}

// A slot PostgreSQL invalidated while the source was away: the default mode stops with
// ErrSlotLost and says what to do; when_needed drops it, takes a new snapshot that
// truncates first, and downstream converges on the table, deletes it never saw included.
func TestSlotLostAtOpen(t *testing.T) {
	t.Parallel() // its own cluster: it changes server settings
	c := pgtest.Start(t)
	dsn := c.DSN("")
	exec(t, connect(t, dsn), "CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)", "CREATE TABLE filler (id int, pad text)",
		"INSERT INTO kv SELECT g, 'v' || g FROM generate_series(1, 100) g")
	cfg := postgres.Config{DSN: dsn, Slot: "lost", Tables: []string{"public.kv"}}
	src := openSource(t, cfg, cdc.Position{})
	rows := map[int64]string{}
	txs := readUntilIdle(t, src)
	applyKV(t, rows, events(txs))
	last := txs[len(txs)-1].Commit
	if err := src.Ack(context.Background(), last); err != nil {
		t.Fatal(err)
	}
	src.Close()

	exec(t, connect(t, dsn), "DELETE FROM kv WHERE id % 3 = 0", "UPDATE kv SET v = v || '!' WHERE id % 5 = 0",
		"INSERT INTO kv SELECT g, 'n' || g FROM generate_series(101, 120) g")
	loseSlot(t, dsn, "lost")

	err := postgres.NewSource(cfg).Open(context.Background(), last)
	if !errors.Is(err, postgres.ErrSlotLost) {
		t.Fatalf("Open of an invalidated slot: %v, want ErrSlotLost", err)
	}
	t.Log(err)

	cfg.Snapshot = postgres.SnapshotWhenNeeded
	src = openSource(t, cfg, last)
	txs = readUntilIdle(t, src)
	if evs := events(txs); len(evs) == 0 || evs[0].Op != cdc.OpTruncate || evs[0].Pos.Compare(last) <= 0 {
		t.Fatalf("the new snapshot does not start with a truncate after %s: %+v", last, evs[:min(len(evs), 1)])
	}
	applyKV(t, rows, events(txs))
	diffKV(t, rows, kvRows(t, dsn))

	// And streaming goes on from the new slot.
	exec(t, connect(t, dsn), "DELETE FROM kv WHERE id = 1", "INSERT INTO kv VALUES (500, 'x')")
	applyKV(t, rows, events(readTxs(t, src, 2, 30*time.Second)))
	diffKV(t, rows, kvRows(t, dsn))
}

// A slot invalidated while the source streams: the server ends the walsender and
// refuses the slot from then on; when_needed renews it mid-run, without a restart.
func TestSlotLostMidStream(t *testing.T) {
	t.Parallel() // its own cluster: it changes server settings
	c := pgtest.Start(t)
	dsn := c.DSN("")
	exec(t, connect(t, dsn), "CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)", "CREATE TABLE filler (id int, pad text)",
		"INSERT INTO kv SELECT g, 'v' || g FROM generate_series(1, 50) g")
	reg := prometheus.NewRegistry()
	cfg := postgres.Config{DSN: dsn, Slot: "midstream", Tables: []string{"public.kv"}, Snapshot: postgres.SnapshotWhenNeeded,
		Metrics: postgres.NewMetrics(reg)}
	src := openSource(t, cfg, cdc.Position{})
	rows := map[int64]string{}
	applyKV(t, rows, events(readUntilIdle(t, src)))
	// Not acked: the slot lags, and what the source holds unacked is streamed again
	// by no one; the new snapshot covers it.
	exec(t, connect(t, dsn), "DELETE FROM kv WHERE id <= 10")
	applyKV(t, rows, events(readTxs(t, src, 10, 30*time.Second)))
	exec(t, connect(t, dsn), "INSERT INTO kv SELECT g, 'n' || g FROM generate_series(51, 60) g")
	loseSlot(t, dsn, "midstream")
	exec(t, connect(t, dsn), "DELETE FROM kv WHERE id > 55", "UPDATE kv SET v = 'u' WHERE id = 20")
	want := kvRows(t, dsn)
	applyUntilRenewedAndIdle(t, src, reg, rows)
	diffKV(t, rows, want)
}

// A process that stops (here: closes without acking) after replacing an invalidated slot
// but before downstream committed any of the new snapshot leaves a healthy new slot and
// a complete position downstream. The next Open must take the snapshot again: streaming
// from the new slot would skip every change made before it, which only the snapshot
// carried. The marker slot says so, and goes once the snapshot's end is acked.
func TestSlotRenewalInterrupted(t *testing.T) {
	t.Parallel() // its own cluster: it changes server settings
	c := pgtest.Start(t)
	dsn := c.DSN("")
	exec(t, connect(t, dsn), "CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)", "CREATE TABLE filler (id int, pad text)",
		"INSERT INTO kv SELECT g, 'v' || g FROM generate_series(1, 100) g")
	cfg := postgres.Config{DSN: dsn, Slot: "renewed", Tables: []string{"public.kv"}, Snapshot: postgres.SnapshotWhenNeeded}
	src := openSource(t, cfg, cdc.Position{})
	rows := map[int64]string{}
	txs := readUntilIdle(t, src)
	applyKV(t, rows, events(txs))
	last := txs[len(txs)-1].Commit
	noErr(t, src.Ack(context.Background(), last))
	src.Close()

	exec(t, connect(t, dsn), "DELETE FROM kv WHERE id % 3 = 0", "UPDATE kv SET v = v || '!' WHERE id % 5 = 0")
	loseSlot(t, dsn, "renewed")

	// The slot is replaced and the snapshot starts; nothing reaches downstream.
	interrupted := openSource(t, cfg, last)
	interrupted.Close()
	if n := markerSlots(t, dsn); n != 1 {
		t.Fatalf("%d marker slots after the interrupted renewal, want 1", n)
	}

	src = openSource(t, cfg, last)
	txs = readUntilIdle(t, src)
	if evs := events(txs); len(evs) == 0 || evs[0].Op != cdc.OpTruncate {
		t.Fatalf("the second Open did not take the snapshot again: %+v", evs[:min(len(evs), 1)])
	}
	applyKV(t, rows, events(txs))
	diffKV(t, rows, kvRows(t, dsn))
	noErr(t, src.Ack(context.Background(), txs[len(txs)-1].Commit))
	exec(t, connect(t, dsn), "INSERT INTO kv VALUES (500, 'x')")
	applyKV(t, rows, events(readTxs(t, src, 1, 30*time.Second)))
	diffKV(t, rows, kvRows(t, dsn))
	for deadline := time.Now().Add(30 * time.Second); markerSlots(t, dsn) != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the marker slot outlived the acked snapshot")
		}
	}
}

func markerSlots(t *testing.T, dsn string) int {
	t.Helper()
	var n int
	noErr(t, connect(t, dsn).QueryRow(context.Background(), "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '%resnapshot'").Scan(&n))
	return n
}

// A snapshot taken when a slot is renewed mid-stream is not "idle" while it reads:
// a caller that stops at the first idle after the renewal gets it whole. Here the
// snapshot reads 100 000 rows as one chunk, far longer than IdleWait.
func TestSlotRenewalNotIdleDuringSnapshot(t *testing.T) {
	t.Parallel() // its own cluster: it changes server settings
	c := pgtest.Start(t)
	dsn := c.DSN("")
	exec(t, connect(t, dsn), "CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)", "CREATE TABLE filler (id int, pad text)",
		"CREATE TABLE bulk (id int PRIMARY KEY, pad text)",
		"INSERT INTO kv SELECT g, 'v' || g FROM generate_series(1, 50) g",
		"INSERT INTO bulk SELECT g, repeat('b', 40) FROM generate_series(1, 100000) g")
	reg := prometheus.NewRegistry()
	cfg := postgres.Config{DSN: dsn, Slot: "renewidle", Tables: []string{"public.kv", "public.bulk"}, Snapshot: postgres.SnapshotWhenNeeded,
		Metrics: postgres.NewMetrics(reg), IdleWait: 10 * time.Millisecond, SnapshotChunk: 1_000_000}
	src := openSource(t, cfg, cdc.Position{})
	rows := map[int64]string{}
	applyKV(t, rows, events(readUntilIdle(t, src)))
	loseSlot(t, dsn, "renewidle")
	exec(t, connect(t, dsn), "DELETE FROM kv WHERE id > 40", "UPDATE kv SET v = 'u' WHERE id = 20")
	want := kvRows(t, dsn)
	applyUntilRenewedAndIdle(t, src, reg, rows)
	diffKV(t, rows, want)
}

// applyUntilRenewedAndIdle applies kv's changes to rows until the source has renewed
// its slot once and then reports idle (within a minute).
func applyUntilRenewedAndIdle(t *testing.T, src *postgres.Source, reg *prometheus.Registry, rows map[int64]string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		tx, err := src.ReadTx(context.Background())
		if err != nil && !errors.Is(err, cdc.ErrIdle) {
			t.Fatal(err)
		}
		applyKV(t, rows, tx.Events)
		if metricValue(t, reg, "strata_postgres_slot_renewals_total") == 1 && errors.Is(err, cdc.ErrIdle) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no renewal within a minute (%v renewals)", metricValue(t, reg, "strata_postgres_slot_renewals_total"))
		}
	}
}
