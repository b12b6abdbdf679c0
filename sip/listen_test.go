package sip

import (
	"net"
	"os"
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

// The SIP UDP socket gets a 4 MiB receive and send buffer where the kernel
// allows it (net.core.rmem_max / wmem_max), not the ~208 KiB default that a
// burst of a few hundred calls a second overflowed.
func TestSizeBuffers(t *testing.T) {
	udp, tcp, err := listenPair("127.0.0.1:0")
	if err != nil {
		t.Fatalf("listenPair: %v", err)
	}
	defer udp.Close()
	defer tcp.Close()
	rcv, snd, err := sizeBuffers(udp, sipSocketBuffer)
	if err != nil {
		t.Fatalf("sizeBuffers: %v", err)
	}
	// Where rmem_max allows more than the default (4 MiB here), a socket
	// left at the default fails this.
	if want := min(sipSocketBuffer, sysctlInt(t, "/proc/sys/net/core/rmem_max")); rcv < want {
		t.Fatalf("receive buffer %d, want at least %d", rcv, want)
	}
	if w := min(sipSocketBuffer, sysctlInt(t, "/proc/sys/net/core/wmem_max")); snd < w {
		t.Fatalf("send buffer %d, want at least %d", snd, w)
	}
}

// sysctlInt reads a numeric sysctl; the test is skipped where there is none.
func sysctlInt(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("no %s: %v", path, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return n
}
