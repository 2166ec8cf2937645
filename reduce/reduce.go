package reduce

import (
	"context"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// Emit hands an output batch to the next stage; the receiver releases it.
type Emit func(*change.Batch) error

// Reducer consumes the streams of one partition (one per input: a join has two, an
// aggregate one) and emits its results. It releases every batch it reads, never holds
// more than its memory budget (spilling instead), and leaves no Arrow memory behind
// when it returns, with or without an error.
type Reducer interface {
	Reduce(ctx context.Context, in []shuffle.Stream, emit Emit) error
}

// Combiner is an optional map-side partial reduction (partial aggregates before the
// shuffle), whose output the Reducer accepts as its input.
type Combiner interface {
	Combine(ctx context.Context, in shuffle.Stream, emit Emit) error
}
