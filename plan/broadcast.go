package plan

import (
	"context"
	"errors"
	"sync"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/shuffle"
)

// sharedBuild is the build side of a broadcast hash join, read into one table by the
// first task of the probing stage that needs it and probed by every task of that
// stage, instead of a table per task. When the build side does not fit the memory
// budget each task joins on its own, as reduce.HashJoin.Reduce does (spilling).
type sharedBuild struct {
	cfg      reduce.HashJoinConfig // Build names the broadcast side
	x        *exchange             // the broadcast side, partition 0
	mu       sync.Mutex
	b        *reduce.HashBuild
	tooLarge bool
	builds   int // tables built (for tests)
}

// get returns the shared table, building it on the first call; nil when it does not fit.
func (s *sharedBuild) get(ctx context.Context) (*reduce.HashBuild, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b != nil || s.tooLarge {
		return s.b, nil
	}
	j, err := reduce.NewHashJoin(s.cfg)
	if err != nil {
		return nil, err
	}
	in := s.x.read(0)
	defer in.Close()
	b, err := j.Build(ctx, in)
	if errors.Is(err, reduce.ErrBuildTooLarge) {
		s.tooLarge = true
		return nil, nil
	}
	if err != nil {
		return nil, err // not kept: another task (or a retry) builds again
	}
	s.b = b
	s.builds++
	return b, nil
}

// join joins the probe stream in with the broadcast side.
func (s *sharedBuild) join(ctx context.Context, in shuffle.Stream, emit func(*change.Batch) error) error {
	b, err := s.get(ctx)
	if err != nil {
		return err
	}
	if b != nil {
		return b.Probe(ctx, in, emit)
	}
	j, err := reduce.NewHashJoin(s.cfg)
	if err != nil {
		return err
	}
	ins := []shuffle.Stream{in, s.x.read(0)}
	if s.cfg.Build == reduce.LeftSide {
		ins[0], ins[1] = ins[1], ins[0]
	}
	return j.Reduce(ctx, ins, emit)
}

// release frees the table (a later get builds it again).
func (s *sharedBuild) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b != nil {
		s.b.Release()
		s.b = nil
	}
}
