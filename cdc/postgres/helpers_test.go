package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/cdc/postgres"
	"github.com/strata-data/strata/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newDB returns the DSN of a fresh database on the shared cluster.
func newDB(t *testing.T) string {
	t.Helper()
	return pgtest.Shared(t).CreateDatabase(t)
}

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec(t testing.TB, conn *pgx.Conn, sqls ...string) {
	t.Helper()
	for _, s := range sqls {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func openSource(t testing.TB, cfg postgres.Config, from cdc.Position) *postgres.Source {
	t.Helper()
	if cfg.IdleWait == 0 {
		cfg.IdleWait = 100 * time.Millisecond
	}
	src := postgres.NewSource(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := src.Open(ctx, from); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// readTxs reads transactions until want events have arrived (or fails after timeout).
func readTxs(t testing.TB, src *postgres.Source, want int, timeout time.Duration) []cdc.Tx {
	t.Helper()
	var txs []cdc.Tx
	n := 0
	deadline := time.Now().Add(timeout)
	for n < want {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d events within %v", n, want, timeout)
		}
		tx, err := src.ReadTx(context.Background())
		if errors.Is(err, cdc.ErrIdle) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		txs = append(txs, tx)
		n += len(tx.Events)
	}
	return txs
}

// expectIdle checks that nothing more arrives for a while.
func expectIdle(t testing.TB, src *postgres.Source, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		tx, err := src.ReadTx(context.Background())
		if errors.Is(err, cdc.ErrIdle) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Fatalf("unexpected transaction %s with %d events (first %s %v)", tx.ID, len(tx.Events), tx.Events[0].Op, tx.Events[0].After)
	}
}

func events(txs []cdc.Tx) []cdc.Event {
	var out []cdc.Event
	for _, tx := range txs {
		out = append(out, tx.Events...)
	}
	return out
}

func pgtestDB(tb testing.TB) string {
	tb.Helper()
	return pgtest.Shared(tb).CreateDatabase(tb)
}
