package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/strata-data/strata/cdc"
)

// snapshotEnd is the Seq of the last snapshot row: a lake position with Minor 0 and
// this Seq says the snapshot was read whole.
const snapshotEnd = math.MaxUint64

// Source streams one PostgreSQL database's changes through a logical replication slot
// (pgoutput). It is a cdc.TxSource: ReadTx returns whole transactions in commit order;
// Read returns their events framed by BEGIN and END. Read, ReadTx and Close must not
// be called concurrently; Ack may run concurrently with them.
type Source struct {
	cfg Config
	log *slog.Logger

	ch     chan item
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{} // an Ack happened: send a status update soon
	space  chan struct{} // ReadTx took a transaction: the queue has room
	queued atomic.Int64  // events in ch
	err    error         // sticky error from the reader
	timer  *time.Timer

	// target is the server's WAL flush LSN at Open (and at a slot renewal, see
	// reader.renew); caughtUp is set once a keepalive
	// shows the walsender past it, every transaction before it delivered. Until then
	// ReadTx does not report cdc.ErrIdle: a reopened slot can take the server a while
	// to decode, and "idle" before that made --exit-when-idle stop short.
	target   pglogrepl.LSN
	caughtUp atomic.Bool

	// Read's framing of the current transaction.
	queue  []cdc.Event
	qi     int
	offset int64

	mu     sync.Mutex
	ends   []txEnd // delivered transactions not yet acked, in commit order
	flush  pglogrepl.LSN
	acked  cdc.Position
	opened bool
	closed bool
}

// item is what the reader hands to ReadTx: a transaction or the error that stopped it.
type item struct {
	tx  cdc.Tx
	err error
}

// txEnd pairs a delivered transaction's commit position with the LSN right after its
// commit record, which is what the slot is confirmed to once the transaction is acked.
type txEnd struct {
	commit cdc.Position
	end    pglogrepl.LSN
}

// NewSource returns a source; Open connects it.
func NewSource(cfg Config) *Source {
	cfg.EnsureDefaults()
	return &Source{cfg: cfg, log: cfg.Logger}
}

// Open prepares the publication and the slot and starts reading after position from:
// transactions committed at or before it are not returned again. With SnapshotInitial,
// a slot that does not exist yet is created with an exported snapshot whose rows are
// returned first (OpRead); a from that lies inside an unfinished snapshot (or is zero
// while the slot exists) means the snapshot never reached downstream whole, so the slot
// is dropped and created again with a new snapshot. A snapshot taken when from is not
// zero (downstream holds rows of an earlier snapshot or stream) truncates each table
// before its rows, so rows deleted in between do not linger downstream; until
// downstream acks its end, a marker slot (the slot's name + "__resnapshot") says it is
// still to be taken.
func (s *Source) Open(ctx context.Context, from cdc.Position) error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	if s.opened {
		return fmt.Errorf("postgres: Open called twice")
	}
	r := &reader{src: s, dec: newDecoder(), rels: map[uint32]*relation{}, tables: map[string]*tableVersion{}, floor: from,
		spools: newSpools(s.cfg.SpoolDir, s.cfg.StreamMemory, s.cfg.Metrics)}
	if err := r.connect(ctx); err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			r.closeConns()
		}
	}()
	if s.cfg.Streaming {
		var v int
		if err := r.conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&v); err != nil {
			return fmt.Errorf("postgres: server version: %w", err)
		}
		if v < 140000 {
			return fmt.Errorf("%w: Streaming needs PostgreSQL 14 or later (pgoutput protocol 2); the server is %d", ErrConfig, v)
		}
	}
	if err := r.preparePublication(ctx); err != nil {
		return err
	}
	slot, err := r.slotState(ctx)
	// The walsender of a previous run (a killed process, a dropped connection) holds the
	// slot until it notices its client is gone: wait a while for it.
	for wait := time.Now().Add(min(s.cfg.ReconnectTimeout, 30*time.Second)); err == nil && slot.active && time.Now().Before(wait); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		slot, err = r.slotState(ctx)
	}
	if err != nil {
		return err
	}
	if s.target, err = r.walFlush(ctx); err != nil {
		return err
	}
	if r.marker, err = r.markerExists(ctx); err != nil {
		return err
	}
	incomplete := from.IsZero() || from.Minor == 0 && from.Seq != snapshotEnd
	if r.marker && slot.exists && !incomplete && uint64(slot.restart) <= from.Major {
		// The marker outlived the snapshot it guards (its ack was not seen): from is
		// past the slot's creation, so downstream holds that snapshot whole.
		if err := r.dropMarker(ctx); err != nil {
			return err
		}
	}
	// A marker left: a new snapshot was being taken when the last run stopped, and
	// from, before the slot's creation, holds none of it.
	incomplete = incomplete || r.marker && s.cfg.Snapshot != SnapshotNever
	snapshot := s.cfg.Snapshot != SnapshotNever && (!slot.exists || incomplete)
	if slot.exists && slot.walStatus == "lost" {
		if s.cfg.Snapshot != SnapshotWhenNeeded {
			return fmt.Errorf("%w: %s: PostgreSQL invalidated it (wal_status lost, max_slot_wal_keep_size?): the changes after %s are gone; "+
				"drop the slot to take a new snapshot, or use snapshot mode when_needed", ErrSlotLost, s.cfg.Slot, from)
		}
		snapshot = true
	}
	if slot.exists && snapshot && slot.active {
		return fmt.Errorf("%w: %s is in use by another connection", ErrSlot, s.cfg.Slot)
	}
	// A snapshot while downstream holds rows: the marker goes first (see setMarker).
	if snapshot && !from.IsZero() {
		if err := r.setMarker(ctx); err != nil {
			return err
		}
	}
	if slot.exists && snapshot {
		why := "the slot's snapshot never reached downstream whole"
		if slot.walStatus == "lost" {
			why = "PostgreSQL invalidated the slot (wal_status lost)"
		}
		s.log.Warn("postgres: "+why+"; dropping the slot to take a new snapshot", "slot", s.cfg.Slot, "from", from.String())
		if err := r.dropSlot(ctx, 0); err != nil {
			return err
		}
		slot.exists = false
	}
	if slot.exists {
		if slot.plugin != "pgoutput" {
			return fmt.Errorf("%w: %s uses plugin %q, not pgoutput", ErrSlot, s.cfg.Slot, slot.plugin)
		}
		if slot.active {
			return fmt.Errorf("%w: %s is in use by another connection", ErrSlot, s.cfg.Slot)
		}
		s.flush = slot.confirmed
	} else if err := r.createSlot(ctx, snapshot, !from.IsZero()); err != nil {
		return err
	}
	s.ch = make(chan item, s.cfg.QueueTxs)
	s.wake = make(chan struct{}, 1)
	s.space = make(chan struct{}, 1)
	s.done = make(chan struct{})
	s.acked = from
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.opened = true
	ok = true
	go r.run(rctx)
	return nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// ReadTx returns the next whole transaction in commit order, or cdc.ErrIdle when none
// arrived within IdleWait. Snapshot rows come as transactions of SnapshotChunk reads
// without a transaction id.
func (s *Source) ReadTx(ctx context.Context) (cdc.Tx, error) {
	if !s.opened {
		return cdc.Tx{}, ErrNotOpen
	}
	if s.err != nil {
		return cdc.Tx{}, s.err
	}
	select {
	case it := <-s.ch:
		return s.got(it)
	default:
	}
	if s.timer == nil {
		s.timer = time.NewTimer(s.cfg.IdleWait)
	} else {
		s.timer.Reset(s.cfg.IdleWait)
	}
	select {
	case it := <-s.ch:
		return s.got(it)
	case <-s.timer.C:
		if s.caughtUp.Load() {
			return s.idle()
		}
		return s.waitCaughtUp(ctx)
	case <-ctx.Done():
		return cdc.Tx{}, ctx.Err()
	case <-s.done:
		select {
		case it := <-s.ch:
			return s.got(it)
		default:
		}
		return cdc.Tx{}, ErrClosed
	}
}

// waitCaughtUp waits for the next transaction while the server has not yet streamed
// what was committed before Open; once it has, nothing arriving for IdleWait is idle.
func (s *Source) waitCaughtUp(ctx context.Context) (cdc.Tx, error) {
	for {
		s.timer.Reset(s.cfg.IdleWait)
		select {
		case it := <-s.ch:
			return s.got(it)
		case <-s.timer.C:
			if s.caughtUp.Load() {
				return s.idle()
			}
		case <-ctx.Done():
			return cdc.Tx{}, ctx.Err()
		case <-s.done:
			select {
			case it := <-s.ch:
				return s.got(it)
			default:
			}
			return cdc.Tx{}, ErrClosed
		}
	}
}

// idle reports cdc.ErrIdle unless a transaction is queued. The reader queues the
// transactions before the keepalive that sets caughtUp, but a select that finds both
// the queue and the timer ready picks either: without this look, idle could be
// reported with the last transaction before Open waiting in the queue.
func (s *Source) idle() (cdc.Tx, error) {
	select {
	case it := <-s.ch:
		return s.got(it)
	default:
		return cdc.Tx{}, cdc.ErrIdle
	}
}

func (s *Source) got(it item) (cdc.Tx, error) {
	if it.err != nil {
		s.err = it.err
		return cdc.Tx{}, it.err
	}
	s.queued.Add(-int64(len(it.tx.Events)))
	select {
	case s.space <- struct{}{}:
	default:
	}
	return it.tx, nil
}

// TxTopic is the Origin topic of the BEGIN and END events Read frames transactions with.
const TxTopic = "strata.postgres.transaction"

// Read returns the next event. Streamed transactions are framed by a BEGIN and an END
// (with per-table counts) on Origin topic TxTopic, so a cdc.Assembler cuts them as the
// source did; snapshot reads come unframed.
func (s *Source) Read(ctx context.Context) (cdc.Event, error) {
	for s.qi >= len(s.queue) {
		tx, err := s.ReadTx(ctx)
		if err != nil {
			return cdc.Event{}, err
		}
		s.queue, s.qi = s.queue[:0], 0
		framed := tx.ID != ""
		if framed {
			s.queue = append(s.queue, s.frame(cdc.OpTxBegin, &tx))
		}
		s.queue = append(s.queue, tx.Events...)
		if framed {
			end := s.frame(cdc.OpTxEnd, &tx)
			end.EventCount = int64(len(tx.Events))
			for _, t := range tx.Tables() {
				var n int64
				for i := range tx.Events {
					if tx.Events[i].Table == t {
						n++
					}
				}
				end.Collections = append(end.Collections, cdc.CollectionCount{Collection: t, EventCount: n})
			}
			s.queue = append(s.queue, end)
		}
	}
	ev := s.queue[s.qi]
	s.queue[s.qi] = cdc.Event{}
	s.qi++
	return ev, nil
}

func (s *Source) frame(op cdc.Op, tx *cdc.Tx) cdc.Event {
	s.offset++
	return cdc.Event{Op: op, Origin: cdc.Origin{Topic: TxTopic, Offset: s.offset},
		Tx: cdc.TxInfo{ID: tx.ID, Commit: tx.Commit}, CommitTime: tx.CommitTime,
		Source: cdc.SourceInfo{Connector: "postgresql"}}
}

// Ack confirms everything up to upTo (a transaction's commit position) as durable
// downstream: the slot's confirmed flush LSN moves past that transaction's commit
// record with the next standby status update, which Ack triggers. Nothing else ever
// advances the slot past a delivered transaction.
func (s *Source) Ack(_ context.Context, upTo cdc.Position) error {
	s.mu.Lock()
	if !s.opened {
		s.mu.Unlock()
		return ErrNotOpen
	}
	if s.acked.Less(upTo) {
		s.acked = upTo
	}
	n := 0
	for n < len(s.ends) && s.ends[n].commit.Compare(upTo) <= 0 {
		if s.ends[n].end > s.flush {
			s.flush = s.ends[n].end
		}
		n++
	}
	s.ends = slices.Delete(s.ends, 0, n)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Acked returns the greatest position acked.
func (s *Source) Acked() cdc.Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked
}

// Flushed returns the LSN the slot is confirmed to (or will be at the next status update).
func (s *Source) Flushed() pglogrepl.LSN {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flush
}

// Close stops streaming; it sends a last status update with what was acked and acks
// nothing more. Transactions read but not acked are streamed again after the next Open.
func (s *Source) Close() error {
	if !s.opened || s.closed {
		return nil
	}
	s.closed = true
	s.cancel()
	<-s.done
	if s.timer != nil {
		s.timer.Stop()
	}
	return nil
}

var _ cdc.TxSource = (*Source)(nil)

// deliverErr hands a fatal error to the consumer.
func (s *Source) deliverErr(ctx context.Context, err error) {
	select {
	case s.ch <- item{err: err}:
	case <-ctx.Done():
	}
}

// sortTables sorts published tables for a deterministic snapshot order.
func sortTables(ts []*catTable) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].qualified() < ts[j].qualified() })
}

// connConfig parses the DSN with the session settings the text decoders rely on.
func connConfig(dsn string, replication bool) (*pgconn.Config, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: DSN: %v", ErrConfig, err)
	}
	for k, v := range sessionParams {
		cfg.RuntimeParams[k] = v
	}
	if replication {
		cfg.RuntimeParams["replication"] = "database"
	}
	return cfg, nil
}

var sessionParams = map[string]string{
	"DateStyle":          "ISO, YMD",
	"TimeZone":           "UTC",
	"IntervalStyle":      "postgres",
	"extra_float_digits": "3",
	"bytea_output":       "hex",
	"application_name":   "strata",
}

func pgxConfig(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: DSN: %v", ErrConfig, err)
	}
	for k, v := range sessionParams {
		cfg.RuntimeParams[k] = v
	}
	return cfg, nil
}
