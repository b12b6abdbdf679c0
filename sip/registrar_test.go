package sip

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// regClient is a sipgo client sending REGISTER to a registrarEnv.
type regClient struct {
	t   *testing.T
	cli *sipgo.Client
	env *registrarEnv
}

func newRegClient(t *testing.T, env *registrarEnv) *regClient {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("softphone"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatalf("client user agent: %v", err)
	}
	t.Cleanup(func() { _ = ua.Close() })
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return &regClient{t: t, cli: cli, env: env}
}

// request builds REGISTER sip:127.0.0.1:port for the AOR of user.
func (c *regClient) request(user, contact string, hdrs ...sip.Header) *sip.Request {
	uri := sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: c.env.addr.Port}
	req := sip.NewRequest(sip.REGISTER, uri)
	aor := sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1"}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	req.AppendHeader(sip.NewHeader("User-Agent", "softphone"))
	if contact != "" {
		req.AppendHeader(sip.NewHeader("Contact", contact))
	}
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	return req
}

// do sends req (a new transaction) and returns the final response.
func (c *regClient) do(req *sip.Request) *sip.Response {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.cli.Do(ctx, req)
	if err != nil {
		c.t.Fatalf("REGISTER: %v", err)
	}
	return res
}

// again resends req as a new transaction (CSeq+1, new branch) with auth, if
// given, as its only Authorization header.
func (c *regClient) again(req *sip.Request, auth *digest.Credentials) (*sip.Request, *sip.Response) {
	c.t.Helper()
	next := req.Clone()
	next.RemoveHeader("Via")
	next.RemoveHeader("Authorization")
	next.CSeq().SeqNo++
	if auth != nil {
		next.AppendHeader(sip.NewHeader("Authorization", auth.String()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.cli.Do(ctx, next, sipgo.ClientRequestAddVia)
	if err != nil {
		c.t.Fatalf("REGISTER again: %v", err)
	}
	return next, res
}

// challenges returns the parsed WWW-Authenticate challenges of a 401.
func challenges(t *testing.T, res *sip.Response) []*digest.Challenge {
	t.Helper()
	if res.StatusCode != 401 {
		t.Fatalf("status %d, want 401", res.StatusCode)
	}
	var out []*digest.Challenge
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		ch, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatalf("parse challenge %q: %v", h.Value(), err)
		}
		out = append(out, ch)
	}
	return out
}

// challengeFor picks the challenge for algorithm from a 401.
func challengeFor(t *testing.T, res *sip.Response, algorithm string) *digest.Challenge {
	t.Helper()
	for _, ch := range challenges(t, res) {
		if ch.Algorithm == algorithm {
			return ch
		}
	}
	t.Fatalf("no %s challenge in %v", algorithm, res.GetHeaders("WWW-Authenticate"))
	return nil
}

func credentialsFor(t *testing.T, req *sip.Request, ch *digest.Challenge, user, password string, nc int) *digest.Credentials {
	t.Helper()
	cred, err := digest.Digest(ch, digest.Options{Method: "REGISTER", URI: req.Recipient.String(),
		Username: user, Password: password, Count: nc})
	if err != nil {
		t.Fatalf("digest: %v", err)
	}
	return cred
}

// login registers user with password over algorithm and returns the 200.
func (c *regClient) login(user, password, algorithm, contact string, hdrs ...sip.Header) *sip.Response {
	c.t.Helper()
	req := c.request(user, contact, hdrs...)
	ch := challengeFor(c.t, c.do(req), algorithm)
	_, res := c.again(req, credentialsFor(c.t, req, ch, user, password, 1))
	return res
}

func contactExpiresParam(t *testing.T, res *sip.Response) int {
	t.Helper()
	c := res.Contact()
	if c == nil {
		t.Fatalf("200 without Contact: %s", res.String())
	}
	v, _ := c.Params.Get("expires")
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("contact expires %q: %v", v, err)
	}
	return n
}

func TestRegisterChallengeOffersSHA256ThenMD5(t *testing.T) {
	env := startRegistrar(t, testRegistrarConfig())
	c := newRegClient(t, env)
	chs := challenges(t, c.do(c.request("1001", "<sip:1001@127.0.0.1:5999>")))
	if len(chs) != 2 || chs[0].Algorithm != "SHA-256" || chs[1].Algorithm != "MD5" {
		t.Fatalf("challenges %+v, want SHA-256 then MD5 (RFC 8760 §2.4)", chs)
	}
	for _, ch := range chs {
		if ch.Realm != testRealm || !ch.SupportsQOP("auth") || ch.Opaque == "" || ch.Stale || len(ch.Nonce) < 40 {
			t.Fatalf("challenge %+v: want realm, qop=auth, opaque, a long nonce, no stale", ch)
		}
	}
}

func TestRegisterSuccess(t *testing.T) {
	tests := []struct {
		name      string
		algorithm string
		sipgoAuth bool // use sipgo's own DoDigestAuth (it answers the first challenge)
	}{
		{"sha-256 with sipgo DoDigestAuth", "SHA-256", true},
		{"md5", "MD5", false},
		{"sha-256", "SHA-256", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := startRegistrar(t, testRegistrarConfig())
			c := newRegClient(t, env)
			var res *sip.Response
			if tt.sipgoAuth {
				req := c.request("1001", "<sip:1001@127.0.0.1:5999;transport=udp>")
				first := c.do(req)
				var err error
				res, err = c.cli.DoDigestAuth(context.Background(), req, first,
					sipgo.DigestAuth{Username: "1001", Password: "s3cret-pass"})
				if err != nil {
					t.Fatalf("DoDigestAuth: %v", err)
				}
			} else {
				res = c.login("1001", "s3cret-pass", tt.algorithm, "<sip:1001@127.0.0.1:5999;transport=udp>")
			}
			if res.StatusCode != 200 {
				t.Fatalf("status %d, want 200", res.StatusCode)
			}
			if got := contactExpiresParam(t, res); got != 3600 {
				t.Fatalf("granted expires %d, want the default 3600", got)
			}
			if res.GetHeader("Date") == nil {
				t.Fatal("200 without Date (RFC 3261 §10.3 step 8)")
			}
			b, ok := env.locs.get("1001")
			if !ok || b.Contact != "sip:1001@127.0.0.1:5999;transport=udp" || b.Transport != "UDP" ||
				b.Expires != time.Hour || !strings.HasPrefix(b.Source, "127.0.0.1:") || b.UserAgent != "softphone" {
				t.Fatalf("binding %+v, %v", b, ok)
			}
		})
	}
}

// shape is what a client can see of a 401: everything but the nonce.
func shape(t *testing.T, res *sip.Response) string {
	t.Helper()
	var parts []string
	for _, ch := range challenges(t, res) {
		parts = append(parts, fmt.Sprintf("%s|%s|%s|%v|%v|%d", ch.Realm, ch.Algorithm, ch.Opaque, ch.QOP, ch.Stale, len(ch.Nonce)))
	}
	return res.Reason + " " + strings.Join(parts, ";")
}

func TestRegisterFailuresLookAlike(t *testing.T) {
	env := startRegistrar(t, testRegistrarConfig())
	env.creds.add("1003", "disabled-pass")
	env.creds.disable("1003")
	c := newRegClient(t, env)
	tests := []struct{ name, user, password string }{
		{"wrong password", "1001", "wrong-pass"},
		{"unknown user", "9999", "wrong-pass"},
		{"disabled user with its right password", "1003", "disabled-pass"},
	}
	shapes := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := c.login(tt.user, tt.password, "SHA-256", "<sip:x@127.0.0.1:5999>")
			shapes[tt.name] = shape(t, res)
			if n := env.bans.count(tt.user); n != 1 {
				t.Fatalf("failures counted for %s: %d, want 1", tt.user, n)
			}
		})
	}
	if shapes["unknown user"] != shapes["wrong password"] || shapes["disabled user with its right password"] != shapes["wrong password"] {
		t.Fatalf("401s differ:\n%v", shapes)
	}
}

func TestRegisterWrongPasswordBans(t *testing.T) {
	env := startRegistrar(t, testRegistrarConfig())
	c := newRegClient(t, env)
	for i := 1; i <= 4; i++ {
		if res := c.login("1001", "wrong-pass", "MD5", "<sip:1001@127.0.0.1:5999>"); res.StatusCode != 401 {
			t.Fatalf("failure %d: status %d, want 401", i, res.StatusCode)
		}
	}
	if res := c.login("1001", "wrong-pass", "MD5", "<sip:1001@127.0.0.1:5999>"); res.StatusCode != 403 {
		t.Fatalf("fifth failure: status %d, want 403", res.StatusCode)
	}
	// Banned: even the first, credential-less REGISTER is refused.
	if res := c.do(c.request("1001", "<sip:1001@127.0.0.1:5999>")); res.StatusCode != 403 {
		t.Fatalf("after the ban: status %d, want 403", res.StatusCode)
	}
	if _, ok := env.locs.get("1001"); ok {
		t.Fatal("a banned source registered")
	}
}
