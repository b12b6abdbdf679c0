package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// The callbacks: section is validated with messages a person can act on;
// without a trunk nothing else is checked (callbacks are off).
func TestCallbacksConfigValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*CallbacksConfig)
		want   string // "" valid
	}{
		{"off without a trunk", func(c *CallbacksConfig) { c.MaxAttempts = 0 }, ""},
		{"trunk by address", func(c *CallbacksConfig) { c.Trunk = "sip:10.0.0.9:5060;transport=udp" }, ""},
		{"trunk by IPv6 address", func(c *CallbacksConfig) { c.Trunk = "sip:[2001:db8::9]:5060" }, ""},
		{"trunk by name", func(c *CallbacksConfig) { c.Trunk = "sip:gw.example.net:5060" }, "IP address"},
		{"trunk with a user", func(c *CallbacksConfig) { c.Trunk = "sip:1@10.0.0.9" }, "host only"},
		{"trunk not SIP", func(c *CallbacksConfig) { c.Trunk = "http://10.0.0.9" }, "SIP URI"},
		{"international prefix", func(c *CallbacksConfig) { c.Trunk = "sip:10.0.0.9"; c.AllowedPrefixes = []string{"+44"} }, "never dialled"},
		{"no prefixes", func(c *CallbacksConfig) { c.Trunk = "sip:10.0.0.9"; c.AllowedPrefixes = nil }, "at least one prefix"},
		{"no attempts", func(c *CallbacksConfig) { c.Trunk = "sip:10.0.0.9"; c.MaxAttempts = 0 }, "max_attempts"},
		{"zero retry", func(c *CallbacksConfig) { c.Trunk = "sip:10.0.0.9"; c.RetryAfter = 0 }, "retry_after"},
		{"unknown category", func(c *CallbacksConfig) { c.Trunk = "sip:10.0.0.9"; c.DefaultCategory = "report" }, "default_category"},
		{"caller id not digits", func(c *CallbacksConfig) { c.Trunk = "sip:10.0.0.9"; c.CallerID = "hotline" }, "caller_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := defaultCallbacks()
			tc.mutate(&c)
			var msgs []string
			for _, err := range c.validate() {
				msgs = append(msgs, err.Error())
			}
			got := strings.Join(msgs, "; ")
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("validate = %q, want %q", got, tc.want)
			}
		})
	}
	if d := defaultCallbacks(); d.RetryAfter != configs.Duration(10*time.Minute) || d.MaxAttempts != 3 {
		t.Fatalf("defaults %+v", d)
	}
}
