package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/silver"
)

// SilverSourceConfig configures NewSilverSource. Store, Tables and Log are required.
type SilverSourceConfig struct {
	// Store is the lake holding the silver tables.
	Store bronze.Store
	// Tables are the silver tables whose change feeds the source reads; each must
	// have a snapshot when the source opens.
	Tables []string
	// Log is the folder of the source's feed log in Store (e.g.
	// "derived/customer_360/feed"); one log per consumer.
	Log string
	// Follow keeps the source waiting for new snapshots instead of ending (io.EOF)
	// once it has read every table's latest snapshot.
	Follow bool
	// PollInterval is how often a following source rereads the manifests when caught
	// up (default 200 ms).
	PollInterval time.Duration
	// Mem allocates the change batches (default memory.DefaultAllocator).
	Mem memory.Allocator
}

// Validate reports whether the configuration can work.
func (c SilverSourceConfig) Validate() error {
	switch {
	case c.Store == nil:
		return fmt.Errorf("%w: silver source: Store is required", ErrConfig)
	case len(c.Tables) == 0:
		return fmt.Errorf("%w: silver source: no Tables", ErrConfig)
	case c.PollInterval < 0:
		return fmt.Errorf("%w: silver source: negative PollInterval", ErrConfig)
	}
	for i, t := range c.Tables {
		if slices.Contains(c.Tables[:i], t) {
			return fmt.Errorf("%w: silver source: table %q listed twice", ErrConfig, t)
		}
	}
	if err := bronze.ValidName(c.Log); err != nil {
		return fmt.Errorf("%w: silver source: Log: %w", ErrConfig, err)
	}
	return nil
}

// feedEntry is one record of the feed log: what the source emitted at position
// {Major: Seq}.
type feedEntry struct {
	Seq uint64 `json:"seq"`
	// Snapshots is, per table (all of them), the snapshot the feed has read
	// through after this step.
	Snapshots map[string]uint64 `json:"snapshots"`
	// Position is the latest commit position of those snapshots, for people reading
	// the log.
	Position cdc.Position `json:"position"`
}

// SilverSource is a BatchSource over the change feeds (silver.Table.Changes) of
// several silver tables: the net row changes between consecutive snapshots, with
// full row images, which the stream operators join and aggregate.
//
// Each transaction it returns is one step of the feed: the tables with new
// snapshots at the least commit position any of them has not been read through,
// each read from its last snapshot read up to its last snapshot at that position,
// so the steps follow the lake's commit order as far as the tables' snapshots
// do. Its position is Position{Major: n} for the n-th step.
//
// Tables are published independently, so which snapshots a step covers depends on
// when the manifests were read. To make a replay after a restart emit exactly what
// the crashed run emitted, every step is first recorded in the feed log (Log/{n},
// the snapshot ids reached), and a step already recorded is replayed from its
// record: Open(from) resumes after step from.Major, exactly. Ack removes records
// before the acknowledged step.
//
// A table whose schema changes after Open is an error (ErrInput): operators built
// for the old schema cannot read it.
type SilverSource struct {
	cfg     SilverSourceConfig
	tables  []*silver.Table
	schemas []*change.Schema
	cursor  []uint64      // per table: snapshot read through
	seq     uint64        // last step returned
	logHi   uint64        // highest step recorded in the log when opened
	acked   atomic.Uint64 // Ack may run concurrently with Next
	beat    bool          // a following source owes a heartbeat (see Next)
}

// NewSilverSource checks cfg and opens the tables.
func NewSilverSource(ctx context.Context, cfg SilverSourceConfig) (*SilverSource, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	if cfg.Mem == nil {
		cfg.Mem = memory.DefaultAllocator
	}
	cfg.Log = strings.TrimSuffix(cfg.Log, "/")
	s := &SilverSource{cfg: cfg}
	for _, name := range cfg.Tables {
		t, err := silver.Open(ctx, cfg.Store, name, silver.Config{Mem: cfg.Mem})
		if err != nil {
			return nil, fmt.Errorf("stream: silver source: %w", err)
		}
		sc := t.Schema()
		if sc == nil {
			return nil, fmt.Errorf("%w: silver source: table %s has no snapshot yet", ErrConfig, name)
		}
		s.tables = append(s.tables, t)
		s.schemas = append(s.schemas, sc)
	}
	return s, nil
}

// Schema returns the schema of a table's batches (nil for a table not read).
func (s *SilverSource) Schema(table string) *change.Schema {
	if i := slices.Index(s.cfg.Tables, table); i >= 0 {
		return s.schemas[i]
	}
	return nil
}

func (s *SilverSource) entryName(seq uint64) string {
	return fmt.Sprintf("%s/%020d.json", s.cfg.Log, seq)
}

// logged returns the steps recorded in the log, ascending.
func (s *SilverSource) logged(ctx context.Context) ([]uint64, error) {
	names, err := s.cfg.Store.List(ctx, s.cfg.Log+"/")
	if err != nil {
		return nil, fmt.Errorf("stream: silver source: feed log: %w", err)
	}
	var seqs []uint64
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, s.cfg.Log+"/"), ".json")
		if seq, err := strconv.ParseUint(base, 10, 64); err == nil && strings.HasSuffix(n, ".json") {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	return seqs, nil
}

func (s *SilverSource) readEntry(ctx context.Context, seq uint64) (feedEntry, error) {
	var e feedEntry
	raw, err := s.cfg.Store.Get(ctx, s.entryName(seq))
	if err != nil {
		return e, fmt.Errorf("stream: silver source: feed log step %d: %w", seq, err)
	}
	if err := json.Unmarshal(raw, &e); err != nil || e.Seq != seq {
		return e, fmt.Errorf("stream: silver source: feed log step %d: malformed record %q (%v)", seq, raw, err)
	}
	return e, nil
}

// Open implements BatchSource: it positions the source after step from.Major.
func (s *SilverSource) Open(ctx context.Context, from cdc.Position) error {
	if from.Minor != 0 || from.Seq != 0 {
		return fmt.Errorf("%w: silver source: position %s is not a feed step", ErrInput, from)
	}
	seqs, err := s.logged(ctx)
	if err != nil {
		return err
	}
	s.cursor = make([]uint64, len(s.tables))
	s.seq, s.logHi, s.beat = from.Major, 0, false
	if len(seqs) > 0 {
		s.logHi = seqs[len(seqs)-1]
	}
	// Every step after from must still be recorded, or a replay could differ from
	// what consumers already hold.
	if i, _ := slices.BinarySearch(seqs, from.Major+1); i < len(seqs) && seqs[i] != from.Major+1 {
		return fmt.Errorf("%w: silver source: feed log %s lacks step %d (it has %d..%d): opened at a position older than acknowledged",
			ErrInput, s.cfg.Log, from.Major+1, seqs[i], s.logHi)
	}
	if from.Major == 0 {
		return nil
	}
	e, err := s.readEntry(ctx, from.Major)
	if err != nil {
		return err
	}
	for i, t := range s.cfg.Tables {
		id, ok := e.Snapshots[t]
		if !ok {
			return fmt.Errorf("%w: silver source: feed log %s step %d does not read table %s: the tables changed since", ErrInput, s.cfg.Log, from.Major, t)
		}
		s.cursor[i] = id
	}
	return nil
}

// Next implements BatchSource.
func (s *SilverSource) Next(ctx context.Context) (TxBatches, error) {
	for {
		e, ok, err := s.step(ctx)
		if err != nil {
			return TxBatches{}, err
		}
		if ok {
			out, err := s.read(ctx, e)
			if err != nil || len(out.Batches) > 0 {
				s.beat = true
				return out, err
			}
			continue
		}
		if !s.cfg.Follow {
			return TxBatches{}, io.EOF
		}
		// Caught up. A dataflow checkpoints (and so delivers its sink's output)
		// only between two transactions: an empty one at the same position lets it,
		// until the last step read is acknowledged.
		if s.beat && s.acked.Load() < s.seq {
			s.beat = false
			return TxBatches{Commit: cdc.Position{Major: s.seq}}, nil
		}
		select {
		case <-ctx.Done():
			return TxBatches{}, context.Cause(ctx)
		case <-time.After(s.cfg.PollInterval):
			s.beat = true
		}
	}
}

// step returns the next step: recorded in the log, or else made from the tables'
// latest snapshots and recorded (false: nothing new).
func (s *SilverSource) step(ctx context.Context) (feedEntry, bool, error) {
	next := s.seq + 1
	if next <= s.logHi {
		e, err := s.readEntry(ctx, next)
		return e, err == nil, err
	}
	for _, t := range s.tables {
		if err := t.Refresh(ctx); err != nil {
			return feedEntry{}, false, fmt.Errorf("stream: silver source: %w", err)
		}
	}
	// The least commit position of a snapshot not read yet.
	var at cdc.Position
	found := false
	snaps := make([][]silver.Snapshot, len(s.tables))
	for i, t := range s.tables {
		snaps[i] = t.Snapshots()
		if c := s.cursor[i]; c < uint64(len(snaps[i])) {
			if p := snaps[i][c].Position; !found || p.Less(at) {
				at, found = p, true
			}
		}
	}
	if !found {
		return feedEntry{}, false, nil
	}
	e := feedEntry{Seq: next, Snapshots: map[string]uint64{}, Position: at}
	for i, t := range s.tables {
		to := s.cursor[i]
		for to < uint64(len(snaps[i])) && snaps[i][to].Position.Compare(at) <= 0 {
			to++
		}
		e.Snapshots[t.Name()] = to
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return feedEntry{}, false, err
	}
	name := s.entryName(next)
	if cp, ok := s.cfg.Store.(bronze.ConditionalPutter); ok {
		err = cp.PutIfAbsent(ctx, name, raw)
		if errors.Is(err, bronze.ErrExists) {
			return feedEntry{}, false, fmt.Errorf("stream: silver source: feed log step %d was recorded by another reader of %s", next, s.cfg.Log)
		}
	} else {
		err = s.cfg.Store.Put(ctx, name, raw)
	}
	if err != nil {
		return feedEntry{}, false, fmt.Errorf("stream: silver source: recording feed step %d: %w", next, err)
	}
	s.logHi = next
	return e, true, nil
}

// read returns the change feed of step e and advances the cursors.
func (s *SilverSource) read(ctx context.Context, e feedEntry) (TxBatches, error) {
	out := TxBatches{Commit: cdc.Position{Major: e.Seq}}
	for i, t := range s.tables {
		to, ok := e.Snapshots[t.Name()]
		if !ok || to <= s.cursor[i] {
			continue
		}
		if to > uint64(len(t.Snapshots())) {
			if err := t.Refresh(ctx); err != nil {
				out.Release()
				return TxBatches{}, fmt.Errorf("stream: silver source: %w", err)
			}
		}
		sc, err := t.Changes(ctx, s.cursor[i], to)
		if err != nil {
			out.Release()
			return TxBatches{}, fmt.Errorf("stream: silver source: step %d: %w", e.Seq, err)
		}
		if !sc.Schema().Equal(s.schemas[i]) {
			sc.Close()
			out.Release()
			return TxBatches{}, fmt.Errorf("%w: silver source: %s changed schema from %s to %s at snapshot %d; rebuild what reads it",
				ErrInput, t.Name(), s.schemas[i], sc.Schema(), to)
		}
		for sc.Next() {
			b := sc.Batch()
			b.Retain()
			out.Tables = append(out.Tables, t.Name())
			out.Batches = append(out.Batches, b)
		}
		if err := sc.Err(); err != nil {
			sc.Close()
			out.Release()
			return TxBatches{}, fmt.Errorf("stream: silver source: step %d: %w", e.Seq, err)
		}
		sc.Close()
		s.cursor[i] = to
	}
	s.seq = e.Seq
	return out, nil
}

// Ack implements BatchSource: it removes the feed log's records before step upTo,
// which no restart needs any more.
func (s *SilverSource) Ack(ctx context.Context, upTo cdc.Position) error {
	if upTo.Major <= s.acked.Load() {
		return nil
	}
	s.acked.Store(upTo.Major)
	seqs, err := s.logged(ctx)
	if err != nil {
		return err
	}
	for _, seq := range seqs {
		if seq >= upTo.Major {
			break
		}
		if err := s.cfg.Store.Delete(ctx, s.entryName(seq)); err != nil {
			return fmt.Errorf("stream: silver source: feed log: %w", err)
		}
	}
	return nil
}

// Close implements BatchSource.
func (s *SilverSource) Close() error { return nil }
