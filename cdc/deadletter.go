package cdc

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// DeadLetter is a record that could not be decoded or applied, kept with its raw bytes so
// nothing is dropped silently.
type DeadLetter struct {
	Record Record    // raw key, value, headers and coordinates
	Pos    Position  // commit position when known
	Table  string    // table when known
	Reason string    // the error text
	Time   time.Time // when it was rejected
}

// DeadLetters stores rejected records. Implementations must be safe for concurrent use.
type DeadLetters interface {
	Put(ctx context.Context, dl DeadLetter) error
}

// MemoryDeadLetters keeps dead letters in memory; for tests and small tools.
type MemoryDeadLetters struct {
	mu  sync.Mutex
	dls []DeadLetter
}

// NewMemoryDeadLetters returns an empty in-memory store.
func NewMemoryDeadLetters() *MemoryDeadLetters { return &MemoryDeadLetters{} }

// Put stores a copy of dl.
func (m *MemoryDeadLetters) Put(_ context.Context, dl DeadLetter) error {
	dl.Record = dl.Record.Clone()
	m.mu.Lock()
	m.dls = append(m.dls, dl)
	m.mu.Unlock()
	return nil
}

// All returns the dead letters stored so far.
func (m *MemoryDeadLetters) All() []DeadLetter {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]DeadLetter(nil), m.dls...)
}

// Len returns how many dead letters are stored.
func (m *MemoryDeadLetters) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.dls)
}

// Reject counts a rejected record and stores it in dls with err as the reason. It returns
// nil once the record is safely stored, and err itself when there is nowhere to put it
// (dls is nil), so that nothing is dropped silently.
func Reject(ctx context.Context, dls DeadLetters, m *Metrics, dl DeadLetter, err error) error {
	m.Rejected(err)
	if dls == nil {
		return err
	}
	dl.Reason = err.Error()
	if dl.Time.IsZero() {
		dl.Time = time.Now()
	}
	if perr := dls.Put(ctx, dl); perr != nil {
		return fmt.Errorf("cdc: dead letter for %s (%v): %w", dl.Record.Origin(), err, perr)
	}
	m.DeadLettered()
	return nil
}
