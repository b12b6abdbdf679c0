package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Lines as cmd/hotline's slog text handler writes them.
const (
	lineBridged = `time=2026-11-23T12:48:18.570Z level=INFO msg=bridged component=sip call_id=e99fa7f3 sip_call_id=2-17344@127.0.0.1 component=bridge caller_codec=PCMU agent_codec=PCMU` + "\n"
	lineStopped = `time=2026-11-23T12:48:21.618Z level=INFO msg="bridge stopped" component=sip call_id=e99fa7f3 sip_call_id=2-17344@127.0.0.1 component=bridge caller_to_agent=152 agent_to_caller=151 transcoded=0 dtmf=0 latency_max=403.436µs` + "\n"
	lineWarn    = `time=2026-11-23T12:41:59.323Z level=WARN msg="call flow error" component=sip call_id=5b35 sip_call_id=4-12911@127.0.0.1 error="queue position in inquiry: call \"5b35d6d9-0177-4761-bcd1-d0fa54ac50a9\" not queued"` + "\n"
	lineWarn2   = `time=2026-11-23T12:41:59.323Z level=WARN msg="call flow error" component=sip call_id=5b36 error="queue position in inquiry: call \"e88cbba6-47fa-4120-865e-7041ac84e1a1\" not queued"` + "\n"
)

func TestParseLogLine(t *testing.T) {
	kv := parseLogLine(lineWarn)
	want := map[string]string{
		"time": "2026-11-23T12:41:59.323Z", "level": "WARN", "msg": "call flow error", "component": "sip",
		"call_id": "5b35", "sip_call_id": "4-12911@127.0.0.1", "error": `queue position in inquiry: call "5b35d6d9-0177-4761-bcd1-d0fa54ac50a9" not queued`,
	}
	for k, v := range want {
		if kv[k] != v {
			t.Errorf("%s = %q, want %q", k, kv[k], v)
		}
	}
	if kv := parseLogLine(lineBridged); kv["component"] != "sip" {
		t.Errorf("a repeated key kept %q, want the first value", kv["component"])
	}
	if kv := parseLogLine("hotline bench ready: SIP udp 127.0.0.1:1 (dial 12345)\n"); len(kv) != 0 {
		t.Errorf("a line without key=value pairs gave %v", kv)
	}
}

func TestLogCursor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.log")
	if err := os.WriteFile(path, []byte(lineBridged), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &logCursor{path: path}
	if err := c.skip(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Only what follows the skip counts; a line still being written waits.
	if _, err := f.WriteString(lineBridged + lineStopped + lineWarn + lineWarn2 + "time=2026-11-23T12:48:22Z level=INFO msg=bri"); err != nil {
		t.Fatal(err)
	}
	chunk, err := c.read()
	if err != nil {
		t.Fatal(err)
	}
	e := chunk.Bridges["e99fa7f3"]
	if e == nil || len(chunk.Bridges) != 1 {
		t.Fatalf("bridges = %v, want one for e99fa7f3", chunk.Bridges)
	}
	if got := e.Stopped.Sub(e.Bridged); got != 3048*time.Millisecond {
		t.Errorf("bridged → stopped = %v, want 3.048s", got)
	}
	if e.CallerToAgent != 152 || e.AgentToCaller != 151 || e.LatencyMax != 403436*time.Nanosecond || !e.talked() {
		t.Errorf("event = %+v", *e)
	}
	if got := chunk.top(3); len(got) != 1 || got[0] != `2x WARN call flow error: queue position in inquiry: call "<id>" not queued` {
		t.Errorf("warnings = %v", got)
	}
	if _, err := f.WriteString("dged call_id=e99fa7f3\n" + lineBridged); err != nil {
		t.Fatal(err)
	}
	chunk, err = c.read()
	if err != nil {
		t.Fatal(err)
	}
	if len(chunk.Bridges) != 1 || chunk.Bridges["e99fa7f3"].talked() {
		t.Errorf("second read = %v, want one bridge without its stop", chunk.Bridges)
	}
}
