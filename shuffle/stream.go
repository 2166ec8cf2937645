package shuffle

import (
	"context"
	"errors"
	"io"
	"iter"

	"github.com/strata-data/strata/change"
)

// NewSliceStream returns a stream over batches, taking over one reference to each: what
// Next has not returned when Close is called is released.
func NewSliceStream(batches ...*change.Batch) Stream {
	return &sliceStream{batches: batches}
}

type sliceStream struct{ batches []*change.Batch }

func (s *sliceStream) Next(ctx context.Context) (*change.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(s.batches) == 0 {
		return nil, io.EOF
	}
	b := s.batches[0]
	s.batches[0] = nil
	s.batches = s.batches[1:]
	return b, nil
}

func (s *sliceStream) Close() error {
	for _, b := range s.batches {
		b.Release()
	}
	s.batches = nil
	return nil
}

// All ranges over the batches of s until io.EOF or an error (yielded once, with a nil
// batch). Each batch yielded is handed over: the loop body releases it. All does not
// close s.
func All(ctx context.Context, s Stream) iter.Seq2[*change.Batch, error] {
	return func(yield func(*change.Batch, error) bool) {
		for {
			b, err := s.Next(ctx)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(b, nil) {
				return
			}
		}
	}
}
