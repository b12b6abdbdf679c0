package sip

import (
	"context"
	"log/slog"
	"math"
	"math/rand/v2"
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

// testServer runs a hotline Server on 127.0.0.1 with a random port. The UDP
// port is random and TCP must get the same one, so a taken TCP port retries.
func testServer(t *testing.T, mutate func(*Options)) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	// 41000-50000: sip/media's tests, which go test runs beside these, hold
	// whole ranges between 30000 and 35000 (batch_test, relayout_linux_test);
	// testPortPool takes 40000-40010.
	lo := 41000 + 2*rand.IntN(4480)
	pool, err := media.NewPortPool(lo, lo+40)
	if err != nil {
		t.Fatalf("port pool: %v", err)
	}
	o := Options{Config: cfg, Ports: pool, Logger: slog.New(slog.DiscardHandler),
		Handler: func(context.Context, *Call) {},
		Prompts: media.Library{PromptFeatureOK: media.NewPrompt(PromptFeatureOK, tone(400*time.Millisecond))}}
	// mutate runs once: it may register metrics, which a retry must not repeat.
	if mutate != nil {
		mutate(&o)
	}
	for attempt := 1; ; attempt++ {
		srv, err := startTestServer(t, o)
		if err == nil {
			return srv
		}
		if attempt == 5 {
			t.Fatalf("start sip server: %v", err)
		}
	}
}

// startTestServer starts one attempt with its own pacer (a stopped pacer
// cannot be reused).
func startTestServer(t *testing.T, o Options) (*Server, error) {
	t.Helper()
	pacer := media.NewPacer(nil)
	o.Pacer = pacer
	srv, err := NewServer(o)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { _ = pacer.Run(ctx) }()
	go func() { runErr <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-runErr:
		cancel()
		return nil, err
	case <-time.After(5 * time.Second):
		t.Fatal("server not ready")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-runErr:
		case <-time.After(5 * time.Second):
			t.Error("server did not stop")
		}
	})
	return srv, nil
}

// tone is a 1 kHz sine at 8 kHz.
func tone(d time.Duration) []int16 {
	out := make([]int16, int(d.Seconds()*8000))
	for i := range out {
		out[i] = int16(8000 * math.Sin(2*math.Pi*1000*float64(i)/8000))
	}
	return out
}

// uasMode is how the fake agent phone answers an INVITE.
type uasMode int

const (
	uasAnswer uasMode = iota
	uasBusy
	uasDecline
	uasRingForever
)

// fakeAgent is a sipgo UAS on 127.0.0.1 standing in for an agent's phone.
type fakeAgent struct {
	t       *testing.T
	mode    uasMode
	addr    *net.UDPAddr
	dialogs *sipgo.DialogServerCache
	rtp     *net.UDPConn

	invited   chan *sip.Request
	cancelled chan struct{}
	byes      chan struct{}
	notifies  chan *sip.Request // in-dialog NOTIFYs (REFER progress, RFC 3515), answered 200

	mu       sync.Mutex
	dlg      *sipgo.DialogServerSession
	answered chan struct{} // closed once dlg is set: answered and ACKed
	once     sync.Once
}

func newFakeAgent(t *testing.T, mode uasMode) *fakeAgent {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("agent-phone"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatalf("agent ua: %v", err)
	}
	srv, _ := sipgo.NewServer(ua)
	cli, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("agent listen: %v", err)
	}
	rtpConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("agent rtp: %v", err)
	}
	a := &fakeAgent{t: t, mode: mode, addr: conn.LocalAddr().(*net.UDPAddr), rtp: rtpConn,
		invited: make(chan *sip.Request, 4), cancelled: make(chan struct{}, 4), byes: make(chan struct{}, 4),
		notifies: make(chan *sip.Request, 4), answered: make(chan struct{})}
	a.dialogs = sipgo.NewDialogServerCache(cli, sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "1001", Host: "127.0.0.1", Port: a.addr.Port}})
	srv.OnInvite(a.onInvite)
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = a.dialogs.ReadAck(req, tx) })
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if err := a.dialogs.ReadBye(req, tx); err == nil {
			a.byes <- struct{}{}
		}
	})
	srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		a.notifies <- req // before the answer: whatever the hotline sends next comes after
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	go func() { _ = srv.ServeUDP(conn) }()
	t.Cleanup(func() { _ = ua.Close(); _ = conn.Close(); _ = rtpConn.Close() })
	return a
}

func (a *fakeAgent) contact() string {
	return "sip:1001@127.0.0.1:" + strconv.Itoa(a.addr.Port) + ";transport=udp"
}

func (a *fakeAgent) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	a.invited <- req
	dlg, err := a.dialogs.ReadInvite(req, tx)
	if err != nil {
		a.t.Errorf("agent read invite: %v", err)
		return
	}
	switch a.mode {
	case uasBusy:
		_ = dlg.Respond(sip.StatusBusyHere, "Busy Here", nil)
	case uasDecline:
		_ = dlg.Respond(603, "Decline", nil)
	case uasRingForever:
		_ = dlg.Respond(sip.StatusRinging, "Ringing", nil)
		<-dlg.Context().Done()
		if context.Cause(dlg.Context()) == sip.ErrTransactionCanceled {
			a.cancelled <- struct{}{}
		}
	case uasAnswer:
		_ = dlg.Respond(sip.StatusRinging, "Ringing", nil)
		port := a.rtp.LocalAddr().(*net.UDPAddr).Port
		body := media.BuildSDP(media.LocalSDP{Addr: netip.MustParseAddr("127.0.0.1"), Port: port, SessionID: 7, Version: 7,
			Codecs: []media.Codec{media.PCMU}, DTMF: true, DTMFPayloadType: 101, Direction: media.SendRecv})
		if err := dlg.RespondSDP(body); err != nil { // returns once the ACK came
			a.t.Errorf("agent answer: %v", err)
		}
		a.mu.Lock()
		a.dlg = dlg
		a.mu.Unlock()
		a.once.Do(func() { close(a.answered) })
		<-dlg.Context().Done()
	}
}

// dialog is the answered dialog (uasAnswer), once its ACK has arrived.
func (a *fakeAgent) dialog() *sipgo.DialogServerSession {
	select {
	case <-a.answered:
	case <-time.After(5 * time.Second):
		a.t.Fatal("agent dialog not answered and acked")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dlg
}

// sendRTP sends n PCMU packets to addr from the agent's RTP socket.
func (a *fakeAgent) sendRTP(addr netip.AddrPort, n int) {
	for i := range n {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i),
			Timestamp: uint32(160 * i), SSRC: 0x1234}, Payload: make([]byte, 160)}
		b, _ := p.Marshal()
		_, _ = a.rtp.WriteToUDPAddrPort(b, addr)
		time.Sleep(20 * time.Millisecond)
	}
}

// readRTP counts the valid RTP packets the agent receives within d.
func (a *fakeAgent) readRTP(d time.Duration) int {
	buf := make([]byte, 1500)
	n := 0
	_ = a.rtp.SetReadDeadline(time.Now().Add(d))
	for {
		m, _, err := a.rtp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return n
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:m]) == nil && p.Version == 2 {
			n++
		}
	}
}
