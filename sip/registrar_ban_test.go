package sip

import (
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// register sends REGISTER for 1001 from p, with auth when given, and returns
// the final response (nil when none comes: dropped).
func (p *rawPeer) register(callID string, cseq int, auth *digest.Credentials) *sip.Response {
	p.t.Helper()
	var extra []string
	if auth != nil {
		extra = append(extra, "Authorization: "+auth.String())
	}
	p.send(withBody(p.request("REGISTER", "1001", callID, cseq, extra...), ""))
	res, _ := p.final("REGISTER", time.Second)
	return res
}

// registerURI is the Request-URI p.request writes for REGISTER (the digest uri).
func (p *rawPeer) registerURI() string { return "sip:1001@" + p.to.String() }

// madeUpChallenge is a challenge the server never sent: a random nonce.
func madeUpChallenge() *digest.Challenge {
	b := make([]byte, nonceLen)
	_, _ = rand.Read(b)
	return &digest.Challenge{Realm: testRealm, Nonce: base64.RawURLEncoding.EncodeToString(b), Opaque: "x",
		Algorithm: "MD5", QOP: []string{"auth"}}
}

func (p *rawPeer) answerChallenge(ch *digest.Challenge, password string, nc int) *digest.Credentials {
	p.t.Helper()
	cred, err := digest.Digest(ch, digest.Options{Method: "REGISTER", URI: p.registerURI(),
		Username: "1001", Password: password, Count: nc})
	if err != nil {
		p.t.Fatalf("digest: %v", err)
	}
	return cred
}

// callAnswered places a call to the hotline from p and reports whether it was
// answered (200); the call is ACKed and hung up again.
func (p *rawPeer) callAnswered(callID string) bool {
	p.t.Helper()
	p.send(withBody(p.request("INVITE", "12345", callID, 1), offerSDP(40002)))
	ok, _ := p.final("INVITE", 3*time.Second)
	if ok == nil || ok.StatusCode != 200 {
		return false
	}
	p.send(p.inDialog("ACK", ok, 1))
	p.send(p.inDialog("BYE", ok, 2))
	if bye, _ := p.final("BYE", 3*time.Second); bye == nil || bye.StatusCode != 200 {
		p.t.Fatalf("BYE after the answered call: %v", bye)
	}
	return true
}

func (p *rawPeer) optionsAnswered(callID string) bool {
	p.t.Helper()
	p.send(withBody(p.request("OPTIONS", "12345", callID, 1), ""))
	res, _ := p.final("OPTIONS", time.Second)
	return res != nil && res.StatusCode == 200
}

// Six REGISTERs with a made-up nonce from one address ban nobody: each gets a
// fresh challenge, and the address's calls and OPTIONS are still answered.
// (A forged source could otherwise ban the carrier's trunk.)
func TestMadeUpNonceBansNobody(t *testing.T) {
	srv, env := edgeServer(t, nil)
	p := newRawPeer(t, "127.0.0.1", srv)
	for i := 1; i <= 6; i++ {
		res := p.register("madeup", i, p.answerChallenge(madeUpChallenge(), "guess-"+strconv.Itoa(i), 1))
		if res == nil || res.StatusCode != 401 {
			t.Fatalf("REGISTER %d with a made-up nonce: %v, want a fresh 401", i, res)
		}
	}
	if n := env.bans.count("1001"); n != 0 {
		t.Fatalf("failures counted: %d, want 0", n)
	}
	if !p.optionsAnswered("madeup-options") {
		t.Fatal("OPTIONS unanswered after made-up nonces")
	}
	if !p.callAnswered("madeup-call") {
		t.Fatal("call to the hotline unanswered after made-up nonces")
	}
}

// Failures on a nonce issued to another address count nothing, and the right
// password on it only earns a stale retry: a nonce is good from its source only.
func TestNonceOfAnotherSourceCountsNothing(t *testing.T) {
	srv, env := edgeServer(t, nil)
	other := newRawPeer(t, "127.0.0.2", srv)
	ch, err := digest.ParseChallenge(other.register("other", 1, nil).GetHeader("WWW-Authenticate").Value())
	if err != nil {
		t.Fatalf("challenge: %v", err)
	}
	p := newRawPeer(t, "127.0.0.1", srv)
	for i := 1; i <= 6; i++ {
		if res := p.register("stolen", i, p.answerChallenge(ch, "wrong-pass", i)); res == nil || res.StatusCode != 401 {
			t.Fatalf("REGISTER %d on another source's nonce: %v, want 401", i, res)
		}
	}
	if n := env.bans.count("1001"); n != 0 {
		t.Fatalf("failures counted: %d, want 0", n)
	}
	res := p.register("stolen", 7, p.answerChallenge(ch, "s3cret-pass", 7))
	got, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
	if res.StatusCode != 401 || err != nil || !got.Stale {
		t.Fatalf("right password on another source's nonce: %d %v, want 401 stale=true", res.StatusCode, got)
	}
}

// Failures on a nonce we issued to the address itself do ban it — from
// logging in, not from calling the hotline (an emergency) nor from OPTIONS.
func TestBanStopsLoginsNotCalls(t *testing.T) {
	srv, env := edgeServer(t, nil)
	p := newRawPeer(t, "127.0.0.1", srv)
	ch, err := digest.ParseChallenge(p.register("guess", 1, nil).GetHeader("WWW-Authenticate").Value())
	if err != nil {
		t.Fatalf("challenge: %v", err)
	}
	var last *sip.Response
	for i := 1; i <= 5; i++ {
		last = p.register("guess", 1+i, p.answerChallenge(ch, "wrong-pass", i))
	}
	if last == nil || last.StatusCode != 403 || env.bans.count("1001") == 0 {
		t.Fatalf("fifth failure on our own nonce: %v, want 403 and a ban", last)
	}
	if res := p.register("guess", 10, nil); res != nil {
		t.Fatalf("REGISTER from the banned source answered %d, want dropped", res.StatusCode)
	}
	if !p.optionsAnswered("banned-options") {
		t.Fatal("OPTIONS from the banned source unanswered")
	}
	if !p.callAnswered("banned-call") {
		t.Fatal("call to the hotline from the banned source unanswered")
	}
	p.send(withBody(p.request("INVITE", FeatureAvailable, "banned-feature", 1), offerSDP(40004)))
	if res, _ := p.final("INVITE", 2*time.Second); res == nil || res.StatusCode != 403 {
		t.Fatalf("feature code from the banned source: %v, want 403", res)
	}
}

// A trusted source (sip.trusted: the trunk, the agents' network) is never
// banned, however many failures it carries.
func TestTrustedSourceNeverBanned(t *testing.T) {
	srv, env := edgeServer(t, func(o *Options) { o.Config.Trusted = []string{"127.0.0.1/32"} })
	p := newRawPeer(t, "127.0.0.1", srv)
	ch, err := digest.ParseChallenge(p.register("trunk", 1, nil).GetHeader("WWW-Authenticate").Value())
	if err != nil {
		t.Fatalf("challenge: %v", err)
	}
	for i := 1; i <= 8; i++ {
		if res := p.register("trunk", 1+i, p.answerChallenge(ch, "wrong-pass", i)); res == nil || res.StatusCode != 401 {
			t.Fatalf("failure %d from a trusted source: %v, want 401", i, res)
		}
	}
	if n := env.bans.count("1001"); n != 0 {
		t.Fatalf("failures counted for a trusted source: %d", n)
	}
	if res := p.register("trunk", 20, p.answerChallenge(ch, "s3cret-pass", 20)); res == nil || res.StatusCode != 200 {
		t.Fatalf("right password from the trusted source: %v, want 200", res)
	}
}

// A nonce the source did not get from us tells nothing about the password:
// right and wrong answers on it get the same stale challenge, so guessing on
// made-up nonces (which count nothing) learns nothing either.
func TestMadeUpNonceIsNoOracle(t *testing.T) {
	srv, env := edgeServer(t, nil)
	p := newRawPeer(t, "127.0.0.1", srv)
	var shapes []string
	for i, password := range []string{"s3cret-pass", "wrong-pass"} {
		res := p.register("oracle", i+1, p.answerChallenge(madeUpChallenge(), password, 1))
		if res == nil {
			t.Fatalf("%s on a made-up nonce: no answer", password)
		}
		shapes = append(shapes, shape(t, res))
	}
	if shapes[0] != shapes[1] || !strings.Contains(shapes[0], "|true|") {
		t.Fatalf("answers differ or are not stale:\nright: %s\nwrong: %s", shapes[0], shapes[1])
	}
	if n := env.bans.count("1001"); n != 0 {
		t.Fatalf("failures counted: %d, want 0", n)
	}
}
