package siptest

import (
	"bytes"
	"context"
	"embed"
	"encoding/csv"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SIPpPath is where Debian's sip-tester installs sipp.
const SIPpPath = "/usr/bin/sipp"

// dtmfPCAPDir holds sip-tester's RFC 4733 captures dtmf_2833_{0-9,star,pound}.pcap.
const dtmfPCAPDir = "/usr/share/sip-tester"

// Scenarios are the SIPp scenario files of scenarios/, by file name.
//
//go:embed scenarios/*.xml
var Scenarios embed.FS

// SIPpOptions describe one SIPp run of a scenario from scenarios/.
type SIPpOptions struct {
	Scenario string // file name in scenarios/, e.g. "ivr_key.xml"
	Target   string // host:port of the server, e.g. "127.0.0.1:5060"
	Service  string // the number dialled ([service]); default "12345"
	Caller   string // the caller's user part ([caller]); default "13800000000"
	Calls    int    // -m; default 1
	Rate     float64
	// Key is the digit ivr_key and invalid_then_valid press (key.pcap);
	// InvalidKey the one invalid_then_valid presses first (invalid.pcap).
	Key, InvalidKey rune
	// AnswerWait, AfterInvalid and AfterKey are the scenario pauses
	// ($answer_wait, $after_invalid, $after_key); defaults 2 s, 3 s, 3 s.
	AnswerWait, AfterInvalid, AfterKey time.Duration
	Timeout                            time.Duration // -timeout with -timeout_error; default 60 s
	// Pauses sets further pause variables a scenario declares ($name, -set
	// in milliseconds), e.g. english_call's before_survey.
	Pauses map[string]time.Duration
	// MediaPort, when set, is SIPp's RTP port (-mp) instead of a free one
	// chosen per run: a test that taps what SIPp hears (TapRTP) knows it.
	MediaPort int
	ExtraArgs []string
}

// SIPpResult is what a SIPp run reported.
type SIPpResult struct {
	ExitCode   int // 0 all calls succeeded, 1 some failed, 97/99/255/254 see sipp -h
	Successful int // SuccessfulCall(C) of the last -trace_stat line
	Failed     int // FailedCall(C)
	Stdout     string
	Stderr     string
	Errors     string // the -trace_err log: unexpected messages
}

// HaveSIPp reports whether sipp is installed.
func HaveSIPp() bool {
	_, err := os.Stat(SIPpPath)
	return err == nil
}

// RequireSIPp is the check of every test that runs SIPp: under -short it
// skips the test (the fast lane starts no other processes); otherwise a
// missing sipp fails it, so a run cannot pass by skipping.
func RequireSIPp(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("siptest: runs sipp, which -short leaves out")
	}
	if !HaveSIPp() {
		t.Fatalf("siptest: %s not found: install sip-tester (apt-get install sip-tester, or scripts/services.sh tools)", SIPpPath)
	}
}

// RunSIPp runs one scenario to completion in a temporary directory and parses
// its statistics. The error is non-nil when sipp could not run or reported no
// statistics; a run whose calls failed returns a nil error and ExitCode 1 with
// Failed > 0, so tests can assert on the expected outcome.
func RunSIPp(ctx context.Context, opts SIPpOptions) (SIPpResult, error) {
	opts.defaults()
	dir, err := os.MkdirTemp("", "siptest-sipp-")
	if err != nil {
		return SIPpResult{}, fmt.Errorf("sipp work dir: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := stageScenario(dir, opts); err != nil {
		return SIPpResult{}, err
	}
	var res SIPpResult
	for attempt := 1; ; attempt++ {
		res, err = runSIPpOnce(ctx, dir, opts)
		// A port was taken before SIPp bound it (startAttempts); SIPp then
		// exits before its first call: choose again. Never when a call was
		// made: the test would see it twice.
		if err == nil && attempt < startAttempts && portTaken(res) && noCalls(dir) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return res, err
		}
		break
	}
	res.Successful, res.Failed, err = parseStat(filepath.Join(dir, "stat.csv"))
	if err != nil {
		return res, fmt.Errorf("sipp %s exited %d: %w; stderr: %s", opts.Scenario, res.ExitCode, err, res.Stderr)
	}
	return res, nil
}

// runSIPpOnce runs SIPp once on newly chosen ports; the error is non-nil
// only when it could not run at all.
func runSIPpOnce(ctx context.Context, dir string, opts SIPpOptions) (SIPpResult, error) {
	_ = os.Remove(filepath.Join(dir, "stat.csv")) // a previous attempt's
	args, err := sippArgs(dir, opts)
	if err != nil {
		return SIPpResult{}, err
	}
	runCtx, cancel := context.WithTimeout(ctx, opts.Timeout+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(runCtx, SIPpPath, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	res := SIPpResult{Stdout: stdout.String(), Stderr: stderr.String(), Errors: readFile(filepath.Join(dir, "errors.log"))}
	var exitErr *exec.ExitError
	switch {
	case errors.As(runErr, &exitErr):
		res.ExitCode = exitErr.ExitCode()
	case runErr != nil:
		return res, fmt.Errorf("run sipp %s: %w", opts.Scenario, runErr)
	}
	return res, nil
}

// portTaken reports whether SIPp stopped because it could not bind one of
// its sockets ("Unable to bind main socket, errno = 98 (Address already in
// use)", the same for its media sockets): it exits 254 before any call.
func portTaken(res SIPpResult) bool {
	return res.ExitCode != 0 && addrInUse(res.Stderr)
}

// noCalls reports whether the run in dir ended no call (no statistics, or
// none successful or failed).
func noCalls(dir string) bool {
	ok, failed, err := parseStat(filepath.Join(dir, "stat.csv"))
	return err != nil || ok+failed == 0
}

func (o *SIPpOptions) defaults() {
	if o.Service == "" {
		o.Service = "12345"
	}
	if o.Caller == "" {
		o.Caller = "13800000000"
	}
	if o.Calls == 0 {
		o.Calls = 1
	}
	if o.Timeout == 0 {
		o.Timeout = time.Minute
	}
	o.AnswerWait = orDefault(o.AnswerWait, 2*time.Second)
	o.AfterInvalid = orDefault(o.AfterInvalid, 3*time.Second)
	o.AfterKey = orDefault(o.AfterKey, 3*time.Second)
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// stageScenario copies the scenario and links the DTMF captures next to it:
// SIPp looks for play_pcap_audio files beside the scenario first, and cannot
// take the file name from a variable (it loads the pcap while parsing the XML).
func stageScenario(dir string, opts SIPpOptions) error {
	xml, err := Scenarios.ReadFile("scenarios/" + opts.Scenario)
	if err != nil {
		return fmt.Errorf("scenario %q: %w", opts.Scenario, err)
	}
	if err := os.WriteFile(filepath.Join(dir, opts.Scenario), xml, 0o644); err != nil {
		return fmt.Errorf("write scenario: %w", err)
	}
	links := map[string]rune{"key.pcap": opts.Key, "invalid.pcap": opts.InvalidKey}
	for name, digit := range links {
		if digit == 0 {
			continue
		}
		pcap, err := DTMFPCAP(digit)
		if err != nil {
			return err
		}
		if err := os.Symlink(pcap, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("link %s: %w", name, err)
		}
	}
	return nil
}

// DTMFPCAP is sip-tester's RFC 4733 capture of digit.
func DTMFPCAP(digit rune) (string, error) {
	name := string(digit)
	switch {
	case digit == '*':
		name = "star"
	case digit == '#':
		name = "pound"
	case digit < '0' || digit > '9':
		return "", fmt.Errorf("dtmf pcap for %q: sip-tester has 0-9, * and # only", digit)
	}
	return filepath.Join(dtmfPCAPDir, "dtmf_2833_"+name+".pcap"), nil
}

// pickSIPpPorts chooses SIPp's SIP and media ports; a test replaces it to
// make a port taken before SIPp binds it.
var pickSIPpPorts = func() (sip, media int, err error) {
	if sip, err = freePort("udp"); err != nil {
		return 0, 0, err
	}
	media, err = freePort("udp")
	return sip, media, err
}

func sippArgs(dir string, opts SIPpOptions) ([]string, error) {
	sipPort, mediaPort, err := pickSIPpPorts()
	if err != nil {
		return nil, err
	}
	if opts.MediaPort != 0 {
		mediaPort = opts.MediaPort
	}
	args := []string{
		"-sf", filepath.Join(dir, opts.Scenario), "-s", opts.Service, "-m", strconv.Itoa(opts.Calls),
		"-i", loopback, "-bind_local", "-p", strconv.Itoa(sipPort), "-mi", loopback, "-mp", strconv.Itoa(mediaPort),
		"-key", "caller", opts.Caller,
		"-timeout", strconv.Itoa(int(opts.Timeout.Seconds()+0.5)) + "s", "-timeout_error",
		"-trace_stat", "-stf", filepath.Join(dir, "stat.csv"), "-fd", "1",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"), "-nostdin",
	}
	args = append(args, pauseArgs(opts)...)
	if opts.Rate > 0 {
		args = append(args, "-r", strconv.FormatFloat(opts.Rate, 'f', -1, 64))
	}
	args = append(args, opts.ExtraArgs...)
	return append(args, opts.Target), nil
}

// pauseArgs sets the pause variables the scenario uses. SIPp refuses both
// -set of a global the scenario does not declare and a declared global the
// scenario never uses, so each scenario declares exactly its own.
func pauseArgs(opts SIPpOptions) []string {
	xml, _ := Scenarios.ReadFile("scenarios/" + opts.Scenario)
	vars := []struct {
		name string
		d    time.Duration
	}{{"answer_wait", opts.AnswerWait}, {"after_invalid", opts.AfterInvalid}, {"after_key", opts.AfterKey}}
	names := slices.Sorted(maps.Keys(opts.Pauses))
	for _, name := range names {
		vars = append(vars, struct {
			name string
			d    time.Duration
		}{name, opts.Pauses[name]})
	}
	var args []string
	for _, v := range vars {
		if bytes.Contains(xml, []byte(`variable="`+v.name+`" `)) {
			args = append(args, "-set", v.name, strconv.FormatInt(v.d.Milliseconds(), 10))
		}
	}
	return args
}

// startAttempts bounds how often a peer (baresip, SIPp) is started again on
// newly chosen ports. A port free when chosen may be taken before the peer
// binds it: it lies in the ephemeral range, and an outgoing connection or a
// test running beside can get it first.
const startAttempts = 5

// addrInUse reports whether a peer's output says a port was taken.
func addrInUse(out string) bool { return strings.Contains(out, "Address already in use") }

// freePort finds a port free now on loopback (SIPp binds it a moment later).
func freePort(network string) (int, error) {
	c, err := net.ListenPacket(network, net.JoinHostPort(loopback, "0"))
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// parseStat reads the cumulative SuccessfulCall and FailedCall columns of the
// last line of SIPp's -trace_stat CSV (semicolon separated).
func parseStat(path string) (ok, failed int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("read statistics: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma, r.FieldsPerRecord = ';', -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		return 0, 0, fmt.Errorf("parse statistics %s: %d rows: %w", path, len(rows), err)
	}
	ok, err = column(rows[0], rows[len(rows)-1], "SuccessfulCall(C)")
	if err != nil {
		return 0, 0, err
	}
	failed, err = column(rows[0], rows[len(rows)-1], "FailedCall(C)")
	return ok, failed, err
}

func column(header, row []string, name string) (int, error) {
	for i, h := range header {
		if strings.TrimSpace(h) == name && i < len(row) {
			n, err := strconv.Atoi(strings.TrimSpace(row[i]))
			if err != nil {
				return 0, fmt.Errorf("statistics column %s: %w", name, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("statistics have no column %s", name)
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}

// FreeUDPPort is a UDP port free now on loopback, for SIPpOptions.MediaPort.
func FreeUDPPort() (int, error) { return freePort("udp") }
