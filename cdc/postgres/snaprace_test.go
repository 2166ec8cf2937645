package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/cdc/postgres"
	"github.com/strata-data/strata/internal/pgtest"
)

// TestSnapshotWaitsForCommitLog replays PostgreSQL's race between the slot's snapshot
// builder and a committing backend: a transaction W whose commit record is decoded
// before the slot is consistent counts as committed in the exported snapshot, but W's
// backend, held by gdb between its WAL flush and its commit-log update, has not yet
// recorded the commit where visibility checks look. Read then, the snapshot sees the
// row W deleted, and the stream, which starts after W, never deletes it. The source must
// wait for the commit log before it reads.
//
// The choreography pins the snapshot builder's phases with two held transactions: A
// keeps it building, B keeps it at a full snapshot; W starts after B (so it is decoded
// whole), commits and is stopped; B's commit lets the builder reach consistency.
// PostgreSQL 15.20 then waits for W itself before it exports the snapshot; the source's
// own wait (reader.awaitSnapshotCommits) covers servers that do not.
func TestSnapshotWaitsForCommitLog(t *testing.T) {
	t.Parallel() // its own cluster
	gdb, err := osexec.LookPath("gdb")
	if err != nil {
		t.Fatalf("gdb is needed to stop a PostgreSQL backend inside its commit (apt-get install gdb): %v", err)
	}
	c := pgtest.Start(t)
	dsn := c.CreateDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mon := connect(t, dsn)
	exec(t, mon, "CREATE TABLE t (id int PRIMARY KEY, v text)",
		"INSERT INTO t VALUES (1, 'deleted by W'), (2, 'kept')",
		"CREATE PUBLICATION strata FOR TABLE t")
	a, b, w := connect(t, dsn), connect(t, dsn), connect(t, dsn)

	exec(t, a, "BEGIN")
	xa := xid(t, a)
	src := postgres.NewSource(postgres.Config{DSN: dsn, IdleWait: 100 * time.Millisecond})
	t.Cleanup(func() { src.Close() })
	opened := make(chan error, 1)
	go func() { opened <- src.Open(ctx, cdc.Position{}) }()
	awaitLockWait(ctx, t, mon, xa, opened)
	exec(t, b, "BEGIN")
	xb := xid(t, b)
	exec(t, a, "COMMIT")
	awaitLockWait(ctx, t, mon, xb, opened)

	exec(t, w, "BEGIN", "DELETE FROM t WHERE id = 1")
	var pid int
	if err := w.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	g := holdAtCommitLog(ctx, t, gdb, pid)
	committed := make(chan error, 1)
	go func() { _, err := w.Exec(ctx, "COMMIT"); committed <- err }()
	g.await(t, "stopped", pid)
	exec(t, b, "COMMIT") // the builder becomes consistent with W counted as committed
	// Keep W stopped well past the time an unguarded snapshot needs to read t.
	// Hold W well past the time an unguarded snapshot needs to read t (servers that wait
	// for W themselves return from CREATE_REPLICATION_SLOT only once W is released).
	select {
	case err := <-opened:
		noErr(t, err)
		opened <- nil
	case <-time.After(3 * time.Second):
	}
	g.release(t)
	noErr(t, <-committed)
	noErr(t, <-opened)

	rows := map[int64]bool{}
	deadline := time.Now().Add(30 * time.Second)
	snapshotDone := false
	for !snapshotDone || time.Now().Before(deadline) {
		tx, err := src.ReadTx(ctx)
		if errors.Is(err, cdc.ErrIdle) {
			if snapshotDone {
				break
			}
			continue
		}
		noErr(t, err)
		for _, ev := range tx.Events {
			switch ev.Op {
			case cdc.OpRead, cdc.OpCreate:
				rows[ev.After[0].AsInt()] = true
			case cdc.OpDelete:
				delete(rows, ev.Before[0].AsInt())
			}
			snapshotDone = snapshotDone || ev.Source.Snapshot == "last"
		}
	}
	if rows[1] || !rows[2] || len(rows) != 1 {
		t.Fatalf("downstream holds ids %v after the snapshot and the stream; PostgreSQL holds only 2", rows)
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func xid(t *testing.T, conn *pgx.Conn) int64 {
	t.Helper()
	var x int64
	noErr(t, conn.QueryRow(context.Background(), "SELECT txid_current()").Scan(&x))
	return x
}

// awaitLockWait waits until some backend (the walsender creating the slot) waits for
// transaction x to end.
func awaitLockWait(ctx context.Context, t *testing.T, mon *pgx.Conn, x int64, opened chan error) {
	t.Helper()
	for {
		var n int
		noErr(t, mon.QueryRow(ctx, `SELECT count(*) FROM pg_locks
			WHERE locktype = 'transactionid' AND transactionid::text = $1 AND NOT granted`, strconv.FormatInt(x, 10)).Scan(&n))
		if n > 0 {
			return
		}
		select {
		case err := <-opened:
			t.Fatalf("Open returned (%v) before the slot's snapshot builder waited for transaction %d", err, x)
		case <-ctx.Done():
			t.Fatalf("no backend waited for transaction %d: %v", x, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// gdbHold is a gdb attached to a backend that stops it at a breakpoint until released.
// gdb runs a script: the breakpoint's commands signal the stop with a file and wait for
// another before detaching.
type gdbHold struct {
	cmd *osexec.Cmd
	dir string
	out bytes.Buffer
}

// holdAtCommitLog attaches gdb to backend pid with a breakpoint where a commit is
// recorded in the commit log (after the commit record is flushed to the WAL).
func holdAtCommitLog(ctx context.Context, t *testing.T, gdb string, pid int) *gdbHold {
	t.Helper()
	g := &gdbHold{dir: t.TempDir()}
	script := fmt.Sprintf(`set confirm off
set pagination off
break TransactionIdCommitTree
commands 1
  shell touch %[1]s/stopped
  shell while [ ! -e %[1]s/release ]; do sleep 0.01; done
  delete
  detach
  quit
end
shell touch %[1]s/attached
continue
`, g.dir)
	noErr(t, os.WriteFile(filepath.Join(g.dir, "script"), []byte(script), 0o644))
	g.cmd = osexec.CommandContext(ctx, gdb, "-q", "-nx", "-batch", "-p", strconv.Itoa(pid), "-x", filepath.Join(g.dir, "script"))
	g.cmd.Stdout, g.cmd.Stderr = &g.out, &g.out
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start gdb: %v", err)
	}
	t.Cleanup(func() { g.release(t); _ = g.cmd.Wait() })
	g.await(t, "attached", pid)
	return g
}

// await waits for the script to touch file name.
func (g *gdbHold) await(t *testing.T, name string, pid int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(g.dir, name)); err == nil {
			return
		}
		if time.Now().After(deadline) || g.cmd.ProcessState != nil {
			_ = g.cmd.Process.Kill()
			_ = g.cmd.Wait()
			t.Fatalf("gdb on backend %d: not %s (can it attach: ptrace allowed?); gdb said:\n%s", pid, name, g.out.String())
		}
	}
}

func (g *gdbHold) release(t *testing.T) {
	t.Helper()
	noErr(t, os.WriteFile(filepath.Join(g.dir, "release"), nil, 0o644))
}
