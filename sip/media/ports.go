package media

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
)

// ErrNoPorts is returned by PortPool.Listen when every even port of the range
// is taken (by us or by another process).
var ErrNoPorts = errors.New("no free rtp port in the pool")

// Limits of a configurable RTP port range: below 1024 needs privileges.
const (
	minPortLimit = 1024
	maxPortLimit = 65535
)

// PortPool hands out even UDP ports from a range for RTP (RFC 3550 section 11:
// RTP on an even port, the odd one above is left for RTCP). It is safe for
// concurrent use. Ports are handed out in random order, so nobody can predict
// the port of the next call and aim audio at it before its caller does; each
// step is O(1) and a port is never handed out twice before its Release.
type PortPool struct {
	mu   sync.Mutex
	min  int
	max  int
	free []int   // ports not handed out, in no order
	pos  []int32 // index in free of the port min+2i, or handedOut
}

// handedOut marks a port in PortPool.pos that is not in the free list.
const handedOut = -1

// NewPortPool creates a pool of the even ports in [min, max]. min must be even,
// min < max, and both within 1024..65535.
func NewPortPool(min, max int) (*PortPool, error) {
	switch {
	case min >= max:
		return nil, fmt.Errorf("rtp port range %d-%d: the first port must be below the last", min, max)
	case min < minPortLimit || max > maxPortLimit:
		return nil, fmt.Errorf("rtp port range %d-%d: ports must be within %d-%d",
			min, max, minPortLimit, maxPortLimit)
	case min%2 != 0:
		return nil, fmt.Errorf("rtp port range %d-%d: the first port must be even (RTP uses even ports)", min, max)
	}
	n := (max-min)/2 + 1
	p := &PortPool{min: min, max: max, free: make([]int, n), pos: make([]int32, n)}
	for i := range n {
		p.free[i], p.pos[i] = min+2*i, int32(i)
	}
	return p, nil
}

// size is the number of even ports in the range.
func (p *PortPool) size() int { return len(p.pos) }

// swap exchanges the free list entries i and j and keeps pos in step.
func (p *PortPool) swap(i, j int) {
	a, b := p.free[i], p.free[j]
	p.free[i], p.free[j] = b, a
	p.pos[(a-p.min)/2], p.pos[(b-p.min)/2] = int32(j), int32(i)
}

// Listen binds a UDP socket on ip at a free even port of the pool (RTP
// convention), chosen at random, and returns it with the port. Ports another
// process holds are skipped. It returns an error wrapping ErrNoPorts when the
// range is exhausted. The caller must Release the port after closing the
// socket.
func (p *PortPool) Listen(ip netip.Addr) (*net.UDPConn, int, error) {
	ip = ip.Unmap()
	network := "udp6"
	if ip.Is4() {
		network = "udp4"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// A partial Fisher-Yates shuffle: the candidates are free[:n]; a port
	// another socket holds is swapped behind them (it stays free for later
	// calls), so every free port is tried at most once.
	for n := len(p.free); n > 0; n-- {
		i := rand.IntN(n)
		port := p.free[i]
		addr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port)))
		conn, err := net.ListenUDP(network, addr)
		if errors.Is(err, syscall.EADDRINUSE) {
			p.swap(i, n-1)
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("open rtp port %d on %s: %w", port, ip, err)
		}
		last := len(p.free) - 1
		p.swap(i, last)
		p.free = p.free[:last]
		p.pos[(port-p.min)/2] = handedOut
		return conn, port, nil
	}
	return nil, 0, fmt.Errorf("rtp ports %d-%d on %s: %w", p.min, p.max, ip, ErrNoPorts)
}

// Release returns port to the pool. Releasing a port the pool did not hand
// out, or releasing it twice, is a no-op.
func (p *PortPool) Release(port int) {
	if port < p.min || port > p.max || (port-p.min)%2 != 0 {
		return
	}
	i := (port - p.min) / 2
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pos[i] != handedOut {
		return
	}
	p.pos[i] = int32(len(p.free))
	p.free = append(p.free, port)
}

// InUse reports how many ports of the pool are currently handed out.
func (p *PortPool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.size() - len(p.free)
}
