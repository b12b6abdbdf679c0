package media

import (
	"errors"
	"fmt"
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
// concurrent use. Allocation is round-robin, so a port released at the end of
// one call is not handed straight to the next call, where late packets of the
// old call would still arrive.
type PortPool struct {
	mu   sync.Mutex
	min  int
	max  int
	next int // next candidate port, always even
	used map[int]struct{}
}

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
	return &PortPool{min: min, max: max, next: min, used: make(map[int]struct{})}, nil
}

// size is the number of even ports in the range.
func (p *PortPool) size() int { return (p.max-p.min)/2 + 1 }

// advance returns the even port after port, wrapping to the start of the range.
func (p *PortPool) advance(port int) int {
	port += 2
	if port > p.max {
		port = p.min
	}
	return port
}

// Listen binds a UDP socket on ip at a free even port of the pool (RTP
// convention) and returns it with the port. Ports another process holds are
// skipped. It returns an error wrapping ErrNoPorts when the range is exhausted.
// The caller must Release the port after closing the socket.
func (p *PortPool) Listen(ip netip.Addr) (*net.UDPConn, int, error) {
	ip = ip.Unmap()
	network := "udp6"
	if ip.Is4() {
		network = "udp4"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for range p.size() {
		port := p.next
		p.next = p.advance(port)
		if _, taken := p.used[port]; taken {
			continue
		}
		addr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port)))
		conn, err := net.ListenUDP(network, addr)
		if errors.Is(err, syscall.EADDRINUSE) {
			continue // held by another socket: try the next port
		}
		if err != nil {
			return nil, 0, fmt.Errorf("open rtp port %d on %s: %w", port, ip, err)
		}
		p.used[port] = struct{}{}
		return conn, port, nil
	}
	return nil, 0, fmt.Errorf("rtp ports %d-%d on %s: %w", p.min, p.max, ip, ErrNoPorts)
}

// Release returns port to the pool. Releasing a port the pool did not hand
// out is a no-op.
func (p *PortPool) Release(port int) {
	p.mu.Lock()
	delete(p.used, port)
	p.mu.Unlock()
}

// InUse reports how many ports of the pool are currently handed out.
func (p *PortPool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.used)
}
