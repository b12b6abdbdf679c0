package api

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Config is the API's part of hotline.yaml (section "api"). Defaults are in
// DefaultConfig; Validate says what to fix.
type Config struct {
	// SessionIdle ends a session this long after its last request.
	SessionIdle time.Duration `yaml:"session_idle"`
	// SessionMax ends a session this long after sign-in, however active;
	// renewals never reach past it.
	SessionMax time.Duration `yaml:"session_max"`
	// TrustedProxies are the reverse proxies (CIDRs or addresses) whose
	// X-Forwarded-For and X-Forwarded-Proto are believed; from any other
	// peer both headers are ignored, as any client can set them.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// TLSCert and TLSKey (PEM files), both set, make the API listener serve
	// HTTPS itself.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// Login limits sign-in attempts.
	Login LoginLimits `yaml:"login"`
}

// LoginLimits are token buckets in Redis, shared by every node: each
// attempt takes a token from its account's bucket and from its source's
// before the password is checked; a successful sign-in gives both back.
// Accounts carry the brunt, so one person's guesses lock out that account
// only; the source limit is higher so a centre behind one NAT or proxy
// keeps working.
type LoginLimits struct {
	AccountBurst  int           `yaml:"account_burst"`
	AccountRefill time.Duration `yaml:"account_refill"` // one token back per this long
	SourceBurst   int           `yaml:"source_burst"`   // per IPv4 address or IPv6 /64
	SourceRefill  time.Duration `yaml:"source_refill"`
}

// DefaultConfig holds the API's defaults: 8 h idle, 12 h absolute; 5
// attempts per account then one a minute; 50 per source then one every 5 s.
func DefaultConfig() Config {
	return Config{
		SessionIdle: 8 * time.Hour,
		SessionMax:  12 * time.Hour,
		Login: LoginLimits{AccountBurst: 5, AccountRefill: time.Minute,
			SourceBurst: 50, SourceRefill: 5 * time.Second},
	}
}

// Validate reports every setting to fix, prefixed with its key.
func (c Config) Validate() error {
	var errs []error
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("api.%s: must be positive (e.g. 8h)", key))
		}
	}
	positive("session_idle", c.SessionIdle)
	positive("session_max", c.SessionMax)
	if c.SessionIdle > c.SessionMax {
		errs = append(errs, fmt.Errorf("api.session_idle (%s) must not exceed api.session_max (%s)", c.SessionIdle, c.SessionMax))
	}
	positive("login.account_refill", c.Login.AccountRefill)
	positive("login.source_refill", c.Login.SourceRefill)
	if c.Login.AccountBurst < 1 || c.Login.SourceBurst < 1 {
		errs = append(errs, errors.New("api.login.account_burst and source_burst: must be at least 1"))
	}
	if _, err := c.trustedProxies(); err != nil {
		errs = append(errs, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("api.tls_cert and api.tls_key: give both (HTTPS) or neither (plain HTTP behind a proxy)"))
	}
	return errors.Join(errs...)
}

// trustedProxies parses TrustedProxies; a bare address is a /32 or /128.
func (c Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("api.trusted_proxies: %q is neither a CIDR (10.0.0.0/8) nor an address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ServesTLS reports whether the API listener serves HTTPS itself.
func (c Config) ServesTLS() bool { return c.TLSCert != "" && c.TLSKey != "" }

// TLSConfig loads TLSCert and TLSKey for the API listener (wrap it with
// tls.NewListener).
func (c Config) TLSConfig() (*tls.Config, error) {
	if !c.ServesTLS() {
		return nil, errors.New("api: no tls_cert and tls_key configured")
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("api.tls_cert/tls_key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"}}, nil
}
