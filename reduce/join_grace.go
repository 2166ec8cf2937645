package reduce

import (
	"context"
	"errors"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// The grace hash join. When the build side does not fit the budget, both inputs are
// split by a hash of their keys into Fanout partitions, spilled to disk, and joined
// partition by partition: rows with equal keys land in the same partition, so the join
// is the union of the partitions' joins. A partition is joined in memory, built on
// its smaller side, when it fits; if not, it is split again with another seed; and if
// splitting stops shrinking it (a few keys with many rows), it is joined chunk by
// chunk, as the nested-loop join does, with its keys hashed per chunk.

// DefaultFanout is the number of partitions a grace hash join splits into.
const DefaultFanout = 16

// maxLevel bounds the recursion of partitioning: Fanout^maxLevel partitions.
const maxLevel = 8

// partSeed returns the seed that remixes key hashes at a level of partitioning. The
// level-0 seed matters too: the rows of one shuffle partition share the high bits of
// their key hash, which would put them all in one grace partition.
func partSeed(level int) uint64 { return 0x632be59bd9b4e019 + uint64(level)*0x9e3779b97f4a7c15 }

// partOf maps a key hash to one of n partitions at a level.
func partOf(h uint64, level, n int) int {
	return shuffle.PartitionOf(avalanche(h^partSeed(level)), n)
}

// run is one side of a partition on disk: the spill files written for it, in order.
type run struct {
	files []shuffle.SpillFile
	rows  int64
	bytes int64 // Arrow bytes of the batches written
}

// spiller creates and removes the spill files of one Reduce call.
type spiller struct {
	dir   string
	spec  *joinSpec
	files []shuffle.SpillFile
}

// create opens a spill file for side's batches; its buffers count in the budget.
func (s *spiller) create(side int) (*shuffle.SpillWriter, error) {
	return shuffle.CreateSpill(s.dir, s.spec.in[side], shuffle.SpillOptions{Mem: s.spec.budget, Concurrency: 1})
}

// finish ends w and records its file for removal.
func (s *spiller) finish(w *shuffle.SpillWriter) (shuffle.SpillFile, error) {
	f, err := w.Finish()
	if err == nil {
		s.files = append(s.files, f)
	}
	return f, err
}

// remove deletes the files of r.
func (s *spiller) remove(r run) {
	for _, f := range r.files {
		f.Remove()
	}
}

// removeAll deletes every file created, used or not.
func (s *spiller) removeAll() {
	for _, f := range s.files {
		f.Remove()
	}
	s.files = nil
}

// open returns a stream over the files of r, opened one after the other.
func (s *spiller) open(r run) shuffle.Stream {
	return &runStream{files: r.files, mem: s.spec.budget}
}

// runStream concatenates spill files, holding one open at a time.
type runStream struct {
	files []shuffle.SpillFile
	mem   *change.Budget
	cur   shuffle.Stream
}

func (r *runStream) Next(ctx context.Context) (*change.Batch, error) {
	for {
		if r.cur == nil {
			if len(r.files) == 0 {
				return nil, io.EOF
			}
			s, err := r.files[0].Open(r.mem)
			if err != nil {
				return nil, err
			}
			r.cur, r.files = s, r.files[1:]
		}
		b, err := r.cur.Next(ctx)
		if errors.Is(err, io.EOF) {
			err = r.cur.Close()
			r.cur = nil
			if err != nil {
				return nil, err
			}
			continue
		}
		return b, err
	}
}

func (r *runStream) Close() error {
	r.files = nil
	if r.cur == nil {
		return nil
	}
	err := r.cur.Close()
	r.cur = nil
	return err
}

// partitioner splits one side's batches by key hash into fanout partitions. Rows are
// buffered per partition (copies, so the input batch is freed at once) and a
// partition's buffer goes to a new spill file, the largest first, when the buffers
// together pass flushAt (half the budget), or minFlush with the budget full: one spill
// writer is open at a time, so the writers' buffers cost the budget once, not once per
// partition.
type partitioner struct {
	sp        *spiller
	spec      *joinSpec
	side      int
	level     int
	keepNulls bool
	bk        *batchKeys
	bufs      [][]*change.Batch
	bufBytes  []int64
	total     int64
	flushAt   int64
	runs      []run
	idx       [][]uint64 // scratch: rows per partition
	nullNext  int        // where the next row with a NULL key goes
}

func newPartitioner(sp *spiller, side, level, fanout int, keepNulls bool) *partitioner {
	spec := sp.spec
	p := &partitioner{
		sp: sp, spec: spec, side: side, level: level, keepNulls: keepNulls,
		bk:   newBatchKeys(spec.layout, spec.budget),
		bufs: make([][]*change.Batch, fanout), bufBytes: make([]int64, fanout),
		runs: make([]run, fanout), idx: make([][]uint64, fanout),
		flushAt: max(spec.budget.Limit()/2, minFlush),
	}
	return p
}

// add splits b (which the partitioner takes over) into its partitions.
func (p *partitioner) add(b *change.Batch) error {
	if err := p.split(b); err != nil {
		return err
	}
	for p.total > p.flushAt || p.total > minFlush && !p.spec.budget.Fits(0) {
		largest := 0
		for i, n := range p.bufBytes {
			if n > p.bufBytes[largest] {
				largest = i
			}
		}
		if err := p.flush(largest); err != nil {
			return err
		}
	}
	return nil
}

// split copies the rows of b into the buffers of their partitions and releases b.
func (p *partitioner) split(b *change.Batch) error {
	defer b.Release()
	p.bk.load(b, p.spec.keys[p.side])
	for i := range p.idx {
		p.idx[i] = p.idx[i][:0]
	}
	for r, h := range p.bk.hash {
		if p.bk.null != nil && p.bk.null[r] {
			// It matches nothing, so any partition will do: spread them, so that
			// partitioning shrinks a side of NULL keys too.
			if p.keepNulls {
				p.idx[p.nullNext] = append(p.idx[p.nullNext], rowRef(0, r))
				p.nullNext = (p.nullNext + 1) % len(p.idx)
			}
			continue
		}
		part := partOf(h, p.level, len(p.idx))
		p.idx[part] = append(p.idx[part], rowRef(0, r))
	}
	src := []*change.Batch{b}
	for part, refs := range p.idx {
		if len(refs) == 0 {
			continue
		}
		sub, err := take(p.spec.budget, p.spec.in[p.side], src, refs, b.Ops())
		if err != nil {
			return err
		}
		n := batchBytes(sub)
		p.bufs[part] = append(p.bufs[part], sub)
		p.bufBytes[part] += n
		p.total += n
	}
	return nil
}

// minFlush is the least a partitioner buffers before it flushes, whatever the budget:
// a spill file costs a writer's buffers (~1.5 MiB) and a file, which a few rows do not
// repay.
const minFlush = 64 << 10

// flushRows is the most rows flush writes as one batch: the batches read back are
// this large, and a written batch is a copy that costs the budget while it is written.
const flushRows = 1024

// flush writes partition part's buffer to a new spill file, in batches of up to
// flushRows rows.
func (p *partitioner) flush(part int) error {
	bufs := p.bufs[part]
	if len(bufs) == 0 {
		return nil
	}
	w, err := p.sp.create(p.side)
	if err != nil {
		return err
	}
	var refs []uint64
	var ops []change.Op
	write := func() error {
		if len(refs) == 0 {
			return nil
		}
		b, err := take(p.spec.budget, p.spec.in[p.side], bufs, refs, ops)
		if err != nil {
			return err
		}
		err = w.Write(b)
		b.Release()
		refs, ops = refs[:0], ops[:0]
		return err
	}
	for bi, b := range bufs {
		for r, op := range b.Ops() {
			refs = append(refs, rowRef(bi, r))
			ops = append(ops, op)
			if len(refs) == flushRows {
				if err := write(); err != nil {
					w.Abort()
					return err
				}
			}
		}
	}
	if err := write(); err != nil {
		w.Abort()
		return err
	}
	f, err := p.sp.finish(w)
	if err != nil {
		return err
	}
	r := &p.runs[part]
	r.files = append(r.files, f)
	r.rows += f.Rows
	r.bytes += f.MemBytes
	for _, b := range bufs {
		b.Release()
	}
	p.bufs[part] = nil
	p.total -= p.bufBytes[part]
	p.bufBytes[part] = 0
	return nil
}

// flushAll writes every buffer out.
func (p *partitioner) flushAll() error {
	for part := range p.bufs {
		if err := p.flush(part); err != nil {
			return err
		}
	}
	return nil
}

// finish flushes every buffer and returns the partitions' runs.
func (p *partitioner) finish() ([]run, error) {
	if err := p.flushAll(); err != nil {
		return nil, err
	}
	return p.runs, nil
}

// release frees what is buffered (after an error); files are the spiller's to remove.
func (p *partitioner) release() {
	for part, bufs := range p.bufs {
		for _, b := range bufs {
			b.Release()
		}
		p.bufs[part] = nil
	}
	p.bk.release()
}

// take builds a batch of schema s from rows refs of srcs, with ops.
func take(mem *change.Budget, s *change.Schema, srcs []*change.Batch, refs []uint64, ops []change.Op) (*change.Batch, error) {
	cols := make([]arrow.Array, s.NumFields())
	for c, f := range s.Fields() {
		cols[c] = gather(mem, f.Type, srcs, c, refs)
	}
	rec := array.NewRecordBatch(s.Arrow(), cols, int64(len(refs)))
	for _, c := range cols {
		c.Release()
	}
	own := make([]change.Op, len(refs))
	if len(ops) == len(refs) {
		copy(own, ops)
	} else {
		for i, r := range refs {
			own[i] = ops[refRow(r)]
		}
	}
	b, err := change.NewBatch(s, rec, own)
	if err != nil {
		rec.Release()
		return nil, err
	}
	return b, nil
}

// keepNullRows reports whether rows of side with a NULL key can be emitted (alone),
// so that partitioning must keep them.
func keepNullRows(typ JoinType, side int) bool {
	switch typ {
	case LeftJoin, AntiJoin:
		return side == 0
	case RightJoin:
		return side == 1
	case FullJoin:
		return true
	}
	return false
}

// grace partitions both inputs and joins the partitions. What is buffered of the
// right input is spilled first, so that it does not stay in memory while the left
// is partitioned.
func (j *HashJoin) grace(ctx context.Context, ins [2]*input, e *emitter) error {
	sp := &spiller{dir: j.cfg.SpillDir, spec: j.spec}
	defer sp.removeAll()
	var parts [2]*partitioner
	for side := range 2 {
		parts[side] = newPartitioner(sp, side, 0, j.fanout(), keepNullRows(j.spec.typ, side))
		defer parts[side].release()
	}
	for _, b := range ins[1].buf {
		if err := parts[1].add(b); err != nil {
			return err
		}
	}
	ins[1].buf = nil
	if err := parts[1].flushAll(); err != nil {
		return err
	}
	var runs [2][]run
	for side := range 2 {
		var err error
		if runs[side], err = j.partitionRest(ctx, parts[side], ins[side]); err != nil {
			return err
		}
	}
	for part := range j.fanout() {
		if err := j.joinPartition(ctx, sp, [2]run{runs[0][part], runs[1][part]}, 1, -1, e); err != nil {
			return err
		}
	}
	return nil
}

func (j *HashJoin) fanout() int {
	if j.cfg.Fanout >= 2 {
		return j.cfg.Fanout
	}
	return DefaultFanout
}

// fanoutFor returns the fanout that splits a partition whose build side holds size
// bytes into parts of about a quarter of the budget (a part's table can take as much
// again as its batches): no more parts than needed, so the spill files stay large.
func (j *HashJoin) fanoutFor(size int64) int {
	if j.cfg.Fanout >= 2 {
		return j.cfg.Fanout
	}
	quarter := max(j.spec.budget.Limit()/4, 1)
	return int(min(max((size+quarter-1)/quarter, 2), DefaultFanout))
}

// partition splits the rest of in (buffered batches, then its stream) at level.
func (j *HashJoin) partition(ctx context.Context, sp *spiller, in *input, side, level, fanout int) ([]run, error) {
	p := newPartitioner(sp, side, level, fanout, keepNullRows(j.spec.typ, side))
	defer p.release()
	return j.partitionRest(ctx, p, in)
}

// partitionRest feeds the rest of in to p and finishes it.
func (j *HashJoin) partitionRest(ctx context.Context, p *partitioner, in *input) ([]run, error) {
	for {
		b, err := in.next(ctx, j.spec)
		if errors.Is(err, io.EOF) {
			return p.finish()
		}
		if err != nil {
			return nil, err
		}
		if err := p.add(b); err != nil {
			return nil, err
		}
	}
}

// joinPartition joins one partition: in memory on its smaller side if that fits, else
// split again at level, else (when the last split did not shrink it below 9/10 of
// parent bytes, or at maxLevel) chunk by chunk. It removes the partition's files.
func (j *HashJoin) joinPartition(ctx context.Context, sp *spiller, part [2]run, level int, parent int64, e *emitter) error {
	defer sp.remove(part[0])
	defer sp.remove(part[1])
	if part[0].rows == 0 && !keepNullRows(j.spec.typ, 1) || part[1].rows == 0 && !keepNullRows(j.spec.typ, 0) {
		return nil // a side is empty, and the other's rows are never emitted alone
	}
	build := 0
	if part[1].bytes < part[0].bytes {
		build = 1
	}
	ins := [2]*input{{stream: sp.open(part[0]), side: 0}, {stream: sp.open(part[1]), side: 1}}
	defer ins[0].close()
	defer ins[1].close()
	fits, err := j.readWhole(ctx, ins[build])
	if err != nil {
		return err
	}
	if fits {
		return j.inMemory(ctx, ins, build, e)
	}
	first := len(ins[build].buf) == 1
	ins[0].close() // its reader's buffers must not stay open below
	ins[1].close()
	size := part[build].bytes
	if first || level >= maxLevel || parent >= 0 && size*10 >= parent*9 {
		// Not one batch fits (the budget is below what reading a spill file takes),
		// or splitting stopped shrinking the partition: smaller partitions would not
		// fit either.
		return j.chunkedPartition(ctx, sp, part, e)
	}
	var sub [2][]run
	fanout := j.fanoutFor(size)
	for side := range 2 {
		in := &input{stream: sp.open(part[side]), side: side}
		sub[side], err = j.partition(ctx, sp, in, side, level, fanout)
		in.close()
		if err != nil {
			return err
		}
		sp.remove(part[side])
	}
	for i := range sub[0] {
		if err := j.joinPartition(ctx, sp, [2]run{sub[0][i], sub[1][i]}, level+1, size, e); err != nil {
			return err
		}
	}
	return nil
}

// readWhole reads in to its end if it fits the budget with its table, and reports
// whether it did.
func (j *HashJoin) readWhole(ctx context.Context, in *input) (bool, error) {
	for !in.done {
		if err := in.read(ctx, j.spec); err != nil {
			return false, err
		}
		if !j.spec.budget.Fits(estimate(j.spec, in.side, in.rows, in.strBytes)) {
			return false, nil
		}
	}
	return true, nil
}

// chunkedPartition joins a partition that splitting does not shrink: a side is loaded
// in chunks within the budget and the other side's files are read once per chunk.
// The side loaded is the one whose rows the join type emits alone (decided across the
// whole of the other side); a full join takes two passes, the second emitting the
// right rows that match nothing.
func (j *HashJoin) chunkedPartition(ctx context.Context, sp *spiller, part [2]run, e *emitter) error {
	pass := func(side int, o chunkOptions) error {
		o.chunk = &input{stream: sp.open(part[side]), side: side}
		defer o.chunk.close()
		o.open = func(context.Context, bool) (shuffle.Stream, error) { return sp.open(part[1-side]), nil }
		_, err := chunked(ctx, j.spec, o, e)
		return err
	}
	switch j.spec.typ {
	case InnerJoin:
		side := 0
		if part[1].bytes < part[0].bytes {
			side = 1
		}
		return pass(side, chunkOptions{})
	case RightJoin:
		return pass(1, chunkOptions{})
	case FullJoin:
		if err := pass(0, chunkOptions{custom: true, pairs: true, buildMode: emitUnmatched}); err != nil {
			return err
		}
		return pass(1, chunkOptions{custom: true, buildMode: emitUnmatched})
	}
	return pass(0, chunkOptions{})
}

// errNoFit reports that the build side does not fit in memory.
var errNoFit = errors.New("reduce: the build side does not fit")
