package siptest

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-dev/hotline/sip/media"
	"github.com/pion/rtp"
)

// uasTone is what the fake UAS streams to every answered call.
const uasTone = 1000.0

// fakeUAS is a tiny sipgo UAS for the package's own tests. It picks its
// behaviour from the request-URI user:
//
//	busy  → 486           wrong → 404           ring → 100, 180, then waits for CANCEL
//	hangup → answers, sends BYE after 500 ms
//	other → 200 with an SDP answer (488 when no common codec), streams uasTone
type fakeUAS struct {
	t    *testing.T
	ua   *sipgo.UserAgent
	dua  *sipgo.DialogUA
	port int

	mu    sync.Mutex
	calls map[string]*uasCall
	wg    sync.WaitGroup
}

// uasCall is what the fake UAS saw of one call.
type uasCall struct {
	dlg  *sipgo.DialogServerSession
	conn *net.UDPConn

	mu         sync.Mutex
	neg        media.Negotiated
	events     []rtp.Packet // telephone-event packets received
	audio      int          // audio packets received
	sources    map[netip.AddrPort]bool
	infos      []string // "content-type|body"
	directions []media.Direction
	acks       int
	bye        bool
}

func newFakeUAS(t *testing.T) *fakeUAS {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("fake-uas"))
	if err != nil {
		t.Fatalf("new ua: %v", err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname(loopback))
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	udp, tcp := listenPair(t)
	u := &fakeUAS{t: t, ua: ua, port: udp.LocalAddr().(*net.UDPAddr).Port, calls: map[string]*uasCall{}}
	u.dua = &sipgo.DialogUA{Client: cli, ContactHDR: sip.ContactHeader{
		Address: sip.Uri{Scheme: "sip", User: "uas", Host: loopback, Port: u.port}}}
	srv.OnInvite(u.onInvite)
	srv.OnAck(u.onAck)
	srv.OnBye(u.onBye)
	srv.OnInfo(u.onInfo)
	u.wg.Add(2)
	go func() { defer u.wg.Done(); _ = srv.ServeUDP(udp) }()
	go func() { defer u.wg.Done(); _ = srv.ServeTCP(tcp) }()
	t.Cleanup(func() {
		_ = udp.Close()
		_ = tcp.Close()
		_ = ua.Close()
		u.wg.Wait()
	})
	return u
}

// listenPair binds UDP and TCP on the same loopback port, so one Contact serves both.
func listenPair(t *testing.T) (*net.UDPConn, net.Listener) {
	t.Helper()
	for range 20 {
		udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(loopback)})
		if err != nil {
			t.Fatalf("listen udp: %v", err)
		}
		tcp, err := net.Listen("tcp", udp.LocalAddr().String())
		if err == nil {
			return udp, tcp
		}
		_ = udp.Close()
	}
	t.Fatal("no loopback port free for both udp and tcp")
	return nil, nil
}

func (u *fakeUAS) uri(user string) string {
	return "sip:" + user + "@" + net.JoinHostPort(loopback, strconv.Itoa(u.port))
}

func (u *fakeUAS) call(id string) *uasCall {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[id]
}

func (u *fakeUAS) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if req.To().Params.Has("tag") {
		u.onReinvite(req, tx)
		return
	}
	dlg, err := u.dua.ReadInvite(req, tx)
	if err != nil {
		u.t.Errorf("read invite: %v", err)
		return
	}
	defer dlg.Close()
	switch req.Recipient.User {
	case "busy":
		_ = dlg.Respond(sip.StatusBusyHere, "Busy Here", nil)
		return
	case "wrong":
		_ = dlg.Respond(sip.StatusNotFound, "Not Found", nil)
		return
	case "ring":
		_ = dlg.Respond(sip.StatusTrying, "Trying", nil)
		_ = dlg.Respond(sip.StatusRinging, "Ringing", nil)
		<-dlg.Context().Done() // the transaction layer answers CANCEL and sends 487
		return
	}
	u.answer(req, dlg)
}

// answer sends 200 with our answer (or our offer when the INVITE had none),
// then streams the tone until the dialog ends.
func (u *fakeUAS) answer(req *sip.Request, dlg *sipgo.DialogServerSession) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(loopback)})
	if err != nil {
		u.t.Errorf("rtp socket: %v", err)
		return
	}
	defer conn.Close()
	c := &uasCall{dlg: dlg, conn: conn}
	local := media.LocalSDP{Addr: netip.MustParseAddr(loopback), Port: conn.LocalAddr().(*net.UDPAddr).Port,
		SessionID: 1, Version: 1, DTMF: true, DTMFPayloadType: 101}
	if len(req.Body()) > 0 {
		offer, err := media.ParseSDP(req.Body())
		if err == nil {
			c.neg, err = media.Negotiate(offer, []media.Codec{media.PCMU, media.PCMA})
		}
		if err != nil {
			_ = dlg.Respond(sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
			return
		}
		local.Codecs, local.DTMF, local.DTMFPayloadType = []media.Codec{c.neg.Codec}, c.neg.DTMF, c.neg.DTMFPayloadType
	} else {
		local.Codecs = []media.Codec{media.PCMA, media.PCMU}
	}
	u.mu.Lock()
	u.calls[req.CallID().Value()] = c
	u.mu.Unlock()
	if err := dlg.RespondSDP(media.BuildSDP(local)); err != nil {
		u.t.Errorf("respond 200: %v", err)
		return
	}
	ctx := dlg.Context()
	if req.Recipient.User == "hangup" {
		go func() {
			time.Sleep(500 * time.Millisecond)
			byeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = dlg.Bye(byeCtx)
		}()
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.read() }()
	go func() { defer wg.Done(); c.stream(ctx) }()
	<-ctx.Done()
	_ = conn.Close()
	wg.Wait()
}

func (u *fakeUAS) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	c := u.call(req.CallID().Value())
	if c == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "No Call", nil))
		return
	}
	offer, err := media.ParseSDP(req.Body())
	if err != nil || c.dlg.ReadRequest(req, tx) != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Re-INVITE", nil))
		return
	}
	n := c.negotiated()
	c.mu.Lock()
	c.directions = append(c.directions, offer.Direction)
	c.mu.Unlock()
	body := media.BuildSDP(media.LocalSDP{Addr: netip.MustParseAddr(loopback), Port: c.conn.LocalAddr().(*net.UDPAddr).Port,
		SessionID: 1, Version: 2, Codecs: []media.Codec{n.Codec}, DTMF: n.DTMF, DTMFPayloadType: n.DTMFPayloadType,
		Direction: media.RecvOnly})
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(&u.dua.ContactHDR)
	_ = tx.Respond(res)
}

func (u *fakeUAS) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c := u.call(req.CallID().Value())
	if c == nil {
		return
	}
	if len(req.Body()) > 0 { // answer to the offer we put in the 200
		if ans, err := media.ParseSDP(req.Body()); err == nil {
			if n, err := media.Negotiate(ans, []media.Codec{media.PCMU, media.PCMA}); err == nil {
				c.mu.Lock()
				c.neg = n
				c.mu.Unlock()
			}
		}
	}
	c.mu.Lock()
	c.acks++
	c.mu.Unlock()
	_ = c.dlg.ReadAck(req, tx)
}

func (u *fakeUAS) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := u.call(req.CallID().Value())
	if c == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "No Call", nil))
		return
	}
	c.mu.Lock()
	c.bye = true
	c.mu.Unlock()
	_ = c.dlg.ReadBye(req, tx)
}

func (u *fakeUAS) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	if c := u.call(req.CallID().Value()); c != nil {
		c.mu.Lock()
		c.infos = append(c.infos, req.ContentType().Value()+"|"+string(req.Body()))
		c.mu.Unlock()
	}
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
}

func (c *uasCall) negotiated() media.Negotiated {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.neg
}

// stream sends uasTone in 20 ms PCMU/PCMA packets to the negotiated remote.
func (c *uasCall) stream(ctx context.Context) {
	tone := Tone(uasTone, time.Second, 8000)
	tick := time.NewTicker(frameInterval)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n := c.negotiated()
		off := (i * frameSamples) % len(tone)
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: n.Codec.PayloadType, SequenceNumber: uint16(i),
			Timestamp: uint32(i * frameSamples), SSRC: 0x5eed, Marker: i == 0},
			Payload: n.Codec.Encode(nil, tone[off:off+frameSamples])}
		buf, _ := p.Marshal()
		_, _ = c.conn.WriteToUDPAddrPort(buf, n.Remote)
	}
}

func (c *uasCall) read() {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			continue
		}
		neg := c.negotiated()
		c.mu.Lock()
		if c.sources == nil {
			c.sources = map[netip.AddrPort]bool{}
		}
		c.sources[from] = true
		switch {
		case neg.DTMF && p.PayloadType == neg.DTMFPayloadType:
			c.events = append(c.events, *p.Clone())
		case p.PayloadType == neg.Codec.PayloadType:
			c.audio++
		}
		c.mu.Unlock()
	}
}

var errNoCall = errors.New("fake uas has no such call")

// hangup makes the fake UAS send BYE on the call.
func (u *fakeUAS) hangup(ctx context.Context, callID string) error {
	c := u.call(callID)
	if c == nil {
		return errNoCall
	}
	return c.dlg.Bye(ctx)
}
