package sink

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/silver"
)

// SilverConfig configures a silver table sink. Store, Table and Schema are required.
type SilverConfig struct {
	// Store is the lake the table lives in.
	Store bronze.Store
	// Table is the silver table's name (e.g. "derived.customer_360").
	Table string
	// Schema is the table's; it must have a primary key. An existing table must have
	// exactly this schema.
	Schema *change.Schema
	// Config configures the table (partitioning, compaction policy, ...).
	Config silver.Config
	// MaxPendingChanges applies what was written once it holds this many row
	// changes, at the next position boundary, instead of waiting for Flush (default
	// 200 000): memory stays bounded while a large table is first built.
	MaxPendingChanges int
	// Metrics counts rows, batches, commits and errors (nil: none).
	Metrics *Metrics
}

// Validate reports a setting OpenSilver cannot use.
func (c SilverConfig) Validate() error {
	switch {
	case c.Store == nil:
		return fmt.Errorf("%w: silver %s: no Store", ErrConfig, c.Table)
	case c.Table == "":
		return fmt.Errorf("%w: silver: no Table", ErrConfig)
	case c.Schema == nil:
		return fmt.Errorf("%w: silver %s: no Schema", ErrConfig, c.Table)
	case len(c.Schema.Key()) == 0:
		return fmt.Errorf("%w: silver %s: schema %s has no primary key", ErrConfig, c.Table, c.Schema)
	case c.MaxPendingChanges < 0:
		return fmt.Errorf("%w: silver %s: negative MaxPendingChanges", ErrConfig, c.Table)
	}
	return c.Config.Validate()
}

// Silver writes change batches into a keyed silver table (silver.Table.Apply): the
// table a streaming job maintains, e.g. one denormalised from others. Rows upsert by
// primary key, deletes remove the key.
//
// Each source position becomes one transaction of the table, committed at that
// position. Within a position the changes of a key are netted as a multiset (a row
// added and retracted again cancels out), so the order in which an operator emits a
// key's retraction and its new row does not matter; a key left with more than one
// row is an error (the schema's key is not a key of the result). Flush applies the
// pending positions in one snapshot (and records the last position written, also
// when its changes netted to nothing); so does a Write at a new position once
// MaxPendingChanges are pending.
//
// Exactly-once (Resumer): the table's snapshots record the position they applied
// through, and positions at or before it are skipped, both by Write and by the
// table itself. A sink fed positions that each stand for one whole source
// transaction (a dataflow with EpochTxs 1) is therefore exactly-once across crashes
// without two-phase commit: after a restart from an older checkpoint, the replayed
// positions the table already holds are skipped, given operators that emit the
// same changes for the same input.
type Silver struct {
	cfg    SilverConfig
	table  *silver.Table
	m      counters
	seq    sequencer
	txs    []cdc.Tx
	netPos cdc.Position
	net    map[string]*netKey
	order  []string
	n      int // changes pending
	keyBuf []byte
	closed bool
}

// netKey is one key's changes at one position: the rows added and not retracted,
// and the last row retracted beyond those.
type netKey struct {
	plus    []change.Row
	minus   change.Row
	retract bool
}

// OpenSilver opens (or starts) the silver table cfg.Table.
func OpenSilver(ctx context.Context, cfg SilverConfig) (*Silver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxPendingChanges == 0 {
		cfg.MaxPendingChanges = 200_000
	}
	t, err := silver.Open(ctx, cfg.Store, cfg.Table, cfg.Config)
	if err != nil {
		return nil, err
	}
	if sc := t.Schema(); sc != nil && !sc.Equal(cfg.Schema) {
		return nil, fmt.Errorf("%w: silver %s: the table has schema %s, the sink %s", ErrSchema, cfg.Table, sc, cfg.Schema)
	}
	s := &Silver{cfg: cfg, table: t, m: cfg.Metrics.forSink(cfg.Table), net: map[string]*netKey{}}
	s.Reset()
	return s, nil
}

// Table returns the sink's table (for reading it; only the sink writes it).
func (s *Silver) Table() *silver.Table { return s.table }

// Committed implements Resumer: the position the table has applied through.
func (s *Silver) Committed() cdc.Position { return s.table.Position() }

// Reset drops what was written since the last apply and takes the table's
// position as the point before which Write skips: for a caller about to replay
// from an earlier position after a failure.
func (s *Silver) Reset() {
	s.txs, s.netPos, s.order, s.n = s.txs[:0], cdc.Position{}, s.order[:0], 0
	clear(s.net)
	p := s.table.Position()
	s.seq = sequencer{name: s.cfg.Table, recovered: p, flushed: p}
}

// Write implements Sink.
func (s *Silver) Write(ctx context.Context, b *change.Batch, pos cdc.Position) error {
	defer b.Release()
	if s.closed {
		return ErrClosed
	}
	if err := checkSchema(s.cfg.Table, s.cfg.Schema, b); err != nil {
		return s.m.fail(err)
	}
	if ok, err := s.seq.admitCounted(pos, s.m); !ok {
		return err
	}
	if pos != s.netPos {
		if err := s.endPosition(); err != nil {
			return s.m.fail(err)
		}
		if s.n >= s.cfg.MaxPendingChanges {
			if err := s.apply(ctx); err != nil {
				return err
			}
		}
		s.netPos = pos
	}
	for i, op := range b.Ops() {
		s.keyBuf = AppendKeyJSON(s.keyBuf[:0], b, i)
		k := s.net[string(s.keyBuf)]
		if k == nil {
			k = &netKey{}
			s.net[string(s.keyBuf)] = k
			s.order = append(s.order, string(s.keyBuf))
		}
		row := b.Row(i)
		if !op.IsRetraction() {
			k.plus = append(k.plus, row)
			continue
		}
		if j := slices.IndexFunc(k.plus, func(r change.Row) bool { return slices.Equal(r, row) }); j >= 0 {
			k.plus = slices.Delete(k.plus, j, j+1)
			continue
		}
		k.minus, k.retract = row, true
	}
	return nil
}

// endPosition turns the netted changes of the current position into its transaction.
func (s *Silver) endPosition() error {
	if len(s.order) == 0 {
		return nil
	}
	tx := cdc.Tx{Commit: s.netPos}
	for _, key := range s.order {
		k := s.net[key]
		switch {
		case len(k.plus) > 1:
			return fmt.Errorf("%w: silver %s: key %s has %d rows at %s: the schema's key (%v) is not a key of the result",
				ErrSchema, s.cfg.Table, key, len(k.plus), s.netPos, s.cfg.Schema.KeyNames())
		case len(k.plus) == 1:
			tx.Events = append(tx.Events, cdc.Event{Table: s.cfg.Table, Op: cdc.OpCreate, Schema: s.cfg.Schema,
				SchemaVersion: 1, After: k.plus[0], Pos: s.netPos})
		case k.retract:
			tx.Events = append(tx.Events, cdc.Event{Table: s.cfg.Table, Op: cdc.OpDelete, Schema: s.cfg.Schema,
				SchemaVersion: 1, Before: k.minus, Pos: s.netPos})
		}
	}
	clear(s.net)
	s.order = s.order[:0]
	if len(tx.Events) > 0 {
		s.txs = append(s.txs, tx)
		s.n += len(tx.Events)
	}
	return nil
}

// apply applies the pending transactions as one snapshot.
func (s *Silver) apply(ctx context.Context) error {
	if len(s.txs) == 0 {
		return nil
	}
	t0 := time.Now()
	if _, err := s.table.Apply(ctx, s.txs); err != nil {
		return s.m.fail(fmt.Errorf("sink: silver %s: %w", s.cfg.Table, err))
	}
	s.seq.flushed = s.txs[len(s.txs)-1].Commit
	s.m.wrote(s.n)
	s.m.committed(t0)
	clear(s.txs)
	s.txs, s.n = s.txs[:0], 0
	return nil
}

// Flush implements Sink: it applies every pending position in one snapshot.
func (s *Silver) Flush(ctx context.Context) error {
	if s.closed {
		return ErrClosed
	}
	if err := s.endPosition(); err != nil {
		return s.m.fail(err)
	}
	s.netPos = cdc.Position{}
	if err := s.apply(ctx); err != nil {
		return err
	}
	// Positions whose changes netted to nothing still count as applied.
	if s.seq.wrote && s.seq.flushed.Less(s.seq.last) {
		if _, _, err := s.table.Advance(ctx, s.seq.last); err != nil {
			return s.m.fail(fmt.Errorf("sink: silver %s: %w", s.cfg.Table, err))
		}
		s.seq.flushed = s.seq.last
	}
	return nil
}

// Close implements Sink: what was not flushed is dropped.
func (s *Silver) Close() error {
	s.closed = true
	s.txs, s.net = nil, nil
	return nil
}
