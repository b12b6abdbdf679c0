package siptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-dev/hotline/sip/media"
	"github.com/icholy/digest"
)

const (
	agentUser     = "1001"
	agentPassword = "s3cret-1001"
	agentTone     = 1000.0 // what the agent's microphone plays
	serverTone    = 440.0  // what the test server sends the agent
)

// testRegistrar is a tiny sipgo registrar and caller for the baresip tests:
// REGISTER is challenged once (MD5 digest, qop=auth) and the authorised retry
// is checked against the known password with icholy/digest.
type testRegistrar struct {
	t    *testing.T
	dua  *sipgo.DialogUA
	port int

	mu       sync.Mutex
	nonces   map[string]bool
	contacts map[string]sip.Uri                    // by user
	dialogs  map[string]*sipgo.DialogClientSession // calls placed, by Call-ID
}

func newTestRegistrar(t *testing.T) *testRegistrar {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("siptest-registrar"))
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
	r := &testRegistrar{t: t, port: udp.LocalAddr().(*net.UDPAddr).Port,
		nonces: map[string]bool{}, contacts: map[string]sip.Uri{}, dialogs: map[string]*sipgo.DialogClientSession{}}
	r.dua = &sipgo.DialogUA{Client: cli, ContactHDR: sip.ContactHeader{
		Address: sip.Uri{Scheme: "sip", User: "server", Host: loopback, Port: r.port}}}
	srv.OnRegister(r.onRegister)
	srv.OnBye(r.onBye)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = srv.ServeUDP(udp) }()
	go func() { defer wg.Done(); _ = srv.ServeTCP(tcp) }()
	t.Cleanup(func() {
		_ = udp.Close()
		_ = tcp.Close()
		_ = ua.Close()
		wg.Wait()
	})
	return r
}

func (r *testRegistrar) domain() string {
	return net.JoinHostPort(loopback, strconv.Itoa(r.port))
}

func (r *testRegistrar) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	auth := req.GetHeader("Authorization")
	if auth == nil {
		r.challenge(req, tx)
		return
	}
	cred, err := digest.ParseCredentials(auth.Value())
	if err != nil || !r.verify(cred) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil))
		return
	}
	contact := req.Contact()
	if contact == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "No Contact", nil))
		return
	}
	r.mu.Lock()
	r.contacts[cred.Username] = contact.Address
	r.mu.Unlock()
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	res.AppendHeader(contact.Clone())
	res.AppendHeader(sip.NewHeader("Expires", "60"))
	_ = tx.Respond(res)
}

// onBye ends a call the agent hung up.
func (r *testRegistrar) onBye(req *sip.Request, tx sip.ServerTransaction) {
	r.mu.Lock()
	dlg := r.dialogs[req.CallID().Value()]
	r.mu.Unlock()
	if dlg == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "No Call", nil))
		return
	}
	_ = dlg.ReadBye(req, tx)
}

func (r *testRegistrar) challenge(req *sip.Request, tx sip.ServerTransaction) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	nonce := hex.EncodeToString(b)
	r.mu.Lock()
	r.nonces[nonce] = true
	r.mu.Unlock()
	chal := digest.Challenge{Realm: "siptest", Nonce: nonce, Algorithm: "MD5", QOP: []string{"auth"}}
	res := sip.NewResponseFromRequest(req, sip.StatusUnauthorized, "Unauthorized", nil)
	res.AppendHeader(sip.NewHeader("WWW-Authenticate", chal.String()))
	_ = tx.Respond(res)
}

// verify recomputes the digest response (RFC 2617 §3.2.2) with the known password.
func (r *testRegistrar) verify(cred *digest.Credentials) bool {
	r.mu.Lock()
	known := r.nonces[cred.Nonce]
	r.mu.Unlock()
	if !known || cred.Username != agentUser {
		return false
	}
	chal := &digest.Challenge{Realm: "siptest", Nonce: cred.Nonce, Algorithm: "MD5", QOP: []string{"auth"}}
	want, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: cred.URI, Username: agentUser,
		Password: agentPassword, Cnonce: cred.Cnonce, Count: cred.Nc})
	return err == nil && want.Response == cred.Response
}

func (r *testRegistrar) contact(user string) (sip.Uri, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.contacts[user]
	return c, ok
}

// serverCall is a call the registrar placed to a registered agent.
type serverCall struct {
	dlg *sipgo.DialogClientSession
	rtp *rtpStream
	neg media.Negotiated
}

// call INVITEs user's registered contact with a PCMU/PCMA offer and, once
// answered, streams audio (looped) and records what comes back.
func (r *testRegistrar) call(ctx context.Context, user string, audio []int16) *serverCall {
	r.t.Helper()
	to, ok := r.contact(user)
	if !ok {
		r.t.Fatalf("%s is not registered", user)
	}
	stream, err := newRTPStream()
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(stream.close)
	offer := media.BuildSDP(media.LocalSDP{Addr: netip.MustParseAddr(loopback), Port: stream.localPort(),
		SessionID: 7, Version: 1, Codecs: []media.Codec{media.PCMU, media.PCMA}, DTMF: true, DTMFPayloadType: 101})
	dlg, err := r.dua.Invite(ctx, to, offer, sip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		r.t.Fatalf("invite %s: %v", to.String(), err)
	}
	r.t.Cleanup(func() { _ = dlg.Close() })
	r.mu.Lock()
	r.dialogs[dlg.InviteRequest.CallID().Value()] = dlg
	r.mu.Unlock()
	if err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		r.t.Fatalf("wait answer: %v", err)
	}
	if err := dlg.Ack(ctx); err != nil {
		r.t.Fatalf("ack: %v", err)
	}
	answer, err := media.ParseSDP(dlg.InviteResponse.Body())
	if err != nil {
		r.t.Fatalf("answer sdp: %v", err)
	}
	neg, err := media.Negotiate(answer, []media.Codec{media.PCMU, media.PCMA})
	if err != nil {
		r.t.Fatalf("negotiate: %v", err)
	}
	stream.start(neg, audio)
	return &serverCall{dlg: dlg, rtp: stream, neg: neg}
}

// received is the decoded audio the server got, and how many telephone-event packets.
func (c *serverCall) received() (pcm []int16, events int) {
	s := c.rtp
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.rx {
		pcm = append(pcm, p.pcm...)
		if c.neg.DTMF && p.pt == c.neg.DTMFPayloadType {
			events++
		}
	}
	return pcm, events
}

func startTestBaresip(t *testing.T, ctx context.Context, opts BaresipOptions) *Baresip {
	t.Helper()
	RequireBaresip(t)
	b, err := StartBaresip(ctx, opts)
	if err != nil {
		t.Fatalf("start baresip: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("baresip output:\n%s", b.Log())
		}
		if err := b.Close(); err != nil {
			t.Errorf("close baresip: %v", err)
		}
	})
	return b
}

func agentOptions(r *testRegistrar, autoAnswer bool) BaresipOptions {
	return BaresipOptions{User: agentUser, Password: agentPassword, Domain: r.domain(), AutoAnswer: autoAnswer,
		Microphone: Tone(agentTone, time.Second, 8000), RegInterval: 60}
}
