package cdc

import (
	"context"
	"errors"
)

// ErrIdle is returned by Source.Read when nothing is available right now; the caller
// retries later. A finite source returns io.EOF once it is exhausted.
var ErrIdle = errors.New("cdc: source idle")

// Source yields decoded change events in each stream's commit order, following
// Conduit's lifecycle. Ack may run concurrently with Read.
type Source interface {
	// Open starts reading after position from (the zero Position reads from the start).
	// Events at or before from are not returned again.
	Open(ctx context.Context, from Position) error
	// Read returns the next event, ErrIdle when none is ready, or io.EOF at the end of
	// a finite source. Records that cannot be decoded go to the source's dead letters
	// and are skipped; Read returns an error only when the source itself fails.
	Read(ctx context.Context) (Event, error)
	// Ack reports that everything up to and including position upTo is durably committed
	// downstream; the source may release it (commit Kafka offsets, advance a slot).
	// upTo is always the commit position of a whole transaction.
	Ack(ctx context.Context, upTo Position) error
	// Close releases the source's resources.
	Close() error
}

// BatchReader is a Source that decodes ahead: ReadBatch decodes the events of the
// records at hand into dst, in the order Read would return them, and returns how many
// (at least one when len(dst) > 0, at most len(dst)); or 0 and ErrIdle, io.EOF or an
// error as Read does. It overwrites dst[:n] whole and leaves the rest alone. Read and
// ReadBatch may be mixed.
//
// Decoding a run of records and then assembling the run keeps each stage's code in
// the instruction cache: alternating the two per event, the assembler's code evicts
// the decoder's and decoding slows by more than assembly itself costs (BENCHMARKS.md).
// Decoding into the room [Assembler.Reserve] returns spares the copy of each event
// into the assembler.
type BatchReader interface {
	Source
	ReadBatch(ctx context.Context, dst []Event) (int, error)
}

// DecodeAhead is how many events a BatchReader decodes in one go at most.
const DecodeAhead = 64

// TxSource is a Source that already knows where transactions begin and end (a lake
// replay): ReadTx returns whole transactions in commit order, with no assembly needed.
// It returns ErrIdle and io.EOF as Read does.
type TxSource interface {
	Source
	ReadTx(ctx context.Context) (Tx, error)
}

// Decoder turns one raw record into one event. Errors are *DecodeError values naming
// the record and the field.
type Decoder interface {
	Decode(rec *Record) (Event, error)
}
