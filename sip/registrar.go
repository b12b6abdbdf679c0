package sip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// registrarTimeout bounds the directory and Redis calls of one REGISTER.
const registrarTimeout = 3 * time.Second

// RegistrarConfig configures the agents' registrar (RFC 3261 §10.3).
type RegistrarConfig struct {
	// Realm is the digest realm; agents' HA1s are computed in it, so
	// changing it needs new passwords.
	Realm string `yaml:"realm"`
	// NonceTTL is how long a nonce is accepted; older ones get stale=true.
	NonceTTL time.Duration `yaml:"nonce_ttl"`
	// MinExpires: shorter registrations get 423 with Min-Expires.
	MinExpires time.Duration `yaml:"min_expires"`
	// MaxExpires: longer registrations are granted this long.
	MaxExpires time.Duration `yaml:"max_expires"`
	// DefaultExpires applies when the REGISTER names no expiry.
	DefaultExpires time.Duration `yaml:"default_expires"`
	// Algorithms are the digest algorithms offered, one challenge each, in
	// order of preference (RFC 8760 §2.4); credentials in another algorithm
	// are refused (no downgrade). Default SHA-256 then MD5. Phones that only
	// ever answer the first challenge with MD5 (SIPp 3.6) need MD5 first.
	Algorithms []string `yaml:"algorithms"`
	// NonceSecret keys the nonces (HOTLINE_NONCE_SECRET); give every node the
	// same one so a nonce from one node is good on another. Empty: random
	// per process (a nonce from another node then only costs a stale retry).
	NonceSecret string `yaml:"-"`
}

// DefaultRegistrarConfig returns the registrar defaults.
func DefaultRegistrarConfig() RegistrarConfig {
	return RegistrarConfig{
		Realm:          "hotline",
		NonceTTL:       5 * time.Minute,
		MinExpires:     60 * time.Second,
		MaxExpires:     7200 * time.Second,
		DefaultExpires: 3600 * time.Second,
		Algorithms:     []string{algSHA256, algMD5},
	}
}

// Validate checks the configuration and says what to fix.
func (c RegistrarConfig) Validate() error {
	var errs []error
	if c.Realm == "" || strings.ContainsAny(c.Realm, "\"\\\r\n") {
		errs = append(errs, fmt.Errorf("registrar.realm %q: want a non-empty name without quotes, e.g. \"hotline\"", c.Realm))
	}
	if c.NonceTTL < 10*time.Second {
		errs = append(errs, fmt.Errorf("registrar.nonce_ttl %s: want at least 10s (e.g. \"5m\")", c.NonceTTL))
	}
	if c.MinExpires < time.Second || c.MinExpires%time.Second != 0 {
		errs = append(errs, fmt.Errorf("registrar.min_expires %s: want whole seconds, at least 1s (e.g. \"60s\")", c.MinExpires))
	}
	if c.MaxExpires < c.MinExpires || c.MaxExpires%time.Second != 0 {
		errs = append(errs, fmt.Errorf("registrar.max_expires %s: want whole seconds, at least min_expires %s", c.MaxExpires, c.MinExpires))
	}
	if c.DefaultExpires < c.MinExpires || c.DefaultExpires > c.MaxExpires || c.DefaultExpires%time.Second != 0 {
		errs = append(errs, fmt.Errorf("registrar.default_expires %s: want whole seconds between min_expires and max_expires", c.DefaultExpires))
	}
	if len(c.Algorithms) == 0 {
		errs = append(errs, errors.New("registrar.algorithms: want at least one of SHA-256, MD5"))
	}
	for i, a := range c.Algorithms {
		if (a != algSHA256 && a != algMD5) || slices.Contains(c.Algorithms[:i], a) {
			errs = append(errs, fmt.Errorf("registrar.algorithms: %q is unknown or repeated (want SHA-256 and/or MD5)", a))
		}
	}
	return errors.Join(errs...)
}

// AgentCredentials gives the stored HA1 of an enabled agent for a digest
// algorithm ("MD5", "SHA-256"); ok is false for an unknown or disabled agent.
type AgentCredentials interface {
	HA1(ctx context.Context, user, algorithm string) (ha1 string, ok bool, err error)
}

// AgentBinding is one agent's registered contact.
type AgentBinding struct {
	AgentID string
	// Contact is the SIP URI from the Contact header, e.g. "sip:1001@10.0.0.5:5062".
	Contact   string
	Transport string // "UDP" or "TCP"
	Source    string // ip:port the REGISTER came from
	UserAgent string
	Expires   time.Duration
}

// AgentLocations stores the agents' bindings (one contact per agent).
type AgentLocations interface {
	Register(ctx context.Context, b AgentBinding) error
	// Unregister removes the binding with contact, or any when contact is "*".
	Unregister(ctx context.Context, agentID, contact string) error
	// Lookup returns the live binding; ok is false when there is none.
	Lookup(ctx context.Context, agentID string) (b AgentBinding, ok bool, err error)
}

// AuthBans counts failed logins and bans sources that fail too often.
type AuthBans interface {
	Failure(ctx context.Context, user string, ip netip.Addr) (banned bool, err error)
	Success(ctx context.Context, user string, ip netip.Addr) error
	Banned(ctx context.Context, ip netip.Addr) (bool, error)
}

// Registrar answers the agents' REGISTER requests with digest authentication
// (RFC 3261 §10.3 and §22, RFC 7616, RFC 8760). It is safe for concurrent use.
type Registrar struct {
	cfg     RegistrarConfig
	creds   AgentCredentials
	locs    AgentLocations
	bans    AuthBans
	log     *slog.Logger
	metrics *RegistrarMetrics
	nonces  *nonces
	opaque  string
	decoy   string // HA1 checked for unknown users, so they cost the same
	// trusted sources are never banned (set by NewServer from sip.trusted).
	trusted trustedNets
}

// NewRegistrar returns a registrar; cfg is assumed valid (see Validate).
// A nil log uses slog.Default(); nil m uses unregistered metrics.
func NewRegistrar(cfg RegistrarConfig, creds AgentCredentials, locs AgentLocations, bans AuthBans,
	log *slog.Logger, m *RegistrarMetrics) *Registrar {
	if log == nil {
		log = slog.Default()
	}
	if m == nil {
		m = NewRegistrarMetrics(nil)
	}
	secret := []byte(cfg.NonceSecret)
	if len(secret) == 0 {
		secret = randomSecret()
	}
	decoy := make([]byte, 32)
	_, _ = rand.Read(decoy)
	r := &Registrar{cfg: cfg, creds: creds, locs: locs, bans: bans, log: log.With("component", "registrar"),
		metrics: m, nonces: newNonces(secret, cfg.NonceTTL), decoy: hex.EncodeToString(decoy)}
	r.opaque = r.nonces.opaque()
	return r
}

// Handle answers one REGISTER; wire it with the server's OnRegister.
func (r *Registrar) Handle(req *sip.Request, tx sip.ServerTransaction) {
	ctx, cancel := context.WithTimeout(context.Background(), registrarTimeout)
	defer cancel()
	res, result := r.register(ctx, req)
	r.metrics.registration(result)
	if err := tx.Respond(res); err != nil {
		r.log.Debug("sip respond failed", "status", res.StatusCode, "error", err)
	}
}

func (r *Registrar) register(ctx context.Context, req *sip.Request) (*sip.Response, string) {
	ip := sourceIP(req)
	if r.banned(ctx, ip) {
		return registerForbidden(req), regBanned
	}
	to := req.To()
	if to == nil || to.Address.User == "" {
		return registerBadRequest(req, "To Without User"), regBadRequest
	}
	auth := r.authenticate(ctx, req, ip)
	if auth.res != nil {
		return auth.res, auth.result
	}
	// RFC 3261 §10.3 step 3: the authenticated user may only bind its own AOR.
	if auth.user != to.Address.User {
		r.log.Info("sip registration for another user refused", "agent", sanitize(auth.user),
			"to", sanitize(shortText(to.Address.User, 64)), "source", req.Source())
		return registerForbidden(req), regForbidden
	}
	return r.bind(ctx, req, auth.user)
}

// bind applies the Contact of an authenticated REGISTER (RFC 3261 §10.3
// steps 6-8): query, unregister (Expires 0 or "*") or (re)register.
func (r *Registrar) bind(ctx context.Context, req *sip.Request, user string) (*sip.Response, string) {
	contacts, ok := requestContacts(req)
	if !ok {
		return registerBadRequest(req, "Malformed Contact"), regBadRequest
	}
	headerExp, hasHeaderExp, ok := expiresHeader(req)
	if !ok {
		return registerBadRequest(req, "Malformed Expires"), regBadRequest
	}
	switch {
	case len(contacts) == 0:
		return r.query(ctx, req, user)
	case contacts[0].Address.Wildcard:
		// §10.3 step 6: "*" only alone and with Expires: 0.
		if len(contacts) != 1 || !hasHeaderExp || headerExp != 0 {
			return registerBadRequest(req, "Wildcard Contact Needs Expires 0"), regBadRequest
		}
		return r.unregister(ctx, req, user, "*")
	}
	c := contacts[0] // one contact per agent: the first is bound
	exp, ok := contactExpires(c, headerExp, hasHeaderExp, r.cfg.DefaultExpires)
	if !ok {
		return registerBadRequest(req, "Malformed Contact Expires"), regBadRequest
	}
	switch {
	case exp == 0:
		return r.unregister(ctx, req, user, c.Address.String())
	case exp < r.cfg.MinExpires:
		res := sip.NewResponseFromRequest(req, sip.StatusIntervalToBrief, "Interval Too Brief", nil)
		res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(int(r.cfg.MinExpires/time.Second))))
		return res, regIntervalTooBrief
	}
	b := AgentBinding{AgentID: user, Contact: c.Address.String(), Transport: req.Transport(),
		Source: req.Source(), UserAgent: userAgent(req), Expires: min(exp, r.cfg.MaxExpires)}
	if err := r.locs.Register(ctx, b); err != nil {
		r.log.Error("store registration", "agent", user, "error", err)
		return registerUnavailable(req), regError
	}
	r.log.Debug("agent registered", "agent", user, "contact", sanitize(b.Contact), "expires", b.Expires)
	return okWithBinding(req, &b), regOK
}

func (r *Registrar) unregister(ctx context.Context, req *sip.Request, user, contact string) (*sip.Response, string) {
	if err := r.locs.Unregister(ctx, user, contact); err != nil {
		r.log.Error("remove registration", "agent", user, "error", err)
		return registerUnavailable(req), regError
	}
	r.log.Debug("agent unregistered", "agent", user)
	return okWithBinding(req, nil), regUnregister
}

func (r *Registrar) query(ctx context.Context, req *sip.Request, user string) (*sip.Response, string) {
	b, ok, err := r.locs.Lookup(ctx, user)
	if err != nil {
		r.log.Error("look up registration", "agent", user, "error", err)
		return registerUnavailable(req), regError
	}
	if !ok {
		return okWithBinding(req, nil), regQuery
	}
	return okWithBinding(req, &b), regQuery
}

// okWithBinding is the 200 listing the binding (if any) with its expires
// parameter and a Date header (RFC 3261 §10.3 step 8).
func okWithBinding(req *sip.Request, b *AgentBinding) *sip.Response {
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	if b != nil {
		c := &sip.ContactHeader{Params: sip.NewParams()}
		if err := sip.ParseUri(b.Contact, &c.Address); err == nil {
			c.Params.Add("expires", strconv.Itoa(int(b.Expires/time.Second)))
			res.AppendHeader(c)
		}
	}
	res.AppendHeader(sip.NewHeader("Date", time.Now().UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")))
	return res
}

// requestContacts returns the Contact headers of req in order; ok is false
// when one could not be parsed.
func requestContacts(req *sip.Request) ([]*sip.ContactHeader, bool) {
	var out []*sip.ContactHeader
	for _, h := range req.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return nil, false
		}
		out = append(out, c)
	}
	return out, true
}

// expiresHeader parses the Expires header (RFC 3261 §20.19: delta-seconds);
// ok is false when it is malformed.
func expiresHeader(req *sip.Request) (d time.Duration, present, ok bool) {
	h := req.GetHeader("Expires")
	if h == nil {
		return 0, false, true
	}
	d, err := parseDeltaSeconds(h.Value())
	return d, err == nil, err == nil
}

// contactExpires is the contact's expires parameter, else the Expires
// header, else the default (RFC 3261 §10.3 step 7).
func contactExpires(c *sip.ContactHeader, header time.Duration, hasHeader bool, def time.Duration) (time.Duration, bool) {
	if v, ok := c.Params.Get("expires"); ok {
		d, err := parseDeltaSeconds(v)
		return d, err == nil
	}
	if hasHeader {
		return header, true
	}
	return def, true
}

// parseDeltaSeconds reads delta-seconds; values past 2^32-1 are capped
// (RFC 3261 §10.2.1.1 treats them as that).
func parseDeltaSeconds(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not delta-seconds", s)
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		n = 1<<32 - 1
	}
	return time.Duration(n) * time.Second, nil
}

// banned asks the ban list about an untrusted source; a trusted one is never
// banned, and a failing ban list lets the request through to authentication.
func (r *Registrar) banned(ctx context.Context, ip netip.Addr) bool {
	if !ip.IsValid() || r.trusted.contains(ip) {
		return false
	}
	banned, err := r.bans.Banned(ctx, ip)
	if err != nil {
		r.log.Warn("check ban", "source", ip.String(), "error", err)
	}
	return banned
}

// sourceIP is the IP the request came from (zero when unknown).
func sourceIP(req *sip.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func userAgent(req *sip.Request) string {
	if h := req.GetHeader("User-Agent"); h != nil {
		return sanitize(shortText(h.Value(), 128))
	}
	return ""
}
