//go:build !linux

package postgres

import "net"

// setRcvLowat is Linux only; elsewhere messages are read as they come.
func setRcvLowat(net.Conn, int) bool { return false }
