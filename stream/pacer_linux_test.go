//go:build linux

package stream_test

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// waiter sleeps on a timerfd read through the runtime's network poller rather than
// on a Go timer. A Go timer has two faults here: a P with nothing to run sleeps in
// the poller for whole milliseconds, so a sub-millisecond sleep lasts about 1 ms;
// and while a garbage collection is marking, an idle P runs the mark worker, which
// gives way to runnable goroutines and network events but not to expiring timers,
// so a paced source stalled for the rest of the mark phase (5-10 ms with one P).
// A source reading a socket is woken as the timerfd is.
type waiter struct {
	f  *os.File
	fd int
}

func newWaiter() (*waiter, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &waiter{f: os.NewFile(uintptr(fd), "timerfd"), fd: fd}, nil
}

func (w *waiter) sleep(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if err := unix.TimerfdSettime(w.fd, 0, &spec, nil); err != nil {
		return err
	}
	var buf [8]byte // the number of expirations
	_, err := w.f.Read(buf[:])
	return err
}

func (w *waiter) close() error { return w.f.Close() }
