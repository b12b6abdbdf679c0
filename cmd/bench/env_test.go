package main

import "testing"

// -set overrides reach the nested key with the value's YAML type; a
// malformed override is refused.
func TestSetConfig(t *testing.T) {
	cfg := map[string]any{"sip": map[string]any{"rtp_priority": "realtime", "max_calls": 100}}
	for _, kv := range []string{"sip.rtp_priority=normal", "sip.max_calls=0", "acd.ring.timeout=5s", "http.pprof=true"} {
		if err := setConfig(cfg, kv); err != nil {
			t.Fatalf("%s: %v", kv, err)
		}
	}
	sip := cfg["sip"].(map[string]any)
	ring := cfg["acd"].(map[string]any)["ring"].(map[string]any)
	if sip["rtp_priority"] != "normal" || sip["max_calls"] != 0 || ring["timeout"] != "5s" || cfg["http"].(map[string]any)["pprof"] != true {
		t.Fatalf("config after -set = %v", cfg)
	}
	for _, bad := range []string{"sip", "sip.=1", ".x=1", "a..b=1", "sip.x=[unclosed"} {
		if err := setConfig(cfg, bad); err == nil {
			t.Errorf("-set %q taken", bad)
		}
	}
}
