package sip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/media"
)

// Config is the SIP front end's configuration (the `sip:` section of hotline.yaml).
type Config struct {
	// Listen is host:port for both UDP and TCP (HOTLINE_SIP_LISTEN overrides).
	Listen string `yaml:"listen"`
	// Advertise is the IP put in Contact and SDP c= lines. Empty: the listen
	// host when it is specific, else the host the caller dialled in the Request-URI.
	Advertise string `yaml:"advertise"`
	// Hotline is the dialled number (Request-URI user) that is answered.
	Hotline string `yaml:"hotline"`
	// RTPPorts is the media port range "min-max" (HOTLINE_RTP_PORTS overrides).
	RTPPorts string `yaml:"rtp_ports"`
	// RTPSend is how prompts and hold music reach the kernel: "auto" batches
	// every 2 ms sub-slot through io_uring where the kernel allows it, else
	// one sendto per packet; "io_uring" requires it; "sendto" never uses it.
	RTPSend string `yaml:"rtp_send"`
	// RTPReceive is how calls' RTP is read: "shared" by one epoll receiver
	// per pacer worker (Linux; elsewhere per call), "per_call" by a
	// goroutine of each call.
	RTPReceive string `yaml:"rtp_receive"`
	// RTPPriority is "realtime" (shared receivers and pacer workers on
	// real-time threads where the process may, so a bridged packet is
	// relayed the moment it arrives and a prompt frame leaves on its
	// sub-slot even when every core is busy) or "normal".
	RTPPriority string `yaml:"rtp_priority"`
	// RTPRelay is where a bridge forwards audio between two legs on this
	// host's loopback (an SBC or media proxy beside the hotline, the
	// benchmarks): "auto" in the kernel where the process may load its
	// program (root or CAP_BPF and CAP_NET_ADMIN), else in user space;
	// "kernel" requires it; "user" never uses it.
	RTPRelay string `yaml:"rtp_relay"`
	// MediaTimeout hangs up a call whose RTP stopped for this long.
	MediaTimeout configs.Duration `yaml:"media_timeout"`
	// AllowForeignMedia accepts SDP c= addresses other than the address the
	// SIP message came from. Off, such offers get 488; turn it on behind a
	// proxy, SBC or media gateway that signals for media elsewhere.
	AllowForeignMedia bool `yaml:"allow_foreign_media"`
	// AnswerDelay is how long to ring (180) before answering; 0 answers at once (S1).
	AnswerDelay configs.Duration `yaml:"answer_delay"`
	// MaxMessageSize refuses larger SIP messages (bytes).
	MaxMessageSize int `yaml:"max_message_size"`
	// DrainRetryAfter is the Retry-After sent with 503 while draining.
	DrainRetryAfter configs.Duration `yaml:"drain_retry_after"`
	// RatePerSecond limits datagrams per untrusted source IP on UDP (0 = off).
	RatePerSecond float64 `yaml:"rate_per_second"`
	// Burst is the per-source burst allowed above RatePerSecond.
	Burst int `yaml:"burst"`
	// TCP bounds the connections accepted on the TCP (and TLS) listener.
	TCP TCPConfig `yaml:"tcp"`
	// TLS serves SIP over TLS for agents when a certificate is configured.
	TLS TLSConfig `yaml:"tls"`
	// Trusted lists the networks (CIDRs or addresses) of carrier trunks, SIP
	// proxies and the agents' phones: never banned, exempt from the rate
	// limit and from MaxCallsPerSource.
	Trusted []string `yaml:"trusted"`
	// MaxCalls caps the calls in progress on this node; more get 503. 0: one
	// per even port of RTPPorts (a call leg holds one).
	MaxCalls int `yaml:"max_calls"`
	// MaxCallsPerSource caps the calls in progress from one untrusted source IP.
	MaxCallsPerSource int `yaml:"max_calls_per_source"`
	// OverloadRetryAfter is the Retry-After sent with the 503 of a cap.
	OverloadRetryAfter configs.Duration `yaml:"overload_retry_after"`
}

// DefaultConfig returns the defaults documented in configs/hotline.yaml.
func DefaultConfig() Config {
	return Config{
		Listen:          ":5060",
		Hotline:         "12345",
		RTPPorts:        "10000-20000",
		RTPSend:         media.SendAuto,
		RTPReceive:      media.ReceiveShared,
		RTPPriority:     media.PriorityRealtime,
		RTPRelay:        media.RelayAuto,
		MediaTimeout:    configs.Duration(60 * time.Second),
		MaxMessageSize:  65535,
		DrainRetryAfter: configs.Duration(30 * time.Second),
		// A trunk bringing 40 new calls a second (about five datagrams
		// each) stays under the rate; one source cannot take a node.
		RatePerSecond:      200,
		Burst:              400,
		Trusted:            []string{"127.0.0.0/8", "::1/128"},
		MaxCalls:           0,
		MaxCallsPerSource:  20,
		OverloadRetryAfter: configs.Duration(10 * time.Second),
		TCP:                DefaultTCPConfig(),
		TLS:                TLSConfig{Listen: ":5061"},
	}
}

// Validate checks the configuration and says what to fix.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("sip.listen %q: want host:port, e.g. \":5060\"", c.Listen))
	}
	if c.Advertise != "" {
		if _, err := netip.ParseAddr(c.Advertise); err != nil {
			errs = append(errs, fmt.Errorf("sip.advertise %q: want an IP address", c.Advertise))
		}
	}
	if c.Hotline == "" || strings.ContainsAny(c.Hotline, " @:;") {
		errs = append(errs, fmt.Errorf("sip.hotline %q: want the dialled number, e.g. \"12345\"", c.Hotline))
	}
	if _, _, err := ParsePortRange(c.RTPPorts); err != nil {
		errs = append(errs, fmt.Errorf("sip.rtp_ports: %w", err))
	}
	switch c.RTPSend {
	case media.SendAuto, media.SendIOURing, media.SendEach:
	default:
		errs = append(errs, fmt.Errorf("sip.rtp_send %q: want %s, %s or %s", c.RTPSend, media.SendAuto, media.SendIOURing, media.SendEach))
	}
	switch c.RTPReceive {
	case media.ReceiveShared, media.ReceivePerCall:
	default:
		errs = append(errs, fmt.Errorf("sip.rtp_receive %q: want %s or %s", c.RTPReceive, media.ReceiveShared, media.ReceivePerCall))
	}
	switch c.RTPRelay {
	case media.RelayAuto, media.RelayKernel, media.RelayUser:
	default:
		errs = append(errs, fmt.Errorf("sip.rtp_relay %q: want %s, %s or %s", c.RTPRelay, media.RelayAuto, media.RelayKernel, media.RelayUser))
	}
	switch c.RTPPriority {
	case media.PriorityRealtime, media.PriorityNormal:
	default:
		errs = append(errs, fmt.Errorf("sip.rtp_priority %q: want %s or %s", c.RTPPriority, media.PriorityRealtime, media.PriorityNormal))
	}
	if c.MediaTimeout < 0 || c.AnswerDelay < 0 || c.DrainRetryAfter < 0 {
		errs = append(errs, errors.New("sip: durations must not be negative"))
	}
	if c.MaxMessageSize < 1500 || c.MaxMessageSize > 65535 {
		errs = append(errs, fmt.Errorf("sip.max_message_size %d: want 1500..65535", c.MaxMessageSize))
	}
	errs = append(errs, c.validateLimits()...)
	errs = append(errs, c.TCP.validate(), c.TLS.validate())
	return errors.Join(errs...)
}

// validateLimits checks the flood limits (rate, trusted sources, call caps).
func (c Config) validateLimits() []error {
	var errs []error
	switch {
	case c.RatePerSecond < 0 || c.Burst < 0:
		errs = append(errs, errors.New("sip.rate_per_second and sip.burst must not be negative (0 turns the rate limit off)"))
	case c.RatePerSecond > 0 && float64(c.Burst) < c.RatePerSecond:
		errs = append(errs, fmt.Errorf("sip.burst %d: want at least sip.rate_per_second (%g), or a trunk's retransmissions are dropped", c.Burst, c.RatePerSecond))
	}
	if _, err := parseTrusted(c.Trusted); err != nil {
		errs = append(errs, fmt.Errorf("sip.trusted: %w", err))
	}
	if lo, hi, err := ParsePortRange(c.RTPPorts); err == nil {
		if ports := (hi-lo)/2 + 1; c.MaxCalls < 0 || c.MaxCalls > ports {
			errs = append(errs, fmt.Errorf("sip.max_calls %d: want 0 (one per RTP port) or 1..%d (one RTP port per call, %d even ports in sip.rtp_ports %q)",
				c.MaxCalls, ports, ports, c.RTPPorts))
		}
	}
	if max := c.maxCalls(); c.MaxCallsPerSource < 1 || c.MaxCallsPerSource > max {
		errs = append(errs, fmt.Errorf("sip.max_calls_per_source %d: want 1..sip.max_calls (%d); list a trunk in sip.trusted instead of raising it",
			c.MaxCallsPerSource, max))
	}
	if d := time.Duration(c.OverloadRetryAfter); d < time.Second || d > time.Hour || d%time.Second != 0 {
		errs = append(errs, fmt.Errorf("sip.overload_retry_after %s: want whole seconds from 1s to 1h (e.g. \"10s\")", d))
	}
	return errs
}

// trustedNets returns the parsed Trusted list (valid after Validate).
func (c Config) trustedNets() trustedNets {
	t, _ := parseTrusted(c.Trusted)
	return t
}

// ParsePortRange parses "10000-20000".
func ParsePortRange(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want \"min-max\", e.g. \"10000-20000\"", s)
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || lo < 1024 || hi > 65535 || lo >= hi {
		return 0, 0, fmt.Errorf("%q: want two ports 1024..65535 with min < max", s)
	}
	return lo, hi, nil
}

// maxCalls is MaxCalls, or with 0 the number of even ports in RTPPorts.
func (c Config) maxCalls() int {
	if c.MaxCalls > 0 {
		return c.MaxCalls
	}
	lo, hi, err := ParsePortRange(c.RTPPorts)
	if err != nil {
		return 0
	}
	return (hi-lo)/2 + 1
}
