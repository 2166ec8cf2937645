package bronze

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/strata-data/strata/cdc"
)

// SourceConfig configures a Source over a lake.
type SourceConfig struct {
	// Store is the lake to replay (required).
	Store Store
	// Tables replays these tables only (all when empty).
	Tables []string
	// Follow keeps the source open at the end of the lake: Read returns cdc.ErrIdle and
	// later picks up commits published since, instead of io.EOF.
	Follow bool
	// FromSnapshots starts a replay from the beginning at each table's latest snapshot
	// (see ReplayOptions.FromSnapshots): needed once retention has removed files.
	FromSnapshots bool
}

// Source replays a lake as a cdc.Source, so any pipeline can re-run from bronze: a
// deterministic backfill. Events come in global commit order. Read frames every
// transaction that had metadata with a synthetic BEGIN and END (counts per table), as
// Debezium does, so a cdc.Assembler downstream cuts the same transactions; ReadTx
// returns whole transactions directly. A Source is not safe for concurrent use, except
// Ack and Acked.
type Source struct {
	cfg SourceConfig
	p   *replayer

	peek    cdc.Event
	hasPeek bool
	queue   []cdc.Event // events of the current transaction still to return by Read
	qi      int
	offset  int64 // offsets of the synthetic BEGIN/END stream

	mu    sync.Mutex
	acked cdc.Position
}

// TxTopic is the Origin topic of the BEGIN and END events Source.Read synthesizes.
const TxTopic = "strata.bronze.transaction"

// NewSource returns a source over cfg.Store; Open starts it.
func NewSource(cfg SourceConfig) *Source { return &Source{cfg: cfg} }

// Open starts the replay after position from: transactions committed at or before it
// are skipped.
func (s *Source) Open(ctx context.Context, from cdc.Position) error {
	if s.cfg.Store == nil {
		return errors.New("bronze: SourceConfig.Store is required")
	}
	m, err := OpenManifest(ctx, s.cfg.Store)
	if err != nil {
		return err
	}
	if s.p != nil {
		s.p.close()
	}
	s.p = newReplayer(m, ReplayOptions{Tables: s.cfg.Tables, After: from, FromSnapshots: s.cfg.FromSnapshots && from.IsZero()})
	s.hasPeek, s.queue, s.qi = false, s.queue[:0], 0
	s.mu.Lock()
	s.acked = from
	s.mu.Unlock()
	return nil
}

// read returns the next event of the replay; at the end of the lake it returns io.EOF,
// or cdc.ErrIdle when following (after looking for new commits).
func (s *Source) read(ctx context.Context) (cdc.Event, error) {
	if s.p == nil {
		return cdc.Event{}, errors.New("bronze: source is not open")
	}
	if s.hasPeek {
		s.hasPeek = false
		return s.peek, nil
	}
	ev, ok, err := s.p.next(ctx)
	if err != nil || ok {
		return ev, err
	}
	if !s.cfg.Follow {
		return cdc.Event{}, io.EOF
	}
	m, err := OpenManifest(ctx, s.cfg.Store)
	if err != nil {
		return cdc.Event{}, err
	}
	s.p.refresh(m)
	if ev, ok, err = s.p.next(ctx); err != nil || ok {
		return ev, err
	}
	return cdc.Event{}, cdc.ErrIdle
}

// ReadTx returns the next whole transaction, io.EOF at the end of the lake, or
// cdc.ErrIdle when following and nothing new is committed.
func (s *Source) ReadTx(ctx context.Context) (cdc.Tx, error) {
	first, err := s.read(ctx)
	if err != nil {
		return cdc.Tx{}, err
	}
	tx := cdc.Tx{ID: first.Tx.ID, Commit: commitOf(&first), CommitTime: first.CommitTime, Events: []cdc.Event{first}}
	for {
		ev, ok, err := s.p.next(ctx)
		if err != nil {
			return cdc.Tx{}, err
		}
		if !ok {
			// A commit never splits a transaction: the lake's end is a transaction's end.
			return tx, nil
		}
		if commitOf(&ev) != tx.Commit {
			s.peek, s.hasPeek = ev, true
			return tx, nil
		}
		tx.CommitTime = ev.CommitTime
		tx.Events = append(tx.Events, ev)
	}
}

// Read returns the next event, framing transactions that had metadata with BEGIN/END.
func (s *Source) Read(ctx context.Context) (cdc.Event, error) {
	if s.qi < len(s.queue) {
		ev := s.queue[s.qi]
		s.queue[s.qi] = cdc.Event{}
		s.qi++
		return ev, nil
	}
	tx, err := s.ReadTx(ctx)
	if err != nil {
		return cdc.Event{}, err
	}
	s.queue, s.qi = s.queue[:0], 0
	meta := tx.ID != "" && tx.Events[0].Tx.TotalOrder > 0
	if meta {
		s.queue = append(s.queue, s.frame(cdc.OpTxBegin, &tx))
	}
	s.queue = append(s.queue, tx.Events...)
	if meta {
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
	return s.Read(ctx)
}

func (s *Source) frame(op cdc.Op, tx *cdc.Tx) cdc.Event {
	s.offset++
	return cdc.Event{Op: op, Origin: cdc.Origin{Topic: TxTopic, Offset: s.offset},
		Tx: cdc.TxInfo{ID: tx.ID, Commit: tx.Commit}, CommitTime: tx.CommitTime}
}

// Ack records that everything up to upTo is committed downstream. A lake keeps its
// events, so there is nothing to release.
func (s *Source) Ack(_ context.Context, upTo cdc.Position) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acked.Less(upTo) {
		s.acked = upTo
	}
	return nil
}

// Acked returns the greatest position acked.
func (s *Source) Acked() cdc.Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked
}

// Close ends the replay.
func (s *Source) Close() error {
	if s.p != nil {
		s.p.close()
		s.p = nil
	}
	return nil
}

var _ cdc.TxSource = (*Source)(nil)
