package media

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// freeRange finds an even base port where size even ports are free right now,
// so the tests do not collide with whatever else runs on the machine.
func freeRange(t *testing.T, size int) int {
	t.Helper()
	for range 100 {
		base := 20000 + 2*rand.IntN(20000)
		ok := true
		for i := range size {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: base + 2*i})
			if err != nil {
				ok = false
				break
			}
			c.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free range of udp ports on 127.0.0.1")
	return 0
}

func TestNewPortPoolValidation(t *testing.T) {
	tests := []struct {
		name     string
		min, max int
		wantErr  bool
	}{
		{"default range", 10000, 20000, false},
		{"two ports", 10000, 10002, false},
		{"odd start", 10001, 20000, true},
		{"empty range", 10000, 10000, true},
		{"reversed", 20000, 10000, true},
		{"privileged", 1000, 2000, true},
		{"above 65535", 60000, 70000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPortPool(tt.min, tt.max)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewPortPool(%d, %d) error = %v, want error %v", tt.min, tt.max, err, tt.wantErr)
			}
		})
	}
}

func TestPortPoolExhaustionAndRelease(t *testing.T) {
	base := freeRange(t, 3)
	pool, err := NewPortPool(base, base+5) // even ports base, base+2, base+4
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]*net.UDPConn{}
	for range 3 {
		conn, port, err := pool.Listen(loopback)
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		t.Cleanup(func() { conn.Close() })
		if port%2 != 0 || port < base || port > base+4 || seen[port] != nil {
			t.Fatalf("port %d: want a new even port in %d-%d", port, base, base+4)
		}
		if got := conn.LocalAddr().(*net.UDPAddr).Port; got != port {
			t.Fatalf("socket bound to %d, Listen said %d", got, port)
		}
		seen[port] = conn
	}
	if got := pool.InUse(); got != 3 {
		t.Fatalf("InUse = %d, want 3", got)
	}
	if _, _, err := pool.Listen(loopback); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("Listen on a full pool: err = %v, want ErrNoPorts", err)
	}
	seen[base+2].Close()
	pool.Release(base + 2)
	if got := pool.InUse(); got != 2 {
		t.Fatalf("InUse after Release = %d, want 2", got)
	}
	conn, port, err := pool.Listen(loopback)
	if err != nil {
		t.Fatalf("Listen after Release: %v", err)
	}
	conn.Close()
	if port != base+2 {
		t.Fatalf("Listen after Release got port %d, want the released %d", port, base+2)
	}
}

// TestPortPoolRandomOrder: the next call's port cannot be predicted from the
// last one, so nobody can aim RTP at a call before its caller does.
func TestPortPoolRandomOrder(t *testing.T) {
	const n = 24
	base := freeRange(t, n)
	pool, err := NewPortPool(base, base+2*(n-1))
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for range n {
		conn, port, err := pool.Listen(loopback)
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		t.Cleanup(func() { conn.Close() })
		got = append(got, port)
	}
	// In order, every step would be +2; at random about one step in n is.
	steps := 0
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1]+2 {
			steps++
		}
	}
	if steps > n/3 {
		t.Fatalf("ports handed out %v: %d of %d steps go to the next port, want a random order", got, steps, n-1)
	}
	if !slices.Equal(sortedCopy(got), evenPorts(base, n)) {
		t.Fatalf("ports handed out %v: want each of the %d ports once", got, n)
	}
}

func sortedCopy(s []int) []int {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func evenPorts(base, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = base + 2*i
	}
	return out
}

// TestPortPoolConcurrentNeverTwice: goroutines taking and releasing ports at
// once never hold the same port together (run with -race).
func TestPortPoolConcurrentNeverTwice(t *testing.T) {
	const n, workers, rounds = 16, 8, 40
	base := freeRange(t, n)
	pool, err := NewPortPool(base, base+2*(n-1))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	held := map[int]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range rounds {
				conn, port, err := pool.Listen(loopback)
				if errors.Is(err, ErrNoPorts) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				twice := held[port]
				held[port] = true
				mu.Unlock()
				if twice {
					errs <- fmt.Errorf("port %d handed out while held", port)
					return
				}
				mu.Lock()
				delete(held, port)
				mu.Unlock()
				conn.Close()
				pool.Release(port)
				pool.Release(port) // a second Release must not free it twice
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := pool.InUse(); got != 0 {
		t.Fatalf("InUse = %d after every port was released, want 0", got)
	}
	// Every port is still there exactly once: a full round takes them all.
	var got []int
	for range n {
		conn, port, err := pool.Listen(loopback)
		if err != nil {
			t.Fatalf("Listen %d of %d: %v", len(got)+1, n, err)
		}
		t.Cleanup(func() { conn.Close() })
		got = append(got, port)
	}
	if !slices.Equal(sortedCopy(got), evenPorts(base, n)) {
		t.Fatalf("after the concurrent rounds the pool handed out %v, want each of its %d ports once", got, n)
	}
}

func TestPortPoolSkipsPortHeldByOthers(t *testing.T) {
	base := freeRange(t, 2)
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: base})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	pool, err := NewPortPool(base, base+2)
	if err != nil {
		t.Fatal(err)
	}
	conn, port, err := pool.Listen(loopback)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer conn.Close()
	if port != base+2 {
		t.Fatalf("got port %d, want %d (port %d is held by another socket)", port, base+2, base)
	}
	if _, _, err := pool.Listen(loopback); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("second Listen: err = %v, want ErrNoPorts", err)
	}
}

func TestPortPoolBadAddress(t *testing.T) {
	pool, err := NewPortPool(10000, 10010)
	if err != nil {
		t.Fatal(err)
	}
	// 192.0.2.1 (TEST-NET-1, RFC 5737) is not on this host: binding fails for
	// a reason other than a busy port, which must not read as "pool exhausted".
	_, _, err = pool.Listen(netip.MustParseAddr("192.0.2.1"))
	if err == nil || errors.Is(err, ErrNoPorts) {
		t.Fatalf("Listen on a foreign address: err = %v, want a bind error", err)
	}
	if got := pool.InUse(); got != 0 {
		t.Fatalf("InUse = %d after a failed Listen, want 0", got)
	}
}
