package sink_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/pgtest"
	"github.com/strata-data/strata/sink"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func pgConnect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func openPG(t *testing.T, dsn string, m *sink.Metrics) *sink.Postgres {
	t.Helper()
	cfg := sink.PostgresConfig{DSN: dsn, Table: "public.revenue", Schema: martSchema, Name: "mart", Metrics: m}
	p, err := sink.OpenPostgres(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// pgTable reads the target back, every column as PostgreSQL's text, keyed like rowKey.
func pgTable(t *testing.T, c *pgx.Conn) map[string][]any {
	t.Helper()
	rows, err := c.Query(context.Background(),
		`SELECT segment, day::text, revenue::text, orders::text, updated::text, note FROM revenue`)
	require.NoError(t, err)
	out := map[string][]any{}
	for rows.Next() {
		var seg, day string
		var rev, orders, updated, note *string
		require.NoError(t, rows.Scan(&seg, &day, &rev, &orders, &updated, &note))
		k := fmt.Sprintf("%q|%s", seg, day)
		_, dup := out[k]
		require.False(t, dup, "duplicate key %s", k)
		out[k] = []any{seg, day, deref(rev), deref(orders), deref(updated), deref(note)}
	}
	require.NoError(t, rows.Err())
	return out
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// pgExpected renders an expected table as pgTable reads it.
func pgExpected(table map[string][]any) map[string][]any {
	out := map[string][]any{}
	for k, r := range tableOf(table) {
		row := []any{r[0], r[1].(time.Time).Format(time.DateOnly), r[2], nil, nil, r[5]}
		if r[3] != nil {
			row[3] = fmt.Sprint(r[3])
		}
		if r[4] != nil {
			row[4] = r[4].(time.Time).Format(time.DateTime)
		}
		out[k] = row
	}
	return out
}

func TestPostgresAppliesChangesExactly(t *testing.T) {
	dsn := pgtest.Shared(t).CreateDatabase(t)
	mem := checkedMem(t)
	ctx := context.Background()
	steps, tables := changelog(11, 60, 40)
	reg := prometheus.NewRegistry()
	m := sink.NewMetrics(reg)
	p := openPG(t, dsn, m)
	var _ sink.Resumer = p
	c := pgConnect(t, dsn)
	for i, st := range steps {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
		if i%6 == 5 || i == len(steps)-1 {
			require.NoError(t, p.Flush(ctx))
			require.Equal(t, pgExpected(tables[i]), pgTable(t, c), "after step %d", i)
		}
	}
	var pos string
	require.NoError(t, c.QueryRow(ctx, `SELECT position FROM strata_sink_progress WHERE sink_name = 'mart'`).Scan(&pos))
	require.Equal(t, steps[59].pos.String(), pos)
	require.Equal(t, 60.0, counter(t, reg, "strata_sink_batches_total", "mart"))
	require.Equal(t, 10.0, counter(t, reg, "strata_sink_commits_total", "mart"))
	require.NoError(t, p.Close())

	// A restart reads the position back and skips the replayed prefix.
	p = openPG(t, dsn, m)
	require.Equal(t, steps[59].pos, p.Committed())
	for _, st := range steps[20:40] { // a replay of an old stretch must not take the table back
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, p.Flush(ctx))
	require.Equal(t, pgExpected(tables[59]), pgTable(t, c))
	for _, st := range steps[40:] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, p.Flush(ctx))
	require.Equal(t, 40.0, counter(t, reg, "strata_sink_skipped_batches_total", "mart"))
	require.Equal(t, pgExpected(tables[59]), pgTable(t, c))
}

// waitForLockWait returns the pid of a backend of db waiting on a lock.
func waitForLockWait(t *testing.T, c *pgx.Conn) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var pid int
		err := c.QueryRow(context.Background(), `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' LIMIT 1`).Scan(&pid)
		if err == nil {
			return pid
		}
		require.ErrorIs(t, err, pgx.ErrNoRows)
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no backend waited on the progress row")
	return 0
}

// holdProgress locks the sink's progress row from another connection, so that a flush
// applies its rows and then waits, mid-transaction, at the progress update.
func holdProgress(t *testing.T, dsn string) (release func()) {
	t.Helper()
	c := pgConnect(t, dsn)
	tx, err := c.Begin(context.Background())
	require.NoError(t, err)
	_, err = tx.Exec(context.Background(), `SELECT 1 FROM strata_sink_progress WHERE sink_name = 'mart' FOR UPDATE`)
	require.NoError(t, err)
	return func() { require.NoError(t, tx.Rollback(context.Background())) }
}

// A crash between the write of the rows and the write of the position (the sink's
// connection dies mid-transaction) leaves neither; a new sink replays from an earlier
// position and the table ends exactly as expected, without duplicates.
func TestPostgresExactlyOnceAcrossACrash(t *testing.T) {
	dsn := pgtest.Shared(t).CreateDatabase(t)
	mem := checkedMem(t)
	ctx := context.Background()
	steps, tables := changelog(12, 60, 40)
	c := pgConnect(t, dsn)
	p := openPG(t, dsn, nil)
	for i, st := range steps[:20] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
		if i%5 == 4 {
			require.NoError(t, p.Flush(ctx))
		}
	}
	for _, st := range steps[20:30] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	release := holdProgress(t, dsn)
	done := make(chan error, 1)
	go func() { done <- p.Flush(ctx) }()
	pid := waitForLockWait(t, c) // the rows are merged; the position is not written
	var killed bool
	require.NoError(t, c.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&killed))
	require.True(t, killed)
	require.Error(t, <-done)
	release()
	require.Equal(t, pgExpected(tables[19]), pgTable(t, c), "the killed transaction left nothing")
	require.NoError(t, p.Close()) // the process dies

	p = openPG(t, dsn, nil)
	require.Equal(t, steps[19].pos, p.Committed())
	for i, st := range steps[10:] { // the source replays from an earlier position
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
		if i%7 == 6 {
			require.NoError(t, p.Flush(ctx))
		}
	}
	require.NoError(t, p.Flush(ctx))
	got := pgTable(t, c)
	require.Equal(t, pgExpected(tables[59]), got)
	var n int
	require.NoError(t, c.QueryRow(ctx, `SELECT count(*) FROM revenue`).Scan(&n))
	require.Equal(t, len(tables[59]), n)
}

// A flush cancelled mid-transaction keeps its buffer: the retry applies it once.
func TestPostgresRetriesACancelledFlush(t *testing.T) {
	dsn := pgtest.Shared(t).CreateDatabase(t)
	mem := checkedMem(t)
	ctx := context.Background()
	steps, tables := changelog(13, 30, 30)
	c := pgConnect(t, dsn)
	p := openPG(t, dsn, nil)
	for _, st := range steps[:10] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, p.Flush(ctx))
	for _, st := range steps[10:30] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	release := holdProgress(t, dsn)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Flush(cctx) }()
	waitForLockWait(t, c)
	cancel()
	require.Error(t, <-done)
	release()
	require.Equal(t, pgExpected(tables[9]), pgTable(t, c))
	require.Equal(t, steps[9].pos, p.Committed())
	require.NoError(t, p.Flush(ctx))
	require.Equal(t, pgExpected(tables[29]), pgTable(t, c))
	require.Equal(t, steps[29].pos, p.Committed())
}

// When a commit's reply is lost, the retry finds the position already recorded and
// does not apply twice; a second writer under the same name is refused.
func TestPostgresLostCommitAndSecondWriter(t *testing.T) {
	dsn := pgtest.Shared(t).CreateDatabase(t)
	mem := checkedMem(t)
	ctx := context.Background()
	steps, tables := changelog(14, 20, 30)
	c := pgConnect(t, dsn)
	a := openPG(t, dsn, nil)
	require.NoError(t, a.Write(ctx, steps[0].batch(t, mem), steps[0].pos))
	require.NoError(t, a.Flush(ctx))
	b := openPG(t, dsn, nil) // b stands for a's earlier attempt, whose commit went through
	for _, st := range steps[1:10] {
		require.NoError(t, a.Write(ctx, st.batch(t, mem), st.pos))
		require.NoError(t, b.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, b.Flush(ctx))
	require.NoError(t, a.Flush(ctx))
	require.Equal(t, pgExpected(tables[9]), pgTable(t, c))

	require.NoError(t, b.Write(ctx, steps[10].batch(t, mem), steps[10].pos))
	require.NoError(t, b.Flush(ctx))
	require.NoError(t, a.Write(ctx, steps[11].batch(t, mem), steps[11].pos))
	require.ErrorIs(t, a.Flush(ctx), sink.ErrOrder)
}

func TestPostgresTypesAndTableChecks(t *testing.T) {
	dsn := pgtest.Shared(t).CreateDatabase(t)
	mem := checkedMem(t)
	ctx := context.Background()
	c := pgConnect(t, dsn)
	s := change.MustSchema(append(typesSchema.Fields(),
		change.Col("small", arrow.PrimitiveTypes.Int16), change.Col("big", arrow.PrimitiveTypes.Uint64),
		change.Col("tod", arrow.FixedWidthTypes.Time64us), change.Col("tz", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}),
		change.Logical(change.Col("doc", arrow.BinaryTypes.String), "json")), "id")
	p, err := sink.OpenPostgres(ctx, sink.PostgresConfig{DSN: dsn, Table: "Typed", Schema: s})
	require.NoError(t, err)
	at := time.Date(2026, 3, 4, 5, 6, 7, 891000000, time.UTC)
	day := time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)
	require.NoError(t, p.Write(ctx, batchOf(t, mem, s,
		[]any{change.Insert, 1, "tab\tnl\nbs\\cr\r\"q\",", "-12345678901234567.891", day, at, true, math.Inf(-1), []byte{0, 1, 0xfe},
			-7, uint64(math.MaxUint64), 5*time.Hour + 6*time.Second + 7*time.Microsecond, at, `{"a": [1, 2]}`},
		[]any{change.Insert, 2, "", "0.001", nil, nil, false, math.NaN(), []byte{}, nil, nil, nil, nil, nil},
		[]any{change.Insert, 3, nil, nil, nil, nil, nil, 2.5e-300, nil, nil, nil, nil, nil, nil},
	), pos(1)))
	require.NoError(t, p.Flush(ctx))
	require.NoError(t, p.Close())
	rows, err := c.Query(ctx, `SELECT id::text, name, amount::text, day::text, at::text, ok::text, ratio::text,
		encode(raw, 'hex'), small::text, big::text, tod::text, tz AT TIME ZONE 'UTC', doc->'a'->>1 FROM "Typed" ORDER BY id`)
	require.NoError(t, err)
	var got [][]any
	for rows.Next() {
		vals, err := rows.Values()
		require.NoError(t, err)
		got = append(got, vals)
	}
	require.NoError(t, rows.Err())
	tz := at.Truncate(time.Millisecond)
	require.Equal(t, [][]any{
		{"1", "tab\tnl\nbs\\cr\r\"q\",", "-12345678901234567.891", "1999-12-31", "2026-03-04 05:06:07.891", "true", "-Infinity",
			"0001fe", "-7", "18446744073709551615", "05:00:06.000007", tz, "2"},
		{"2", "", "0.001", nil, nil, "false", "NaN", "", nil, nil, nil, nil, nil},
		{"3", nil, nil, nil, nil, nil, "2.5e-300", nil, nil, nil, nil, nil, nil},
	}, got)

	// An existing table must match: a wrong type or a missing unique key is refused.
	_, err = c.Exec(ctx, `CREATE TABLE wrongtype (segment text, day date, revenue numeric(18,3), orders bigint,
		updated timestamp, note text, PRIMARY KEY (segment, day))`)
	require.NoError(t, err)
	_, err = sink.OpenPostgres(ctx, sink.PostgresConfig{DSN: dsn, Table: "wrongtype", Schema: martSchema})
	require.ErrorIs(t, err, sink.ErrSchema)
	require.ErrorContains(t, err, `"revenue"`)
	_, err = c.Exec(ctx, `CREATE TABLE nokey (segment text, day date, revenue numeric(18,2), orders bigint,
		updated timestamp, note text, extra int, UNIQUE (segment))`)
	require.NoError(t, err)
	_, err = sink.OpenPostgres(ctx, sink.PostgresConfig{DSN: dsn, Table: "nokey", Schema: martSchema})
	require.ErrorIs(t, err, sink.ErrSchema)
	_, err = c.Exec(ctx, `CREATE UNIQUE INDEX ON nokey (day, segment)`)
	require.NoError(t, err)
	p, err = sink.OpenPostgres(ctx, sink.PostgresConfig{DSN: dsn, Table: "nokey", Schema: martSchema})
	require.NoError(t, err, "extra columns and a unique index on the key are fine")
	require.NoError(t, p.Close())

	// A value PostgreSQL cannot store fails the batch, naming the column.
	p, err = sink.OpenPostgres(ctx, sink.PostgresConfig{DSN: dsn, Table: "Typed", Schema: s, Name: "second"})
	require.NoError(t, err)
	err = p.Write(ctx, batchOf(t, mem, s, []any{change.Insert, 9, "nul\x00", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil}), pos(2))
	require.ErrorIs(t, err, sink.ErrSchema)
	require.ErrorContains(t, err, `"name"`)
	require.NoError(t, p.Close())
}

func TestPostgresConfig(t *testing.T) {
	noKey := change.MustSchema(martSchema.Fields())
	for _, cfg := range []sink.PostgresConfig{
		{Table: "t", Schema: martSchema},
		{DSN: "postgres://x", Schema: martSchema},
		{DSN: "postgres://x", Table: "t"},
		{DSN: "postgres://x", Table: "t", Schema: noKey},
		{DSN: "postgres://x", Table: "a.b.c", Schema: martSchema},
	} {
		_, err := sink.OpenPostgres(context.Background(), cfg)
		require.ErrorIs(t, err, sink.ErrConfig)
	}
}

// Past MaxBufferBytes, Write flushes by itself, on a position boundary only.
func TestPostgresFlushesAtPositionBoundaries(t *testing.T) {
	dsn := pgtest.Shared(t).CreateDatabase(t)
	mem := checkedMem(t)
	ctx := context.Background()
	steps, tables := changelog(15, 10, 30)
	p, err := sink.OpenPostgres(ctx, sink.PostgresConfig{DSN: dsn, Table: "revenue", Schema: martSchema, MaxBufferBytes: 1})
	require.NoError(t, err)
	defer p.Close()
	c := pgConnect(t, dsn)
	for i, st := range steps {
		half := len(st.rows) / 2 // two batches at one position: never flushed between them
		require.NoError(t, p.Write(ctx, batchOf(t, mem, martSchema, st.rows[:half]...), st.pos))
		require.NoError(t, p.Write(ctx, batchOf(t, mem, martSchema, st.rows[half:]...), st.pos))
		if i > 0 {
			require.Equal(t, steps[i-1].pos, p.Committed())
			require.Equal(t, pgExpected(tables[i-1]), pgTable(t, c))
		}
	}
}

// The server itself crashes (SIGKILL, as a machine crash) while a flush is between its
// rows and its position: after crash recovery neither is there, the same sink's retry
// applies the buffer once, and a new sink replaying from further back changes nothing
// twice.
func TestPostgresServerCrash(t *testing.T) {
	cl := pgtest.Start(t)
	dsn := cl.DSN("")
	mem := checkedMem(t)
	ctx := context.Background()
	steps, tables := changelog(16, 60, 40)
	p := openPG(t, dsn, nil)
	for _, st := range steps[:20] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, p.Flush(ctx))
	for _, st := range steps[20:30] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	_ = holdProgress(t, dsn) // dies with the server
	done := make(chan error, 1)
	go func() { done <- p.Flush(ctx) }()
	waitForLockWait(t, pgConnect(t, dsn))
	require.NoError(t, cl.Kill())
	require.Error(t, <-done)
	require.NoError(t, cl.Start())
	c := pgConnect(t, dsn)
	require.Equal(t, pgExpected(tables[19]), pgTable(t, c))

	require.NoError(t, p.Flush(ctx), "the pool reconnects and the retry applies the buffer")
	require.Equal(t, pgExpected(tables[29]), pgTable(t, c))
	require.NoError(t, p.Close())

	p = openPG(t, dsn, nil)
	require.Equal(t, steps[29].pos, p.Committed())
	for _, st := range steps[5:] {
		require.NoError(t, p.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, p.Flush(ctx))
	require.Equal(t, pgExpected(tables[59]), pgTable(t, c))
}
