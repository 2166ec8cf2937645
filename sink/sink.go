package sink

import (
	"context"
	"errors"
	"fmt"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// Errors of sinks, matched with errors.Is.
var (
	// ErrOrder: a batch came out of position order, or after a Flush at its own position.
	ErrOrder = errors.New("sink: position out of order")
	// ErrSchema: a batch's schema is not the sink's, or a target table does not match it.
	ErrSchema = errors.New("sink: schema mismatch")
	// ErrConfig: a configuration a sink cannot use.
	ErrConfig = errors.New("sink: invalid config")
	// ErrClosed: the sink was used after Close.
	ErrClosed = errors.New("sink: closed")
	// ErrCheckpoint: Commit or Abort named a checkpoint the sink cannot find or undo.
	ErrCheckpoint = errors.New("sink: unknown checkpoint")
	// ErrCorrupt: what the sink committed earlier cannot be read back.
	ErrCorrupt = errors.New("sink: damaged target")
)

// Sink receives change batches in source order and delivers them to a target.
// A Sink is used by one goroutine at a time.
type Sink interface {
	// Write hands b over with pos, the position of the source transaction its rows
	// belong to (for a batch spanning transactions, the commit position of the last).
	// The sink owns b from the call on and releases it, also on error. Positions never
	// decrease; several batches may share one. Write may buffer: rows reach the target
	// at the latest on the next Flush.
	Write(ctx context.Context, b *change.Batch, pos cdc.Position) error
	// Flush makes everything written so far durable and visible in the target. Call it
	// only after the last batch of a position.
	Flush(ctx context.Context) error
	// Close releases the sink's resources. It does not flush: what was written since
	// the last Flush (or Commit) is dropped where the target allows, to be replayed.
	Close() error
}

// TwoPhase is the optional capability of a sink that takes part in a checkpoint's
// two-phase commit. Checkpoint ids increase; each covers everything written before it.
type TwoPhase interface {
	Sink
	// PreCommit makes everything written so far durable in the target but invisible,
	// as checkpoint id. Once it returns nil, Commit(id) succeeds, also from another
	// process that opens the same target after a crash.
	PreCommit(ctx context.Context, checkpointID uint64) error
	// Commit makes pre-committed checkpoint id visible (and with it everything before
	// it). It is idempotent: committing a checkpoint already committed, or older than
	// the last committed one, does nothing.
	Commit(ctx context.Context, checkpointID uint64) error
	// Abort discards pre-committed checkpoint id. Aborting one never pre-committed does
	// nothing; aborting one already committed fails with ErrCheckpoint.
	Abort(ctx context.Context, checkpointID uint64) error
}

// Resumer is the optional capability of a sink that records in its target the position
// it has applied: after a restart, Write skips batches at or before Committed, so a
// source may replay from any earlier position without duplicates.
type Resumer interface {
	// Committed returns the position of the last batch the target holds (zero if none).
	Committed() cdc.Position
}

// PreCommitAt is what a checkpoint does to a sink when its barrier arrives: PreCommit
// for a TwoPhase sink, Flush for any other.
func PreCommitAt(ctx context.Context, s Sink, checkpointID uint64) error {
	if tp, ok := s.(TwoPhase); ok {
		return tp.PreCommit(ctx, checkpointID)
	}
	return s.Flush(ctx)
}

// CommitAt is what a checkpoint does to a sink once it is complete: Commit for a
// TwoPhase sink, nothing for any other (its Flush at PreCommitAt already delivered).
func CommitAt(ctx context.Context, s Sink, checkpointID uint64) error {
	if tp, ok := s.(TwoPhase); ok {
		return tp.Commit(ctx, checkpointID)
	}
	return nil
}

// PendingLister is the optional capability of a TwoPhase sink that can list the
// checkpoints pre-committed in its target and not yet committed (by any run).
type PendingLister interface {
	Pending(ctx context.Context) ([]uint64, error)
}

// RecoverAt is what a restart that restores checkpoint id does to a sink before the
// first Write: Commit(id) for a TwoPhase sink (idempotent: a crash may have come
// between the checkpoint's completion and the sink's commit), then Abort for every
// later checkpoint a crashed run pre-committed (listed through PendingLister). Other
// sinks need nothing: the source replays from id's position and they are idempotent.
func RecoverAt(ctx context.Context, s Sink, checkpointID uint64) error {
	tp, ok := s.(TwoPhase)
	if !ok {
		return nil
	}
	if checkpointID > 0 {
		if err := tp.Commit(ctx, checkpointID); err != nil {
			return err
		}
	}
	pl, ok := s.(PendingLister)
	if !ok {
		return nil
	}
	ids, err := pl.Pending(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id > checkpointID {
			if err := tp.Abort(ctx, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// sequencer enforces position order and decides which replayed batches to skip.
type sequencer struct {
	name      string
	recovered cdc.Position // what the target held when the sink opened
	flushed   cdc.Position // last position made durable by this sink
	last      cdc.Position // last position written
	wrote     bool
}

// admit reports whether a batch at pos is to be written (false: already in the target).
func (q *sequencer) admit(pos cdc.Position) (bool, error) {
	if q.wrote && pos.Less(q.last) {
		return false, fmt.Errorf("%w: %s: batch at %s after one at %s", ErrOrder, q.name, pos, q.last)
	}
	if pos.Compare(q.recovered) <= 0 && !q.recovered.IsZero() {
		return false, nil
	}
	if pos.Compare(q.flushed) <= 0 && q.flushed != q.recovered {
		return false, fmt.Errorf("%w: %s: batch at %s, but %s was already flushed (flush only after the last batch of a position)",
			ErrOrder, q.name, pos, q.flushed)
	}
	q.last, q.wrote = pos, true
	return true, nil
}

// admitCounted is admit counted in m: an error as a failure, a batch the target already
// holds as skipped, a batch to write as a batch.
func (q *sequencer) admitCounted(pos cdc.Position, m counters) (bool, error) {
	ok, err := q.admit(pos)
	switch {
	case err != nil:
		return false, m.fail(err)
	case !ok:
		m.skip()
	default:
		m.batch()
	}
	return ok, nil
}

// checkSchema reports whether b has the sink's schema.
func checkSchema(name string, want *change.Schema, b *change.Batch) error {
	if !b.Schema().Equal(want) {
		return fmt.Errorf("%w: %s: batch schema %s, sink schema %s", ErrSchema, name, b.Schema(), want)
	}
	return nil
}
