package stream

import (
	"context"
	"runtime"
	"sync"
)

// readAhead calls a source's Next on its own goroutine, keeping up to n
// transactions ready, so that the dataflow can tell whether another transaction
// is ready without waiting for it (adaptive epochs).
type readAhead struct {
	ch     chan fetched
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type fetched struct {
	tx  TxBatches
	err error
}

func newReadAhead(ctx context.Context, src BatchSource, n int) *readAhead {
	ctx, cancel := context.WithCancel(ctx)
	r := &readAhead{ch: make(chan fetched, n), cancel: cancel}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			tx, err := src.Next(ctx)
			select {
			case r.ch <- fetched{tx, err}:
			case <-ctx.Done():
				tx.Release()
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return r
}

// next returns the next transaction, waiting for it (or for ctx) if none is ready.
func (r *readAhead) next(ctx context.Context) (TxBatches, error) {
	select {
	case f := <-r.ch:
		return f.tx, f.err
	case <-ctx.Done():
		return TxBatches{}, context.Cause(ctx)
	}
}

// ready reports whether next would return at once. When nothing is ready it
// yields once first: on a busy core the read-ahead goroutine may not have run
// since the source had more, and an epoch ended for that alone would be one
// transaction long, keeping the flow at its slowest.
func (r *readAhead) ready() bool {
	if len(r.ch) > 0 {
		return true
	}
	runtime.Gosched()
	return len(r.ch) > 0
}

// stop ends the goroutine (Next must honour its context) and releases what it
// read and nobody took.
func (r *readAhead) stop() {
	r.cancel()
	r.wg.Wait()
	for {
		select {
		case f := <-r.ch:
			f.tx.Release()
		default:
			return
		}
	}
}
