package reduce

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// HashJoinConfig configures a HashJoin.
type HashJoinConfig struct {
	// Type is the join type (default InnerJoin).
	Type JoinType
	// Left and Right are the schemas of the two inputs. They are required: they fix the
	// output's columns even when an input is empty.
	Left, Right *change.Schema
	// LeftKeys and RightKeys name the key columns, compared pairwise for equality. A
	// NULL in any key column matches nothing. Pairs must be of one class: integers of
	// any width, floats (NaN equals NaN, -0 equals 0), decimals of one scale, strings
	// and binary, bools, dates, times or timestamps of one unit.
	LeftKeys, RightKeys []string
	// Build is the side held in memory. AutoSide (the default) reads the inputs
	// alternately, a batch from the one read less so far, until one ends: the smaller
	// input is built on, and what was read of the other is probed first. Once the join
	// spills, each partition is built on its smaller side, whose size is known then.
	Build Side
	// Output lists the output columns. Nil: every left column, then (except for semi and
	// anti joins) every right column, a right column whose name a left column has
	// prefixed with RightPrefix.
	Output []Column
	// RightPrefix renames clashing right columns of the default output ("right_").
	RightPrefix string
	// Budget counts the join's memory: the batches it holds, its tables, its output
	// batches. Inputs should allocate from it too. Nil: uncounted, and the join
	// allocates from a pool that recycles released buffers (internal/mempool), so an
	// output batch must not be read after its Release (copy a String.Value kept
	// beyond it).
	Budget *change.Budget
	// BatchRows is the number of rows per output batch (default DefaultBatchRows).
	BatchRows int
	// SpillDir is where a join whose build side does not fit the budget spills its
	// partitions (default os.TempDir()); the files are removed when Reduce returns.
	// Beyond its budget, a spilling join holds at most one spill writer's buffers
	// (~1.5 MiB) or one more spill reader's (~0.5 MiB), and a few batches.
	SpillDir string
	// Fanout is the number of partitions a spilling join splits into (default
	// DefaultFanout).
	Fanout int
}

// HashJoin is the hash join reducer: it reads its two inputs (left, right), holds one
// in a flat hash table on its key columns and streams the other past it; when the
// build side does not fit the budget it becomes a grace hash join, spilling both
// inputs in partitions (see DefaultFanout). Its output ops follow the rules for change
// streams given at JoinType: for insert-only inputs, the output is the SQL join, all
// inserts.
type HashJoin struct {
	cfg  HashJoinConfig
	spec *joinSpec
}

// NewHashJoin checks cfg and returns the join.
func NewHashJoin(cfg HashJoinConfig) (*HashJoin, error) {
	if cfg.Build > RightSide {
		return nil, fmt.Errorf("%w: build side %s", ErrJoinConfig, cfg.Build)
	}
	spec, err := newJoinSpec(joinOptions{
		typ: cfg.Type, left: cfg.Left, right: cfg.Right, leftKeys: cfg.LeftKeys, rightKeys: cfg.RightKeys,
		output: cfg.Output, rightPrefix: cfg.RightPrefix, batchRows: cfg.BatchRows, budget: cfg.Budget,
	})
	if err != nil {
		return nil, err
	}
	return &HashJoin{cfg: cfg, spec: spec}, nil
}

// Schema returns the schema of the output batches.
func (j *HashJoin) Schema() *change.Schema { return j.spec.out }

// Reduce joins in[0] (left) with in[1] (right).
func (j *HashJoin) Reduce(ctx context.Context, in []shuffle.Stream, emit Emit) error {
	if len(in) != 2 {
		return fmt.Errorf("reduce: a join takes 2 inputs, got %d", len(in))
	}
	e := newEmitter(j.spec, emit)
	defer e.release()
	ins := [2]*input{{stream: in[0], side: 0}, {stream: in[1], side: 1}}
	defer ins[0].release()
	defer ins[1].release()
	build, err := j.readBuild(ctx, ins)
	if errors.Is(err, errNoFit) {
		return j.grace(ctx, ins, e)
	}
	if err != nil {
		return err
	}
	return j.inMemory(ctx, ins, build, e)
}

// readBuild reads until the build side has ended, and returns it; errNoFit when the
// build side (with its table) does not fit the budget.
func (j *HashJoin) readBuild(ctx context.Context, ins [2]*input) (int, error) {
	fits := func(side int) error {
		in := ins[side]
		if !j.spec.budget.Fits(estimate(j.spec, side, in.rows, in.strBytes)) {
			return errNoFit
		}
		return nil
	}
	if j.cfg.Build != AutoSide {
		side := int(j.cfg.Build) - 1
		for !ins[side].done {
			if err := ins[side].read(ctx, j.spec); err != nil {
				return 0, err
			}
			if err := fits(side); err != nil {
				return 0, err
			}
		}
		return side, nil
	}
	for {
		side := 1
		if ins[0].bytes < ins[1].bytes {
			side = 0
		}
		if err := ins[side].read(ctx, j.spec); err != nil {
			return 0, err
		}
		if ins[side].done {
			return side, nil
		}
		smaller := 1
		if ins[0].bytes < ins[1].bytes {
			smaller = 0
		}
		if err := fits(smaller); err != nil {
			return 0, err
		}
	}
}

// estimate bounds the bytes of a table over rows rows of side with strBytes bytes of
// key strings.
func estimate(spec *joinSpec, side int, rows int, strBytes int64) int64 {
	_, bm, pm := modes(spec.typ, side)
	t := joinTable{spec: spec, side: side, trackBW: pm != emitNone, trackPW: bm != emitNone, keepNulls: bm == emitUnmatched}
	t.keys = &keyTable{layout: spec.layout, words: make([][]int64, spec.layout.words),
		arena: make([][]byte, spec.layout.strs), ends: make([][]int64, spec.layout.strs)}
	return t.growth(rows, strBytes)
}

// inMemory joins with side build read whole into ins[build].buf.
func (j *HashJoin) inMemory(ctx context.Context, ins [2]*input, build int, e *emitter) error {
	pairs, bm, pm := modes(j.spec.typ, build)
	t := newJoinTable(j.spec, build, bm, pm, false)
	defer t.release()
	t.reserve(ins[build].rows)
	for _, b := range ins[build].buf {
		t.add(b)
	}
	ins[build].buf = nil
	if t.keys != nil {
		t.keys.seal()
	}
	p := newPass(t, e, pairs, bm, pm, nil)
	defer p.release()
	probe := ins[1-build]
	for {
		b, err := probe.next(ctx, j.spec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		err = p.probe(b)
		b.Release()
		if err != nil {
			return err
		}
	}
	if err := p.finish(); err != nil {
		return err
	}
	return e.flush()
}

// input is one input of a join: its stream and the batches read ahead of use.
type input struct {
	stream   shuffle.Stream
	side     int
	buf      []*change.Batch
	rows     int   // rows read so far
	bytes    int64 // Arrow bytes read so far
	strBytes int64 // bytes of key strings read so far
	done     bool
}

// read reads one more batch into buf, or marks the input done at its end.
func (in *input) read(ctx context.Context, spec *joinSpec) error {
	b, err := in.stream.Next(ctx)
	if errors.Is(err, io.EOF) {
		in.done = true
		return nil
	}
	if err != nil {
		return err
	}
	if err := spec.checkBatch(in.side, b); err != nil {
		b.Release()
		return err
	}
	in.buf = append(in.buf, b)
	in.rows += b.Len()
	in.bytes += batchBytes(b)
	in.strBytes += spec.keyStrBytes(in.side, b)
	return nil
}

// next hands over the next batch: a buffered one, then the stream's.
func (in *input) next(ctx context.Context, spec *joinSpec) (*change.Batch, error) {
	if len(in.buf) > 0 {
		b := in.buf[0]
		in.buf[0] = nil
		in.buf = in.buf[1:]
		return b, nil
	}
	if in.done {
		return nil, io.EOF
	}
	b, err := in.stream.Next(ctx)
	if err != nil {
		if errors.Is(err, io.EOF) {
			in.done = true
		}
		return nil, err
	}
	if err := spec.checkBatch(in.side, b); err != nil {
		b.Release()
		return nil, err
	}
	return b, nil
}

// release frees the buffered batches.
func (in *input) release() {
	for _, b := range in.buf {
		b.Release()
	}
	in.buf = nil
}

// close releases the buffered batches and closes the stream (for streams the join
// opened itself).
func (in *input) close() {
	in.release()
	in.stream.Close()
}
