package cdc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
)

// FileSourceConfig configures a FileSource. The zero value works: it decodes Debezium
// JSON and fails on the first undecodable record, having nowhere to put it.
type FileSourceConfig struct {
	// Decoder turns records into events; default NewDebeziumDecoder with Metrics.
	Decoder Decoder
	// DeadLetters receives the records that cannot be read or decoded. When nil, such a
	// record makes Read fail instead of being dropped.
	DeadLetters DeadLetters
	// Metrics counts rejected and dead-lettered records (nil: not counted).
	Metrics *Metrics
	// Follow makes Read return ErrIdle at the end of the file and keep reading as the
	// file grows (tail -f), instead of io.EOF. A trailing line without its line break
	// is taken as still being written and waits for it. Truncation and rotation are not
	// detected.
	Follow bool
	// MaxRecordBytes bounds one record's text (default DefaultMaxRecordBytes, 64 MiB).
	MaxRecordBytes int
}

// FileSource reads change events from a file of JSON records (see [RecordReader] for
// the layouts it accepts): a replayable source for tests, fixtures and exported topics.
// It is resumable by position: the file is read from the start and events at or before
// the position given to Open are skipped, so positions must be deterministic, which
// they are for a given file because positions missing from events are filled in by a
// [PositionFiller] in file order. Transaction metadata (BEGIN/END records, which carry
// no position of their own) goes with its transaction: resuming skips the BEGIN and END
// of transactions at or before the position and keeps those of later ones.
type FileSource struct {
	path string
	cfg  FileSourceConfig

	f      *os.File
	rr     *RecordReader
	filler PositionFiller
	from   Position

	batchErr error // what stopped the last ReadBatch after some events

	// Resuming: until the first event after from, BEGIN/END records are held in queue,
	// and dropped when a data event of their transaction is skipped; skipped remembers
	// the transactions skipped, whose END may come later still.
	skipping bool
	queue    []Event // held metadata, then the first event after from; served first
	qi       int
	skipped  keyRing

	mu     sync.Mutex // guards acked, which Ack writes concurrently with Read
	acked  Position
	closed bool
}

// NewFileSource returns a source reading path; nothing is opened until Open.
func NewFileSource(path string, cfg FileSourceConfig) *FileSource {
	if cfg.Decoder == nil {
		cfg.Decoder = NewDebeziumDecoder(DebeziumConfig{Metrics: cfg.Metrics})
	}
	return &FileSource{path: path, cfg: cfg}
}

// Open opens the file and positions the source after from.
func (s *FileSource) Open(_ context.Context, from Position) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("cdc: file source %s: open after close: %w", s.path, os.ErrClosed)
	}
	if s.f != nil {
		return fmt.Errorf("cdc: file source %s: already open", s.path)
	}
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("cdc: file source: %w", err)
	}
	s.f = f
	s.rr = NewRecordReader(f, RecordReaderConfig{Name: s.path, Follow: s.cfg.Follow, MaxRecordBytes: s.cfg.MaxRecordBytes})
	s.batchErr = nil
	s.from = from
	s.acked = from
	s.filler = PositionFiller{} // the same positions as any earlier Open
	s.skipping = !from.IsZero()
	s.queue, s.qi = s.queue[:0], 0
	s.skipped = keyRing{}
	return nil
}

// Read returns the next event after the Open position. Records that cannot be read or
// decoded, and records the decoder reports as not being events (keys), go to the dead
// letters with an error naming FILE:LINE and the field, and reading goes on.
func (s *FileSource) Read(ctx context.Context) (Event, error) {
	var ev Event
	if err := s.readInto(ctx, &ev); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// ReadBatch implements BatchReader: the events of up to len(dst) records, fewer at the
// end of the file.
func (s *FileSource) ReadBatch(ctx context.Context, dst []Event) (int, error) {
	n := 0
	for n < len(dst) {
		err := s.readInto(ctx, &dst[n])
		if err != nil {
			dst[n] = Event{} // what a failed decode left
			if n == 0 {
				return 0, err
			}
			if err != io.EOF && !errors.Is(err, ErrIdle) {
				s.batchErr = err // for the next call, after the events read before it
			}
			break
		}
		n++
	}
	return n, nil
}

func (s *FileSource) readInto(ctx context.Context, ev *Event) error {
	if s.rr == nil {
		return fmt.Errorf("cdc: file source %s: read before open or after close", s.path)
	}
	if err := s.batchErr; err != nil {
		s.batchErr = nil
		return err
	}
	if s.qi < len(s.queue) && !s.skipping {
		s.pop(ev)
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, line, err := s.rr.Next()
		switch {
		case err == io.EOF:
			if s.cfg.Follow {
				return ErrIdle // held metadata waits for its transaction's events
			}
			if s.skipping && len(s.queue) > 0 {
				// metadata of transactions after the Open position whose events never came
				s.skipping = false
				s.pop(ev)
				return nil
			}
			return io.EOF
		case errors.Is(err, ErrMalformed):
			if err := Reject(ctx, s.cfg.DeadLetters, s.cfg.Metrics, DeadLetter{Record: rec}, err); err != nil {
				return err
			}
			continue
		case err != nil:
			return fmt.Errorf("cdc: file source: %w", err)
		}
		if err := decodeInto(s.cfg.Decoder, &rec, ev); err != nil {
			err = fmt.Errorf("%s:%d: %w", s.path, line, err)
			if err := Reject(ctx, s.cfg.DeadLetters, s.cfg.Metrics, DeadLetter{Record: rec}, err); err != nil {
				return err
			}
			continue
		}
		meta := (ev.Op == OpTxBegin || ev.Op == OpTxEnd) && ev.Pos.IsZero()
		s.filler.Fill(ev)
		if !s.skipping {
			if meta && s.skipped.n > 0 && s.skipped.has(ev.TxKey()) {
				continue // the END of a transaction before the Open position
			}
			return nil
		}
		if meta {
			// placed by its transaction's data events, which may come later
			if k := ev.TxKey(); k == "" || !s.skipped.has(k) {
				s.queue = append(s.queue, *ev)
			}
			continue
		}
		if !s.from.Less(ev.Pos) { // at or before the Open position
			if k := ev.TxKey(); k != "" {
				s.skipped.add(k)
				s.queue = slices.DeleteFunc(s.queue, func(m Event) bool { return m.TxKey() == k })
			}
			continue
		}
		s.skipping = false
		if len(s.queue) > 0 {
			s.queue = append(s.queue, *ev)
			s.pop(ev)
		}
		return nil
	}
}

// pop moves the first event of the queue into *ev.
func (s *FileSource) pop(ev *Event) {
	*ev = s.queue[s.qi]
	s.queue[s.qi] = Event{}
	if s.qi++; s.qi == len(s.queue) {
		s.queue, s.qi = s.queue[:0], 0
	}
}

// keyRing is a set of the last keyRingSize transaction keys added.
type keyRing struct {
	set  map[string]struct{}
	ring []string
	next int
	n    int
}

// keyRingSize bounds keyRing: a transaction's END comes within this many
// transactions of its last data event.
const keyRingSize = 4096

func (r *keyRing) has(k string) bool {
	_, ok := r.set[k]
	return ok
}

func (r *keyRing) add(k string) {
	if r.has(k) {
		return
	}
	if r.set == nil {
		r.set, r.ring = map[string]struct{}{}, make([]string, keyRingSize)
	}
	if r.n == keyRingSize {
		delete(r.set, r.ring[r.next])
	} else {
		r.n++
	}
	r.ring[r.next] = k
	r.set[k] = struct{}{}
	r.next = (r.next + 1) % keyRingSize
}

// decodeInto decodes rec into *ev, in place when d can.
func decodeInto(d Decoder, rec *Record, ev *Event) error {
	if di, ok := d.(interface {
		DecodeInto(*Record, *Event) error
	}); ok {
		return di.DecodeInto(rec, ev)
	}
	var err error
	*ev, err = d.Decode(rec)
	return err
}

var _ BatchReader = (*FileSource)(nil)

// Ack records that everything up to upTo is committed downstream. A file has nothing to
// release; the position is kept for Acked, so that a caller can persist it and resume.
func (s *FileSource) Ack(_ context.Context, upTo Position) error {
	s.mu.Lock()
	s.acked = Max(s.acked, upTo)
	s.mu.Unlock()
	return nil
}

// Acked returns the latest acknowledged position (the Open position before any Ack).
func (s *FileSource) Acked() Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked
}

// Close closes the file. It is safe to call more than once.
func (s *FileSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f, s.rr = nil, nil
	if err != nil {
		return fmt.Errorf("cdc: file source %s: %w", s.path, err)
	}
	return nil
}
