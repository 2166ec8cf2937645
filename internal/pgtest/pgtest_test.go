package pgtest_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/strata-data/strata/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestSharedLogicalReplication(t *testing.T) {
	c := pgtest.Shared(t)
	dsn := c.CreateDatabase(t)
	conn := connect(t, dsn)
	ctx := context.Background()
	var wal string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&wal); err != nil {
		t.Fatal(err)
	}
	if wal != "logical" {
		t.Fatalf("wal_level = %s", wal)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_create_logical_replication_slot('s1', 'pgoutput')"); err != nil {
		t.Fatal(err)
	}
	// A replication connection is accepted (trust in pg_hba).
	rc := connect(t, dsn+"&replication=database")
	if err := rc.PgConn().Exec(ctx, "IDENTIFY_SYSTEM").Close(); err != nil {
		t.Fatal(err)
	}
	// A second database on the same cluster is another fresh one.
	if dsn2 := c.CreateDatabase(t); dsn2 == dsn {
		t.Fatalf("CreateDatabase returned %s twice", dsn)
	}
}

func TestRestartAndKill(t *testing.T) {
	c := pgtest.Start(t)
	ctx := context.Background()
	conn := connect(t, c.DSN(""))
	if _, err := conn.Exec(ctx, "CREATE TABLE t (id int primary key); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("connection survived a restart")
	}
	conn = connect(t, c.DSN(""))
	if _, err := conn.Exec(ctx, "INSERT INTO t VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("connection survived a kill")
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	conn = connect(t, c.DSN(""))
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("after crash recovery %d rows, want 2 (committed rows lost)", n)
	}
}

func TestWaldump(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t) // its own: on the shared cluster, other tests' WAL can recycle the segment read
	conn := connect(t, c.DSN(""))
	ctx := context.Background()
	var xid string
	if _, err := conn.Exec(ctx, "CREATE TABLE w (id int)"); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "INSERT INTO w VALUES (1) RETURNING xmin::text").Scan(&xid); err != nil {
		t.Fatal(err)
	}
	out, _ := c.Waldump("--xid", xid) // exit status 1 at the end of the WAL
	if !regexp.MustCompile(`tx: +` + xid + `, .*desc: COMMIT`).MatchString(out) {
		t.Fatalf("pg_waldump --xid %s printed no commit of it:\n%s", xid, out)
	}
}
