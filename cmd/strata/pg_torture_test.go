package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/internal/pgtest"
)

// The torture test's tables: several types, a composite key, a TOASTed column that
// updates leave unchanged, a REPLICA IDENTITY FULL table that is truncated now and then,
// and a column added mid-run.
var tortureSchema = []string{
	`CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(14,2) NOT NULL,
		active boolean NOT NULL, updated timestamptz NOT NULL, bio text)`,
	`ALTER TABLE accounts ALTER COLUMN bio SET STORAGE EXTERNAL`, // TOASTed uncompressed past ~2 kB
	`CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint NOT NULL, amount numeric(12,2),
		note text, placed date, payload jsonb)`,
	`CREATE TABLE lines (order_id bigint, line int, qty int NOT NULL, price double precision,
		data bytea, ref uuid, PRIMARY KEY (order_id, line))`,
	`CREATE TABLE events (id bigint PRIMARY KEY, kind text, at timestamp)`,
	`ALTER TABLE events REPLICA IDENTITY FULL`,
}

var tortureTables = []string{"accounts", "orders", "lines", "events"}

// tortureSeed is the run's seed: STRATA_TORTURE_SEED replays a failed run's random
// choices (the interleaving of writers and kills is up to the scheduler).
func tortureSeed(t *testing.T) uint64 {
	if s := os.Getenv("STRATA_TORTURE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "STRATA_TORTURE_SEED")
		return v
	}
	return uint64(time.Now().UnixNano())
}

// tortureWriter runs random OLTP transactions on its own connection until ctx ends,
// reconnecting when the server goes away. Failed transactions (deadlocks, key
// conflicts, the server killed) are rolled back and count as rollbacks.
type tortureWriter struct {
	dsn     string
	rng     *rand.Rand
	id      int
	added   *atomic.Bool // orders.status exists
	commits int
	aborts  int
	errs    int
}

func (w *tortureWriter) run(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for ctx.Err() == nil {
		if conn == nil || conn.IsClosed() {
			c, err := pgx.Connect(ctx, w.dsn)
			if err != nil {
				w.errs++
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			conn = c
		}
		if err := w.tx(ctx, conn); err != nil {
			w.errs++
			if conn.IsClosed() || ctx.Err() != nil {
				continue
			}
			// A deadlock, a duplicate key: the transaction is gone, the connection is fine.
			if pgconnBroken(err) {
				conn.Close(context.Background())
				conn = nil
			}
		}
	}
}

func pgconnBroken(err error) bool {
	s := err.Error()
	return strings.Contains(s, "conn closed") || strings.Contains(s, "connection") || strings.Contains(s, "EOF")
}

func (w *tortureWriter) tx(ctx context.Context, conn *pgx.Conn) (err error) {
	r := w.rng
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			w.aborts++
			_ = tx.Rollback(context.Background())
		}
	}()
	for range 1 + r.IntN(4) {
		if err = w.statement(ctx, tx); err != nil {
			return err
		}
	}
	if r.IntN(10) == 0 {
		w.aborts++
		return tx.Rollback(ctx)
	}
	if err = tx.Commit(ctx); err == nil {
		w.commits++
	}
	return err
}

const tortureKeys = 3000

func (w *tortureWriter) statement(ctx context.Context, tx pgx.Tx) error {
	r := w.rng
	acct := int64(1 + r.IntN(tortureKeys))
	order := int64(1 + r.IntN(2*tortureKeys))
	var sql string
	var args []any
	switch n := r.IntN(100); {
	case n < 10:
		sql, args = `INSERT INTO accounts VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
			[]any{acct, randText(r), randMoney(r), r.IntN(2) == 0, randTime(r), randBio(r)}
	case n < 25: // non-key columns only: the TOASTed bio arrives unchanged
		sql, args = `UPDATE accounts SET balance = balance + $2, active = NOT active, updated = $3 WHERE id = $1`,
			[]any{acct, randMoney(r), randTime(r)}
	case n < 28:
		sql, args = `UPDATE accounts SET bio = $2, owner = $3 WHERE id = $1`, []any{acct, randBio(r), randText(r)}
	case n < 30: // a primary-key change
		sql, args = `UPDATE accounts SET id = $2 WHERE id = $1`, []any{acct, int64(1 + r.IntN(tortureKeys))}
	case n < 34:
		sql, args = `DELETE FROM accounts WHERE id = $1`, []any{acct}
	case n < 44:
		sql, args = `INSERT INTO orders VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET amount = excluded.amount, note = excluded.note`,
			[]any{order, acct, randMoneyOrNil(r), randTextOrNil(r), randDate(r), randJSON(r)}
	case n < 52:
		if w.added.Load() && r.IntN(2) == 0 {
			sql, args = `UPDATE orders SET status = $2 WHERE id = $1`, []any{order, randTextOrNil(r)}
		} else {
			sql, args = `UPDATE orders SET amount = $2, payload = $3 WHERE account_id = $1`, []any{acct, randMoneyOrNil(r), randJSON(r)}
		}
	case n < 54:
		sql, args = `UPDATE orders SET id = $2 WHERE id = $1`, []any{order, int64(1 + r.IntN(2*tortureKeys))}
	case n < 58:
		sql, args = `DELETE FROM orders WHERE id = $1`, []any{order}
	case n < 70:
		sql, args = `INSERT INTO lines VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
			[]any{order, int32(r.IntN(8)), int32(r.IntN(100)), randFloat(r), randBytes(r), randUUID(r)}
	case n < 78:
		sql, args = `UPDATE lines SET qty = qty + 1, price = $2 WHERE order_id BETWEEN $1 AND $1 + 10`, []any{order, randFloat(r)}
	case n < 80: // a change of one column of a composite key
		sql, args = `UPDATE lines SET line = line + 8 WHERE order_id = $1 AND line < 8`, []any{order}
	case n < 84:
		sql, args = `DELETE FROM lines WHERE order_id = $1`, []any{order}
	case n < 92:
		sql, args = `INSERT INTO events VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind`,
			[]any{order, randTextOrNil(r), randTime(r).UTC()}
	case n < 96:
		sql, args = `UPDATE events SET kind = $2 WHERE id = $1`, []any{order, randTextOrNil(r)}
	case n < 99:
		sql, args = `DELETE FROM events WHERE id BETWEEN $1 AND $1 + 5`, []any{order}
	default:
		if r.IntN(20) == 0 {
			sql = `TRUNCATE events`
		} else {
			sql, args = `DELETE FROM events WHERE id = $1`, []any{order}
		}
	}
	_, err := tx.Exec(ctx, sql, args...)
	return err
}

func randText(r *rand.Rand) string {
	parts := []string{"a", "b,c", `say "hi"`, "", "ünï", "x y", "tab\tz"}
	return parts[r.IntN(len(parts))] + strconv.Itoa(r.IntN(1000))
}

func randTextOrNil(r *rand.Rand) any {
	switch r.IntN(8) {
	case 0:
		return nil
	case 1:
		return ""
	}
	return randText(r)
}

// randBio is NULL, short, or long enough to be TOASTed out of line.
func randBio(r *rand.Rand) any {
	switch r.IntN(3) {
	case 0:
		return nil
	case 1:
		return randText(r)
	}
	b := make([]byte, 2500+r.IntN(3000))
	for i := range b {
		b[i] = byte('a' + r.IntN(26))
	}
	return string(b)
}

func randMoney(r *rand.Rand) pgtype.Numeric {
	return pgtype.Numeric{Int: bigInt(int64(r.IntN(2_000_000) - 1_000_000)), Exp: -2, Valid: true}
}

func bigInt(v int64) *big.Int { return big.NewInt(v) }

func randMoneyOrNil(r *rand.Rand) any {
	if r.IntN(6) == 0 {
		return nil
	}
	return randMoney(r)
}

// randFloat is exact in binary and short in decimal, so PostgreSQL's and Go's shortest
// forms agree.
func randFloat(r *rand.Rand) any {
	if r.IntN(8) == 0 {
		return nil
	}
	return float64(r.IntN(80_000)-40_000) / 8
}

func randTime(r *rand.Rand) time.Time {
	return time.UnixMicro(1_600_000_000_000_000 + r.Int64N(300_000_000_000_000)).UTC()
}

func randDate(r *rand.Rand) any {
	if r.IntN(8) == 0 {
		return nil
	}
	return pgtype.Date{Time: time.Date(1990+r.IntN(60), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC), Valid: true}
}

func randJSON(r *rand.Rand) any {
	if r.IntN(8) == 0 {
		return nil
	}
	return fmt.Sprintf(`{"n": %d, "tags": ["t%d", null], "s": "q\"x"}`, r.IntN(1000), r.IntN(9))
}

func randBytes(r *rand.Rand) any {
	if r.IntN(8) == 0 {
		return nil
	}
	b := make([]byte, r.IntN(40))
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return b
}

func randUUID(r *rand.Rand) any {
	if r.IntN(8) == 0 {
		return nil
	}
	var u [16]byte
	for i := range u {
		u[i] = byte(r.IntN(256))
	}
	return pgtype.UUID{Bytes: u, Valid: true}
}

// pgTableCSV returns the rows of a table as "strata silver dump --format csv" prints
// them (without the header), one string per row, sorted, and the header.
func pgTableCSV(t *testing.T, dsn, table string) (string, []string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	cols, err := conn.Query(ctx, `SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, table)
	require.NoError(t, err)
	var names, types, exprs []string
	for cols.Next() {
		var n, ty string
		require.NoError(t, cols.Scan(&n, &ty))
		names, types = append(names, n), append(types, ty)
		switch {
		case strings.HasPrefix(ty, "numeric"), ty == "jsonb", ty == "uuid", ty == "date":
			exprs = append(exprs, pgx.Identifier{n}.Sanitize()+"::text") // PostgreSQL's own text form
		default:
			exprs = append(exprs, pgx.Identifier{n}.Sanitize())
		}
	}
	require.NoError(t, cols.Err())
	rows, err := conn.Query(ctx, "SELECT "+strings.Join(exprs, ", ")+" FROM "+table)
	require.NoError(t, err)
	var out []string
	var line, cell []byte
	for rows.Next() {
		vals, err := rows.Values()
		require.NoError(t, err)
		line = line[:0]
		for i, v := range vals {
			if i > 0 {
				line = append(line, ',')
			}
			cell = cell[:0]
			switch v := v.(type) {
			case nil:
				continue
			case string:
				cell = append(cell, v...)
			case int64:
				cell = strconv.AppendInt(cell, v, 10)
			case int32:
				cell = strconv.AppendInt(cell, int64(v), 10)
			case bool:
				cell = strconv.AppendBool(cell, v)
			case float64:
				cell = strconv.AppendFloat(cell, v, 'g', -1, 64)
			case []byte:
				cell = base64.StdEncoding.AppendEncode(cell, v)
			case time.Time:
				cell = v.UTC().AppendFormat(cell, time.RFC3339Nano)
			default:
				t.Fatalf("%s.%s (%s): unexpected Go type %T", table, names[i], types[i], v)
			}
			line = appendCSV(line, cell, len(cell) == 0)
		}
		out = append(out, string(line))
	}
	require.NoError(t, rows.Err())
	slices.Sort(out)
	return strings.Join(names, ","), out
}

// silverTableCSV dumps a silver table with the CLI: header and sorted rows.
func silverTableCSV(t *testing.T, lake, table string) (string, []string) {
	t.Helper()
	st, out, errOut := strata(t, "silver", "dump", "--lake", lake, "--table", table, "--format", "csv")
	require.Equal(t, 0, st, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	rows := lines[1:]
	slices.Sort(rows)
	return lines[0], rows
}

// tortureConfig sizes a torture run; the default and the long suite set it.
type tortureConfig struct {
	writers     int
	duration    time.Duration // of the workload, with kills throughout
	initialRows int           // per table, read by the initial snapshot
	serverKills int           // kill -9 of PostgreSQL during the run
	maxWait     time.Duration // the longest a pipeline child lives before its SIGKILL
}

// Writers run a random OLTP workload on several tables while the pipeline (ingest with
// silver following, or ingest then silver apply) is SIGKILLed at random instants and
// restarted, and PostgreSQL itself is killed; at the end every silver table equals the
// source table, value for value, and bronze holds no position twice.
func TestPostgresTorture(t *testing.T) {
	cfg := tortureDefault
	seed := tortureSeed(t)
	t.Logf("seed %d (replay with STRATA_TORTURE_SEED=%d)", seed, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d: replay with STRATA_TORTURE_SEED=%d", seed, seed)
		}
	})
	start := time.Now()
	c := pgtest.Start(t)
	dsn := c.DSN("")
	ctx := context.Background()
	pgExec(t, dsn, tortureSchema...)
	pgExec(t, dsn,
		fmt.Sprintf(`INSERT INTO accounts SELECT g, 'o' || g, g * 1.25, g %% 2 = 0, '2024-01-01'::timestamptz + g * interval '1 second',
			CASE WHEN g %% 3 = 0 THEN repeat(md5(g::text), 100) END FROM generate_series(1, %d) g`, cfg.initialRows),
		fmt.Sprintf(`INSERT INTO orders SELECT g, 1 + g %% 100, g * 0.5, 'n' || g, '2020-02-29'::date + g, '{"g": 1}' FROM generate_series(1, %d) g`, cfg.initialRows),
		fmt.Sprintf(`INSERT INTO lines SELECT g, g %% 4, g, g / 4.0, '\x0102', gen_random_uuid() FROM generate_series(1, %d) g`, cfg.initialRows),
		fmt.Sprintf(`INSERT INTO events SELECT g, 'k', '2024-01-01'::timestamp + g * interval '1 ms' FROM generate_series(1, %d) g`, cfg.initialRows),
	)
	// when_needed: PostgreSQL 15 can fail to decode a slot created while writers
	// truncate tables ("could not map filenode", reproduced by this test); the source
	// then renews the slot with a new snapshot, and silver must still converge.
	from := dsn + "&publication=torture&slot=torture&snapshot=when_needed&tables=" + strings.Join(tortureTables, ",")
	lake := t.TempDir()
	rng := rand.New(rand.NewPCG(seed, 1))

	wctx, stopWriters := context.WithCancel(ctx)
	var added atomic.Bool
	writers := make([]*tortureWriter, cfg.writers)
	var wg sync.WaitGroup
	for i := range writers {
		w := &tortureWriter{dsn: dsn, rng: rand.New(rand.NewPCG(seed, uint64(100+i))), id: i, added: &added}
		writers[i] = w
		wg.Add(1)
		go func() { defer wg.Done(); w.run(wctx) }()
	}
	defer func() { stopWriters(); wg.Wait() }()

	// The pipeline's children, each SIGKILLed after a random while.
	deadline := time.Now().Add(cfg.duration)
	alterAt := time.Now().Add(cfg.duration * 2 / 5)
	serverKillAt := make([]time.Time, cfg.serverKills)
	for i := range serverKillAt {
		serverKillAt[i] = time.Now().Add(cfg.duration * time.Duration(1+2*i) / time.Duration(2*cfg.serverKills+1))
	}
	kills, serverKills, applyKills, resnapshots := 0, 0, 0, 0
	var roundLog []string
	defer func() {
		if t.Failed() {
			t.Logf("rounds:\n%s", strings.Join(roundLog, "\n"))
		}
	}()
	// Past the deadline, rounds go on (longer) until killed runs have streamed: a test
	// whose kills all hit the initial snapshot would not test the stream.
	for round := 0; time.Now().Before(deadline) || !lakeStreamed(t, lake) && round < 100; round++ {
		withSilver := rng.IntN(3) != 0
		args := []string{"ingest", "--from", from, "--lake", lake, "--commit-events", strconv.Itoa(50 + rng.IntN(3000)),
			"--commit-interval", (time.Duration(50+rng.IntN(400)) * time.Millisecond).String(), "--quiet"}
		if !withSilver {
			args = append(args, "--silver=false")
		}
		cmd, out := startStrata(t, args...)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		wait := 200*time.Millisecond + time.Duration(rng.Int64N(int64(cfg.maxWait-200*time.Millisecond)))
		switch {
		case round == 0:
			wait = time.Duration(50+rng.IntN(700)) * time.Millisecond // likely during the initial snapshot
		case time.Now().After(deadline):
			wait = time.Duration(2000+rng.IntN(2000)) * time.Millisecond
		}
		if !added.Load() && time.Now().After(alterAt) {
			pgExec(t, dsn, "ALTER TABLE orders ADD COLUMN status text")
			added.Store(true)
			t.Logf("round %d: orders.status added", round)
		}
		serverKilled := false
		if serverKills < len(serverKillAt) && time.Now().After(serverKillAt[serverKills]) {
			serverKilled = true
			time.Sleep(wait / 2)
			require.NoError(t, c.Kill())
			time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
			require.NoError(t, c.Start())
			serverKills++
			t.Logf("round %d: PostgreSQL killed and restarted", round)
		}
		select {
		case err := <-done:
			// Open does not wait for a server that is down; a reconnect mid-stream does.
			if !serverKilled || err == nil {
				t.Fatalf("round %d: ingest ended before the kill: %v\n%s", round, err, out)
			}
			t.Logf("round %d: ingest stopped with the server: %s", round, strings.TrimSpace(out.String()))
		case <-time.After(wait):
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			<-done
			kills++
		}
		if strings.Contains(out.String(), "to take a new snapshot") {
			resnapshots++
		}
		roundLog = append(roundLog, fmt.Sprintf("round %d (silver %v, ran %v): %s", round, withSilver, wait, strings.TrimSpace(out.String())))
		// STRATA_TORTURE_DEBUG=1 logs each round's child output, lake and slot.
		if os.Getenv("STRATA_TORTURE_DEBUG") != "" {
			st, ls, _ := strata(t, "bronze", "ls", "--lake", lake)
			_ = st
			l := strings.Split(strings.TrimSpace(ls), "\n")
			t.Logf("round %d (silver %v): child said %q; lake: %s; slot: %s", round, withSilver, out.String(), l[len(l)-1], slotState(t, dsn))
		}
		if !withSilver {
			// Silver catches up in a child of its own, killed as well now and then.
			cmd, out := startStrata(t, "silver", "apply", "--lake", lake, "--batch-changes", strconv.Itoa(100+rng.IntN(5000)))
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				require.NoError(t, err, "silver apply: %s", out)
			case <-time.After(time.Duration(50+rng.IntN(600)) * time.Millisecond):
				_ = cmd.Process.Signal(syscall.SIGKILL)
				if err := <-done; err == nil {
					break // it had finished
				}
				applyKills++
			}
		}
	}
	stopWriters()
	wg.Wait()
	var commits, aborts, errs int
	for _, w := range writers {
		commits, aborts, errs = commits+w.commits, aborts+w.aborts, errs+w.errs
	}
	if !added.Load() {
		pgExec(t, dsn, "ALTER TABLE orders ADD COLUMN status text")
	}
	t.Logf("workload: %d writers, %d commits, %d rollbacks (%d errors); %d ingest kills, %d silver apply kills, %d PostgreSQL kills; %d snapshots taken again",
		len(writers), commits, aborts, errs, kills, applyKills, serverKills, resnapshots)
	require.Greater(t, commits, 100, "the writers hardly wrote")

	st, out, errOut := strata(t, "ingest", "--from", from, "--lake", lake, "--exit-when-idle", "--quiet")
	require.Equal(t, 0, st, errOut)
	t.Logf("last run: %s", strings.TrimSpace(out))
	for _, table := range tortureTables {
		wantHead, want := pgTableCSV(t, dsn, table)
		gotHead, got := silverTableCSV(t, lake, "public."+table)
		require.Equal(t, wantHead, gotHead, "table %s: columns", table)
		if !slices.Equal(want, got) {
			t.Errorf("table %s: silver differs from PostgreSQL (%d rows vs %d)\n%s", table, len(got), len(want), rowDiff(want, got))
			t.Logf("bronze events of the first differing key:\n%s", bronzeHistory(t, c, dsn, lake, table, wantHead, want, got))
		}
	}
	st, out, errOut = strata(t, "bronze", "verify", "--lake", lake)
	require.Equal(t, 0, st, errOut)
	require.Contains(t, out, "duplicate positions 0\n")
	t.Logf("done in %s", time.Since(start).Round(time.Millisecond))
}

// rowDiff lists (a few of) the rows only in want and only in got.
func rowDiff(want, got []string) string {
	var b strings.Builder
	n := 0
	i, j := 0, 0
	for (i < len(want) || j < len(got)) && n < 20 {
		switch {
		case j == len(got) || i < len(want) && want[i] < got[j]:
			fmt.Fprintf(&b, "  only in PostgreSQL: %.200s\n", want[i])
			i++
			n++
		case i == len(want) || got[j] < want[i]:
			fmt.Fprintf(&b, "  only in silver:     %.200s\n", got[j])
			j++
			n++
		default:
			i, j = i+1, j+1
		}
	}
	return b.String()
}

// bronzeHistory returns the bronze events of table that mention the primary key of the
// first row only in want or only in got (as `"col":value,...` in the key, before or
// after image): what a failure needs to be explained. The torture tables' keys are
// their leading integer columns.
func bronzeHistory(t *testing.T, c *pgtest.Cluster, dsn, lake, table, head string, want, got []string) string {
	var first string
	for i, j := 0, 0; first == "" && (i < len(want) || j < len(got)); i, j = i+1, j+1 {
		switch {
		case j == len(got) || i < len(want) && want[i] < got[j]:
			first = want[i]
		case i == len(want) || got[j] < want[i]:
			first = got[j]
		}
	}
	if first == "" {
		return "(no differing row)"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err.Error()
	}
	defer conn.Close(ctx)
	var nkey int
	if err := conn.QueryRow(ctx, `SELECT array_length(indkey, 1) FROM pg_index WHERE indrelid = $1::regclass AND indisprimary`, table).Scan(&nkey); err != nil {
		return err.Error()
	}
	names, vals := strings.Split(head, ","), strings.Split(first, ",")
	var pat []string
	for i := range min(nkey, len(names), len(vals)) {
		pat = append(pat, fmt.Sprintf("%q:%s", names[i], vals[i]))
	}
	key := strings.Join(pat, ",")
	st, out, errOut := strata(t, "bronze", "replay", "--lake", lake, "--table", "public."+table)
	if st != 0 {
		return "replay failed: " + errOut
	}
	var b strings.Builder
	// PostgreSQL's side: the transaction that wrote the row's current version and its
	// WAL records (its commit LSN against the snapshots' consistent points).
	var conds []string
	var args []any
	for i := range min(nkey, len(names), len(vals)) {
		conds = append(conds, fmt.Sprintf("%s::text = $%d", pgx.Identifier{names[i]}.Sanitize(), i+1))
		args = append(args, strings.Trim(vals[i], `"`))
	}
	var xmin, ctid string
	if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT xmin::text, ctid::text FROM %s WHERE %s", table, strings.Join(conds, " AND ")), args...).Scan(&xmin, &ctid); err != nil {
		fmt.Fprintf(&b, "  PostgreSQL: no row (%v)\n", err)
	} else {
		wal, err := c.Waldump("--xid", xmin)
		fmt.Fprintf(&b, "  PostgreSQL: row at %s written by xid %s (waldump: %v):\n", ctid, xmin, err)
		for _, l := range strings.Split(strings.TrimSpace(wal), "\n") {
			fmt.Fprintf(&b, "    %.300s\n", l)
		}
	}
	fmt.Fprintf(&b, "  (events with %s)\n", key)
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, key+",") || strings.Contains(line, key+"}") {
			if n++; n > 60 {
				b.WriteString("  ...\n")
				break
			}
			fmt.Fprintf(&b, "  %.400s\n", line)
		}
	}
	return b.String()
}

func slotState(t *testing.T, dsn string) string {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err.Error()
	}
	defer conn.Close(ctx)
	var st string
	if err := conn.QueryRow(ctx, `SELECT format('active %s restart %s confirmed %s; wal %s', active, restart_lsn, confirmed_flush_lsn, pg_current_wal_lsn()) FROM pg_replication_slots`).Scan(&st); err != nil {
		return err.Error()
	}
	return st
}

// lakeStreamed reports whether the lake's last commit is past the initial snapshot
// (snapshot positions have Minor 0).
func lakeStreamed(t *testing.T, lake string) bool {
	st, out, errOut := strata(t, "bronze", "ls", "--lake", lake)
	require.Equal(t, 0, st, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(lines) < 2 || len(f) < 7 {
		return false
	}
	parts := strings.Split(f[6], "/")
	return len(parts) == 3 && parts[1] != "0"
}
