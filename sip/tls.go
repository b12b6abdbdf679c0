package sip

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
)

// TLSConfig serves SIP over TLS (RFC 3261 §26.2.1) for agents' phones. It is
// off unless both a certificate and its key are configured.
type TLSConfig struct {
	// Listen is host:port of the TLS listener (default ":5061").
	Listen string `yaml:"listen"`
	// CertFile is the PEM certificate chain (HOTLINE_SIP_TLS_CERT overrides).
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key (HOTLINE_SIP_TLS_KEY overrides).
	KeyFile string `yaml:"key_file"`
}

// Enabled reports whether TLS is configured.
func (c TLSConfig) Enabled() bool { return c.CertFile != "" || c.KeyFile != "" }

func (c TLSConfig) validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	if c.CertFile == "" || c.KeyFile == "" {
		errs = append(errs, errors.New("sip.tls: set both cert_file and key_file (or neither, to serve no TLS)"))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("sip.tls.listen %q: want host:port, e.g. \":5061\"", c.Listen))
	}
	return errors.Join(errs...)
}

// serverConfig loads the certificate; a missing or mismatched file is a
// start-up error naming it.
func (c TLSConfig) serverConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("sip.tls: load certificate %s and key %s: %w", c.CertFile, c.KeyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// listenTLS binds the TLS listener: the cap and accept retry apply to the raw
// connections, the guard and timeouts to the decrypted stream.
func (s *Server) listenTLS(limits *connLimits, guard *streamGuard) (net.Listener, error) {
	raw, err := net.Listen("tcp", s.cfg.TLS.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen sip tls %s: %w", s.cfg.TLS.Listen, err)
	}
	s.tlsAddr.Store(raw.Addr().(*net.TCPAddr))
	limited := newLimitListener(raw, limits, "tls", s.cmet, s.log, nil)
	return framedListener{Listener: tls.NewListener(limited, s.tlsConf), wrap: guard.wrap}, nil
}
