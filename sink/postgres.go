package sink

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// PostgresConfig configures a PostgreSQL sink. DSN (or Pool), Table and Schema are required.
type PostgresConfig struct {
	// DSN is a libpq connection string or URL; ignored when Pool is set.
	DSN string
	// Pool is a connection pool to use instead of DSN; the sink does not close it.
	Pool *pgxpool.Pool
	// Table is the target, "name" or "schema.name" (each part an identifier, quoted as
	// such). A missing table is created from Schema (see [PostgresType]); an existing one
	// must have every column of Schema with its mapped type and a unique index on the key.
	Table string
	// Schema is the rows' schema; it must have a primary key.
	Schema *change.Schema
	// Name identifies the sink in the progress table and labels metrics (default: Table).
	// Two sinks into one table with different sources need different names.
	Name string
	// ProgressTable holds (sink_name, position) (default "strata_sink_progress"), created
	// when missing.
	ProgressTable string
	// MaxBufferBytes: when the COPY data buffered since the last Flush exceeds it, Write
	// flushes on the next position boundary by itself (default 64 MiB).
	MaxBufferBytes int
	// Metrics counts rows, batches, commits and errors (nil: none).
	Metrics *Metrics
	// Logger logs table creation (default slog.Default()).
	Logger *slog.Logger
}

// Validate reports a setting OpenPostgres cannot use.
func (c PostgresConfig) Validate() error {
	switch {
	case c.DSN == "" && c.Pool == nil:
		return fmt.Errorf("%w: postgres: no DSN or Pool", ErrConfig)
	case c.Table == "":
		return fmt.Errorf("%w: postgres: no Table", ErrConfig)
	case c.Schema == nil:
		return fmt.Errorf("%w: postgres %s: no Schema", ErrConfig, c.Table)
	case len(c.Schema.Key()) == 0:
		return fmt.Errorf("%w: postgres %s: schema %s has no primary key", ErrConfig, c.Table, c.Schema)
	case c.MaxBufferBytes < 0:
		return fmt.Errorf("%w: postgres %s: negative MaxBufferBytes", ErrConfig, c.Table)
	}
	if _, err := splitIdent(c.Table); err != nil {
		return fmt.Errorf("%w: postgres: Table: %v", ErrConfig, err)
	}
	if c.ProgressTable != "" {
		if _, err := splitIdent(c.ProgressTable); err != nil {
			return fmt.Errorf("%w: postgres: ProgressTable: %v", ErrConfig, err)
		}
	}
	for _, f := range c.Schema.Fields() {
		if _, err := PostgresType(f); err != nil {
			return fmt.Errorf("%w: postgres %s: %v", ErrConfig, c.Table, err)
		}
	}
	return nil
}

func (c *PostgresConfig) ensureDefaults() {
	if c.Name == "" {
		c.Name = c.Table
	}
	if c.ProgressTable == "" {
		c.ProgressTable = "strata_sink_progress"
	}
	if c.MaxBufferBytes == 0 {
		c.MaxBufferBytes = 64 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func splitIdent(name string) (pgx.Identifier, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return nil, fmt.Errorf("%q has more than schema.name", name)
	}
	for _, p := range parts {
		if p == "" || strings.ContainsRune(p, 0) {
			return nil, fmt.Errorf("%q has an empty part or a NUL", name)
		}
	}
	return pgx.Identifier(parts), nil
}

// PostgresType returns the PostgreSQL type a column is stored as:
//
//	bool                    boolean
//	int8, int16, uint8      smallint
//	int32, uint16           integer
//	int64, uint32           bigint
//	uint64                  numeric(20,0)
//	float32, float64        real, double precision
//	decimal128(p, s)        numeric(p,s)
//	string                  text (jsonb for strata.logical=json, uuid for uuid)
//	binary                  bytea
//	date32                  date
//	time32, time64          time without time zone (microseconds: nanoseconds round)
//	timestamp               timestamp without time zone; with a time zone, timestamp with time zone
//
// A NOT NULL column is NOT NULL in a created table.
func PostgresType(f arrow.Field) (string, error) {
	switch t := f.Type.(type) {
	case *arrow.BooleanType:
		return "boolean", nil
	case *arrow.Int8Type, *arrow.Int16Type, *arrow.Uint8Type:
		return "smallint", nil
	case *arrow.Int32Type, *arrow.Uint16Type:
		return "integer", nil
	case *arrow.Int64Type, *arrow.Uint32Type:
		return "bigint", nil
	case *arrow.Uint64Type:
		return "numeric(20,0)", nil
	case *arrow.Float32Type:
		return "real", nil
	case *arrow.Float64Type:
		return "double precision", nil
	case *arrow.Decimal128Type:
		return fmt.Sprintf("numeric(%d,%d)", t.Precision, t.Scale), nil
	case *arrow.StringType:
		switch l, _ := f.Metadata.GetValue(change.MetaLogical); l {
		case "json":
			return "jsonb", nil
		case "uuid":
			return "uuid", nil
		}
		return "text", nil
	case *arrow.BinaryType:
		return "bytea", nil
	case *arrow.Date32Type:
		return "date", nil
	case *arrow.Time32Type, *arrow.Time64Type:
		return "time without time zone", nil
	case *arrow.TimestampType:
		if t.TimeZone != "" {
			return "timestamp with time zone", nil
		}
		return "timestamp without time zone", nil
	}
	return "", fmt.Errorf("column %q: no PostgreSQL type for %s", f.Name, f.Type)
}

// Postgres upserts rows into a PostgreSQL table by primary key, exactly once.
//
// Write encodes each batch into a COPY buffer (PostgreSQL's text format, straight from
// the Arrow columns) with each row's op and ordinal. Flush runs one transaction: COPY
// the buffer into a temporary table, one statement that takes each key's last change
// (DISTINCT ON) and deletes the keys whose last change is -D or -U and upserts the others
// (INSERT ... ON CONFLICT (key) DO UPDATE), and the update of the sink's row in the
// progress table to the position of the last batch, guarded by the position it read
// when it opened. Rows and position commit together or not at all, so after a crash a
// new sink reads the position back (Committed) and Write skips every batch at or before
// it: replaying the source from any earlier position applies each change once.
//
// A Flush that failed keeps its buffer; calling Flush again retries it. When the
// commit's outcome was lost with the connection, the retry finds the progress row
// already at its position and succeeds without applying twice. Another writer with the
// same sink name is detected by the progress row moving under it (ErrOrder).
type Postgres struct {
	cfg      PostgresConfig
	pool     *pgxpool.Pool
	ownPool  bool
	table    string // quoted
	progress string // quoted
	cols     []string
	m        counters
	seq      sequencer

	committed cdc.Position
	hasRow    bool // the progress table has the sink's row
	buf       []byte
	rows      int
	ordinal   int64
	mergeSQL  string
	stageSQL  string
	copySQL   string
	closed    bool
}

// OpenPostgres connects, creates the progress table and the target table when missing
// (or checks the target), and reads the sink's committed position.
func OpenPostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.ensureDefaults()
	s := &Postgres{cfg: cfg, pool: cfg.Pool, m: cfg.Metrics.forSink(cfg.Name), seq: sequencer{name: cfg.Name}}
	tid, _ := splitIdent(cfg.Table)
	pid, _ := splitIdent(cfg.ProgressTable)
	s.table, s.progress = tid.Sanitize(), pid.Sanitize()
	if s.pool == nil {
		pc, err := pgxpool.ParseConfig(cfg.DSN)
		if err != nil {
			return nil, fmt.Errorf("%w: postgres %s: DSN: %v", ErrConfig, cfg.Name, err)
		}
		pc.MaxConns = 2
		if s.pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
			return nil, fmt.Errorf("sink: postgres %s: %w", cfg.Name, err)
		}
		s.ownPool = true
	}
	if err := s.setup(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.prepareSQL()
	return s, nil
}

func (s *Postgres) setup(ctx context.Context) error {
	name := s.cfg.Name
	if _, err := s.pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+s.progress+` (
		sink_name text PRIMARY KEY,
		position text NOT NULL,
		updated_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("sink: postgres %s: progress table %s: %w", name, s.cfg.ProgressTable, err)
	}
	var posText string
	err := s.pool.QueryRow(ctx, `SELECT position FROM `+s.progress+` WHERE sink_name = $1`, name).Scan(&posText)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return fmt.Errorf("sink: postgres %s: read progress: %w", name, err)
	default:
		p, err := cdc.ParsePosition(posText)
		if err != nil {
			return fmt.Errorf("%w: postgres %s: progress row: %w", ErrCorrupt, name, err)
		}
		s.committed, s.hasRow = p, true
	}
	s.seq = sequencer{name: name, recovered: s.committed, flushed: s.committed}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.table).Scan(&exists); err != nil {
		return fmt.Errorf("sink: postgres %s: look up %s: %w", name, s.cfg.Table, err)
	}
	if !exists {
		return s.create(ctx)
	}
	return s.check(ctx)
}

func (s *Postgres) create(ctx context.Context) error {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (", s.table)
	for i, f := range s.cfg.Schema.Fields() {
		t, _ := PostgresType(f)
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", pgx.Identifier{f.Name}.Sanitize(), t)
		if !f.Nullable {
			b.WriteString(" NOT NULL")
		}
	}
	fmt.Fprintf(&b, ", PRIMARY KEY (%s))", s.keyList(""))
	if _, err := s.pool.Exec(ctx, b.String()); err != nil {
		return fmt.Errorf("sink: postgres %s: create %s: %w", s.cfg.Name, s.cfg.Table, err)
	}
	s.cfg.Logger.Info("sink: created PostgreSQL table", "sink", s.cfg.Name, "table", s.cfg.Table)
	return nil
}

// check verifies that an existing table has every column with its mapped type and a
// unique index on exactly the key columns (what ON CONFLICT needs).
func (s *Postgres) check(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`, s.table)
	if err != nil {
		return fmt.Errorf("sink: postgres %s: columns of %s: %w", s.cfg.Name, s.cfg.Table, err)
	}
	have := map[string]string{}
	var col, typ string
	_, err = pgx.ForEachRow(rows, []any{&col, &typ}, func() error { have[col] = typ; return nil })
	if err != nil {
		return fmt.Errorf("sink: postgres %s: columns of %s: %w", s.cfg.Name, s.cfg.Table, err)
	}
	for _, f := range s.cfg.Schema.Fields() {
		want, _ := PostgresType(f)
		got, ok := have[f.Name]
		if !ok {
			return fmt.Errorf("%w: postgres %s: table %s has no column %q", ErrSchema, s.cfg.Name, s.cfg.Table, f.Name)
		}
		if got != want {
			return fmt.Errorf("%w: postgres %s: column %q of %s is %s, the schema's %s maps to %s",
				ErrSchema, s.cfg.Name, f.Name, s.cfg.Table, got, f.Type, want)
		}
	}
	key := s.cfg.Schema.KeyNames()
	slices.Sort(key)
	var ok bool
	err = s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = $1::regclass
		AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
		AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a
		     WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = $2::text[])`, s.table, key).Scan(&ok)
	if err != nil {
		return fmt.Errorf("sink: postgres %s: indexes of %s: %w", s.cfg.Name, s.cfg.Table, err)
	}
	if !ok {
		return fmt.Errorf("%w: postgres %s: table %s has no unique index on exactly the key (%s)",
			ErrSchema, s.cfg.Name, s.cfg.Table, strings.Join(s.cfg.Schema.KeyNames(), ", "))
	}
	return nil
}

func (s *Postgres) keyList(prefix string) string {
	var parts []string
	for _, k := range s.cfg.Schema.KeyNames() {
		parts = append(parts, prefix+pgx.Identifier{k}.Sanitize())
	}
	return strings.Join(parts, ", ")
}

// prepareSQL builds the statements of a flush.
func (s *Postgres) prepareSQL() {
	sch := s.cfg.Schema
	var stage, cols, sets []string
	stage = append(stage, "strata_ord bigint NOT NULL", "strata_del boolean NOT NULL")
	isKey := map[int]bool{}
	for _, k := range sch.Key() {
		isKey[k] = true
	}
	for i, f := range sch.Fields() {
		t, _ := PostgresType(f)
		q := pgx.Identifier{f.Name}.Sanitize()
		stage = append(stage, q+" "+t)
		cols = append(cols, q)
		if !isKey[i] {
			sets = append(sets, q+" = EXCLUDED."+q)
		}
	}
	s.cols = cols
	s.stageSQL = "CREATE TEMP TABLE strata_stage (" + strings.Join(stage, ", ") + ") ON COMMIT DROP"
	s.copySQL = "COPY strata_stage (strata_ord, strata_del, " + strings.Join(cols, ", ") + ") FROM STDIN"
	var on []string
	for _, k := range sch.KeyNames() {
		q := pgx.Identifier{k}.Sanitize()
		on = append(on, "t."+q+" = l."+q)
	}
	conflict := "DO NOTHING"
	if len(sets) > 0 {
		conflict = "DO UPDATE SET " + strings.Join(sets, ", ")
	}
	// The last change of each key decides: delete it or upsert it. Both parts see the
	// same snapshot and touch disjoint keys.
	s.mergeSQL = "WITH l AS (SELECT DISTINCT ON (" + s.keyList("") + ") * FROM strata_stage ORDER BY " +
		s.keyList("") + ", strata_ord DESC), " +
		"d AS (DELETE FROM " + s.table + " t USING l WHERE l.strata_del AND " + strings.Join(on, " AND ") + ") " +
		"INSERT INTO " + s.table + " (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(cols, ", ") +
		" FROM l WHERE NOT l.strata_del ON CONFLICT (" + s.keyList("") + ") " + conflict
}

// Committed implements Resumer: the position the progress table holds for the sink.
func (s *Postgres) Committed() cdc.Position { return s.committed }

// Write implements Sink.
func (s *Postgres) Write(ctx context.Context, b *change.Batch, pos cdc.Position) error {
	defer b.Release()
	if s.closed {
		return ErrClosed
	}
	if err := checkSchema(s.cfg.Name, s.cfg.Schema, b); err != nil {
		return s.m.fail(err)
	}
	if s.seq.wrote && pos != s.seq.last && len(s.buf) > s.cfg.MaxBufferBytes && !pos.Less(s.seq.last) {
		if err := s.Flush(ctx); err != nil { // a position boundary: flush what is buffered
			return err
		}
	}
	if ok, err := s.seq.admitCounted(pos, s.m); !ok {
		return err
	}
	n := len(s.buf)
	fields := s.cfg.Schema.Fields()
	var err error
	for i, op := range b.Ops() {
		s.buf = strconv.AppendInt(s.buf, s.ordinal, 10)
		s.ordinal++
		if op.IsRetraction() {
			s.buf = append(s.buf, "\tt"...)
		} else {
			s.buf = append(s.buf, "\tf"...)
		}
		for c, f := range fields {
			s.buf = append(s.buf, '\t')
			if s.buf, err = appendCopyCell(s.buf, b.Column(c), f.Type, i); err != nil {
				s.buf = s.buf[:n] // the whole batch or nothing
				return s.m.fail(fmt.Errorf("%w: postgres %s: batch at %s, row %d, column %q: %v", ErrSchema, s.cfg.Name, pos, i, f.Name, err))
			}
		}
		s.buf = append(s.buf, '\n')
	}
	s.rows += b.Len()
	return nil
}

// Flush implements Sink: one transaction applies the buffered changes and records the
// position of the last batch.
func (s *Postgres) Flush(ctx context.Context) error {
	if s.closed {
		return ErrClosed
	}
	if !s.seq.wrote || s.seq.last == s.committed {
		return nil
	}
	t0 := time.Now()
	to := s.seq.last
	if err := s.apply(ctx, to); err != nil {
		return s.m.fail(fmt.Errorf("sink: postgres %s: flush to %s: %w", s.cfg.Name, to, err))
	}
	s.m.wrote(s.rows)
	s.committed, s.hasRow = to, true
	s.seq.flushed = to
	s.buf, s.rows, s.ordinal = s.buf[:0], 0, 0
	s.m.committed(t0)
	return nil
}

func (s *Postgres) apply(ctx context.Context, to cdc.Position) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var cur string
	err = tx.QueryRow(ctx, `SELECT position FROM `+s.progress+` WHERE sink_name = $1`, s.cfg.Name).Scan(&cur)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if s.hasRow {
			return fmt.Errorf("%w: the progress row of %s disappeared", ErrOrder, s.cfg.Name)
		}
	case err != nil:
		return err
	case cur == to.String():
		return nil // an earlier attempt committed and lost its reply
	case cur != s.committed.String() || !s.hasRow:
		return fmt.Errorf("%w: progress of %s is %s, this sink committed %s: another writer", ErrOrder, s.cfg.Name, cur, s.committed)
	}
	if len(s.buf) > 0 {
		if _, err := tx.Exec(ctx, s.stageSQL); err != nil {
			return fmt.Errorf("staging table: %w", err)
		}
		if _, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(s.buf), s.copySQL); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		if _, err := tx.Exec(ctx, s.mergeSQL); err != nil {
			return fmt.Errorf("merge into %s: %w", s.cfg.Table, err)
		}
	}
	var tag string
	if s.hasRow {
		ct, err := tx.Exec(ctx, `UPDATE `+s.progress+` SET position = $2, updated_at = now() WHERE sink_name = $1 AND position = $3`,
			s.cfg.Name, to.String(), s.committed.String())
		if err != nil {
			return fmt.Errorf("progress: %w", err)
		}
		tag = ct.String()
	} else {
		ct, err := tx.Exec(ctx, `INSERT INTO `+s.progress+` (sink_name, position) VALUES ($1, $2) ON CONFLICT (sink_name) DO NOTHING`,
			s.cfg.Name, to.String())
		if err != nil {
			return fmt.Errorf("progress: %w", err)
		}
		tag = ct.String()
	}
	if !strings.HasSuffix(tag, " 1") {
		return fmt.Errorf("%w: the progress row of %s moved under this sink: another writer", ErrOrder, s.cfg.Name)
	}
	return tx.Commit(ctx)
}

// Close implements Sink: buffered changes not flushed are dropped (the source replays
// them); a pool the sink opened is closed.
func (s *Postgres) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.buf = nil
	if s.ownPool && s.pool != nil {
		s.pool.Close()
	}
	return nil
}

// appendCopyCell appends row i of a in COPY's text format: \N for NULL, backslash,
// tab, newline and CR escaped, bytea as \\x hex.
func appendCopyCell(dst []byte, a arrow.Array, t arrow.DataType, i int) ([]byte, error) {
	if a.IsNull(i) {
		return append(dst, '\\', 'N'), nil
	}
	switch a := a.(type) {
	case *array.String:
		v := a.Value(i)
		if strings.IndexByte(v, 0) >= 0 {
			return dst, errors.New("text with a NUL byte, which PostgreSQL cannot store")
		}
		return appendCopyText(dst, v), nil
	case *array.Binary:
		dst = append(dst, `\\x`...)
		return hex.AppendEncode(dst, a.Value(i)), nil
	case *array.Boolean:
		if a.Value(i) {
			return append(dst, 't'), nil
		}
		return append(dst, 'f'), nil
	case *array.Int64:
		return strconv.AppendInt(dst, a.Value(i), 10), nil
	case *array.Int32:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10), nil
	case *array.Uint64:
		return strconv.AppendUint(dst, a.Value(i), 10), nil
	case *array.Float32:
		return appendCopyFloat(dst, float64(a.Value(i)), 32), nil
	case *array.Float64:
		return appendCopyFloat(dst, a.Value(i), 64), nil
	case *array.Decimal128:
		return change.AppendDecimal(dst, a.Value(i), t.(*arrow.Decimal128Type).Scale), nil
	case *array.Date32:
		return a.Value(i).ToTime().UTC().AppendFormat(dst, "2006-01-02"), nil
	case *array.Timestamp:
		return change.TimeOf(int64(a.Value(i)), t.(*arrow.TimestampType).Unit).AppendFormat(dst, "2006-01-02 15:04:05.999999999Z07:00"), nil
	}
	// the other integers and times: the normalized JSON form has no quotes to strip but times'
	n := len(dst)
	dst = change.AppendJSON(dst, change.ValueAt(a, i), t)
	if len(dst) > n+1 && dst[n] == '"' {
		copy(dst[n:], dst[n+1:len(dst)-1])
		dst = dst[:len(dst)-2]
	}
	return dst, nil
}

func appendCopyText(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc byte
		switch s[i] {
		case '\\':
			esc = '\\'
		case '\t':
			esc = 't'
		case '\n':
			esc = 'n'
		case '\r':
			esc = 'r'
		default:
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, '\\', esc)
		start = i + 1
	}
	return append(dst, s[start:]...)
}

func appendCopyFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}
