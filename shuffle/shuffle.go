package shuffle

import (
	"context"

	"github.com/strata-data/strata/change"
)

// Stream is a sequence of change batches: a shuffle partition read back, a spill file,
// an input of a reducer. Next returns io.EOF after the last batch. Each batch returned
// is handed over: the caller releases it. Close releases what the stream holds; it may
// be called before the end.
type Stream interface {
	Next(ctx context.Context) (*change.Batch, error)
	Close() error
}

// Partitioner assigns each row of a batch to one of NumPartitions partitions. The
// assignment depends only on the row's values, never on the process, the machine or
// the library version, so map tasks anywhere agree on where a key goes.
type Partitioner interface {
	NumPartitions() int
	// Partition writes the partition of each row of b into out[:b.Len()].
	Partition(b *change.Batch, out []int) error
}

// Shuffler moves batches from map tasks to reducers: each map task appends to R
// partitions through its Writer; once every writer is closed, each reducer streams one
// partition back. Rows of one partition from one map task come back in the order they
// were written.
type Shuffler interface {
	// Writer returns the writer of map task task.
	Writer(task int) (Writer, error)
	// Reader streams partition p; call it after every writer is closed.
	Reader(p int) (Stream, error)
	// Close removes everything the shuffle holds (memory and spill files).
	Close() error
}

// Writer is one map task's side of a shuffle.
type Writer interface {
	// Write partitions b with the shuffle's Partitioner and appends each part to its
	// partition. The caller keeps b (Write retains what it needs).
	Write(ctx context.Context, b *change.Batch) error
	// Append appends the whole of b to partition p; the caller keeps b.
	Append(ctx context.Context, p int, b *change.Batch) error
	// Close ends the task's output; after it, its batches are visible to readers.
	Close() error
}
