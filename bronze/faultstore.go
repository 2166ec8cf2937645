package bronze

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// ErrInjected is the error a FaultStore returns for an injected failure.
var ErrInjected = errors.New("bronze: injected fault")

// ErrCrashed is what every operation of a FaultStore returns after its simulated crash.
var ErrCrashed = errors.New("bronze: store crashed (injected)")

// Fault is one failure a FaultStore injects.
type Fault struct {
	Op     string // "put", "get", "list", "delete"; "" matches every op
	Prefix string // only names (or list prefixes) starting with this
	Skip   int    // let this many matching ops succeed first
	Times  int    // fail this many matching ops (0: every one after Skip)
	// ShortWrite, for puts, publishes only the first ShortWrite bytes before failing:
	// the torn object a non-atomic store could leave, which checksums must catch.
	ShortWrite int
}

// FaultStore wraps a Store and injects failures: errors on chosen operations, torn
// writes, and a crash after a number of bytes written. It is real code, not a mock: the
// lake's own tests use it to check that no failure loses or corrupts committed data.
type FaultStore struct {
	inner Store

	mu         sync.Mutex
	faults     []*faultState
	crashAfter int64 // bytes of puts allowed before the crash; <0: no crash planned
	written    int64
	crashed    bool
}

type faultState struct {
	Fault
	seen, failed int
}

// NewFaultStore wraps s with no faults planned.
func NewFaultStore(s Store) *FaultStore { return &FaultStore{inner: s, crashAfter: -1} }

// Inject plans a fault.
func (f *FaultStore) Inject(ft Fault) {
	f.mu.Lock()
	f.faults = append(f.faults, &faultState{Fault: ft})
	f.mu.Unlock()
}

// CrashAfter plans a crash once n more bytes have been put: the put that crosses the
// limit is not published, and it and every later operation fail with ErrCrashed.
func (f *FaultStore) CrashAfter(n int64) {
	f.mu.Lock()
	f.crashAfter, f.written = n, 0
	f.mu.Unlock()
}

// Crashed reports whether the simulated crash happened.
func (f *FaultStore) Crashed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashed
}

// check decides the fate of one operation: nil to run it, or the error to return, and
// for puts how many bytes to publish before failing (-1: none).
func (f *FaultStore) check(op, name string, size int) (short int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashed {
		return -1, ErrCrashed
	}
	if op == "put" && f.crashAfter >= 0 {
		if f.written+int64(size) > f.crashAfter {
			f.crashed = true
			return -1, ErrCrashed
		}
		f.written += int64(size)
	}
	for _, ft := range f.faults {
		if ft.Op != "" && ft.Op != op || !strings.HasPrefix(name, ft.Prefix) {
			continue
		}
		ft.seen++
		if ft.seen <= ft.Skip || ft.Times > 0 && ft.failed >= ft.Times {
			continue
		}
		ft.failed++
		e := fmt.Errorf("%w: %s %s", ErrInjected, op, name)
		if op == "put" && ft.ShortWrite > 0 && ft.ShortWrite < size {
			return ft.ShortWrite, e
		}
		return -1, e
	}
	return 0, nil
}

// Put publishes data unless a fault says otherwise.
func (f *FaultStore) Put(ctx context.Context, name string, data []byte) error {
	short, err := f.check("put", name, len(data))
	if err != nil {
		if short > 0 {
			if perr := f.inner.Put(ctx, name, data[:short]); perr != nil {
				return errors.Join(err, perr)
			}
		}
		return err
	}
	return f.inner.Put(ctx, name, data)
}

// PutIfAbsent forwards to the wrapped store's conditional put, under the same faults.
func (f *FaultStore) PutIfAbsent(ctx context.Context, name string, data []byte) error {
	cp, ok := f.inner.(ConditionalPutter)
	if !ok {
		return fmt.Errorf("bronze: put %s: the wrapped store has no conditional put", name)
	}
	if _, err := f.check("put", name, len(data)); err != nil {
		return err
	}
	return cp.PutIfAbsent(ctx, name, data)
}

// Get reads through unless a fault says otherwise.
func (f *FaultStore) Get(ctx context.Context, name string) ([]byte, error) {
	if _, err := f.check("get", name, 0); err != nil {
		return nil, err
	}
	return f.inner.Get(ctx, name)
}

// List lists through unless a fault says otherwise.
func (f *FaultStore) List(ctx context.Context, prefix string) ([]string, error) {
	if _, err := f.check("list", prefix, 0); err != nil {
		return nil, err
	}
	return f.inner.List(ctx, prefix)
}

// Delete deletes through unless a fault says otherwise.
func (f *FaultStore) Delete(ctx context.Context, name string) error {
	if _, err := f.check("delete", name, 0); err != nil {
		return err
	}
	return f.inner.Delete(ctx, name)
}
