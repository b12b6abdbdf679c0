package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// startHostile floods target from soakHostileSource with rate datagrams/s
// until ctx ends: INVITEs that are never ACKed (each a new call that holds
// an RTP port until the 200's transaction times out) alternating with
// REGISTERs for agent 1001 carrying a made-up nonce (a ban must not follow:
// the nonce is not ours). Responses are counted by status code.
func startHostile(ctx context.Context, target string, rate float64) (*hostile, error) {
	raddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, fmt.Errorf("hostile source: %w", err)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(soakHostileSource)})
	if err != nil {
		return nil, fmt.Errorf("hostile source %s: %w", soakHostileSource, err)
	}
	h := &hostile{done: make(chan struct{}), stats: hostileStats{Responses: map[string]int{}}}
	read := make(chan struct{})
	go func() {
		defer close(read)
		h.read(conn)
	}()
	go func() {
		defer close(h.done)
		h.send(ctx, conn, raddr, rate)
		// Late responses (retransmitted 200s) are not counted past here.
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		<-read
		_ = conn.Close()
	}()
	return h, nil
}

// hostileTick paces the flood: rate/100 datagrams every 10 ms.
const hostileTick = 10 * time.Millisecond

func (h *hostile) send(ctx context.Context, conn *net.UDPConn, to *net.UDPAddr, rate float64) {
	t := time.NewTicker(hostileTick)
	defer t.Stop()
	local := conn.LocalAddr().(*net.UDPAddr)
	owed := 0.0
	for n := 0; ; {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		owed += rate * hostileTick.Seconds()
		for ; owed >= 1; owed-- {
			n++
			var msg string
			if n%2 == 0 {
				msg = hostileInvite(local, to, n)
			} else {
				msg = hostileRegister(local, to, n)
			}
			if _, err := conn.WriteToUDP([]byte(msg), to); err != nil {
				h.mu.Lock()
				h.stats.Err = err.Error()
				h.mu.Unlock()
				continue
			}
			h.mu.Lock()
			if n%2 == 0 {
				h.stats.Invites++
			} else {
				h.stats.Registers++
			}
			h.mu.Unlock()
		}
	}
}

func (h *hostile) read(conn *net.UDPConn) {
	buf := make([]byte, 65535)
	for {
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		// "SIP/2.0 503 Service Unavailable": the code is the second word.
		f := strings.Fields(string(buf[:min(n, 64)]))
		if len(f) >= 2 && f[0] == "SIP/2.0" {
			h.mu.Lock()
			h.stats.Responses[f[1]]++
			h.mu.Unlock()
		}
	}
}

func hostileInvite(from, to *net.UDPAddr, n int) string {
	sdp := "v=0\r\no=- " + strconv.Itoa(n) + " 1 IN IP4 " + from.IP.String() + "\r\ns=-\r\nc=IN IP4 " + from.IP.String() +
		"\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	return "INVITE sip:12345@" + to.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + from.String() + ";branch=z9hG4bK" + randToken() + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:1990" + fmt.Sprintf("%07d", n) + "@" + from.IP.String() + ">;tag=" + randToken() + "\r\n" +
		"To: <sip:12345@" + to.String() + ">\r\n" +
		"Call-ID: " + randToken() + "@" + from.IP.String() + "\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:flood@" + from.String() + ">\r\n" +
		"Content-Type: application/sdp\r\n" +
		"Content-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp
}

func hostileRegister(from, to *net.UDPAddr, n int) string {
	uri := "sip:" + to.String()
	return "REGISTER " + uri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + from.String() + ";branch=z9hG4bK" + randToken() + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:1001@" + to.String() + ">;tag=" + randToken() + "\r\n" +
		"To: <sip:1001@" + to.String() + ">\r\n" +
		"Call-ID: " + randToken() + "@" + from.IP.String() + "\r\n" +
		"CSeq: " + strconv.Itoa(n) + " REGISTER\r\n" +
		"Contact: <sip:1001@" + from.String() + ">\r\n" +
		`Authorization: Digest username="1001", realm="hotline", nonce="` + randToken() + `", uri="` + uri +
		`", response="` + randToken() + randToken() + `", algorithm=MD5` + "\r\n" +
		"Expires: 3600\r\n" +
		"Content-Length: 0\r\n\r\n"
}

func randToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
