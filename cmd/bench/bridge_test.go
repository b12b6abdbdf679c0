package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseParts(t *testing.T) {
	all := parts{rate: true, hold: true, match: true, bridgeHold: true, bridgeRate: true, scrape: true}
	tests := []struct {
		in      string
		want    parts
		wantErr bool
	}{
		{"rate,hold,bridge,scrape", all, false},
		{"scrape", parts{scrape: true}, false},
		{"bridge", parts{match: true, bridgeHold: true, bridgeRate: true}, false},
		{" hold , rate ", parts{rate: true, hold: true}, false},
		{"match,bridge-rate", parts{match: true, bridgeRate: true}, false},
		{"soak", parts{soak: true}, false},
		{"callbacks", parts{callbacks: true}, false},
		{"callbacks,match", parts{}, true}, // its agents take the matching pool's staff numbers
		{"", parts{}, true},
		{",", parts{}, true},
		{"bridged", parts{}, true},
	}
	for _, tc := range tests {
		got, err := parseParts(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseParts(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	if s := all.String(); s != "rate,hold,match,bridge-hold,bridge-rate,scrape" {
		t.Errorf("String = %q", s)
	}
	if !(parts{bridgeRate: true}).bridge() || (parts{rate: true}).bridge() {
		t.Error("bridge() wrong")
	}
	r := result{Parts: "rate,bridge-hold"}
	if !r.hasPart("bridge-hold") || r.hasPart("hold") {
		t.Errorf("hasPart on %q wrong", r.Parts)
	}
}

func TestAgentsFor(t *testing.T) {
	// An agent is taken from the key until the caller hangs up (key→bridge
	// + talk), then in wrap-up (1 s), plus a second of margin.
	busy := bridgeKeyToBridge + 3*time.Second + benchWrapUp + time.Second
	tests := []struct {
		name     string
		rate     float64
		duration time.Duration
		want     int
	}{
		{"short step: callers arrive for duration only", 100, 10 * time.Second, int(math.Ceil(100*10*1.1)) + 20},
		{"long step: steady state", 100, 60 * time.Second, int(math.Ceil(100*busy.Seconds()*1.1)) + 20},
	}
	for _, tc := range tests {
		if got := agentsFor(tc.rate, tc.duration, 3*time.Second); got != tc.want {
			t.Errorf("%s: agentsFor = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestCountBridges(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	recs := []callRecord{
		{ID: "a", Outcome: "answered", Agent: true, QueuedAt: at(0), ConnectedAt: at(6)},
		{ID: "b", Outcome: "answered", Agent: true, QueuedAt: at(0), ConnectedAt: at(8)},
		{ID: "c", Outcome: "answered", Agent: true, QueuedAt: at(0), ConnectedAt: at(7)}, // bridge without audio back
		{ID: "d", Outcome: "failed", QueuedAt: at(0)},
		{ID: "e", Outcome: "answered", Agent: false}, // a specialist line, no agent
	}
	bridges := map[string]*bridgeEvent{
		"a": {Bridged: at(8.5), Stopped: at(11.5), CallerToAgent: 150, AgentToCaller: 150, LatencyMax: 2 * time.Millisecond},
		"b": {Bridged: at(10.5), Stopped: at(11.5), CallerToAgent: 50, AgentToCaller: 49, LatencyMax: 40 * time.Millisecond},
		"c": {Bridged: at(9.5), Stopped: at(11.5), CallerToAgent: 100},
		"x": {Bridged: at(1), Stopped: at(2), CallerToAgent: 1, AgentToCaller: 1}, // another step's call
	}
	c := countBridges(recs, bridges)
	want := bridgeCounts{
		Records: 5, Outcomes: map[string]int{"answered": 4, "failed": 1}, Answered: 3, Bridged: 2,
		QueueToAnswerP50: 7, QueueToAnswerP99: 8, StaffNumberP50: 2.5, TalkP50: 1, TalkMin: 1,
		WorstP50: 2, WorstP99: 40, WorstMax: 40,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("countBridges =\n%+v, want\n%+v", c, want)
	}
	empty := countBridges(nil, nil)
	if !math.IsNaN(empty.TalkP50) || empty.Bridged != 0 {
		t.Errorf("no records: %+v", empty)
	}
}

func TestQuantile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for _, tc := range []struct{ q, want float64 }{{0, 1}, {0.5, 3}, {0.99, 5}, {1, 5}, {0.2, 1}, {0.21, 2}} {
		if got := quantile(xs, tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if !math.IsNaN(quantile(nil, 0.5)) {
		t.Error("quantile of nothing is not NaN")
	}
}

func TestNewRelayDelta(t *testing.T) {
	m0, err := parseMetrics(strings.NewReader(`hotline_media_relayed_packets_total{direction="caller_to_agent"} 100
hotline_media_relayed_packets_total{direction="agent_to_caller"} 100
hotline_media_relay_latency_seconds_bucket{le="0.001"} 200
hotline_media_relay_latency_seconds_bucket{le="0.005"} 200
hotline_media_relay_latency_seconds_bucket{le="+Inf"} 200
hotline_media_relay_jitter_seconds_bucket{le="0.001"} 150
hotline_media_relay_jitter_seconds_bucket{le="0.005"} 150
hotline_media_relay_jitter_seconds_bucket{le="+Inf"} 150
hotline_agents_match_seconds_bucket{le="0.002"} 10
hotline_agents_match_seconds_bucket{le="0.005"} 10
hotline_agents_match_seconds_bucket{le="+Inf"} 10
hotline_agents_matches_total{category="inquiry",mode="one"} 7
`))
	if err != nil {
		t.Fatal(err)
	}
	m1, err := parseMetrics(strings.NewReader(`hotline_media_relayed_packets_total{direction="caller_to_agent"} 600
hotline_media_relayed_packets_total{direction="agent_to_caller"} 598
hotline_media_relay_dropped_total{reason="prompt"} 3
hotline_media_relay_latency_seconds_bucket{le="0.001"} 1190
hotline_media_relay_latency_seconds_bucket{le="0.005"} 1194
hotline_media_relay_latency_seconds_bucket{le="+Inf"} 1198
hotline_media_relay_jitter_seconds_bucket{le="0.001"} 1140
hotline_media_relay_jitter_seconds_bucket{le="0.005"} 1148
hotline_media_relay_jitter_seconds_bucket{le="+Inf"} 1150
hotline_agents_match_seconds_bucket{le="0.002"} 100
hotline_agents_match_seconds_bucket{le="0.005"} 109
hotline_agents_match_seconds_bucket{le="+Inf"} 110
hotline_agents_matches_total{category="inquiry",mode="one"} 57
hotline_agents_matches_total{category="complaint",mode="one"} 3
`))
	if err != nil {
		t.Fatal(err)
	}
	rd := newRelayDelta(m0, m1)
	if rd.Relayed != 998 || rd.CallerToAgent != 500 || rd.AgentToCaller != 498 || rd.Dropped["prompt"] != 3 {
		t.Errorf("packets: %+v", rd)
	}
	if math.Abs(rd.Within-994.0/998) > 1e-12 || math.Abs(rd.LatencyP50-1000*0.001*499/990) > 1e-9 {
		t.Errorf("relay latency: within %v p50 %v", rd.Within, rd.LatencyP50)
	}
	if math.Abs(rd.JitterWithin-998.0/1000) > 1e-12 || math.Abs(rd.JitterP50-1000*0.001*500/990) > 1e-9 {
		t.Errorf("added jitter: within %v p50 %v", rd.JitterWithin, rd.JitterP50)
	}
	if rd.MatchCalls != 100 || rd.Matches != 53 || math.Abs(rd.MatchWithin-0.99) > 1e-12 || rd.MatchP99 != 5 {
		t.Errorf("matching: %+v", rd)
	}
}

func TestParseMatchBench(t *testing.T) {
	out := "goos: linux\ngoarch: amd64\npkg: github.com/hotline-dev/hotline/agents\n" +
		"BenchmarkMatch-2   \t    3000\t    612345 ns/op\t         1.520 p50_ms\t         2.870 p99_ms\nPASS\nok  \tgithub.com/hotline-dev/hotline/agents\t4.1s\n"
	n, p50, p99, err := parseMatchBench(out)
	if err != nil || n != 3000 || p50 != 1.52 || p99 != 2.87 {
		t.Errorf("parseMatchBench = %d, %v, %v, %v", n, p50, p99, err)
	}
	if _, _, _, err := parseMatchBench("BenchmarkMatch-2 3000 612345 ns/op\n"); err == nil {
		t.Error("a line without p99_ms parsed")
	}
	if _, _, _, err := parseMatchBench("FAIL\n"); err == nil {
		t.Error("output without the benchmark parsed")
	}
}

func TestSummarizeSIPpErrors(t *testing.T) {
	log := "The following events occurred:\n" +
		"2026-11-23\t12:36:12.136572\t1795437372.136572: Call-Id: 5-5880@127.0.0.1, receive timeout on message hotline bench agent_feature:1 without label to jump to (ontimeout attribute): aborting call" +
		"2026-11-23\t12:36:12.236572\t1795437372.236572: Continuing call on unexpected message for Call-Id '6-5880@127.0.0.1': while expecting '200' (index 3), received 'SIP/2.0 400 Bad Request\nVia: x\n'"
	got := summarizeSIPpErrors(log)
	want := "2 events, first: Call-Id: 5-5880@127.0.0.1, receive timeout on message hotline bench agent_feature:1 without label to jump to (ontimeout attribute): aborting call"
	if got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	if got := summarizeSIPpErrors("The following events occurred:\n"); got != "" {
		t.Errorf("no events: %q", got)
	}
}

func TestAgentInjection(t *testing.T) {
	p := &agentPool{idPrefix: "b", staffBase: 1000, password: "pw"}
	if got, want := p.injection(1, 3), "SEQUENTIAL\nb1001;pw;\nb1002;pw;\n"; got != want {
		t.Errorf("injection = %q, want %q", got, want)
	}
}

// TestScenarios renders every scenario the bench runs as the bench does and
// checks it is well-formed XML whose jumps lead to labels that exist.
func TestScenarios(t *testing.T) {
	runs := []sippRun{
		{Scenario: "ivr_pcap.xml", Key: '1', AnswerWait: 5 * time.Second, AfterKey: 2 * time.Second},
		{Scenario: "ivr_info.xml", Key: '1', AnswerWait: 5 * time.Second, AfterKey: 2 * time.Second},
		{Scenario: "hold_info.xml", Key: '1', AnswerWait: 5 * time.Second, AfterKey: 30 * time.Second},
		{Scenario: "agent_register.xml", Inject: "SEQUENTIAL\nb1000;pw;\n"},
		{Scenario: "agent_feature.xml", Inject: "SEQUENTIAL\nb1000;pw;\n"},
		{Scenario: "agent_uas.xml", Audio: talkAudio(), Data: map[string]int64{"TalkMS": 20000}},
		{Scenario: "callback_callee.xml", Audio: talkAudio(), Data: map[string]int64{"TalkMS": 8000}},
		{Scenario: "bridge_caller.xml", Key: '1', AnswerWait: 5 * time.Second, Audio: talkAudio(),
			Data: map[string]int64{"AudioAtMS": 10000, "RestMS": 4000}},
		{Scenario: "bridge_caller.xml", Key: '1', AnswerWait: 5 * time.Second, Data: map[string]int64{"AudioAtMS": 0, "RestMS": 45000}},
	}
	for _, r := range runs {
		t.Run(r.Scenario, func(t *testing.T) {
			dir := t.TempDir()
			if err := stage(dir, r); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "scenario.xml"))
			if err != nil {
				t.Fatal(err)
			}
			text := string(b)
			if strings.Contains(text, "<no value>") {
				t.Fatalf("a template value is missing:\n%s", text)
			}
			labels, jumps := map[string]bool{}, []string{}
			dec := xml.NewDecoder(strings.NewReader(text))
			dec.Strict = true
			dec.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
			for {
				tok, err := dec.Token()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("not well-formed: %v\n%s", err, text)
				}
				el, ok := tok.(xml.StartElement)
				if !ok {
					continue
				}
				for _, a := range el.Attr {
					switch {
					case el.Name.Local == "label" && a.Name.Local == "id":
						labels[a.Value] = true
					case a.Name.Local == "next" || a.Name.Local == "ontimeout":
						jumps = append(jumps, a.Value)
					}
				}
			}
			for _, j := range jumps {
				if !labels[j] {
					t.Errorf("jump to label %q, which does not exist", j)
				}
			}
			if r.Audio != nil {
				if a, err := os.ReadFile(filepath.Join(dir, "talk.ulaw")); err != nil || len(a) != 8000 {
					t.Errorf("talk.ulaw: %d bytes, %v; want one second of PCMU", len(a), err)
				}
			}
			if r.Inject != "" {
				if _, err := os.Stat(filepath.Join(dir, "agents.csv")); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestSIPpArgs(t *testing.T) {
	uas, err := sippArgs("/d", sippRun{UAS: true, SIPPort: 5099, Timeout: time.Minute, Keys: map[string]string{"b": "2", "a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(uas, " ")
	for _, want := range []string{"-p 5099", "-key a 1 -key b 2", "-timeout 60s"} {
		if !strings.Contains(line, want) {
			t.Errorf("UAS args %q lack %q", line, want)
		}
	}
	for _, not := range []string{"-m ", "-r ", "-nd", "-s "} {
		if strings.Contains(line, not) {
			t.Errorf("UAS args %q have %q", line, not)
		}
	}
	uac, err := sippArgs("/d", sippRun{Target: "127.0.0.1:5060", Service: "*1", Calls: 3, Rate: 10, Limit: 5,
		Inject: "x", AuthURI: "*1@127.0.0.1:5060", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	line = strings.Join(uac, " ")
	for _, want := range []string{"-inf /d/agents.csv", "-auth_uri *1@127.0.0.1:5060", "-s *1", "-m 3", "-nd 127.0.0.1:5060"} {
		if !strings.Contains(line, want) {
			t.Errorf("UAC args %q lack %q", line, want)
		}
	}
	if strings.Contains(line, "-key key") || strings.Contains(line, "-key caller") {
		t.Errorf("UAC args %q have a key or caller nobody set", line)
	}
}

func TestParseStatsWhileWritten(t *testing.T) {
	header := "StartTime;CurrentTime;TotalCallCreated;SuccessfulCall(C);FailedCall(C);Retransmissions(C);" +
		"FailedTimeoutOnRecv(C);FailedUnexpectedMessage(C);FailedMaxUDPRetrans(C);\n"
	row := func(now string, created, ok int) string {
		return "2026-11-23\t12:00:00.000000\t1795435200.000000;2026-11-23\t12:00:0" + now + ".000000\t179543520" + now + ".000000;" +
			itoa(created) + ";" + itoa(ok) + ";0;0;0;0;0;\n"
	}
	path := filepath.Join(t.TempDir(), "stat.csv")
	// The last line is cut: SIPp is writing it.
	if err := os.WriteFile(path, []byte(header+row("1", 10, 4)+row("2", 20, 15)+"2026-11-23\t12:00:03.0"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := parseStats(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Created != 20 || st.Successful != 15 {
		t.Errorf("stats = %+v, want the last whole line", st)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestFinite(t *testing.T) {
	type inner struct {
		F float64
		M map[string]float64
	}
	type outer struct {
		A  float64
		P  *inner
		S  []inner
		OK float64
	}
	v := &outer{A: math.NaN(), P: &inner{F: math.Inf(1)}, S: []inner{{F: math.Inf(-1), M: map[string]float64{"x": math.NaN(), "y": 2}}}, OK: 3}
	finite(reflect.ValueOf(v))
	if v.A != -1 || v.P.F != -1 || v.S[0].F != -1 || v.S[0].M["x"] != -1 || v.S[0].M["y"] != 2 || v.OK != 3 {
		t.Errorf("finite left %+v %+v %+v", v, *v.P, v.S)
	}
	if _, err := json.Marshal(v); err != nil {
		t.Errorf("still not encodable: %v", err)
	}
}

func TestRedisInfo(t *testing.T) {
	info := func(cpuUser, cpuSys, evalUsec, getUsec string) string {
		return "# CPU\r\nused_cpu_sys:" + cpuSys + "\r\nused_cpu_user:" + cpuUser + "\r\nused_cpu_sys_children:9.0\r\n" +
			"# Commandstats\r\ncmdstat_evalsha:calls=10,usec=" + evalUsec + ",usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n" +
			"cmdstat_hget:calls=5,usec=" + getUsec + ",usec_per_call=2.00\r\n"
	}
	s0 := parseRedisInfo(info("10.0", "2.0", "1000000", "500000"))
	if s0.CPU != 12 || s0.Calls != 15 || s0.CommandSec != 1.5 || s0.ScriptSec != 1 {
		t.Fatalf("sample = %+v", s0)
	}
	s1 := parseRedisInfo(info("14.0", "3.0", "9000000", "1500000"))
	l := s0.load(s1, 10)
	want := redisLoad{Cores: 0.5, Busy: 0.9, ScriptShare: 0.8, Calls: 0}
	if math.Abs(l.Cores-want.Cores) > 1e-9 || math.Abs(l.Busy-want.Busy) > 1e-9 || math.Abs(l.ScriptShare-want.ScriptShare) > 1e-9 || l.Calls != 0 {
		t.Errorf("load = %+v, want %+v", l, want)
	}
	if (redisSample{}).load(s1, 0) != (redisLoad{}) {
		t.Error("no wall time gave a load")
	}
}

// TestMarkdownTables renders a report with every part and checks that each
// table row has as many cells as its header.
func TestMarkdownTables(t *testing.T) {
	r := &result{Parts: "rate,hold,match,bridge-hold,bridge-rate",
		PCAP: rateSweep{Scenario: "ivr_pcap", Steps: []rateStep{{Rate: 50, Calls: 500}}},
		Hold: holdSweep{Steps: []holdStep{{Calls: 500}}},
		Bridge: &bridgeResult{Talk: "3s",
			Rate:   bridgeRateSweep{Steps: []bridgeRateStep{{Rate: 50, Calls: 500, Err: "x | y"}}},
			Hold:   bridgeHoldSweep{Steps: []bridgeHoldStep{{Calls: 250, Pass: true}}},
			Match:  &matchStep{Agents: 200, Callers: 1350},
			Setups: []agentSetup{{Pool: "bridge", To: 10}},
		},
	}
	md := r.markdown()
	cells := func(line string) int { return strings.Count(line, "|") }
	header := 0
	for i, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			header = 0
			continue
		}
		if header == 0 {
			header = cells(line)
			continue
		}
		if cells(line) != header {
			t.Errorf("line %d has %d cell borders, its table's header %d:\n%s", i+1, cells(line), header, line)
		}
	}
	for _, want := range []string{"## Bridged calls", "### Bridged call rate", "### Concurrent bridged calls", "### Matching", "%!"} {
		if got := strings.Contains(md, want); got != (want != "%!") {
			t.Errorf("report contains %q: %v", want, got)
		}
	}
}

func TestBridgeHoldPass(t *testing.T) {
	step := func(bridged float64, outcomes map[string]int, jitter, relayed float64) bridgeHoldStep {
		st := bridgeHoldStep{Calls: 1000, BridgesStart: bridged + 3, BridgesEnd: bridged, Plateau: 10,
			Counts: bridgeCounts{Outcomes: outcomes}, Relay: relayDelta{JitterWithin: jitter, Within: 0.5}}
		st.Relay.Relayed = relayed * 2 * packetsPerSecond * bridged * 10
		st.fill()
		return st
	}
	tests := []struct {
		name string
		st   bridgeHoldStep
		want bool
	}{
		{"all bridged", step(1000, map[string]int{"answered": 1000}, 0.999, 1), true},
		{"calls the server failed count", step(940, map[string]int{"answered": 940, "failed": 60}, 0.999, 1), false},
		{"one percent short", step(990, map[string]int{"answered": 990, "failed": 10}, 0.999, 1), true},
		{"callers lost in the queue are not", step(940, map[string]int{"answered": 940, "abandoned_in_queue": 60}, 0.999, 1), false},
		{"added jitter", step(1000, nil, 0.98, 1), false},
		{"packets missing", step(1000, nil, 0.999, 0.95), false},
		{"nothing bridged", step(0, map[string]int{"failed": 1000}, 0.999, 1), false},
	}
	for _, tc := range tests {
		if tc.st.Pass != tc.want {
			t.Errorf("%s: pass = %v, want %v (%+v)", tc.name, tc.st.Pass, tc.want, tc.st)
		}
		// Half the packets over 5 ms of relay latency: the stricter
		// figure fails whatever the jitter.
		if tc.st.LatencyPass {
			t.Errorf("%s: latency pass with half the packets late", tc.name)
		}
	}
	st := step(1000, nil, 0.999, 1)
	st.Relay.Within = 0.995
	st.fill()
	if !st.Pass || !st.LatencyPass {
		t.Errorf("jitter and latency within 5 ms: pass %v, latency pass %v", st.Pass, st.LatencyPass)
	}
}

func TestSweepLimit(t *testing.T) {
	fails := []stepFailure{{50, "one call lost"}, {150, "callers waited too long"}, {200, "worse"}}
	got := sweepLimit(100, fails, "/s", "not reached")
	want := "callers waited too long (a lower step failed too — 50/s: one call lost)"
	if got != want {
		t.Errorf("sweepLimit = %q, want %q", got, want)
	}
	if got := sweepLimit(0, fails[:1], "/s", "not reached"); got != "one call lost" {
		t.Errorf("nothing passed: %q", got)
	}
	if got := sweepLimit(300, nil, "/s", "not reached"); got != "not reached" {
		t.Errorf("all passed: %q", got)
	}
}

// TestBridgeHoldCPUPerPacket: the bridge-hold step turns the server's CPU
// over the plateau into µs per relayed packet and prints it.
func TestBridgeHoldCPUPerPacket(t *testing.T) {
	st := bridgeHoldStep{Calls: 1000, BridgesStart: 1000, BridgesEnd: 1000, Plateau: 10,
		ServerCPU: 0.64, Relay: relayDelta{Relayed: 200000}}
	st.fill()
	if st.CPUPerPacket < 3.199 || st.CPUPerPacket > 3.201 {
		t.Fatalf("CPU per packet %v µs, want 3.2", st.CPUPerPacket)
	}
	if s := st.summary(); !strings.Contains(s, "server CPU per relayed packet: 3.20 µs") {
		t.Fatalf("summary lacks the CPU per packet: %s", s)
	}
}

// TestBridgeHoldKernelRelay: when the kernel forwards most packets, the
// program's own CPU counts in the cost per packet and the added jitter is
// the Go peer's measurement (the server's histogram has few samples): a
// peer that saw too much jitter fails the step even though the server's
// few samples were fine.
func TestBridgeHoldKernelRelay(t *testing.T) {
	st := bridgeHoldStep{Calls: 1000, BridgesStart: 1000, BridgesEnd: 1000, Plateau: 2, RTP: "go",
		ServerCPU: 0.1, Relay: relayDelta{Relayed: 200000, Kernel: 199000, KernelCPU: 0.04, JitterWithin: 1},
		Peer: &genWindow{Legs: 60, Sent: 200000, JitterWithin: 0.95, JitterP99: 7}}
	st.fill()
	if st.CPUPerPacket < 0.699 || st.CPUPerPacket > 0.701 {
		t.Errorf("CPU per packet %v µs, want 0.7 (server 0.5 + program 0.2)", st.CPUPerPacket)
	}
	if st.Pass || st.Relay.JitterWithin != 0.95 || st.JitterAt != "go peer" {
		t.Errorf("pass %v with jitter within 5 ms %v measured at %q; want a failure on the peer's 95 %%",
			st.Pass, st.Relay.JitterWithin, st.JitterAt)
	}
	if s := st.summary(); !strings.Contains(s, "99.50% in the kernel") || !strings.Contains(s, "added jitter (at the go peer)") {
		t.Errorf("summary: %s", s)
	}
	st.Peer.JitterWithin = 0.999
	st.Relay.JitterWithin = 0
	st.fill()
	if !st.Pass {
		t.Errorf("a peer with 99.9 %% within 5 ms fails: %s", st.summary())
	}
	// SIPp callers: nothing measures the jitter; bridging and relaying decide.
	sipp := bridgeHoldStep{Calls: 1000, BridgesStart: 1000, BridgesEnd: 1000, Plateau: 2, RTP: "sipp callers, go agents",
		ServerCPU: 0.1, Relay: relayDelta{Relayed: 200000, Kernel: 199000}, Peer: &genWindow{Sent: 100000}}
	sipp.fill()
	if !sipp.Pass || !strings.Contains(sipp.summary(), "measured nowhere: the kernel forwarded SIPp's streams") {
		t.Errorf("real-peer check: %s", sipp.summary())
	}
	sipp.Relay.Relayed, sipp.Relay.Kernel = 150000, 150000
	sipp.fill()
	if sipp.Pass {
		t.Errorf("a real-peer check that relayed 75 %% passes: %s", sipp.summary())
	}
}

// TestBridgeHoldPeerOwesOverItsWindow: the Go peer owes packets over its
// own window; a plateau stretched by a slow /metrics answer does not make a
// peer that sent everything it owed look behind.
func TestBridgeHoldPeerOwesOverItsWindow(t *testing.T) {
	st := bridgeHoldStep{Calls: 1500, BridgesStart: 1500, BridgesEnd: 1500, Plateau: 10.13, RTP: "go",
		Relay: relayDelta{Relayed: 1500100, JitterWithin: 1},
		Peer:  &genWindow{Seconds: 10.0, Legs: 300, Sent: 1500000, JitterWithin: 1}}
	st.fill()
	if !st.Pass || st.Due != 1500000 {
		t.Errorf("a peer that sent all it owed over its 10.0 s fails (due %.0f): %s", st.Due, st.summary())
	}
	st.Peer.Sent = 1470000 // 98 % of what it owed
	st.Relay.Relayed = 1470000
	st.fill()
	if st.Pass || !strings.Contains(bridgeHoldLimit(st, 2), "sent only 98.00% of the packets due") {
		t.Errorf("a peer 2 %% behind passes: %s / %s", st.summary(), bridgeHoldLimit(st, 2))
	}
}
