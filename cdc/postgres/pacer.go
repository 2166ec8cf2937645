package postgres

import (
	"net"
	"time"
)

// Receive pacing. The walsender flushes every message on its own, so a client that
// keeps up wakes (a read, an EAGAIN, epoll, a goroutine switch) once per row change:
// that was most of the source's CPU time while catching up on a backlog. While
// messages arrive fast, the pacer asks the kernel (SO_RCVLOWAT, Linux) to wake the
// reader only once pacedBytes are waiting, or after pacedWait at the latest; when they
// slow down it reads each message as it comes again.
const (
	pacedBytes  = 16 << 10
	pacedWait   = 5 * time.Millisecond
	idleWait    = 100 * time.Millisecond // a slow stream's read deadline
	paceWindow  = 256                    // messages between rate checks
	paceMinRate = 25 * time.Millisecond  // paceWindow messages within this: pace
)

type pacer struct {
	conn     net.Conn
	paced    bool
	deadline time.Time
	n        int
	window   time.Time
}

func newPacer(c net.Conn) *pacer { return &pacer{conn: c, window: time.Now()} }

// beforeReceive sets the read deadline (now+pacedWait or now+idleWait), not on every
// message: only once less than half of it is left.
func (p *pacer) beforeReceive(now time.Time) error {
	wait := idleWait
	if p.paced {
		wait = pacedWait
	}
	if p.deadline.Sub(now) >= wait/2 {
		return nil
	}
	p.deadline = now.Add(wait)
	return p.conn.SetReadDeadline(p.deadline)
}

// received counts a message; paceWindow messages in less than paceMinRate turn
// pacing on.
func (p *pacer) received(now time.Time) {
	p.n++
	if p.n < paceWindow {
		return
	}
	if !p.paced && now.Sub(p.window) < paceMinRate && setRcvLowat(p.conn, pacedBytes) {
		p.paced = true
		p.deadline = time.Time{} // shorten it
	}
	p.n, p.window = 0, now
}

// timedOut turns pacing off: the messages slowed down (what arrived below the low-water
// mark is read at once).
func (p *pacer) timedOut() {
	if p.paced {
		setRcvLowat(p.conn, 1)
		p.paced = false
	}
	p.deadline = time.Time{}
}
