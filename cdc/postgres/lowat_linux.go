package postgres

import (
	"net"
	"syscall"
)

// setRcvLowat sets the socket's SO_RCVLOWAT: epoll reports it readable only once n
// bytes are waiting (a non-blocking read still returns what there is).
func setRcvLowat(c net.Conn, n int) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, n)
	}); err != nil {
		return false
	}
	return serr == nil
}
