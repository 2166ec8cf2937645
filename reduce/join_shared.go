package reduce

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/strata-data/strata/shuffle"
)

// ErrBuildTooLarge is returned (wrapped) by HashJoin.Build when the build side does not
// fit the budget: the caller falls back to Reduce, which spills.
var ErrBuildTooLarge = errors.New("reduce: the build side does not fit the budget")

// HashBuild is a join's build side read once into a table that any number of probes
// share, at once: a broadcast join whose probe side is split among tasks builds it once
// instead of once per task. It is made by HashJoin.Build and freed by Release.
type HashBuild struct {
	j     *HashJoin
	t     *joinTable
	freed atomic.Bool
}

// Build reads the build side in (cfg.Build must name it) into a shared table. The join
// type must not emit unmatched build rows (a right or full join building right, a semi
// or anti join building left): whether a build row matched would depend on every
// probe. A build side that does not fit the budget returns ErrBuildTooLarge.
func (j *HashJoin) Build(ctx context.Context, in shuffle.Stream) (*HashBuild, error) {
	if j.cfg.Build == AutoSide {
		return nil, fmt.Errorf("%w: a shared build needs its side named, not %s", ErrJoinConfig, j.cfg.Build)
	}
	side := int(j.cfg.Build) - 1
	if _, bm, _ := modes(j.spec.typ, side); bm != emitNone {
		return nil, fmt.Errorf("%w: a %s join building on its %s side cannot share its build", ErrJoinConfig, j.spec.typ, j.cfg.Build)
	}
	src := &input{stream: in, side: side}
	defer src.release()
	for !src.done {
		if err := src.read(ctx, j.spec); err != nil {
			return nil, err
		}
		if !j.spec.budget.Fits(estimate(j.spec, side, src.rows, src.strBytes)) {
			return nil, fmt.Errorf("%w (%d rows read)", ErrBuildTooLarge, src.rows)
		}
	}
	_, bm, pm := modes(j.spec.typ, side)
	t := newJoinTable(j.spec, side, bm, pm, false)
	t.reserve(src.rows)
	for _, b := range src.buf {
		t.add(b)
	}
	src.buf = nil
	if t.keys != nil {
		t.keys.seal()
	}
	return &HashBuild{j: j, t: t}, nil
}

// Rows returns the number of build rows held.
func (b *HashBuild) Rows() int { return b.t.rowsHeld() }

// Probe joins in, the side not built, with the shared build and emits the output. Any
// number of Probes of one HashBuild may run at once; each gives the output of the join
// of its input with the whole build side.
func (b *HashBuild) Probe(ctx context.Context, in shuffle.Stream, emit Emit) error {
	if b.freed.Load() {
		return errors.New("reduce: probe of a released HashBuild")
	}
	spec := b.j.spec
	pairs, bm, pm := modes(spec.typ, b.t.side)
	e := newEmitter(spec, emit)
	defer e.release()
	p := newPass(b.t, e, pairs, bm, pm, nil)
	defer p.release()
	probe := &input{stream: in, side: 1 - b.t.side, done: false}
	for {
		bt, err := probe.next(ctx, spec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		err = p.probe(bt)
		bt.Release()
		if err != nil {
			return err
		}
	}
	return e.flush()
}

// Release frees the table; no Probe may run after it.
func (b *HashBuild) Release() {
	if b.freed.CompareAndSwap(false, true) {
		b.t.release()
	}
}
