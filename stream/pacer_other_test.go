//go:build !linux

package stream_test

import "time"

// waiter sleeps on a Go timer (see the Linux version for why it is not one there).
type waiter struct{}

func newWaiter() (*waiter, error) { return &waiter{}, nil }

func (w *waiter) sleep(d time.Duration) error {
	time.Sleep(d)
	return nil
}

func (w *waiter) close() error { return nil }
