package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/internal/pgtest"
)

// pgRows reads table kv (id, v) into a map.
func pgRows(t *testing.T, dsn string) map[string]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT id::text, v FROM kv")
	require.NoError(t, err)
	out := map[string]string{}
	for rows.Next() {
		var id, v string
		require.NoError(t, rows.Scan(&id, &v))
		out[id] = v
	}
	require.NoError(t, rows.Err())
	return out
}

// lakeRows replays the lake with the CLI and applies its events to a map of kv.
func lakeRows(t *testing.T, lake string) map[string]string {
	t.Helper()
	st, out, errOut := strata(t, "bronze", "replay", "--lake", lake)
	require.Equal(t, 0, st, errOut)
	rows := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var ev struct {
			Op    string
			Key   map[string]json.RawMessage
			After map[string]json.RawMessage
		}
		require.NoError(t, json.Unmarshal([]byte(l), &ev), l)
		switch ev.Op {
		case "read", "create", "update":
			var v string
			require.NoError(t, json.Unmarshal(ev.After["v"], &v))
			rows[string(ev.After["id"])] = v
		case "delete":
			delete(rows, string(ev.Key["id"]))
		case "truncate": // a snapshot taken again after a kill starts the table over
			clear(rows)
		default:
			t.Fatalf("unexpected op %s", ev.Op)
		}
	}
	return rows
}

func pgExec(t *testing.T, dsn string, sqls ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, s := range sqls {
		_, err := conn.Exec(ctx, s)
		require.NoError(t, err, s)
	}
}

func TestIngestPostgres(t *testing.T) {
	c := pgtest.Start(t)
	dsn := c.DSN("")
	pgExec(t, dsn, "CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)", "CREATE TABLE other (id int PRIMARY KEY)",
		"INSERT INTO kv SELECT g, 'v' || g FROM generate_series(1, 1000) g", "INSERT INTO other VALUES (1)")
	from := dsn + "&publication=pub&slot=slot1&tables=kv"
	lake := t.TempDir()
	st, out, errOut := strata(t, "ingest", "--from", from, "--lake", lake, "--exit-when-idle", "--quiet")
	require.Equal(t, 0, st, errOut)
	require.Contains(t, out, "ingested 1000 events")

	pgExec(t, dsn, "UPDATE kv SET v = 'x' WHERE id % 3 = 0", "DELETE FROM kv WHERE id % 5 = 0", "INSERT INTO other VALUES (2)")
	st, out, errOut = strata(t, "ingest", "--from", from, "--lake", lake, "--exit-when-idle", "--quiet")
	require.Equal(t, 0, st, errOut)
	require.Contains(t, out, "ingested 533 events") // 333 updates + 200 deletes; table other is not published
	require.Equal(t, pgRows(t, dsn), lakeRows(t, lake))

	st, out, errOut = strata(t, "bronze", "verify", "--lake", lake)
	require.Equal(t, 0, st, errOut)
	require.Contains(t, out, "duplicate positions 0\n")

	// The end-to-end check: silver applied from the lake dumps as the table.
	st, _, errOut = strata(t, "silver", "apply", "--lake", lake)
	require.Equal(t, 0, st, errOut)
	st, out, errOut = strata(t, "silver", "dump", "--lake", lake, "--table", "public.kv", "--format", "csv")
	require.Equal(t, 0, st, errOut)
	dumped := map[string]string{}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Equal(t, "id,v", lines[0])
	for _, l := range lines[1:] {
		id, v, _ := strings.Cut(l, ",")
		dumped[id] = v
	}
	require.Equal(t, pgRows(t, dsn), dumped)

	// A bad URL parameter is reported, not ignored.
	st, _, errOut = strata(t, "ingest", "--from", dsn+"&snapshot=sometimes", "--lake", lake)
	require.Equal(t, 1, st)
	require.Contains(t, errOut, "snapshot mode")
}

// An ingest from PostgreSQL killed with SIGKILL at random instants while writers run
// ends, after a last run, with a lake whose replay equals the table.
func TestIngestPostgresSurvivesSIGKILL(t *testing.T) {
	c := pgtest.Start(t)
	dsn := c.DSN("")
	pgExec(t, dsn, "CREATE TABLE kv (id bigint PRIMARY KEY, v text NOT NULL)",
		"INSERT INTO kv SELECT g, 'v' || g FROM generate_series(1, 3000) g")
	from := dsn + "&slot=crash"
	lake := t.TempDir()

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(context.Background(), dsn)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close(context.Background())
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for i := 0; ctx.Err() == nil; i++ {
				id := rng.IntN(4000)
				var err error
				switch rng.IntN(3) {
				case 0:
					_, err = conn.Exec(context.Background(), "INSERT INTO kv VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET v = excluded.v", id, fmt.Sprint("w", w, "-", i))
				case 1:
					_, err = conn.Exec(context.Background(), "UPDATE kv SET v = $2 WHERE id BETWEEN $1 AND $1 + 20", id, fmt.Sprint("u", w, "-", i))
				case 2:
					_, err = conn.Exec(context.Background(), "DELETE FROM kv WHERE id = $1", id)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	r := rand.New(rand.NewPCG(1, 2))
	kills := 0
	committed := func() bool {
		st, out, errOut := strata(t, "bronze", "verify", "--lake", lake)
		require.Equal(t, 0, st, errOut)
		return !strings.Contains(out, "events 0\n")
	}
	// Five kills, and more (living longer) until a killed run has committed something:
	// on a loaded machine a child may not get that far in its first 1.5 s.
	for round := 0; round < 5 || round < 15 && !committed(); round++ {
		cmd, out := startStrata(t, "ingest", "--from", from, "--lake", lake, "--commit-events", fmt.Sprint(200+r.IntN(2000)), "--quiet")
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		wait := time.Duration(300+r.IntN(1200)) * time.Millisecond
		if round >= 5 {
			wait = 3 * time.Second
		}
		select {
		case err := <-done:
			t.Fatalf("ingest ended before the kill: %v\n%s", err, out)
		case <-time.After(wait):
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			<-done
			kills++
		}
	}
	stop()
	wg.Wait()
	// The killed runs committed part of the stream: the last run resumes after it.
	st, out, errOut := strata(t, "bronze", "verify", "--lake", lake)
	require.Equal(t, 0, st, errOut)
	require.NotContains(t, out, "events 0\n", "no killed run committed anything")
	st, out, errOut = strata(t, "ingest", "--from", from, "--lake", lake, "--exit-when-idle", "--quiet")
	require.Equal(t, 0, st, errOut)
	t.Logf("after %d kills: %s", kills, strings.TrimSpace(out))
	require.Equal(t, pgRows(t, dsn), lakeRows(t, lake))
	st, out, errOut = strata(t, "bronze", "verify", "--lake", lake)
	require.Equal(t, 0, st, errOut)
	require.Contains(t, out, "duplicate positions 0\n")
}
