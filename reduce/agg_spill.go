package reduce

import (
	"context"
	"errors"
	"io"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

const (
	// aggFanOut is the number of partitions a spill writes.
	aggFanOut = 16
	// maxSpillLevel bounds the recursion: 16^7 partitions.
	maxSpillLevel = 7
)

// aggParts is the partitions of one spill level: each a list of spill files of
// partial rows, one per spill of the groups in memory. A group's partition comes
// from its key's hash (batchKeys.hashKeys, kept by the key table) remixed per level as
// the grace hash join remixes it (partOf), so that the next level splits a partition
// anew and the rows of one shuffle partition (whose keys with a string share the
// hash's high bits, the shuffle hashing them alike) spread over the partitions.
type aggParts struct {
	a     *HashAggregate
	level int
	files [][]shuffle.SpillFile
}

func (p *aggParts) partOf(h uint64) uint8 { return uint8(partOf(h, p.level, len(p.files))) }

// spill writes the groups of r to the partitions, one file per partition that has
// any, one partition at a time (so one spill writer's buffers at a time).
func (p *aggParts) spill(r *aggRun) error {
	a := p.a
	parts := make([]uint8, r.t.Len())
	a.cfg.Budget.Reserve(int64(len(parts)))
	defer a.cfg.Budget.Unreserve(int64(len(parts)))
	for g, h := range r.t.hashes {
		parts[g] = p.partOf(h)
	}
	for q := range uint8(len(p.files)) {
		var w *shuffle.SpillWriter
		err := r.partialRows(func(g int) bool { return parts[g] == q }, func(b *change.Batch) error {
			defer b.Release()
			if w == nil {
				var err error
				w, err = shuffle.CreateSpill(a.cfg.SpillDir, a.partial, shuffle.SpillOptions{Codec: a.cfg.SpillCodec, Mem: a.cfg.Budget, Concurrency: 1})
				if err != nil {
					return err
				}
			}
			return w.Write(b)
		})
		if err != nil {
			if w != nil {
				w.Abort()
			}
			return err
		}
		if w == nil {
			continue
		}
		f, err := w.Finish()
		if err != nil {
			return err
		}
		p.files[q] = append(p.files[q], f)
	}
	a.spills.Add(1)
	for l := int64(p.level + 1); ; {
		cur := a.levels.Load()
		if cur >= l || a.levels.CompareAndSwap(cur, l) {
			break
		}
	}
	return nil
}

// remove deletes every file left.
func (p *aggParts) remove() {
	for q := range p.files {
		for _, f := range p.files[q] {
			f.Remove()
		}
		p.files[q] = nil
	}
}

// filesStream reads spill files one after the other.
type filesStream struct {
	files []shuffle.SpillFile
	mem   memory.Allocator
	cur   shuffle.Stream
}

func (s *filesStream) Next(ctx context.Context) (*change.Batch, error) {
	for {
		if s.cur == nil {
			if len(s.files) == 0 {
				return nil, io.EOF
			}
			st, err := s.files[0].Open(s.mem)
			if err != nil {
				return nil, err
			}
			s.cur, s.files = st, s.files[1:]
		}
		b, err := s.cur.Next(ctx)
		if errors.Is(err, io.EOF) {
			err = s.cur.Close()
			s.cur = nil
			if err != nil {
				return nil, err
			}
			continue
		}
		return b, err
	}
}

func (s *filesStream) Close() error {
	if s.cur == nil {
		return nil
	}
	err := s.cur.Close()
	s.cur = nil
	return err
}
