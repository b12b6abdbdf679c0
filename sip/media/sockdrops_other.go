//go:build !linux

package media

import "net"

// socketDrops: only Linux tells a socket's drops (SO_MEMINFO).
func socketDrops(int) (uint64, bool) { return 0, false }

// SocketDrops: only Linux tells a socket's drops (SO_MEMINFO).
func SocketDrops(*net.UDPConn) (uint64, bool) { return 0, false }
