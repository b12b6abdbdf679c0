package sip

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"sync"
	"time"
)

// Nonce layout (RFC 7616 §3.3 leaves it to the server): base64url of
// issued-at (8 octets, Unix ms) || random (12) || HMAC-SHA-256(secret,
// issued-at || random || source IP) truncated to 16 octets. Any node holding
// the secret can verify a nonce and its age without shared state, and a nonce
// is good only from the address it was sent to: a failure can then be counted
// against a source only by someone who receives that source's packets.
const (
	nonceTimeLen = 8
	nonceRandLen = 12
	nonceMACLen  = 16
	nonceLen     = nonceTimeLen + nonceRandLen + nonceMACLen
)

// maxTrackedNonces bounds the nonce-count table (RFC 7616 §3.3: the server
// tracks nc per nonce to detect replays).
const maxTrackedNonces = 100_000

// nonces mints and checks digest nonces and remembers the last nonce-count
// used with each, so a replayed request (same or lower nc) is refused.
type nonces struct {
	secret []byte
	ttl    time.Duration

	mu     sync.Mutex
	counts map[string]nonceCount
	max    int
	// floor: a nonce issued at or before it that is not in counts may have
	// been forgotten on overflow, so its count is unknown and it is stale.
	floor time.Time
}

type nonceCount struct {
	last    uint32
	expires time.Time
}

func newNonces(secret []byte, ttl time.Duration) *nonces {
	return &nonces{secret: secret, ttl: ttl, counts: map[string]nonceCount{}, max: maxTrackedNonces}
}

// randomSecret is the per-process nonce key used when none is configured.
func randomSecret() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}

func (n *nonces) mac(data ...[]byte) []byte {
	m := hmac.New(sha256.New, n.secret)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)[:nonceMACLen]
}

// opaque is derived from the secret, so every node with the secret agrees.
func (n *nonces) opaque() string {
	return hex.EncodeToString(n.mac([]byte("opaque")))
}

// sourceBytes is the source IP as the MAC takes it (16 octets; an unknown
// source is the unspecified address).
func sourceBytes(ip netip.Addr) []byte {
	if !ip.IsValid() {
		ip = netip.IPv6Unspecified()
	}
	b := ip.Unmap().As16()
	return b[:]
}

// mint returns a fresh nonce issued at now to the source ip.
func (n *nonces) mint(ip netip.Addr, now time.Time) string {
	b := make([]byte, nonceLen)
	binary.BigEndian.PutUint64(b, uint64(now.UnixMilli()))
	_, _ = rand.Read(b[nonceTimeLen : nonceTimeLen+nonceRandLen])
	copy(b[nonceTimeLen+nonceRandLen:], n.mac(b[:nonceTimeLen+nonceRandLen], sourceBytes(ip)))
	return base64.RawURLEncoding.EncodeToString(b)
}

// verify checks that nonce is one of ours, issued to the source ip, and still
// fresh; valid is false for a nonce we did not mint (another secret, another
// source, forged, garbled).
func (n *nonces) verify(nonce string, ip netip.Addr, now time.Time) (issued time.Time, valid, fresh bool) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != nonceLen {
		return time.Time{}, false, false
	}
	if !hmac.Equal(b[nonceTimeLen+nonceRandLen:], n.mac(b[:nonceTimeLen+nonceRandLen], sourceBytes(ip))) {
		return time.Time{}, false, false
	}
	issued = time.UnixMilli(int64(binary.BigEndian.Uint64(b)))
	age := now.Sub(issued)
	return issued, true, age >= -time.Second && age <= n.ttl
}

// use records nc for nonce. It refuses a count not above the last one seen
// (replay) and reports stale when the nonce's history was forgotten.
func (n *nonces) use(nonce string, nc uint32, issued, now time.Time) (ok, stale bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, seen := n.counts[nonce]; seen {
		if nc <= c.last {
			return false, false
		}
		n.counts[nonce] = nonceCount{last: nc, expires: c.expires}
		return true, false
	}
	if !issued.After(n.floor) {
		return false, true
	}
	if len(n.counts) >= n.max {
		n.shed(now)
	}
	n.counts[nonce] = nonceCount{last: nc, expires: issued.Add(n.ttl)}
	return true, false
}

// shed forgets expired nonces and, if the table is still full, all of them:
// their clients then get stale=true and retry with a new nonce.
func (n *nonces) shed(now time.Time) {
	for k, c := range n.counts {
		if now.After(c.expires) {
			delete(n.counts, k)
		}
	}
	if len(n.counts) >= n.max {
		clear(n.counts)
		n.floor = now
	}
}
