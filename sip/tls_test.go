package sip

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-dev/hotline/sip/media"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// writeTestCert writes a self-signed certificate for 127.0.0.1 and its key
// into a temporary directory; the pool trusts it.
func writeTestCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hotline test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "sip.crt"), filepath.Join(dir, "sip.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLSConfig(t *testing.T) {
	certFile, keyFile, _ := writeTestCert(t)
	tests := []struct {
		name     string
		tls      TLSConfig
		validate string // error Validate names ("" = valid)
		start    string // error NewServer names
	}{
		{name: "off", tls: TLSConfig{Listen: ":5061"}},
		{name: "on", tls: TLSConfig{Listen: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile}},
		{name: "cert without key", tls: TLSConfig{Listen: ":5061", CertFile: certFile}, validate: "set both cert_file and key_file"},
		{name: "bad listen", tls: TLSConfig{Listen: "5061", CertFile: certFile, KeyFile: keyFile}, validate: "sip.tls.listen"},
		{name: "missing file", tls: TLSConfig{Listen: ":5061", CertFile: certFile + ".gone", KeyFile: keyFile},
			start: "sip.tls: load certificate"},
		{name: "key of another file", tls: TLSConfig{Listen: ":5061", CertFile: keyFile, KeyFile: keyFile},
			start: "sip.tls: load certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.TLS = tc.tls
			err := cfg.Validate()
			if tc.validate != "" {
				if err == nil || !strings.Contains(err.Error(), tc.validate) {
					t.Fatalf("Validate: %v, want an error naming %q", err, tc.validate)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			_, err = NewServer(Options{Config: cfg, Handler: func(context.Context, *Call) {},
				Ports: testPortPool(t), Pacer: testPacer()})
			if tc.start == "" && err != nil {
				t.Fatalf("NewServer: %v", err)
			}
			if tc.start != "" && (err == nil || !strings.Contains(err.Error(), tc.start)) {
				t.Fatalf("NewServer: %v, want an error naming %q", err, tc.start)
			}
		})
	}
}

// A call over TCP and over TLS is answered and hung up, and our Contact in
// the 200 names the transport and its port, so the caller's ACK and BYE come
// back over the same transport.
func TestStreamCallContact(t *testing.T) {
	certFile, keyFile, pool := writeTestCert(t)
	calls := make(chan *Call, 2)
	ended := make(chan struct{}, 2)
	r := newTCPRig(t, DefaultTCPConfig(), func(o *Options) {
		o.Config.TLS = TLSConfig{Listen: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile}
		o.Handler = func(ctx context.Context, c *Call) { calls <- c; <-ctx.Done(); ended <- struct{}{} }
	})
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("stream-caller"), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgenTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	rtpSock, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rtpSock.Close() })
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(rtpSock.LocalAddr().(*net.UDPAddr).Port) + " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	for _, tc := range []struct {
		transport string
		port      func() int
	}{
		{"tcp", func() int { return r.srv.TCPAddr().Port }},
		{"tls", func() int { return r.srv.TLSAddr().Port }},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "caller", Host: "127.0.0.1",
				UriParams: sip.NewParams()}}
			contact.Address.UriParams.Add("transport", tc.transport)
			dua := &sipgo.DialogUA{Client: cli, ContactHDR: contact}
			target := sip.Uri{Scheme: "sip", User: "12345", Host: "127.0.0.1", Port: tc.port(), UriParams: sip.NewParams()}
			target.UriParams.Add("transport", tc.transport)
			req := sip.NewRequest(sip.INVITE, target)
			req.SetTransport(strings.ToUpper(tc.transport))
			req.SetBody([]byte(sdp))
			req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			sess, err := dua.WriteInvite(ctx, req)
			if err != nil {
				t.Fatalf("invite over %s: %v", tc.transport, err)
			}
			if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
				t.Fatalf("answer over %s: %v", tc.transport, err)
			}
			got := sess.InviteResponse.Contact()
			if got == nil {
				t.Fatal("200 without Contact")
			}
			if tr, _ := got.Address.UriParams.Get("transport"); tr != tc.transport || got.Address.Port != tc.port() {
				t.Fatalf("Contact %s: want transport=%s and port %d", got.Address.String(), tc.transport, tc.port())
			}
			if err := sess.Ack(ctx); err != nil {
				t.Fatalf("ack: %v", err)
			}
			c := receive(t, calls, "the call at the server") // the handler runs once the ACK came
			if !strings.EqualFold(c.dlg.InviteRequest.Transport(), tc.transport) {
				t.Errorf("server saw the INVITE over %s, want %s", c.dlg.InviteRequest.Transport(), tc.transport)
			}
			if err := sess.Bye(ctx); err != nil {
				t.Fatalf("bye over %s: %v", tc.transport, err)
			}
			receive(t, ended, "the call to end at the server")
		})
	}
	if got := testutil.ToFloat64(r.met.connections.WithLabelValues("tls", connAccepted)); got < 1 {
		t.Errorf("tls connections accepted = %v, want at least 1", got)
	}
}

func testPortPool(t *testing.T) *media.PortPool {
	t.Helper()
	pool, err := media.NewPortPool(40000, 40010)
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

func testPacer() *media.Pacer { return media.NewPacer(nil) }
