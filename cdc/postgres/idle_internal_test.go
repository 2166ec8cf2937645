package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/strata-data/strata/cdc"
)

// A transaction queued before the keepalive that marks the source caught up is
// returned, never cdc.ErrIdle, even when the idle timer fires in the same select.
// With a 1ns IdleWait both are ready at once, so a plain select would report idle in
// about half of these reads.
func TestIdleNeverHidesAQueuedTransaction(t *testing.T) {
	s := NewSource(Config{DSN: "unused", Slot: "unused", IdleWait: time.Nanosecond})
	s.opened = true
	s.ch = make(chan item, 1)
	s.space = make(chan struct{}, 1)
	s.done = make(chan struct{})
	s.caughtUp.Store(true)
	s.timer = time.NewTimer(time.Hour)
	for i := range 500 {
		s.ch <- item{tx: cdc.Tx{ID: "t"}}
		tx, err := s.waitCaughtUp(context.Background())
		if errors.Is(err, cdc.ErrIdle) {
			t.Fatalf("read %d: idle with a transaction queued", i)
		}
		if err != nil || tx.ID != "t" {
			t.Fatalf("read %d: %+v, %v", i, tx, err)
		}
	}
}
