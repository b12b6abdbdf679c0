package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// CallbacksConfig is how callback requests are placed (S9): the callbacks:
// section of hotline.yaml. With no trunk, requests are stored and become
// tickets, but nothing is dialled.
type CallbacksConfig struct {
	// Trunk is the SIP URI of the outbound trunk every callback is dialled
	// through, e.g. "sip:gw.example.net:5060"; the callee's number becomes its
	// user part. Empty: callbacks are not placed. Digest credentials come
	// from HOTLINE_TRUNK_USER and HOTLINE_TRUNK_PASSWORD.
	Trunk string `yaml:"trunk"`
	// CallerID is the number the callee sees (From), e.g. the hotline's.
	CallerID string `yaml:"caller_id"`
	// AllowedPrefixes are the only numbers dialled out, after
	// normalisation (toll fraud): default "0" and "1", China's landlines
	// (with their trunk 0) and mobiles; never "+" or "00".
	AllowedPrefixes []string `yaml:"allowed_prefixes"`
	// MaxAttempts: busy, no answer and failed are retried until this many
	// attempts were made; the last failure closes the request.
	MaxAttempts int `yaml:"max_attempts"`
	// RetryAfter is the pause between attempts (in office hours only).
	RetryAfter configs.Duration `yaml:"retry_after"`
	// RingTimeout bounds the callee's ringing.
	RingTimeout configs.Duration `yaml:"ring_timeout"`
	// CallerWait: while a caller of the category has waited this long
	// (0s: any caller), or any emergency caller waits, agents take callers,
	// not callbacks.
	CallerWait configs.Duration `yaml:"caller_wait"`
	// DefaultCategory routes requests left without a category (after hours).
	DefaultCategory string `yaml:"default_category"`
	// Interval between the placer's rounds (a freed agent starts one too).
	Interval configs.Duration `yaml:"interval"`
	// MaxActive bounds the callbacks one node places at once.
	MaxActive int `yaml:"max_active"`

	// From the environment, never from the file.
	TrunkUser     string `yaml:"-"`
	TrunkPassword string `yaml:"-"`
}

// defaultCallbacks holds the section's defaults (DefaultConfig).
func defaultCallbacks() CallbacksConfig {
	return CallbacksConfig{CallerID: "12345", AllowedPrefixes: []string{"0", "1"}, MaxAttempts: 3,
		RetryAfter: configs.Duration(10 * time.Minute), RingTimeout: configs.Duration(30 * time.Second),
		DefaultCategory: configs.CategoryInquiry, Interval: configs.Duration(2 * time.Second), MaxActive: 50}
}

// maxPrefixDigits bounds an allowed prefix: a prefix is a short dialling
// pattern, not a number.
const maxPrefixDigits = 8

// validate checks the section; only a configured trunk needs the rest.
func (c CallbacksConfig) validate() []error {
	if c.Trunk == "" {
		return nil
	}
	var errs []error
	if u, err := url.Parse(c.Trunk); err != nil || (u.Scheme != "sip" && u.Scheme != "sips") || u.Opaque == "" {
		errs = append(errs, fmt.Errorf("callbacks.trunk %q: want a SIP URI like \"sip:gw.example.net:5060\"", c.Trunk))
	} else if strings.Contains(u.Opaque, "@") {
		errs = append(errs, fmt.Errorf("callbacks.trunk %q: give the host only; the callee's number becomes the user part", c.Trunk))
	} else if !ipHost(u.Opaque) {
		errs = append(errs, fmt.Errorf("callbacks.trunk %q: give the trunk's IP address (the SIP stack never resolves host names)", c.Trunk))
	}
	if !digits(c.CallerID, 1, 20) {
		errs = append(errs, fmt.Errorf("callbacks.caller_id %q: want 1 to 20 digits", c.CallerID))
	}
	if len(c.AllowedPrefixes) == 0 {
		errs = append(errs, errors.New("callbacks.allowed_prefixes: list at least one prefix, e.g. [\"0\", \"1\"]"))
	}
	for _, p := range c.AllowedPrefixes {
		if !digits(p, 1, maxPrefixDigits) {
			errs = append(errs, fmt.Errorf("callbacks.allowed_prefixes: %q is not 1 to %d digits (\"+\" and \"00\" forms are never dialled)", p, maxPrefixDigits))
		}
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 10 {
		errs = append(errs, fmt.Errorf("callbacks.max_attempts %d: want 1 to 10", c.MaxAttempts))
	}
	if c.RetryAfter <= 0 || c.RingTimeout <= 0 || c.Interval <= 0 || c.CallerWait < 0 {
		errs = append(errs, errors.New("callbacks: retry_after, ring_timeout and interval must be positive, caller_wait not negative"))
	}
	if c.MaxActive < 1 {
		errs = append(errs, fmt.Errorf("callbacks.max_active %d: want at least 1", c.MaxActive))
	}
	if !slices.Contains(configs.QueueCategories(), c.DefaultCategory) {
		errs = append(errs, fmt.Errorf("callbacks.default_category %q: use %s", c.DefaultCategory,
			strings.Join(configs.QueueCategories(), ", ")))
	}
	return errs
}

func (c *CallbacksConfig) applyEnv() {
	c.TrunkUser = os.Getenv("HOTLINE_TRUNK_USER")
	c.TrunkPassword = os.Getenv("HOTLINE_TRUNK_PASSWORD")
}

// ipHost reports whether a SIP URI's host[:port][;params] names an IP address.
func ipHost(hostport string) bool {
	hostport, _, _ = strings.Cut(hostport, ";")
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		hostport = h
	}
	_, err := netip.ParseAddr(strings.Trim(hostport, "[]"))
	return err == nil
}

func digits(s string, minLen, maxLen int) bool {
	return len(s) >= minLen && len(s) <= maxLen && strings.Trim(s, "0123456789") == ""
}
