package sip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/sip/media"
	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration read from YAML as a Go duration string ("5s").
type Duration time.Duration

// UnmarshalYAML parses "250ms", "5s", "2m".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a duration like \"5s\": %w", n.Line, err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use e.g. \"5s\", \"2m\")", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

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
	// MediaTimeout hangs up a call whose RTP stopped for this long.
	MediaTimeout Duration `yaml:"media_timeout"`
	// AnswerDelay is how long to ring (180) before answering; 0 answers at once (S1).
	AnswerDelay Duration `yaml:"answer_delay"`
	// MaxMessageSize refuses larger SIP messages (bytes).
	MaxMessageSize int `yaml:"max_message_size"`
	// DrainRetryAfter is the Retry-After sent with 503 while draining.
	DrainRetryAfter Duration `yaml:"drain_retry_after"`
	// RatePerSecond limits requests per source IP on UDP (0 = unlimited).
	RatePerSecond float64 `yaml:"rate_per_second"`
	// Burst is the per-source burst allowed above RatePerSecond.
	Burst int `yaml:"burst"`
	// TCP bounds the connections accepted on the TCP (and TLS) listener.
	TCP TCPConfig `yaml:"tcp"`
	// TLS serves SIP over TLS for agents when a certificate is configured.
	TLS TLSConfig `yaml:"tls"`
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
		MediaTimeout:    Duration(60 * time.Second),
		MaxMessageSize:  65535,
		DrainRetryAfter: Duration(30 * time.Second),
		RatePerSecond:   0,
		Burst:           200,
		TCP:             DefaultTCPConfig(),
		TLS:             TLSConfig{Listen: ":5061"},
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
	if c.RatePerSecond < 0 || c.Burst < 0 {
		errs = append(errs, errors.New("sip.rate_per_second and sip.burst must not be negative"))
	}
	errs = append(errs, c.TCP.validate(), c.TLS.validate())
	return errors.Join(errs...)
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
