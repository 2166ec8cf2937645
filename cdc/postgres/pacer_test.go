package postgres

import (
	"net"
	"runtime"
	"testing"
	"time"
)

// TestPacerGathersWhileFast: once messages arrive fast, a pending read is woken only
// when pacedBytes are waiting, so it returns them in one piece; after a timeout, it is
// woken by each message again.
func TestPacerGathersWhileFast(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_RCVLOWAT pacing is Linux only")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	w, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := newPacer(c)
	now := time.Now()
	for i := 0; i < paceWindow; i++ {
		p.received(now)
	}
	if !p.paced {
		t.Fatal("not paced after a window of messages within a moment")
	}
	// readAfter starts a read, then writes small messages slowly: it reports the size
	// of the first read.
	readAfter := func(writes int) int {
		t.Helper()
		if err := p.beforeReceive(time.Now()); err != nil {
			t.Fatal(err)
		}
		// Generous: on a loaded machine the writer's millisecond sleeps run long, and
		// the test is about the size of the first read, not its time.
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		go func() {
			for i := 0; i < writes; i++ {
				time.Sleep(time.Millisecond)
				w.Write(make([]byte, 1024))
			}
		}()
		buf := make([]byte, 64<<10)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		// Drain the rest.
		for got := n; got < writes*1024; {
			m, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			got += m
		}
		return n
	}
	if n := readAfter(pacedBytes / 1024); n < pacedBytes {
		t.Fatalf("paced read returned %d bytes, want the %d gathered", n, pacedBytes)
	}
	p.timedOut()
	if n := readAfter(8); n >= 8*1024 {
		t.Fatalf("unpaced read waited for %d bytes", n)
	}
}
