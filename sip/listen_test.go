package sip

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// Port 0 gives UDP and TCP the same port (the Contact and Via name one port
// for both transports).
func TestListenPairSamePort(t *testing.T) {
	for range 20 {
		udp, tcp, err := listenPair("127.0.0.1:0")
		if err != nil {
			t.Fatalf("listenPair: %v", err)
		}
		u, p := udp.LocalAddr().(*net.UDPAddr).Port, tcp.Addr().(*net.TCPAddr).Port
		udp.Close()
		tcp.Close()
		if u != p || u == 0 {
			t.Fatalf("udp port %d, tcp port %d: want the same non-zero port", u, p)
		}
	}
}

// A configured port whose TCP side is taken is an error naming TCP, and the
// UDP socket is not left bound.
func TestListenPairTCPTaken(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := "127.0.0.1:" + strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	if _, _, err := listenPair(addr); err == nil || !strings.Contains(err.Error(), "listen sip tcp") {
		t.Fatalf("listenPair(%s) with its TCP port taken: err %v, want a TCP listen error", addr, err)
	}
	udp, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("UDP %s still bound after the failed listen: %v", addr, err)
	}
	udp.Close()
}
