package reduce

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// Predicate decides whether a left row and a right row join, beyond any equal keys:
// a non-equi condition (l.amount > r.limit, a range, a band). It sees the rows in
// place, as views valid only during the call, and must depend on nothing but them: a
// nested-loop join calls it once for every candidate pair, in no particular order.
type Predicate func(left, right RowView) bool

// RowView reads one row of a batch in place, by column index (resolve names once, with
// Schema.FieldIndex, before the join). The typed getters return the zero value for
// NULL; check IsNull first where NULL matters.
type RowView struct {
	b   *change.Batch
	row int
}

// Op returns the row's op.
func (r RowView) Op() change.Op { return r.b.Ops()[r.row] }

// IsNull reports whether column col is NULL.
func (r RowView) IsNull(col int) bool { return r.b.Column(col).IsNull(r.row) }

// Int returns an integer column, or the physical value of a date (days), time or
// timestamp (in the column's unit); a bool is 0 or 1.
func (r RowView) Int(col int) int64 {
	c := r.b.Column(col)
	if c.IsNull(r.row) {
		return 0
	}
	switch a := c.(type) {
	case *array.Int64:
		return a.Value(r.row)
	case *array.Int32:
		return int64(a.Value(r.row))
	case *array.Timestamp:
		return int64(a.Value(r.row))
	case *array.Date32:
		return int64(a.Value(r.row))
	case *array.Boolean:
		if a.Value(r.row) {
			return 1
		}
		return 0
	}
	return r.Value(col).AsInt()
}

// Float returns a float column, or an integer column converted.
func (r RowView) Float(col int) float64 {
	c := r.b.Column(col)
	if c.IsNull(r.row) {
		return 0
	}
	switch a := c.(type) {
	case *array.Float64:
		return a.Value(r.row)
	case *array.Float32:
		return float64(a.Value(r.row))
	}
	return r.Value(col).AsFloat()
}

// Decimal returns the unscaled value of a decimal column (its scale is the column's).
func (r RowView) Decimal(col int) decimal128.Num {
	if a, ok := r.b.Column(col).(*array.Decimal128); ok && !a.IsNull(r.row) {
		return a.Value(r.row)
	}
	return decimal128.Num{}
}

// Str returns a string or binary column without a copy: it is valid during the call.
func (r RowView) Str(col int) string {
	c := r.b.Column(col)
	if c.IsNull(r.row) {
		return ""
	}
	switch a := c.(type) {
	case *array.String:
		return a.Value(r.row)
	case *array.Binary:
		return a.ValueString(r.row)
	}
	return ""
}

// Bool returns a boolean column.
func (r RowView) Bool(col int) bool {
	if a, ok := r.b.Column(col).(*array.Boolean); ok && !a.IsNull(r.row) {
		return a.Value(r.row)
	}
	return false
}

// Value returns column col as a change.Value (strings copied).
func (r RowView) Value(col int) change.Value { return change.ValueAt(r.b.Column(col), r.row) }

// NestedLoopJoinConfig configures a NestedLoopJoin.
type NestedLoopJoinConfig struct {
	// Type is InnerJoin (the default), LeftJoin, SemiJoin or AntiJoin: the join types
	// decided by left rows, which are the ones held in memory. For a right join, swap
	// the inputs.
	Type JoinType
	// Left and Right are the schemas of the two inputs (required).
	Left, Right *change.Schema
	// LeftKeys and RightKeys optionally name equi-join key columns, as for HashJoin:
	// each chunk of the left input is then hashed on them, and only rows with equal
	// keys are candidates for the predicate.
	LeftKeys, RightKeys []string
	// Predicate, when not nil, must also hold for a pair to join. With neither keys
	// nor a predicate, every pair joins (a cross join).
	Predicate Predicate
	// Output and RightPrefix choose the output columns, as for HashJoin.
	Output      []Column
	RightPrefix string
	// Budget counts the join's memory; a chunk of the left input takes what it leaves.
	// Nil: uncounted, and the join allocates from a pool that recycles released buffers
	// (as HashJoinConfig.Budget says).
	Budget *change.Budget
	// ChunkBytes caps a chunk (its Arrow batches and tables) below what the budget
	// leaves (0: no cap).
	ChunkBytes int64
	// BatchRows is the number of rows per output batch (default DefaultBatchRows).
	BatchRows int
	// SpillDir is where Reduce spills the right input when the left takes more than
	// one chunk (default os.TempDir()); the file is removed when Reduce returns.
	SpillDir string
}

// NestedLoopJoin is the chunked block-nested-loop join, the join that needs no more
// memory than one chunk, whatever the inputs' sizes: it loads a chunk of the left input
// within the budget, streams all of the right input past it, emits, frees the chunk,
// and goes on with the next. It joins on a Predicate (any condition over the two rows),
// on equal keys, or both.
type NestedLoopJoin struct {
	cfg  NestedLoopJoinConfig
	spec *joinSpec
}

// NewNestedLoopJoin checks cfg and returns the join.
func NewNestedLoopJoin(cfg NestedLoopJoinConfig) (*NestedLoopJoin, error) {
	switch cfg.Type {
	case InnerJoin, LeftJoin, SemiJoin, AntiJoin:
	default:
		return nil, fmt.Errorf("%w: a nested-loop join is inner, left, semi or anti, not %s (swap the inputs for a right join)", ErrJoinConfig, cfg.Type)
	}
	spec, err := newJoinSpec(joinOptions{
		typ: cfg.Type, left: cfg.Left, right: cfg.Right, leftKeys: cfg.LeftKeys, rightKeys: cfg.RightKeys,
		output: cfg.Output, rightPrefix: cfg.RightPrefix, batchRows: cfg.BatchRows, budget: cfg.Budget,
		keysOptional: true,
	})
	if err != nil {
		return nil, err
	}
	return &NestedLoopJoin{cfg: cfg, spec: spec}, nil
}

// Schema returns the schema of the output batches.
func (j *NestedLoopJoin) Schema() *change.Schema { return j.spec.out }

// Join joins left with the right input, which it opens once per chunk of the left
// (and not at all when the left is empty): right must return a fresh stream of the
// same batches each time, such as a spill file's Open. Join closes what right returns.
func (j *NestedLoopJoin) Join(ctx context.Context, left shuffle.Stream, right func(context.Context) (shuffle.Stream, error), emit Emit) error {
	e := newEmitter(j.spec, emit)
	defer e.release()
	in := &input{stream: left, side: 0}
	defer in.release()
	open := func(ctx context.Context, _ bool) (shuffle.Stream, error) { return right(ctx) }
	return j.join(ctx, in, open, e)
}

func (j *NestedLoopJoin) join(ctx context.Context, in *input, open func(context.Context, bool) (shuffle.Stream, error), e *emitter) error {
	_, err := chunked(ctx, j.spec, chunkOptions{chunk: in, open: open, pred: j.cfg.Predicate, maxBytes: j.cfg.ChunkBytes}, e)
	if err != nil {
		return err
	}
	return e.flush()
}

// Reduce joins in[0] (left) with in[1] (right). When the left input takes more than
// one chunk, the right input, which a stream gives only once, is written to a spill
// file as the first chunk reads it, and the file is read for the other chunks.
func (j *NestedLoopJoin) Reduce(ctx context.Context, in []shuffle.Stream, emit Emit) error {
	if len(in) != 2 {
		return fmt.Errorf("reduce: a join takes 2 inputs, got %d", len(in))
	}
	e := newEmitter(j.spec, emit)
	defer e.release()
	left := &input{stream: in[0], side: 0}
	defer left.release()
	sp := &spiller{dir: j.cfg.SpillDir, spec: j.spec}
	defer sp.removeAll()
	var spilled *run
	open := func(ctx context.Context, last bool) (shuffle.Stream, error) {
		switch {
		case spilled != nil:
			return sp.open(*spilled), nil
		case last:
			return noClose{in[1]}, nil
		}
		w, err := sp.create(1)
		if err != nil {
			return nil, err
		}
		return &tee{src: in[1], w: w, spec: j.spec, done: func(w *shuffle.SpillWriter) error {
			f, err := sp.finish(w)
			spilled = &run{files: []shuffle.SpillFile{f}}
			return err
		}}, nil
	}
	return j.join(ctx, left, open, e)
}

// tee writes what it reads from src to a spill file, which done finishes at the end.
type tee struct {
	src  shuffle.Stream
	w    *shuffle.SpillWriter
	spec *joinSpec
	done func(*shuffle.SpillWriter) error
}

func (t *tee) Next(ctx context.Context) (*change.Batch, error) {
	if t.w == nil {
		return nil, io.EOF
	}
	b, err := t.src.Next(ctx)
	if errors.Is(err, io.EOF) {
		w := t.w
		t.w = nil
		if err := t.done(w); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	if err != nil {
		return nil, err
	}
	if err := t.spec.checkBatch(1, b); err != nil {
		b.Release()
		return nil, err
	}
	if err := t.write(b); err != nil {
		b.Release()
		return nil, err
	}
	return b, nil
}

// write spills b as a batch of the right input's schema (b may carry another schema
// object with the same columns).
func (t *tee) write(b *change.Batch) error {
	s := t.spec.in[1]
	if b.Schema().Equal(s) {
		return t.w.Write(b)
	}
	rec := b.Record()
	rec.Retain()
	sb, err := change.NewBatch(s, rec, b.Ops())
	if err != nil {
		rec.Release()
		return err
	}
	defer sb.Release()
	return t.w.Write(sb)
}

// Close abandons an unfinished spill; the source is its owner's to close.
func (t *tee) Close() error {
	if t.w != nil {
		t.w.Abort()
		t.w = nil
	}
	return nil
}

// noClose leaves closing a stream to its owner.
type noClose struct{ shuffle.Stream }

func (noClose) Close() error { return nil }

// chunkOptions describes a chunked join: the side loaded in chunks, how to open the
// other side for each chunk, the predicate, and a cap on a chunk's bytes.
type chunkOptions struct {
	chunk     *input
	open      func(ctx context.Context, last bool) (shuffle.Stream, error) // last: no chunk follows
	pred      Predicate
	maxBytes  int64
	pairs     bool
	buildMode emitMode
	custom    bool // pairs and buildMode are set, rather than taken from the join type
}

// chunked runs a chunked join and returns the number of chunks.
func chunked(ctx context.Context, spec *joinSpec, o chunkOptions, e *emitter) (int, error) {
	side := o.chunk.side
	if !o.custom {
		o.pairs, o.buildMode, _ = modes(spec.typ, side)
	}
	chunks := 0
	for {
		t := newJoinTable(spec, side, o.buildMode, emitNone, o.pred != nil)
		more, err := loadChunk(ctx, spec, o, t)
		if err == nil && t.rowsHeld() > 0 {
			chunks++
			err = probeChunk(ctx, spec, o, t, !more, e)
		}
		t.release()
		if err != nil || !more {
			return chunks, err
		}
	}
}

// loadChunk fills t from o.chunk until the budget (or maxBytes) is reached; it reports
// whether the side has more. A chunk always takes at least one batch, so the join
// progresses under any budget.
func loadChunk(ctx context.Context, spec *joinSpec, o chunkOptions, t *joinTable) (bool, error) {
	in := o.chunk
	for {
		if len(in.buf) == 0 {
			if in.done {
				return false, nil
			}
			if err := in.read(ctx, spec); err != nil {
				return false, err
			}
			continue
		}
		b := in.buf[0]
		need := t.growth(b.Len(), spec.keyStrBytes(in.side, b))
		over := !spec.budget.Fits(need) || o.maxBytes > 0 && t.arrow+t.bytes()+t.keyBytes()+need+batchBytes(b) > o.maxBytes
		if over && len(t.batches) > 0 {
			return true, nil
		}
		in.buf[0] = nil
		in.buf = in.buf[1:]
		t.add(b)
	}
}

// probeChunk streams the other side past a loaded chunk.
func probeChunk(ctx context.Context, spec *joinSpec, o chunkOptions, t *joinTable, last bool, e *emitter) error {
	other, err := o.open(ctx, last)
	if err != nil {
		return err
	}
	defer other.Close()
	p := newPass(t, e, o.pairs, o.buildMode, emitNone, o.pred)
	defer p.release()
	for {
		b, err := other.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := spec.checkBatch(1-t.side, b); err != nil {
			b.Release()
			return err
		}
		err = p.probe(b)
		b.Release()
		if err != nil {
			return err
		}
	}
	return p.finish()
}
