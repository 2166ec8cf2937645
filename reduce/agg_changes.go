package reduce

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// changes is the AggChanges mode: after each input batch, the old and new rows of the
// groups it touched, as a changelog. Every touched group that was and is live gets a
// -U/+U pair, even when its row comes out the same.
func (a *HashAggregate) changes(ctx context.Context, in shuffle.Stream, emit Emit) error {
	r := a.newRun()
	defer r.release()
	acct := account{budget: a.cfg.Budget}
	defer acct.set(0)
	var (
		mark    []int32 // per group: the last batch that touched it
		touched []int32
		was     []int64 // per touched group: its rows before the batch
	)
	full := func() error {
		return fmt.Errorf("%w: an AggChanges aggregate holds every group: %d groups and the next batch do not fit %d bytes",
			ErrAggregateOverBudget, r.t.Len(), a.cfg.Budget.Limit())
	}
	for batch := int32(1); ; batch++ {
		b, err := in.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var old *change.Batch
		err = r.takeWith(b, full, func(gids []int32) error {
			mark = growTo(mark, r.t.Len())
			touched, was = touched[:0], was[:0]
			for _, g := range gids {
				if mark[g] != batch {
					mark[g] = batch
					touched = append(touched, g)
					was = append(was, r.rows[g])
				}
			}
			acct.set(4*int64(cap(mark)+cap(touched)) + 8*int64(cap(was)))
			var err error
			old, err = r.outputBatch(touched, change.UpdateBefore)
			return err
		})
		b.Release()
		if err == nil && old != nil {
			err = r.emitChanges(old, touched, was, emit)
		}
		if old != nil {
			old.Release()
		}
		if err != nil {
			return err
		}
	}
}

// emitChanges emits the changes of the touched groups, given their rows before (old,
// and the row counts was) and their state now.
func (r *aggRun) emitChanges(old *change.Batch, touched []int32, was []int64, emit Emit) error {
	a := r.a
	now, err := r.outputBatch(touched, change.UpdateAfter)
	if err != nil {
		return err
	}
	defer now.Release()
	srcs := []*change.Batch{old, now}
	var refs []uint64
	var ops []change.Op
	flush := func() error {
		if len(refs) == 0 {
			return nil
		}
		b := gatherRowsOps(a.cfg.Budget, a.out, srcs, refs, ops)
		refs, ops = refs[:0], ops[:0]
		return emit(b)
	}
	for i, g := range touched {
		before, after := was[i] > 0, r.rows[g] > 0
		switch {
		case !before && after:
			refs, ops = append(refs, mkRef(1, i)), append(ops, change.Insert)
		case before && !after:
			refs, ops = append(refs, mkRef(0, i)), append(ops, change.Delete)
		case before && after:
			refs, ops = append(refs, mkRef(0, i), mkRef(1, i)), append(ops, change.UpdateBefore, change.UpdateAfter)
		}
		if len(refs) >= a.cfg.BatchRows {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
