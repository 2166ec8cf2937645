package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/cdc/postgres"
)

func TestInterleavedTransactionsArriveInCommitOrder(t *testing.T) {
	dsn := newDB(t)
	a, b := connect(t, dsn), connect(t, dsn)
	exec(t, a, "CREATE TABLE t (id int PRIMARY KEY, w text)")
	src := openSource(t, postgres.Config{DSN: dsn}, cdc.Position{})
	exec(t, a, "BEGIN", "INSERT INTO t VALUES (1, 'a')")
	exec(t, b, "BEGIN", "INSERT INTO t VALUES (2, 'b')")
	exec(t, a, "INSERT INTO t VALUES (3, 'a')")
	exec(t, b, "INSERT INTO t VALUES (4, 'b')", "COMMIT") // b commits first, began second
	exec(t, a, "INSERT INTO t VALUES (5, 'a')", "COMMIT")
	txs := readTxs(t, src, 5, 10*time.Second)
	if len(txs) != 2 {
		t.Fatalf("%d transactions", len(txs))
	}
	ids := func(tx cdc.Tx) (s []int64) {
		for _, ev := range tx.Events {
			s = append(s, ev.After[0].AsInt())
		}
		return s
	}
	if fmt.Sprint(ids(txs[0]), ids(txs[1])) != "[2 4] [1 3 5]" {
		t.Fatalf("transactions %v %v, want [2 4] then [1 3 5]", ids(txs[0]), ids(txs[1]))
	}
	// The later commit has the greater position although its first change came first.
	if !txs[0].Commit.Less(txs[1].Commit) || txs[1].Events[0].Pos.Minor > txs[0].Events[0].Pos.Minor {
		t.Fatalf("positions %s %s", txs[0].Commit, txs[1].Commit)
	}
}

// applied is the state a consumer builds from events, to compare with the table.
type applied map[int64]string

func (m applied) apply(t testing.TB, evs []cdc.Event) {
	t.Helper()
	for _, ev := range evs {
		switch ev.Op {
		case cdc.OpCreate, cdc.OpRead, cdc.OpUpdate:
			m[ev.After[0].AsInt()] = ev.After[1].AsString()
		case cdc.OpDelete:
			delete(m, ev.Key[0].AsInt())
		case cdc.OpTruncate:
			clear(m)
		default:
			t.Fatalf("unexpected %s", ev.Op)
		}
	}
}

func tableState(t testing.TB, dsn, table string) applied {
	t.Helper()
	conn := connect(t, dsn)
	rows, err := conn.Query(context.Background(), "SELECT id, v FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := applied{}
	for rows.Next() {
		var id int64
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		m[id] = v
	}
	return m
}

func (m applied) equal(o applied) error {
	if len(m) != len(o) {
		return fmt.Errorf("%d rows, table has %d", len(m), len(o))
	}
	for k, v := range o {
		if m[k] != v {
			return fmt.Errorf("row %d: %q, table has %q", k, m[k], v)
		}
	}
	return nil
}

// workload runs writers concurrent random transactions on table (id bigint pk, v text)
// and returns the number of transactions committed.
func workload(t testing.TB, dsn, table string, writers, txs int, seed uint64) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			conn := connect(t, dsn)
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			ctx := context.Background()
			for i := 0; i < txs; i++ {
				tx, err := conn.Begin(ctx)
				if err != nil {
					errs <- err
					return
				}
				for j := 0; j < 1+rng.IntN(4); j++ {
					id := int64(w*1_000_000 + rng.IntN(50))
					var err error
					switch rng.IntN(3) {
					case 0:
						_, err = tx.Exec(ctx, "INSERT INTO "+table+" VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET v = excluded.v", id, fmt.Sprintf("w%d-%d-%d", w, i, j))
					case 1:
						_, err = tx.Exec(ctx, "UPDATE "+table+" SET v = $2 WHERE id = $1", id, fmt.Sprintf("u%d-%d-%d", w, i, j))
					case 2:
						_, err = tx.Exec(ctx, "DELETE FROM "+table+" WHERE id = $1", id)
					}
					if err != nil {
						errs <- err
						return
					}
				}
				if rng.IntN(10) == 0 {
					err = tx.Rollback(ctx)
				} else {
					err = tx.Commit(ctx)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// drain reads until the source has been idle for quiet, checking commit order.
func drain(t testing.TB, src *postgres.Source, quiet time.Duration, last *cdc.Position) []cdc.Tx {
	t.Helper()
	var txs []cdc.Tx
	idleSince := time.Now()
	for time.Since(idleSince) < quiet {
		tx, err := src.ReadTx(context.Background())
		if errors.Is(err, cdc.ErrIdle) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !last.Less(tx.Commit) {
			t.Fatalf("transaction %s at %s does not follow %s", tx.ID, tx.Commit, *last)
		}
		*last = tx.Commit
		txs = append(txs, tx)
		idleSince = time.Now()
	}
	return txs
}

func TestConcurrentWritersMatchTable(t *testing.T) {
	t.Parallel() // a slot name of its own
	dsn := newDB(t)
	exec(t, connect(t, dsn), "CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)",
		"INSERT INTO kv SELECT g, 'init' FROM generate_series(1, 100) g")
	src := openSource(t, postgres.Config{DSN: dsn, Slot: "concurrent", SnapshotChunk: 7}, cdc.Position{})
	workload(t, dsn, "kv", 4, 40, 1)
	var last cdc.Position
	got := applied{}
	got.apply(t, events(drain(t, src, time.Second, &last)))
	if err := got.equal(tableState(t, dsn, "kv")); err != nil {
		t.Fatal(err)
	}
}

func TestNoIdentityReportedAtOpen(t *testing.T) {
	dsn := newDB(t)
	exec(t, connect(t, dsn), "CREATE TABLE nokey (a int, b text)", "CREATE TABLE haskey (id int PRIMARY KEY)")
	src := postgres.NewSource(postgres.Config{DSN: dsn})
	err := src.Open(context.Background(), cdc.Position{})
	if !errors.Is(err, postgres.ErrNoIdentity) || !strings.Contains(err.Error(), "public.nokey") || strings.Contains(err.Error(), "haskey") {
		t.Fatalf("Open: %v", err)
	}
	// REPLICA IDENTITY FULL makes it capturable, with whole before-images.
	exec(t, connect(t, dsn), "ALTER TABLE nokey REPLICA IDENTITY FULL", "INSERT INTO nokey VALUES (1, 'x')")
	src = openSource(t, postgres.Config{DSN: dsn}, cdc.Position{})
	readTxs(t, src, 1, 10*time.Second)
	exec(t, connect(t, dsn), "UPDATE nokey SET b = 'y'", "DELETE FROM nokey")
	evs := events(readTxs(t, src, 2, 10*time.Second))
	if evs[0].Op != cdc.OpUpdate || evs[0].Before[1].AsString() != "x" || evs[0].After[1].AsString() != "y" || evs[0].Key != nil {
		t.Fatalf("update %s %v %v key %v", evs[0].Op, evs[0].Before, evs[0].After, evs[0].Key)
	}
	if evs[1].Op != cdc.OpDelete || evs[1].Before[0].AsInt() != 1 || evs[1].Before[1].AsString() != "y" {
		t.Fatalf("delete %s %v", evs[1].Op, evs[1].Before)
	}
}

func TestUnchangedToastIsAbsentNotNull(t *testing.T) {
	dsn := newDB(t)
	conn := connect(t, dsn)
	exec(t, conn, "CREATE TABLE docs (id int PRIMARY KEY, n int, body text)",
		"CREATE TABLE docsfull (id int PRIMARY KEY, n int, body text)", "ALTER TABLE docsfull REPLICA IDENTITY FULL")
	// Random text does not compress: it is stored out of line (TOAST).
	big := "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 4000))"
	exec(t, conn, "INSERT INTO docs VALUES (1, 0, "+big+")", "INSERT INTO docsfull VALUES (1, 0, "+big+")")
	src := openSource(t, postgres.Config{DSN: dsn}, cdc.Position{})
	readTxs(t, src, 2, 10*time.Second)
	exec(t, conn, "UPDATE docs SET n = 1", "UPDATE docsfull SET n = 1")
	evs := events(readTxs(t, src, 2, 10*time.Second))
	var want string
	if err := conn.QueryRow(context.Background(), "SELECT body FROM docsfull").Scan(&want); err != nil {
		t.Fatal(err)
	}
	if ev := evs[0]; ev.Table != "public.docs" || ev.After[1].AsInt() != 1 || !ev.After[2].IsAbsent() {
		t.Fatalf("DEFAULT identity: body %v, want absent (unchanged TOAST)", ev.After[2].Kind())
	}
	if ev := evs[1]; ev.After[2].AsString() != want || len(want) != 128000 {
		t.Fatalf("FULL identity: body of %d bytes, want the unchanged %d from the before-image", len(ev.After[2].AsString()), len(want))
	}
	// A key change leaving the TOAST value unchanged stays one update from the old key:
	// as a delete and a create, the new key's body would be lost.
	exec(t, conn, "UPDATE docs SET id = 2", "UPDATE docs SET id = 3, body = 'small'")
	evs = events(readTxs(t, src, 3, 10*time.Second))
	if ev := evs[0]; ev.Op != cdc.OpUpdate || ev.Before == nil || ev.Before[0].AsInt() != 1 || ev.After[0].AsInt() != 2 || !ev.After[2].IsAbsent() {
		t.Fatalf("key change with unchanged TOAST: %s before %v, body %v", ev.Op, ev.Before, ev.After[2].Kind())
	}
	if evs[1].Op != cdc.OpDelete || evs[2].Op != cdc.OpCreate || evs[2].After[2].AsString() != "small" {
		t.Fatalf("key change with every value sent: %s, %s, want delete and create", evs[1].Op, evs[2].Op)
	}
}

func TestAddColumnMidStream(t *testing.T) {
	dsn := newDB(t)
	conn := connect(t, dsn)
	exec(t, conn, "CREATE TABLE t (id int PRIMARY KEY, a text)", "INSERT INTO t VALUES (1, 'x')")
	src := openSource(t, postgres.Config{DSN: dsn}, cdc.Position{})
	exec(t, conn, "INSERT INTO t VALUES (2, 'y')", "ALTER TABLE t ADD COLUMN b numeric(10,2)", "INSERT INTO t VALUES (3, 'z', 1.25)", "UPDATE t SET b = 2 WHERE id = 1")
	evs := events(readTxs(t, src, 4, 10*time.Second))
	if evs[0].SchemaVersion != 1 || evs[1].SchemaVersion != 1 || evs[0].Schema != evs[1].Schema {
		t.Fatalf("versions %d %d", evs[0].SchemaVersion, evs[1].SchemaVersion)
	}
	if evs[2].SchemaVersion != 2 || evs[2].Schema.String() != "id int32 not null, a utf8, b decimal(10, 2) (key: id)" || evs[3].Schema != evs[2].Schema {
		t.Fatalf("after ADD COLUMN: version %d schema %s", evs[2].SchemaVersion, evs[2].Schema)
	}
	if evs[2].After[2].AsDecimal().LowBits() != 125 {
		t.Fatalf("b = %v", evs[2].After[2])
	}
}

func TestSmallQueueKeepsOrder(t *testing.T) {
	dsn := newDB(t)
	conn := connect(t, dsn)
	exec(t, conn, "CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)")
	src := openSource(t, postgres.Config{DSN: dsn, QueueTxs: 2, QueueEvents: 5}, cdc.Position{})
	exec(t, conn, "INSERT INTO kv SELECT g, 'big' FROM generate_series(1, 20) g") // larger than the queue: passes alone
	insertRange(t, dsn, 21, 60)
	time.Sleep(200 * time.Millisecond) // let the reader block on the full queue
	checkRange(t, ids(t, readTxs(t, src, 59, 20*time.Second)), 1, 60)
}

// A partitioned table published via its root is snapshotted and streamed under the
// root's name; published per partition, under each partition's.
func TestPartitionedTables(t *testing.T) {
	dsn := newDB(t)
	conn := connect(t, dsn)
	exec(t, conn, "CREATE TABLE m (id int, k int, PRIMARY KEY (id, k)) PARTITION BY LIST (k)",
		"CREATE TABLE m1 PARTITION OF m FOR VALUES IN (1)", "CREATE TABLE m2 PARTITION OF m FOR VALUES IN (2)",
		"INSERT INTO m VALUES (1, 1), (2, 2)",
		"CREATE PUBLICATION viaroot FOR TABLE m WITH (publish_via_partition_root = true)",
		"CREATE PUBLICATION perpart FOR TABLE m")
	root := openSource(t, postgres.Config{DSN: dsn, Publication: "viaroot", Slot: "viaroot"}, cdc.Position{})
	parts := openSource(t, postgres.Config{DSN: dsn, Publication: "perpart", Slot: "perpart"}, cdc.Position{})
	exec(t, conn, "INSERT INTO m VALUES (3, 1), (4, 2)")
	for _, tc := range []struct {
		src  *postgres.Source
		want string
	}{{root, "public.m:1 public.m:2 public.m:3 public.m:4"}, {parts, "public.m1:1 public.m2:2 public.m1:3 public.m2:4"}} {
		var got []string
		for _, ev := range events(readTxs(t, tc.src, 4, 10*time.Second)) {
			got = append(got, fmt.Sprintf("%s:%d", ev.Table, ev.After[0].AsInt()))
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("got %v, want %s", got, tc.want)
		}
	}
}
