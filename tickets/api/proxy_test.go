package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClientAddr(t *testing.T) {
	cfg := Config{TrustedProxies: []string{"10.0.0.0/8", "2001:db8:ff::1"}}
	proxies, err := cfg.trustedProxies()
	if err != nil {
		t.Fatalf("trusted proxies: %v", err)
	}
	s := &server{proxies: proxies}
	tests := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"direct client", "192.0.2.1:4000", nil, "192.0.2.1"},
		{"untrusted peer's header ignored", "192.0.2.1:4000", []string{"198.51.100.9"}, "192.0.2.1"},
		{"trusted proxy", "10.0.0.5:4000", []string{"198.51.100.9"}, "198.51.100.9"},
		{"IPv6 trusted proxy", "[2001:db8:ff::1]:4000", []string{"2001:db8:1::7"}, "2001:db8:1::7"},
		{"chain of trusted proxies", "10.0.0.5:4000", []string{"198.51.100.9, 10.0.0.6"}, "198.51.100.9"},
		{"forged entry left of the real client", "10.0.0.5:4000", []string{"6.6.6.6, 198.51.100.9"}, "198.51.100.9"},
		{"several headers", "10.0.0.5:4000", []string{"6.6.6.6", "198.51.100.9, 10.0.0.7"}, "198.51.100.9"},
		{"garbage behind the proxy", "10.0.0.5:4000", []string{"not-an-ip"}, "10.0.0.5"},
		{"only proxies", "10.0.0.5:4000", []string{"10.0.0.9"}, "10.0.0.9"},
		{"no header from the proxy", "10.0.0.5:4000", nil, "10.0.0.5"},
		{"reading stops after 16 hops", "10.0.0.5:4000", []string{"198.51.100.9, " + strings.Repeat("10.0.0.1, ", 20) + "10.0.0.2"}, "10.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/session", nil)
			r.RemoteAddr = tc.peer
			for _, h := range tc.xff {
				r.Header.Add("X-Forwarded-For", h)
			}
			if got := s.clientAddr(r); got != netip.MustParseAddr(tc.want) {
				t.Fatalf("clientAddr = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestSecureCookieBehindProxy checks X-Forwarded-Proto makes the cookie
// Secure only when a trusted proxy sends it.
func TestSecureCookieBehindProxy(t *testing.T) {
	tests := []struct {
		name    string
		trusted []string
		proto   string
		secure  bool
	}{
		{"trusted proxy, https", []string{"127.0.0.1"}, "https", true},
		{"trusted proxy, http", []string{"127.0.0.1"}, "http", false},
		{"untrusted peer says https", nil, "https", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.TrustedProxies = tc.trusted
			f := newFixtureWith(t, &cfg)
			res := f.newClient(t).do("POST", "/api/login", map[string]string{"agent_id": "1001", "password": password},
				map[string]string{"X-Forwarded-Proto": tc.proto})
			cookie := res.header.Get("Set-Cookie")
			if res.status != http.StatusOK || strings.Contains(cookie, "Secure") != tc.secure {
				t.Fatalf("login = %d, cookie %q, want Secure %v", res.status, cookie, tc.secure)
			}
		})
	}
}

// TestServeTLSFromConfig serves the API over tls_cert/tls_key as cmd wires
// it (tls.NewListener) and checks the session cookie is Secure.
func TestServeTLSFromConfig(t *testing.T) {
	f := newFixture(t)
	cfg := DefaultConfig()
	cfg.TLSCert, cfg.TLSKey = writeSelfSigned(t)
	if err := cfg.Validate(); err != nil || !cfg.ServesTLS() {
		t.Fatalf("config with a certificate: %v", err)
	}
	tc, err := cfg.TLSConfig()
	if err != nil {
		t.Fatalf("tls config: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: New(f.opts), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(tls.NewListener(ln, tc)) }()
	t.Cleanup(func() { _ = srv.Close() })
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // our own self-signed test certificate
	res, err := client.Post("https://"+ln.Addr().String()+"/api/login", "application/json",
		strings.NewReader(`{"agent_id":"1001","password":"`+password+`"}`))
	if err != nil {
		t.Fatalf("login over TLS: %v", err)
	}
	res.Body.Close()
	if c := res.Header.Get("Set-Cookie"); res.StatusCode != http.StatusOK || !strings.Contains(c, "Secure") || res.TLS == nil {
		t.Fatalf("login over TLS = %d, cookie %q, want Secure", res.StatusCode, c)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"defaults", func(*Config) {}, ""},
		{"idle past max", func(c *Config) { c.SessionIdle = 13 * time.Hour }, "must not exceed api.session_max"},
		{"no max", func(c *Config) { c.SessionMax = 0 }, "api.session_max: must be positive"},
		{"bad proxy", func(c *Config) { c.TrustedProxies = []string{"proxy.local"} }, `"proxy.local" is neither a CIDR`},
		{"cert without key", func(c *Config) { c.TLSCert = "cert.pem" }, "give both"},
		{"zero burst", func(c *Config) { c.Login.AccountBurst = 0 }, "must be at least 1"},
		{"zero refill", func(c *Config) { c.Login.SourceRefill = 0 }, "api.login.source_refill"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := (Config{TLSCert: "/nonexistent.pem", TLSKey: "/nonexistent.key"}).TLSConfig(); err == nil {
		t.Fatal("TLSConfig with missing files succeeded")
	}
}

// writeSelfSigned writes a certificate for 127.0.0.1 and its key as PEM.
func writeSelfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("key: %v", err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hotline test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatalf("write cert: %v", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatalf("write key: %v", err)
	}
	return certFile, keyFile
}
