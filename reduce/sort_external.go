package reduce

import (
	"context"
	"errors"
	"io"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// readScratch is what an open spill file holds beside its batches: one block as
// stored and as decoded (a third of the writer's shuffle.SpillScratch).
const readScratch = shuffle.SpillScratch / 3

// writeScratch is the room a kernel keeps, within a limit of limit bytes, for the
// buffers of the spill writer it may open: shuffle.SpillScratch under a large limit,
// none under a small one, where it would leave too little for the data; there the
// writer's buffers go over the limit while it writes (the stated slack of the
// bounded-memory tests).
func writeScratch(limit int64) int64 {
	if limit >= 8*shuffle.SpillScratch {
		return shuffle.SpillScratch
	}
	return 0
}

// sorter is one run of a Sort: it reads the input into memory, spilling sorted runs
// when the next batch would not fit, and returns the rows in order: from memory when
// nothing spilled, else from a k-way merge of the runs.
type sorter struct {
	sort       *Sort
	keys       []*sortKeyCol
	runLimit   int64
	mergeLimit int64
	top        *topN
	run        *sortRun
	runs       []shuffle.SpillFile // spilled runs, in input order
	rows       int64               // rows read
	bytes      int64               // their Arrow bytes
	runBatch   int64               // the largest batch written to a run
}

func (x *sorter) sortAll(ctx context.Context, in shuffle.Stream) (shuffle.Stream, error) {
	limit := x.sort.cfg.Limit
	if limit > 0 {
		x.top = newTopN(x.sort, x.keys)
	}
	x.run = x.newRun()
	for {
		b, err := in.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := x.sort.checkInput(b); err != nil {
			b.Release()
			return nil, err
		}
		x.rows += int64(b.Len())
		x.bytes += shuffle.BatchBytes(b)
		if x.top != nil {
			x.top.add(b)
			if x.runLimit > 0 && x.top.bytes() > x.runLimit/2 {
				// Limit rows no longer fit beside the input: they become the first
				// rows of an external sort whose runs keep Limit rows each.
				x.run.release()
				x.run = x.top.toRun()
				x.top = nil
			}
			continue
		}
		if err := x.add(ctx, b); err != nil {
			return nil, err
		}
	}
	if x.top != nil {
		out := x.top.result()
		x.top = nil
		return out, nil
	}
	if len(x.runs) == 0 && (x.mergeLimit <= 0 || x.run.bytes+sortBytesPerRow*int64(x.run.rows) <= x.mergeLimit) {
		out := x.run.ordered(limit)
		x.run = nil
		return out, nil
	}
	if err := x.spill(ctx); err != nil {
		return nil, err
	}
	return x.merge(ctx)
}

func (x *sorter) newRun() *sortRun {
	return &sortRun{sort: x.sort, keys: x.keys, acct: account{budget: x.sort.cfg.Budget}}
}

// rowBytes is the average Arrow bytes of a row read so far.
func (x *sorter) rowBytes() int64 {
	if x.rows == 0 {
		return 64
	}
	return max(1, x.bytes/x.rows)
}

// spillRows is the number of rows per batch of a spilled run: few enough that a merge
// of many runs, holding a batch or two of each, fits the merge's memory.
func (x *sorter) spillRows() int {
	if x.mergeLimit <= 0 {
		return x.sort.cfg.BatchRows
	}
	target := min(max(x.mergeLimit/64, 16<<10), 256<<10)
	return int(min(max(target/x.rowBytes(), 16), int64(x.sort.cfg.BatchRows)))
}

// add takes over b, first spilling the run held if b would not fit beside it, the
// sort's scratch and the spill's buffers.
func (x *sorter) add(ctx context.Context, b *change.Batch) error {
	r := x.run
	need := r.bytes + shuffle.BatchBytes(b) + sortBytesPerRow*int64(r.rows+b.Len()) +
		writeScratch(x.runLimit) + int64(x.spillRows())*x.rowBytes()
	if x.runLimit > 0 && r.rows > 0 && need > x.runLimit {
		if err := x.spill(ctx); err != nil {
			b.Release()
			return err
		}
	}
	return x.run.add(b)
}

// spill sorts the run held and writes it to a spill file (its first Limit rows when
// there is a limit), and starts a new run.
func (x *sorter) spill(ctx context.Context) error {
	r := x.run
	out := r.ordered(x.sort.cfg.Limit)
	x.run = x.newRun()
	f, err := x.write(ctx, out)
	out.Close()
	if err != nil {
		return err
	}
	x.runs = append(x.runs, f)
	x.sort.stats.runs.Add(1)
	return nil
}

// rowSource is a sorted stream that gives batches of a chosen size.
type rowSource interface {
	next(ctx context.Context, n int) (*change.Batch, error)
}

// write writes the rows of s to a new spill file.
func (x *sorter) write(ctx context.Context, s rowSource) (shuffle.SpillFile, error) {
	cfg := &x.sort.cfg
	w, err := shuffle.CreateSpill(cfg.SpillDir, cfg.Schema, shuffle.SpillOptions{Codec: cfg.SpillCodec, Mem: cfg.Budget, Concurrency: 1})
	if err != nil {
		return shuffle.SpillFile{}, err
	}
	n := x.spillRows()
	for {
		b, err := s.next(ctx, n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			x.runBatch = max(x.runBatch, shuffle.BatchBytes(b))
			err = w.Write(b)
			b.Release()
		}
		if err != nil {
			w.Abort()
			return shuffle.SpillFile{}, err
		}
	}
	f, err := w.Finish()
	x.sort.stats.spilled.Add(f.Bytes)
	return f, err
}

// fanIn is how many runs one merge reads at once: as many as fit the merge's memory
// (a reader's scratch and up to three batches each, beside an output batch and, for
// a merge into a run, a spill writer), within MaxFanIn, and at least 2; except that
// a final merge that cannot hold 2 runs reads 1 (the runs are merged down to one).
func (x *sorter) fanIn(final bool) int {
	fan := x.sort.cfg.MaxFanIn
	if x.mergeLimit > 0 {
		perRun := readScratch + 3*x.runBatch
		free := x.mergeLimit - int64(x.sort.cfg.BatchRows)*x.rowBytes()
		if !final {
			free -= writeScratch(x.mergeLimit)
		}
		least := int64(2)
		if final {
			least = 1
		}
		fan = int(min(max(free/perRun, least), int64(fan)))
	}
	return fan
}

// merge merges consecutive runs (so that ties keep input order) in passes of up to
// fanIn(false) runs, until fanIn(true) runs are left, and returns the stream of
// their merge.
func (x *sorter) merge(ctx context.Context) (shuffle.Stream, error) {
	fan, last := x.fanIn(false), x.fanIn(true)
	for len(x.runs) > last {
		if len(x.runs) <= fan && last == 1 {
			fan = len(x.runs) // one merge down to one run
		}
		var next []shuffle.SpillFile
		for len(x.runs) > 0 && len(next)+len(x.runs) > last {
			k := min(fan, len(x.runs))
			f := x.runs[0]
			if k > 1 {
				m, err := x.openMerge(ctx, x.runs[:k])
				if err != nil {
					x.runs = append(next, x.runs...)
					return nil, err
				}
				f, err = x.write(ctx, m)
				m.Close() // removes the merged runs
				x.sort.stats.passes.Add(1)
				if err != nil {
					x.runs = append(next, x.runs[k:]...)
					return nil, err
				}
			}
			next = append(next, f)
			x.runs = x.runs[k:]
		}
		x.runs = append(next, x.runs...)
	}
	m, err := x.openMerge(ctx, x.runs)
	x.runs = nil
	if err != nil {
		return nil, err
	}
	return m, nil
}

// openMerge opens a merge of runs (consecutive, in input order), which takes them over
// and removes them when closed.
func (x *sorter) openMerge(ctx context.Context, runs []shuffle.SpillFile) (*mergeStream, error) {
	keys, err := resolveSortKeys(x.sort.cfg.Schema, x.sort.cfg.Keys)
	if err != nil {
		return nil, err
	}
	m := newMergeStream(x.sort, keys, runs)
	if err := m.open(ctx); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// cleanup drops what a failed sort holds.
func (x *sorter) cleanup() {
	if x.top != nil {
		x.top.release()
	}
	if x.run != nil {
		x.run.release()
	}
	for _, f := range x.runs {
		f.Remove()
	}
	x.runs = nil
}
