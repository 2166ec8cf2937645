package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// reader owns the connections and runs in one goroutine: the snapshot, then the stream,
// reconnecting when a connection drops.
type reader struct {
	src  *Source
	conn *pgx.Conn      // catalog and snapshot
	repl *pgconn.PgConn // replication
	dec  *decoder

	rels   map[uint32]*relation
	tables map[string]*tableVersion
	pub    []*catTable // published tables at Open
	db     string

	// floor is the greatest commit position delivered (or Open's from): transactions at
	// or before it are skipped when the server streams them again.
	floor      cdc.Position
	snapshotAt pglogrepl.LSN // consistent point of a snapshot still to read (0: none)
	// marker: the snapshot marker slot exists (see setMarker) and goes once downstream
	// acks markerUntil, the end of the snapshot it guards.
	marker      bool
	markerUntil cdc.Position
	// copying: the replication connection is in COPY mode (status updates may go out).
	copying bool
	// resnapshot: downstream already holds rows of an earlier snapshot or stream, so the
	// snapshot truncates each table before its rows (a row deleted since must go).
	resnapshot bool

	// the transaction being received
	inTx       bool
	skipTx     bool
	xid        uint32
	commitLSN  pglogrepl.LSN
	commitTime time.Time
	events     []cdc.Event
	seq        uint64
	perTable   map[string]int64
	lastSize   int // events of the last transaction: the next one's first guess
	txID       string
	xidStr     string
	slab       []change.Value // rows are carved from it (row)

	// protocol 2: the streamed transactions in progress, and the one whose stream
	// segment is being received (inStream)
	spools    *spools
	inStream  bool
	streamSp  *spool
	streamBuf []byte

	walEnd     pglogrepl.LSN // server's WAL end from the last keepalive
	streaming  bool          // START_REPLICATION succeeded on the current connection
	recovering bool          // the connection failed since replication last started
	sentFlush  pglogrepl.LSN
	nextStatus time.Time
	nextPing   time.Time    // when askKeepalive may ask again
	stuckAt    cdc.Position // floor at the last server failure of the slot
	stuckN     int          // server failures in a row at stuckAt
}

func (r *reader) connect(ctx context.Context) error {
	r.copying = false
	pc, err := pgxConfig(r.src.cfg.DSN)
	if err != nil {
		return err
	}
	if r.conn, err = pgx.ConnectConfig(ctx, pc); err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	rc, err := connConfig(r.src.cfg.DSN, true)
	if err != nil {
		return err
	}
	if r.repl, err = pgconn.ConnectConfig(ctx, rc); err != nil {
		r.conn.Close(ctx)
		r.conn = nil
		return fmt.Errorf("postgres: replication connection: %w", err)
	}
	r.db = r.conn.Config().Database
	return nil
}

func (r *reader) closeConns() {
	r.copying = false
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if r.repl != nil {
		r.repl.Close(ctx)
		r.repl = nil
	}
	if r.conn != nil {
		r.conn.Close(ctx)
		r.conn = nil
	}
}

// preparePublication creates the publication when missing, checks it covers the
// configured tables, and checks every published table can log its updates and deletes.
func (r *reader) preparePublication(ctx context.Context) error {
	cfg := &r.src.cfg
	var exists bool
	if err := r.conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)", cfg.Publication).Scan(&exists); err != nil {
		return fmt.Errorf("postgres: look up publication %s: %w", cfg.Publication, err)
	}
	if !exists {
		sql := "CREATE PUBLICATION " + pgx.Identifier{cfg.Publication}.Sanitize()
		if len(cfg.Tables) == 0 {
			sql += " FOR ALL TABLES"
		} else {
			names := make([]string, len(cfg.Tables))
			for i, t := range cfg.Tables {
				names[i] = quoteQualified(splitTable(t))
			}
			sql += " FOR TABLE " + strings.Join(names, ", ")
		}
		if _, err := r.conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%w %s: create: %v", ErrPublication, cfg.Publication, err)
		}
	}
	rows, err := r.conn.Query(ctx, `SELECT c.oid FROM pg_publication_tables p
		JOIN pg_namespace n ON n.nspname = p.schemaname
		JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename
		WHERE p.pubname = $1`, cfg.Publication)
	if err != nil {
		return fmt.Errorf("%w %s: list tables: %v", ErrPublication, cfg.Publication, err)
	}
	oids, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
	if err != nil {
		return fmt.Errorf("%w %s: list tables: %v", ErrPublication, cfg.Publication, err)
	}
	have := map[string]bool{}
	var noIdent []string
	for _, oid := range oids {
		t, err := readCatalog(ctx, r.conn, oid)
		if err != nil {
			return err
		}
		if t == nil {
			continue // dropped while we looked
		}
		r.pub = append(r.pub, t)
		have[t.qualified()] = true
		if !t.hasPK() && (t.replident == 'd' || t.replident == 'n') {
			noIdent = append(noIdent, t.qualified())
		}
	}
	sortTables(r.pub)
	var missing []string
	for _, t := range cfg.Tables {
		sc, n := splitTable(t)
		if !have[sc+"."+n] {
			missing = append(missing, sc+"."+n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w %s does not publish %s (ALTER PUBLICATION %s ADD TABLE ...)", ErrPublication, cfg.Publication,
			strings.Join(missing, ", "), cfg.Publication)
	}
	if len(noIdent) > 0 {
		err := fmt.Errorf("%w: %s: without a primary key and with REPLICA IDENTITY DEFAULT or NOTHING, their UPDATEs and DELETEs fail on the server and cannot be captured; add a primary key or run ALTER TABLE ... REPLICA IDENTITY FULL",
			ErrNoIdentity, strings.Join(noIdent, ", "))
		if !cfg.AllowNoIdentity {
			return err
		}
		r.src.log.Warn(err.Error())
	}
	return nil
}

type slotInfo struct {
	exists, active bool
	plugin         string
	walStatus      string // "lost" once PostgreSQL invalidated the slot ("" before 13)
	confirmed      pglogrepl.LSN
	restart        pglogrepl.LSN // restart_lsn: where the slot's decoding starts over
}

func (r *reader) slotState(ctx context.Context) (slotInfo, error) {
	var si slotInfo
	var confirmed, restart *string
	// wal_status through jsonb: the column exists from PostgreSQL 13 on.
	err := r.conn.QueryRow(ctx, `SELECT coalesce(plugin, ''), active, coalesce(to_jsonb(s)->>'wal_status', ''), confirmed_flush_lsn::text,
		restart_lsn::text FROM pg_replication_slots s WHERE slot_name = $1`,
		r.src.cfg.Slot).Scan(&si.plugin, &si.active, &si.walStatus, &confirmed, &restart)
	if errors.Is(err, pgx.ErrNoRows) {
		return si, nil
	}
	if err != nil {
		return si, fmt.Errorf("%w: look up %s: %v", ErrSlot, r.src.cfg.Slot, err)
	}
	si.exists = true
	if confirmed != nil {
		if si.confirmed, err = pglogrepl.ParseLSN(*confirmed); err != nil {
			return si, fmt.Errorf("%w: %s: confirmed_flush_lsn %q: %v", ErrSlot, r.src.cfg.Slot, *confirmed, err)
		}
	}
	if restart != nil {
		if si.restart, err = pglogrepl.ParseLSN(*restart); err != nil {
			return si, fmt.Errorf("%w: %s: restart_lsn %q: %v", ErrSlot, r.src.cfg.Slot, *restart, err)
		}
	}
	return si, nil
}

// createSlot creates the slot; with snapshot, it exports a snapshot that the catalog
// connection imports for the reader to read first (truncating each table first when
// downstream already holds rows: resnapshot).
func (r *reader) createSlot(ctx context.Context, snapshot, resnapshot bool) error {
	s := r.src
	action := "NOEXPORT_SNAPSHOT"
	if snapshot {
		action = "EXPORT_SNAPSHOT"
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, r.repl, s.cfg.Slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{SnapshotAction: action, Mode: pglogrepl.LogicalReplication})
	if err != nil {
		return fmt.Errorf("%w: create %s: %v", ErrSlot, s.cfg.Slot, err)
	}
	cp, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return fmt.Errorf("%w: create %s: consistent point %q: %v", ErrSlot, s.cfg.Slot, res.ConsistentPoint, err)
	}
	s.mu.Lock()
	s.flush = cp
	s.mu.Unlock()
	if !snapshot {
		return nil
	}
	// Import the snapshot now: it is valid only until the replication connection runs
	// its next command.
	if _, err := r.conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return fmt.Errorf("postgres: begin snapshot: %w", err)
	}
	if _, err := r.conn.Exec(ctx, "SET TRANSACTION SNAPSHOT "+quoteLiteral(res.SnapshotName)); err != nil {
		return fmt.Errorf("postgres: import snapshot %s: %w", res.SnapshotName, err)
	}
	if err := error(nil); err != nil && false {
		return err
	}
	r.snapshotAt = cp
	r.resnapshot = resnapshot
	return nil
}

// awaitSnapshotCommits waits until every transaction the imported snapshot counts as
// committed is committed in PostgreSQL's commit log too. The slot's snapshot builder
// counts a transaction committed once it has decoded its commit record, which the
// committing backend writes before it updates the commit log; a row read in that window
// takes the transaction for aborted: a delete it made is not seen, an insert is missed,
// and the stream, which starts after it, never brings the change ("race conditions in
// logical decoding", pgsql-hackers, January 2026). PostgreSQL 15.20 waits for such
// transactions itself before it exports the snapshot; servers that do not, this covers.
// The check reads only the snapshot and the commit log, never a table, so no visibility
// decision is made before the commit log agrees with the snapshot.
func (r *reader) awaitSnapshotCommits(ctx context.Context) error {
	// txid_* rather than pg_* (13+): the same functions from PostgreSQL 10 on.
	const pending = `SELECT x FROM (SELECT txid_current_snapshot() AS s) q,
		generate_series(txid_snapshot_xmin(q.s), txid_snapshot_xmax(q.s) - 1) AS x
		WHERE txid_visible_in_snapshot(x, q.s) AND txid_status(x) = 'in progress'`
	const still = `SELECT x FROM unnest($1::bigint[]) AS x WHERE txid_status(x) = 'in progress'`
	var xids []int64
	rows, err := r.conn.Query(ctx, pending)
	if err == nil {
		xids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	}
	start, wait := time.Now(), max(r.src.cfg.ReconnectTimeout, time.Minute)
	for err == nil && len(xids) > 0 {
		if time.Since(start) > wait {
			return fmt.Errorf("postgres: snapshot of slot %s: transactions %v are committed in the WAL but not in the commit log after %v",
				r.src.cfg.Slot, xids, wait)
		}
		r.src.log.Debug("postgres: waiting for the commit log to record transactions the snapshot counts as committed", "xids", xids)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if rows, err = r.conn.Query(ctx, still, xids); err == nil {
			xids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		}
	}
	if err != nil {
		return fmt.Errorf("postgres: snapshot: check its transactions in the commit log: %w", err)
	}
	return nil
}

// markerName names the snapshot marker of slot (slot names have at most 63 bytes).
func markerName(slot string) string {
	const suffix = "__resnapshot"
	if len(slot)+len(suffix) <= 63 {
		return slot + suffix
	}
	h := fnv.New64a()
	h.Write([]byte(slot))
	return fmt.Sprintf("strata_%016x%s", h.Sum64(), suffix)
}

// setMarker creates the snapshot marker before the slot is dropped for a new snapshot
// while downstream holds rows of an earlier one: a physical slot, reserving no WAL,
// named after the slot. Downstream's position alone cannot tell, after a crash between
// creating the slot again and downstream committing the new snapshot's first rows, a
// slot that must be read from its start after a snapshot from a healthy one: both look
// complete, and streaming would skip every change between the old position and the new
// slot. While the marker exists, Open takes the snapshot again; it goes once downstream
// acks the snapshot's end.
func (r *reader) setMarker(ctx context.Context) error {
	name := markerName(r.src.cfg.Slot)
	_, err := r.conn.Exec(ctx, "SELECT pg_create_physical_replication_slot($1)", name)
	var pe *pgconn.PgError
	if err != nil && !(errors.As(err, &pe) && pe.Code == "42710") { // duplicate_object: there already
		return fmt.Errorf("%w: create the snapshot marker %s: %v", ErrSlot, name, err)
	}
	r.marker = true
	return nil
}

// markerExists reports whether the snapshot marker of the slot exists.
func (r *reader) markerExists(ctx context.Context) (bool, error) {
	var n int
	if err := r.conn.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", markerName(r.src.cfg.Slot)).Scan(&n); err != nil {
		return false, fmt.Errorf("postgres: look for the snapshot marker: %w", err)
	}
	return n > 0, nil
}

// clearMarker drops the snapshot marker once downstream acked the snapshot it guards.
func (r *reader) clearMarker() {
	if !r.marker || r.snapshotAt != 0 || r.conn == nil {
		return
	}
	s := r.src
	s.mu.Lock()
	done := !s.acked.Less(r.markerUntil)
	s.mu.Unlock()
	if !done {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.dropMarker(ctx); err != nil {
		s.log.Warn("postgres: dropping the snapshot marker", "err", err) // tried again at the next status update
	}
}

// dropMarker drops the snapshot marker.
func (r *reader) dropMarker(ctx context.Context) error {
	name := markerName(r.src.cfg.Slot)
	_, err := r.conn.Exec(ctx, "SELECT pg_drop_replication_slot($1)", name)
	var pe *pgconn.PgError
	if err != nil && !(errors.As(err, &pe) && pe.Code == "42704") { // undefined_object: gone already
		return fmt.Errorf("%w: drop the snapshot marker %s: %v", ErrSlot, name, err)
	}
	r.marker = false
	return nil
}

// dropSlot drops the slot, retrying for up to wait while another connection holds it.
func (r *reader) dropSlot(ctx context.Context, wait time.Duration) error {
	slot := r.src.cfg.Slot
	for until := time.Now().Add(wait); ; {
		err := pglogrepl.DropReplicationSlot(ctx, r.repl, slot, pglogrepl.DropReplicationSlotOptions{})
		var pe *pgconn.PgError
		if err == nil || errors.As(err, &pe) && pe.Code == "42704" { // undefined_object: gone already
			return nil
		}
		if !errors.As(err, &pe) || pe.Code != "55006" || !time.Now().Before(until) { // object_in_use
			return fmt.Errorf("%w: drop %s: %v", ErrSlot, slot, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// walFlush returns the server's current WAL flush LSN.
func (r *reader) walFlush(ctx context.Context) (pglogrepl.LSN, error) {
	var txt string
	if err := r.conn.QueryRow(ctx, "SELECT pg_current_wal_flush_lsn()::text").Scan(&txt); err != nil {
		return 0, fmt.Errorf("postgres: WAL flush position: %w", err)
	}
	lsn, err := pglogrepl.ParseLSN(txt)
	if err != nil {
		return 0, fmt.Errorf("postgres: WAL flush position %q: %w", txt, err)
	}
	return lsn, nil
}

// run is the reader goroutine.
func (r *reader) run(ctx context.Context) {
	s := r.src
	defer close(s.done)
	defer r.closeConns()
	defer r.dropStreams()
	if r.snapshotAt != 0 {
		if err := r.snapshot(ctx); err != nil {
			if ctx.Err() == nil {
				s.deliverErr(ctx, err)
			}
			return
		}
	}
	var down time.Time // when the connection was first found dropped
	for ctx.Err() == nil {
		r.streaming = false
		if r.repl == nil {
			r.closeConns()
			if err := r.connect(ctx); err != nil {
				if r.giveUp(ctx, &down, err) {
					return
				}
				continue
			}
		}
		err := r.stream(ctx)
		if r.streaming {
			down = time.Time{} // it worked for a while: a new outage gets its own timeout
		}
		if ctx.Err() != nil {
			r.finalStatus()
			return
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			s.deliverErr(ctx, fatal.err)
			return
		}
		r.closeConns()
		if r.stuck(err) {
			if s.cfg.Snapshot != SnapshotWhenNeeded {
				s.deliverErr(ctx, fmt.Errorf("%w: %s cannot be decoded after %s: %v; drop the slot to take a new snapshot, or use snapshot mode when_needed",
					ErrSlotLost, s.cfg.Slot, r.floor, err))
				return
			}
			if err := r.renew(ctx); err != nil {
				if ctx.Err() == nil {
					s.deliverErr(ctx, err)
				}
				return
			}
			continue
		}
		if r.giveUp(ctx, &down, err) {
			return
		}
		r.recovering = true
	}
}

// stuckAfter is how many times in a row the server must fail the same way, with nothing
// delivered in between, before the slot counts as unable to go on.
const stuckAfter = 3

// stuck reports whether err is the server failing the slot at the same position for
// the stuckAfter-th time in a row: an internal error while decoding (PostgreSQL's own
// bugs: "could not map filenode"), an invalidated slot, or WAL that is gone. A dropped
// connection or a restarting server never counts.
func (r *reader) stuck(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "XX000", // internal_error
		"55000", // object_not_in_prerequisite_state: "can no longer get changes from replication slot"
		"58P01": // undefined_file: "requested WAL segment ... has already been removed"
	default:
		return false
	}
	if r.stuckN == 0 || r.stuckAt != r.floor {
		r.stuckAt, r.stuckN = r.floor, 0
	}
	r.stuckN++
	r.src.log.Warn("postgres: the server failed the slot", "slot", r.src.cfg.Slot, "after", r.floor.String(),
		"times", r.stuckN, "err", err)
	return r.stuckN >= stuckAfter
}

// renew drops the slot that cannot go on, creates it again and reads a new snapshot
// that truncates each table first, then lets the stream go on from the new slot. The
// snapshot marker goes first (see setMarker).
func (r *reader) renew(ctx context.Context) error {
	s := r.src
	s.log.Warn("postgres: dropping the slot to take a new snapshot (snapshot mode when_needed)", "slot", s.cfg.Slot, "after", r.floor.String())
	if err := r.connect(ctx); err != nil {
		return err
	}
	// Not idle until the new snapshot and the stream after it have passed what is
	// committed now: an "idle" while the snapshot is taken would stop
	// --exit-when-idle (or a caller waiting for idle) short of it.
	s.caughtUp.Store(false)
	var err error
	if s.target, err = r.walFlush(ctx); err != nil {
		return err
	}
	if err := r.setMarker(ctx); err != nil {
		return err
	}
	// The walsender that failed may still hold the slot for a moment.
	if err := r.dropSlot(ctx, 30*time.Second); err != nil {
		return err
	}
	if err := r.createSlot(ctx, true, true); err != nil {
		return err
	}
	r.stuckN = 0
	s.cfg.Metrics.renewed()
	return r.snapshot(ctx)
}

// fatalError stops the reader: retrying cannot help (a value that does not decode).
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }

// giveUp logs a dropped connection and waits before the next attempt; after
// ReconnectTimeout it hands the error to the consumer and reports true.
func (r *reader) giveUp(ctx context.Context, down *time.Time, err error) bool {
	if down.IsZero() {
		*down = time.Now()
	}
	if time.Since(*down) > r.src.cfg.ReconnectTimeout {
		r.src.deliverErr(ctx, fmt.Errorf("postgres: connection lost for %v: %w", r.src.cfg.ReconnectTimeout, err))
		return true
	}
	r.src.log.Warn("postgres: replication connection lost; reconnecting", "slot", r.src.cfg.Slot, "err", err)
	select {
	case <-ctx.Done():
		return true
	case <-time.After(250 * time.Millisecond):
	}
	return false
}

// snapshot reads every published table inside the exported snapshot.
func (r *reader) snapshot(ctx context.Context) error {
	chunk := r.src.cfg.SnapshotChunk
	var pending []cdc.Event
	var seq uint64
	flushChunk := func(keep int) error {
		// Deliver all but the last keep events: the very last row must be known as the
		// last to carry the snapshot's end marker.
		n := len(pending) - keep
		if n <= 0 {
			return nil
		}
		evs := make([]cdc.Event, n)
		copy(evs, pending[:n])
		pending = append(pending[:0], pending[n:]...)
		r.src.cfg.Metrics.delivered(n, true)
		return r.deliver(ctx, cdc.Tx{Events: evs, Commit: evs[n-1].Pos}, 0)
	}
	for _, t := range r.pub {
		cols := make([]colSource, len(t.cols))
		names := make([]string, len(t.cols))
		for i, c := range t.cols {
			cols[i] = colSource{name: c.name, typ: c.typ, typmod: c.typmod, identity: identityOf(t, c)}
			names[i] = pgx.Identifier{c.name}.Sanitize()
		}
		rel, err := r.buildRelation(ctx, t, cols)
		if err != nil {
			return err
		}
		r.rels[t.oid] = rel
		if r.resnapshot {
			seq++
			ev := r.event(rel, cdc.OpTruncate, nil, nil, cdc.Position{Major: uint64(r.snapshotAt), Seq: seq})
			ev.Schema, ev.SchemaVersion = nil, 0
			ev.Source.Snapshot = "true"
			ev.Origin.Offset = int64(seq)
			pending = append(pending, ev)
		}
		// ONLY: an inheritance child published too is read on its own; but a partitioned
		// table published via its root holds no rows itself.
		only := " FROM ONLY "
		if t.partitioned {
			only = " FROM "
		}
		sql := "SELECT " + strings.Join(names, ", ") + only + quoteQualified(t.schema, t.name)
		rr := r.conn.PgConn().ExecParams(ctx, sql, nil, nil, nil, nil)
		for rr.NextRow() {
			vals := rr.Values()
			row := make(change.Row, len(vals))
			for i, v := range vals {
				if v == nil {
					continue // NULL
				}
				if row[i], err = r.dec.value(&rel.cols[i], v); err != nil {
					rr.Close()
					return fmt.Errorf("%w: snapshot of %s column %s: %v", ErrDecode, rel.table, rel.names[i], err)
				}
			}
			seq++
			ev := r.event(rel, cdc.OpRead, nil, row, cdc.Position{Major: uint64(r.snapshotAt), Seq: seq})
			ev.Source.Snapshot = "true"
			ev.Origin.Offset = int64(seq)
			pending = append(pending, ev)
			if len(pending) > chunk {
				if err := flushChunk(1); err != nil {
					rr.Close()
					return err
				}
			}
		}
		if _, err := rr.Close(); err != nil {
			return fmt.Errorf("postgres: snapshot of %s: %w", rel.table, err)
		}
	}
	if _, err := r.conn.Exec(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("postgres: end snapshot: %w", err)
	}
	if len(pending) > 0 {
		last := &pending[len(pending)-1]
		last.Pos.Seq = snapshotEnd
		last.Source.Snapshot = "last"
		if err := flushChunk(0); err != nil {
			return err
		}
	}
	r.markerUntil = cdc.Position{} // no events: nothing to wait for
	if seq > 0 {
		r.markerUntil = cdc.Position{Major: uint64(r.snapshotAt), Seq: snapshotEnd}
	}
	r.snapshotAt = 0
	return nil
}

// event builds a row event of rel.
func (r *reader) event(rel *relation, op cdc.Op, before, after change.Row, pos cdc.Position) cdc.Event {
	var ev cdc.Event
	r.fill(&ev, rel, op, before, after, pos)
	return ev
}

// fill sets a row event of rel in place (an event is large: the stream's are built
// where they stay, in the transaction's slice).
func (r *reader) fill(ev *cdc.Event, rel *relation, op cdc.Op, before, after change.Row, pos cdc.Position) {
	ev.Table, ev.Op, ev.Schema, ev.SchemaVersion = rel.table, op, rel.s, rel.version
	ev.Before, ev.After, ev.Pos = before, after, pos
	ev.Origin = cdc.Origin{Topic: r.src.cfg.Slot, Offset: int64(pos.Minor)}
	ev.Source = cdc.SourceInfo{Connector: "postgresql", DB: r.db, Schema: rel.schema, Table: rel.name, LSN: pos.Minor}
	if rel.key != nil {
		img := after
		if op == cdc.OpDelete {
			img = before
		}
		if img != nil {
			ev.KeySchema = rel.key
			ev.Key = r.row(len(rel.keyIdx))
			for i, k := range rel.keyIdx {
				ev.Key[i] = img[k]
			}
		}
	}
}

// rowSlab is how many values the stream's rows are carved from at once: one
// allocation for many rows (a row kept alive keeps its slab). 819 values of 40 bytes
// are the largest small object (32 kB): larger ones come from the page heap, and
// fresh pages fault in on first use.
const rowSlab = 819

// row returns a zero row of n values for a streamed event.
func (r *reader) row(n int) change.Row {
	if len(r.slab) < n {
		r.slab = make([]change.Value, max(n, rowSlab))
	}
	row := r.slab[:n:n]
	r.slab = r.slab[n:]
	return row
}

// deliver hands a transaction to the consumer, answering the server while it waits.
// The transaction counts as delivered from the start (floor, ends): it is handed over
// whatever happens to the connection meanwhile, and a failed status update is returned
// only once it is, for the stream to resume on a new connection after it. Dropping it
// instead would lose it: the resumed stream skips what is at or before floor.
func (r *reader) deliver(ctx context.Context, tx cdc.Tx, end pglogrepl.LSN) error {
	s := r.src
	for i := range tx.Events {
		tx.Events[i].Tx.Commit = tx.Commit
	}
	s.mu.Lock()
	s.ends = append(s.ends, txEnd{commit: tx.Commit, end: end})
	s.mu.Unlock()
	r.floor = tx.Commit
	n := int64(len(tx.Events))
	var tick <-chan time.Time
	var statusErr error
	status := func() {
		if statusErr == nil {
			statusErr = r.status(false)
		}
	}
	for {
		// Bounded by events too: a transaction waits while others fill the queue.
		if q := s.queued.Load(); q == 0 || q+n <= int64(s.cfg.QueueEvents) {
			s.queued.Add(n)
			select {
			case s.ch <- item{tx: tx}:
				return statusErr
			default:
			}
			s.queued.Add(-n)
		}
		if tick == nil {
			// Not reading the stream now, so keepalive requests go unseen: report on our
			// own, often enough for the server's wal_sender_timeout.
			t := time.NewTicker(min(s.cfg.StatusInterval, time.Second))
			defer t.Stop()
			tick = t.C
		}
		select {
		case <-s.space:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.wake:
			status()
		case <-tick:
			status()
		}
	}
}

// status sends a standby status update when the acked LSN moved, when one is due, or
// when forced. Only acked transactions are ever reported flushed.
func (r *reader) status(force bool) error {
	if r.repl == nil || !r.copying || r.snapshotAt != 0 {
		return nil
	}
	r.clearMarker()
	s := r.src
	s.mu.Lock()
	flush := s.flush
	s.mu.Unlock()
	now := time.Now()
	if !force && flush == r.sentFlush && now.Before(r.nextStatus) {
		return nil
	}
	err := pglogrepl.SendStandbyStatusUpdate(context.Background(), r.repl, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: flush, WALFlushPosition: flush, WALApplyPosition: flush, ClientTime: now})
	if err != nil {
		return fmt.Errorf("postgres: standby status update: %w", err)
	}
	r.sentFlush = flush
	r.nextStatus = now.Add(s.cfg.StatusInterval)
	s.cfg.Metrics.status(flush, r.walEnd)
	return nil
}

// askKeepalive asks the walsender for a keepalive (a status update with reply
// requested), at most every 200ms, until the source has caught up: a walsender whose
// client confirmed all it sent stays silent otherwise.
func (r *reader) askKeepalive() error {
	if r.src.caughtUp.Load() || !r.copying || r.snapshotAt != 0 || time.Now().Before(r.nextPing) {
		return nil
	}
	r.nextPing = time.Now().Add(200 * time.Millisecond)
	s := r.src
	s.mu.Lock()
	flush := s.flush
	s.mu.Unlock()
	err := pglogrepl.SendStandbyStatusUpdate(context.Background(), r.repl, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: flush, WALFlushPosition: flush, WALApplyPosition: flush, ClientTime: time.Now(), ReplyRequested: true})
	if err != nil {
		return fmt.Errorf("postgres: standby status update: %w", err)
	}
	r.sentFlush = flush
	return nil
}

func (r *reader) finalStatus() {
	if r.repl != nil {
		_ = r.status(true)
	}
}

// stream starts replication and processes messages until the connection fails or ctx ends.
func (r *reader) stream(ctx context.Context) error {
	cfg := &r.src.cfg
	args := []string{"proto_version '1'", "publication_names " + quoteLiteral(cfg.Publication)}
	if cfg.Streaming {
		args = []string{"proto_version '2'", "publication_names " + quoteLiteral(cfg.Publication), "streaming 'on'"}
	}
	// What was streamed on an earlier connection is streamed again from its start.
	r.dropStreams()
	err := pglogrepl.StartReplication(ctx, r.repl, cfg.Slot, 0, pglogrepl.StartReplicationOptions{
		Mode:       pglogrepl.LogicalReplication,
		PluginArgs: args,
	})
	if err != nil {
		return fmt.Errorf("postgres: start replication on slot %s: %w", cfg.Slot, err)
	}
	r.copying = true
	r.inTx = false
	r.nextStatus = time.Time{}
	r.streaming = true
	if r.recovering {
		r.recovering = false
		r.src.cfg.Metrics.reconnected()
	}
	pace := newPacer(r.repl.Conn())
	for {
		now := time.Now()
		// A status update when one is due or an Ack happened (status sends only
		// when the acked LSN moved or the interval passed).
		due := !now.Before(r.nextStatus)
		if !due {
			select {
			case <-r.src.wake:
				due = true
			default:
			}
		}
		if due {
			if err := r.status(false); err != nil {
				return err
			}
		}
		// A read deadline rather than a context per message: a context makes pgconn
		// watch it from another goroutine on every call. A timeout keeps the connection.
		if err := pace.beforeReceive(now); err != nil {
			return fmt.Errorf("postgres: receive: %w", err)
		}
		msg, err := r.repl.ReceiveMessage(context.Background())
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if pgconn.Timeout(err) {
				pace.timedOut()
				if err := r.askKeepalive(); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("postgres: receive: %w", err)
		}
		pace.received(now)
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if len(m.Data) == 0 {
				continue
			}
			switch m.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					return fmt.Errorf("postgres: keepalive: %w", err)
				}
				r.walEnd = ka.ServerWALEnd
				if r.idleAdvance(ka.ServerWALEnd) {
					if err := r.status(false); err != nil {
						return err
					}
				}
				// A logical walsender's keepalive carries the end of the WAL it has
				// decoded and sent: every transaction committed before it came before.
				if !r.inTx && !r.inStream && ka.ServerWALEnd >= r.src.target {
					r.src.caughtUp.Store(true)
				}
				if ka.ReplyRequested {
					if err := r.status(true); err != nil {
						return err
					}
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					return fmt.Errorf("postgres: xlog data: %w", err)
				}
				if err := r.handle(ctx, xld); err != nil {
					return err
				}
			}
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("postgres: replication: %w", pgconn.ErrorResponseToPgError(m))
		case *pgproto3.CopyDone:
			return fmt.Errorf("postgres: server ended the replication stream")
		}
	}
}

// idleAdvance confirms the server's WAL end when every delivered transaction is acked
// and none is in progress: what lies before it was all delivered (or had nothing
// published), so the slot need not keep that WAL. It reports whether the LSN moved.
func (r *reader) idleAdvance(walEnd pglogrepl.LSN) bool {
	if r.inTx || r.inStream {
		return false
	}
	s := r.src
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ends) == 0 && walEnd > s.flush {
		s.flush = walEnd
		return true
	}
	return false
}

// handle processes one pgoutput message.
func (r *reader) handle(ctx context.Context, xld pglogrepl.XLogData) error {
	data := xld.WALData
	if len(data) == 0 {
		return nil
	}
	if r.inStream {
		return r.streamed(data, uint64(xld.WALStart))
	}
	switch data[0] {
	case 'B':
		m, err := pglogrepl.Parse(data)
		if err != nil {
			return fmt.Errorf("postgres: BEGIN: %w", err)
		}
		b := m.(*pglogrepl.BeginMessage)
		r.begin(b.Xid, b.FinalLSN, b.CommitTime)
	case 'C':
		m, err := pglogrepl.Parse(data)
		if err != nil {
			return fmt.Errorf("postgres: COMMIT: %w", err)
		}
		c := m.(*pglogrepl.CommitMessage)
		return r.commit(ctx, c.CommitTime, c.TransactionEndLSN)
	case 'S', 'c', 'A':
		return r.streamControl(ctx, data)
	case 'R':
		m, err := pglogrepl.Parse(data)
		if err != nil {
			return fmt.Errorf("postgres: RELATION: %w", err)
		}
		return r.relationMsg(ctx, m.(*pglogrepl.RelationMessage))
	case 'I', 'U', 'D':
		if r.skipTx {
			return nil
		}
		if err := r.change(data, uint64(xld.WALStart)); err != nil {
			return &fatalError{err}
		}
	case 'T':
		if r.skipTx {
			return nil
		}
		m, err := pglogrepl.Parse(data)
		if err != nil {
			return fmt.Errorf("postgres: TRUNCATE: %w", err)
		}
		for _, oid := range m.(*pglogrepl.TruncateMessage).RelationIDs {
			rel := r.rels[oid]
			if rel == nil {
				return &fatalError{fmt.Errorf("postgres: TRUNCATE of relation %d before its RELATION message", oid)}
			}
			ev := r.add(rel, cdc.OpTruncate, nil, nil, r.nextPos(uint64(xld.WALStart)))
			ev.Schema, ev.SchemaVersion = nil, 0
		}
	}
	// Origin ('O'), type ('Y') and logical message ('M', not requested) carry nothing to emit.
	return nil
}

// begin starts receiving transaction xid, which commits at commitLSN.
func (r *reader) begin(xid uint32, commitLSN pglogrepl.LSN, commitTime time.Time) {
	r.inTx, r.xid, r.commitLSN, r.commitTime = true, xid, commitLSN, commitTime.UTC()
	r.txID, r.xidStr = "", ""
	c := uint64(commitLSN)
	r.skipTx = c < r.floor.Major || c == r.floor.Major && r.floor.Minor > 0
	r.events, r.seq = make([]cdc.Event, 0, min(r.lastSize, 4096)), 0
	clear(r.perTable)
}

// commit hands the transaction received to the consumer; end is the LSN after its
// commit record.
func (r *reader) commit(ctx context.Context, commitTime time.Time, end pglogrepl.LSN) error {
	r.inTx = false
	if r.skipTx || len(r.events) == 0 {
		r.events = nil
		return nil
	}
	evs := r.events
	r.events = nil
	r.lastSize = len(evs)
	tx := cdc.Tx{ID: evs[0].Tx.ID,
		Events: evs, Commit: evs[len(evs)-1].Pos, CommitTime: commitTime.UTC()}
	r.src.cfg.Metrics.delivered(len(evs), false)
	return r.deliver(ctx, tx, end)
}

func (r *reader) nextPos(lsn uint64) cdc.Position {
	r.seq++
	return cdc.Position{Major: uint64(r.commitLSN), Minor: lsn, Seq: r.seq}
}

// add appends a row event of rel to the transaction, with its transaction metadata.
func (r *reader) add(rel *relation, op cdc.Op, before, after change.Row, pos cdc.Position) *cdc.Event {
	if r.perTable == nil {
		r.perTable = map[string]int64{}
	}
	if r.txID == "" {
		r.xidStr = strconv.FormatUint(uint64(r.xid), 10)
		r.txID = r.xidStr + ":" + strconv.FormatUint(uint64(r.commitLSN), 10)
	}
	r.events = append(r.events, cdc.Event{})
	ev := &r.events[len(r.events)-1]
	r.fill(ev, rel, op, before, after, pos)
	n := r.perTable[ev.Table] + 1
	r.perTable[ev.Table] = n
	ev.Tx = cdc.TxInfo{ID: r.txID, TotalOrder: int64(len(r.events)), CollectionOrder: n}
	ev.Source.TxID = r.xidStr
	ev.Source.Snapshot = "false"
	ev.CommitTime = r.commitTime
	ev.Source.TsMs = r.commitTime.UnixMilli()
	ev.TsMs = ev.Source.TsMs
	return ev
}

func (r *reader) relationMsg(ctx context.Context, m *pglogrepl.RelationMessage) error {
	cat, err := readCatalog(ctx, r.conn, m.RelationID)
	if err != nil {
		return err
	}
	if cat == nil {
		// Dropped since: the RELATION message alone says what its rows hold; its
		// replica identity columns stand for the primary key (nullability unknown).
		cat = &catTable{oid: m.RelationID, replident: m.ReplicaIdentity}
		for _, c := range m.Columns {
			cat.cols = append(cat.cols, catColumn{name: c.Name, pk: c.Flags&1 != 0 && m.ReplicaIdentity == 'd'})
		}
		r.src.log.Warn("postgres: table dropped since this change; schema from the stream only", "table", m.Namespace+"."+m.RelationName)
	}
	// The stream's names win: the catalog may already be ahead of this point of the WAL.
	cat.schema, cat.name = m.Namespace, m.RelationName
	cols := make([]colSource, len(m.Columns))
	for i, c := range m.Columns {
		cols[i] = colSource{name: c.Name, typ: c.DataType, typmod: c.TypeModifier, identity: c.Flags&1 != 0}
	}
	rel, err := r.buildRelation(ctx, cat, cols)
	if err != nil {
		return err
	}
	r.rels[m.RelationID] = rel
	return nil
}

// change decodes INSERT, UPDATE and DELETE.
func (r *reader) change(data []byte, lsn uint64) error {
	if len(data) < 6 {
		return fmt.Errorf("%w: short %c message at %s", ErrDecode, data[0], pglogrepl.LSN(lsn))
	}
	kind := data[0]
	oid := binary.BigEndian.Uint32(data[1:])
	rel := r.rels[oid]
	if rel == nil {
		return fmt.Errorf("%w: change of relation %d before its RELATION message at %s", ErrDecode, oid, pglogrepl.LSN(lsn))
	}
	p := data[5:]
	var before, after change.Row
	var err error
	switch kind {
	case 'I':
		if p[0] != 'N' {
			return fmt.Errorf("%w: INSERT of %s at %s: tuple type %q", ErrDecode, rel.table, pglogrepl.LSN(lsn), p[0])
		}
		if after, _, err = r.tuple(rel, p[1:], false, lsn); err != nil {
			return err
		}
		r.add(rel, cdc.OpCreate, nil, after, r.nextPos(lsn))
	case 'U':
		if p[0] == 'K' || p[0] == 'O' {
			if before, p, err = r.tuple(rel, p[1:], p[0] == 'K', lsn); err != nil {
				return err
			}
		}
		if len(p) == 0 || p[0] != 'N' {
			return fmt.Errorf("%w: UPDATE of %s at %s: no new tuple", ErrDecode, rel.table, pglogrepl.LSN(lsn))
		}
		if after, _, err = r.tuple(rel, p[1:], false, lsn); err != nil {
			return err
		}
		// Unchanged TOAST values are absent from the new tuple; a full old image has them.
		if before != nil {
			for i, v := range after {
				if v.IsAbsent() && !before[i].IsAbsent() {
					after[i] = before[i]
				}
			}
		}
		if before != nil && rel.key != nil && keyChanged(rel, before, after) && !hasAbsent(after) {
			// A primary-key change is a delete of the old key and a create of the new, as
			// Debezium emits it; but when unchanged TOAST values are absent from the new
			// tuple only the old key's row holds them, so it stays one update from the
			// old key to the new, which downstream (silver) completes from the old row.
			r.add(rel, cdc.OpDelete, before, nil, r.nextPos(lsn))
			r.add(rel, cdc.OpCreate, nil, after, r.nextPos(lsn))
			return nil
		}
		r.add(rel, cdc.OpUpdate, before, after, r.nextPos(lsn))
	case 'D':
		if p[0] != 'K' && p[0] != 'O' {
			return fmt.Errorf("%w: DELETE of %s at %s: tuple type %q", ErrDecode, rel.table, pglogrepl.LSN(lsn), p[0])
		}
		if before, _, err = r.tuple(rel, p[1:], p[0] == 'K', lsn); err != nil {
			return err
		}
		r.add(rel, cdc.OpDelete, before, nil, r.nextPos(lsn))
	}
	return nil
}

func hasAbsent(r change.Row) bool {
	for _, v := range r {
		if v.IsAbsent() {
			return true
		}
	}
	return false
}

func keyChanged(rel *relation, before, after change.Row) bool {
	for _, k := range rel.keyIdx {
		if !before[k].IsAbsent() && !after[k].IsAbsent() && before[k] != after[k] {
			return true
		}
	}
	return false
}

// tuple decodes pgoutput TupleData into a row: 'n' NULL, 'u' an unchanged TOAST value
// (absent), 't' text. In a key-only old tuple the columns outside the replica identity
// are absent, not NULL.
func (r *reader) tuple(rel *relation, p []byte, keyOnly bool, lsn uint64) (change.Row, []byte, error) {
	bad := func(what string) (change.Row, []byte, error) {
		return nil, nil, fmt.Errorf("%w: %s at %s: %s", ErrDecode, rel.table, pglogrepl.LSN(lsn), what)
	}
	if len(p) < 2 {
		return bad("short tuple")
	}
	n := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	if n != len(rel.cols) {
		return bad(fmt.Sprintf("tuple has %d columns, relation %d", n, len(rel.cols)))
	}
	row := r.row(n)
	for i := 0; i < n; i++ {
		if len(p) == 0 {
			return bad("short tuple")
		}
		k := p[0]
		p = p[1:]
		switch k {
		case 'n':
			if keyOnly && !rel.identity[i] {
				row[i] = change.Absent()
			}
		case 'u':
			row[i] = change.Absent()
		case 't':
			if len(p) < 4 {
				return bad("short tuple")
			}
			l := int(binary.BigEndian.Uint32(p))
			if len(p) < 4+l {
				return bad("short tuple")
			}
			v, err := r.dec.value(&rel.cols[i], p[4:4+l])
			if err != nil {
				return nil, nil, fmt.Errorf("%w: %s column %s at %s: %v", ErrDecode, rel.table, rel.names[i], pglogrepl.LSN(lsn), err)
			}
			row[i] = v
			p = p[4+l:]
		default:
			return bad(fmt.Sprintf("column %s: tuple data kind %q", rel.names[i], k))
		}
	}
	return row, p, nil
}
