package sip

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Digest algorithms the registrar can offer (RFC 8760 §2.4: one challenge
// per algorithm, in order of preference).
const (
	algSHA256 = "SHA-256"
	algMD5    = "MD5"
)

// authOutcome is the result of checking a REGISTER's credentials: the
// authenticated user, or the response to send and its metric result.
type authOutcome struct {
	user   string
	res    *sip.Response
	result string
}

// authenticate checks the digest credentials of req (RFC 3261 §22.4, RFC
// 7616 §3.4). Unknown user, disabled user and wrong password give the same
// fresh challenge. Only a failure carrying a fresh nonce that we issued to
// this source counts toward a ban: anyone can forge a source address, but
// only its owner receives the challenge sent there.
func (r *Registrar) authenticate(ctx context.Context, req *sip.Request, ip netip.Addr) authOutcome {
	cred, malformed := r.credentials(req)
	switch {
	case malformed:
		return authOutcome{res: registerBadRequest(req, "Malformed Authorization"), result: regBadRequest}
	case cred == nil:
		return authOutcome{res: r.challenge(req, ip, false), result: regChallenged}
	case !uriMatches(cred.URI, req.Recipient):
		// RFC 7616 §3.4.6: the digest uri must be the Request-URI.
		return authOutcome{res: registerBadRequest(req, "Digest URI Mismatch"), result: regBadRequest}
	}
	now := time.Now()
	issued, valid, fresh := r.nonces.verify(cred.Nonce, ip, now)
	if !valid || !fresh || cred.Opaque != r.opaque {
		// Not a fresh nonce we sent to this source: a new one with stale=true
		// (RFC 7616 §3.3), so a phone retries without asking its user. The
		// password is not checked, so a made-up or old nonce is no oracle
		// for guessing it, and nothing counts toward a ban.
		result := regStale
		if !valid {
			result = regBadNonce
		}
		return authOutcome{res: r.challenge(req, ip, true), result: result}
	}
	match, err := r.responseMatches(ctx, req, cred)
	if err != nil {
		// Not the agent's fault: no failure counted, the phone retries later.
		r.log.Error("read agent credentials", "agent", sanitize(shortText(cred.Username, 64)), "error", err)
		return authOutcome{res: registerUnavailable(req), result: regError}
	}
	if !match {
		return r.failure(ctx, req, cred.Username, ip)
	}
	ok, stale := r.nonces.use(cred.Nonce, uint32(cred.Nc), issued, now)
	switch {
	case stale:
		return authOutcome{res: r.challenge(req, ip, true), result: regStale}
	case !ok:
		return authOutcome{res: r.challenge(req, ip, false), result: regReplay}
	}
	if ip.IsValid() {
		if err := r.bans.Success(ctx, cred.Username, ip); err != nil {
			r.log.Warn("reset login failures", "agent", cred.Username, "error", err)
		}
	}
	return authOutcome{user: cred.Username}
}

// credentials returns the parsed Authorization for our realm; nil without
// one; malformed when one for our realm cannot be used at all.
func (r *Registrar) credentials(req *sip.Request) (cred *digest.Credentials, malformed bool) {
	for _, h := range req.GetHeaders("Authorization") {
		c, err := digest.ParseCredentials(h.Value())
		if err != nil {
			malformed = true
			continue
		}
		if c.Realm == r.cfg.Realm {
			return c, false
		}
	}
	return nil, malformed
}

// responseMatches computes the expected response from the stored HA1 and
// compares it in constant time. An unknown or disabled user is checked
// against a random HA1, so it costs the same and never matches.
func (r *Registrar) responseMatches(ctx context.Context, req *sip.Request, c *digest.Credentials) (bool, error) {
	alg := strings.ToUpper(c.Algorithm)
	if alg == "" {
		alg = algMD5 // RFC 7616 §3.3: absent means MD5
	}
	h := newDigestHash(alg)
	if h == nil || !slices.Contains(r.cfg.Algorithms, alg) || c.QOP != "auth" || c.Nc <= 0 || c.Cnonce == "" || c.Username == "" {
		return false, nil
	}
	ha1, known, err := r.creds.HA1(ctx, c.Username, alg)
	if err != nil {
		return false, err
	}
	if !known {
		ha1 = r.decoy
	}
	ha2 := hashHex(h, string(req.Method)+":"+c.URI)
	want := hashHex(h, fmt.Sprintf("%s:%s:%08x:%s:%s:%s", ha1, c.Nonce, c.Nc, c.Cnonce, c.QOP, ha2))
	got := strings.ToLower(c.Response)
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1 && known, nil
}

// failure counts a failed login and answers with the same fresh challenge
// whatever failed, or 403 once the source is banned. A trusted source (a
// trunk, the agents' network) is never banned, so its failures are not counted.
func (r *Registrar) failure(ctx context.Context, req *sip.Request, user string, ip netip.Addr) authOutcome {
	r.log.Info("sip registration refused", "agent", sanitize(shortText(user, 64)), "source", req.Source())
	if !ip.IsValid() || r.trusted.contains(ip) {
		return authOutcome{res: r.challenge(req, ip, false), result: regUnauthorized}
	}
	banned, err := r.bans.Failure(ctx, user, ip)
	if err != nil {
		r.log.Warn("count login failure", "source", ip.String(), "error", err)
	}
	if banned {
		r.log.Warn("sip source banned after failed logins", "source", ip.String())
		return authOutcome{res: registerForbidden(req), result: regBanned}
	}
	return authOutcome{res: r.challenge(req, ip, false), result: regUnauthorized}
}

// challenge is a 401 with one WWW-Authenticate per configured algorithm in
// order of preference (RFC 8760 §2.4), qop=auth, a fresh nonce bound to the
// source ip, and stale=true when asked.
func (r *Registrar) challenge(req *sip.Request, ip netip.Addr, stale bool) *sip.Response {
	res := sip.NewResponseFromRequest(req, sip.StatusUnauthorized, "Unauthorized", nil)
	nonce := r.nonces.mint(ip, time.Now())
	for _, alg := range r.cfg.Algorithms {
		ch := digest.Challenge{Realm: r.cfg.Realm, Nonce: nonce, Opaque: r.opaque, Stale: stale,
			Algorithm: alg, QOP: []string{"auth"}}
		res.AppendHeader(sip.NewHeader("WWW-Authenticate", ch.String()))
	}
	return res
}

func newDigestHash(alg string) hash.Hash {
	switch alg {
	case algMD5:
		return md5.New()
	case algSHA256:
		return sha256.New()
	}
	return nil
}

func hashHex(h hash.Hash, s string) string {
	h.Reset()
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

// uriMatches compares the digest uri with the Request-URI by scheme, user,
// host and port (clients differ in parameters and spelling).
func uriMatches(digestURI string, reqURI sip.Uri) bool {
	var u sip.Uri
	if err := sip.ParseUri(digestURI, &u); err != nil {
		return false
	}
	return strings.EqualFold(u.Scheme, reqURI.Scheme) && u.User == reqURI.User &&
		strings.EqualFold(u.Host, reqURI.Host) && u.Port == reqURI.Port
}

func registerBadRequest(req *sip.Request, reason string) *sip.Response {
	return sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request: "+reason, nil)
}

// unavailable is a 503 with Retry-After (RFC 3261 §21.5.4) for an outage of
// the directory or Redis.
func registerUnavailable(req *sip.Request) *sip.Response {
	res := sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, "Service Unavailable", nil)
	res.AppendHeader(sip.NewHeader("Retry-After", "30"))
	return res
}

func registerForbidden(req *sip.Request) *sip.Response {
	return sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil)
}

// AuthenticateINVITE checks an agent's INVITE (a feature code) exactly like
// a REGISTER: banned sources get 403, missing or wrong credentials the same
// fresh 401 (failures count toward the ban). It returns the authenticated
// agent id, or the response to send.
func (r *Registrar) AuthenticateINVITE(ctx context.Context, req *sip.Request) (user string, res *sip.Response) {
	ip := sourceIP(req)
	if r.banned(ctx, ip) {
		return "", registerForbidden(req)
	}
	auth := r.authenticate(ctx, req, ip)
	if auth.res != nil {
		return "", auth.res
	}
	return auth.user, nil
}
