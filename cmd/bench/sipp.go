package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/csv"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/hotline-dev/hotline/sip/siptest"
)

// scenarioFS holds the bench's SIPp scenarios; common.tmpl has the INVITE/ACK,
// INFO and BYE blocks they share.
//
//go:embed scenarios/*.xml scenarios/common.tmpl
var scenarioFS embed.FS

// sippRun describes one SIPp run.
type sippRun struct {
	Scenario string // file in scenarios/
	Target   string // server host:port
	Service  string // number dialled
	// Caller is the callers' number prefix, unique per step (the DB
	// cross-check); each call appends its SIPp call number. One number for
	// all would make every caller a repeat caller held for the first one's
	// ticket owner (S16, owner_wait).
	Caller     string
	Key        rune // digit pressed (key.pcap or INFO)
	Calls      int  // -m
	Rate       float64
	Limit      int // -l: simultaneous calls
	AnswerWait time.Duration
	AfterKey   time.Duration
	Timeout    time.Duration // whole run (-timeout)

	// Data are more template values for the scenario (milliseconds).
	Data map[string]int64
	// Inject is the content of the -inf CSV (agents.csv), "" for none.
	Inject string
	// AuthURI forces the digest uri (-auth_uri): SIPp otherwise uses
	// remote_ip:remote_port, which is only the Request-URI of a REGISTER.
	AuthURI string
	// Keys are more -key name value pairs.
	Keys map[string]string
	// UAS runs SIPp as a server (the scenario starts with a recv): no
	// target, call count or rate, and SIPp's default behaviours on.
	UAS bool
	// SIPPort is the local SIP port (0: a free one).
	SIPPort int
	// Audio is written beside the scenario as talk.ulaw for rtp_stream.
	Audio []byte
}

// sippStats are the cumulative counters of SIPp's last -trace_stat line.
type sippStats struct {
	Created, Successful, Failed, Retransmissions          int
	FailedRecvTimeout, FailedUnexpected, FailedMaxRetrans int
	// Achieved is the rate at which SIPp created calls while it was creating
	// them (from its once-a-second statistics lines).
	Achieved float64
	// CPU is SIPp's user+system time (every thread, from rusage).
	CPU  time.Duration
	Wall time.Duration
	// Errors summarises SIPp's error log (unexpected messages, timeouts).
	Errors string `json:"errors,omitempty"`
}

// rtpTasksPerThread is SIPp's -rtp_threadtasks for the scenarios that
// stream audio (default 20).
const rtpTasksPerThread = 200

// sippProc is a started SIPp.
type sippProc struct {
	cmd   *exec.Cmd
	dir   string
	start time.Time
	done  chan struct{}
	err   error
	out   bytes.Buffer
}

// startSIPp stages the scenario in a temp dir and starts SIPp on loopback.
func startSIPp(ctx context.Context, r sippRun) (*sippProc, error) {
	dir, err := os.MkdirTemp("", "hotline-bench-sipp-")
	if err != nil {
		return nil, fmt.Errorf("sipp work dir: %w", err)
	}
	p := &sippProc{dir: dir, done: make(chan struct{})}
	if err := stage(dir, r); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	args, err := sippArgs(dir, r)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.cmd = exec.CommandContext(ctx, siptest.SIPpPath, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.WaitDelay = 5 * time.Second
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start sipp: %w", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// wait waits for SIPp to exit and reads its statistics; it removes the work dir.
func (p *sippProc) wait() (sippStats, error) {
	<-p.done
	defer os.RemoveAll(p.dir)
	st, err := parseStats(filepath.Join(p.dir, "stat.csv"))
	st.Wall = time.Since(p.start)
	if ps := p.cmd.ProcessState; ps != nil {
		st.CPU = ps.UserTime() + ps.SystemTime()
	}
	st.Errors = p.errorSummary()
	var exitErr *exec.ExitError
	if p.err != nil && !errors.As(p.err, &exitErr) {
		return st, fmt.Errorf("sipp: %w", p.err)
	}
	if err != nil {
		return st, fmt.Errorf("sipp exited (%v): %w; output: %s", p.err, err, lastLines(p.out.String(), 5))
	}
	return st, nil
}

// stop asks a SIPp that runs until told (the agents' UAS) to finish its calls
// and exit (SIGUSR1), terminates it after grace, and waits.
func (p *sippProc) stop(grace time.Duration) (sippStats, error) {
	_ = p.cmd.Process.Signal(syscall.SIGUSR1)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	return p.wait()
}

// stats reads the statistics SIPp has written so far (once a second): the
// counters of a SIPp that is still running.
func (p *sippProc) stats() (sippStats, error) {
	return parseStats(filepath.Join(p.dir, "stat.csv"))
}

// errorSummary condenses SIPp's error log (-trace_err): how many events, and
// the first one's reason.
func (p *sippProc) errorSummary() string {
	b, err := os.ReadFile(filepath.Join(p.dir, "errors.log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	return summarizeSIPpErrors(string(b))
}

// sippEvent starts each event of a SIPp error log: date, tab, time, tab,
// Unix time and ": ". Events are not always on lines of their own.
var sippEvent = regexp.MustCompile(`\d{4}-\d{2}-\d{2}\t\d{2}:\d{2}:\d{2}\.\d+\t\d+\.\d+: `)

// summarizeSIPpErrors counts the events of a SIPp error log (-trace_err)
// and keeps the first one's text up to the end of its first line.
func summarizeSIPpErrors(log string) string {
	idx := sippEvent.FindAllStringIndex(log, -1)
	if len(idx) == 0 {
		return ""
	}
	end := len(log)
	if len(idx) > 1 {
		end = idx[1][0]
	}
	first, _, _ := strings.Cut(log[idx[0][1]:end], "\n")
	first = strings.TrimSpace(first)
	if len(first) > 240 {
		first = first[:240] + "…"
	}
	return fmt.Sprintf("%d events, first: %s", len(idx), first)
}

// cpu is SIPp's CPU time so far, from /proc (0 once it has exited).
func (p *sippProc) cpu() time.Duration {
	d, _ := procCPU(p.cmd.Process.Pid)
	return d
}

func stage(dir string, r sippRun) error {
	tmpl, err := template.ParseFS(scenarioFS, "scenarios/common.tmpl", "scenarios/"+r.Scenario)
	if err != nil {
		return fmt.Errorf("scenario %s: %w", r.Scenario, err)
	}
	var buf bytes.Buffer
	data := map[string]int64{"AnswerWaitMS": r.AnswerWait.Milliseconds(), "AfterKeyMS": r.AfterKey.Milliseconds()}
	maps.Copy(data, r.Data)
	if err := tmpl.ExecuteTemplate(&buf, r.Scenario, data); err != nil {
		return fmt.Errorf("scenario %s: %w", r.Scenario, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scenario.xml"), buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write scenario: %w", err)
	}
	if r.Inject != "" {
		if err := os.WriteFile(filepath.Join(dir, "agents.csv"), []byte(r.Inject), 0o600); err != nil {
			return fmt.Errorf("write injection file: %w", err)
		}
	}
	if r.Audio != nil {
		if err := os.WriteFile(filepath.Join(dir, "talk.ulaw"), r.Audio, 0o644); err != nil {
			return fmt.Errorf("write talk.ulaw: %w", err)
		}
	}
	if r.Key == 0 {
		return nil
	}
	pcap, err := siptest.DTMFPCAP(r.Key)
	if err != nil {
		return err
	}
	if err := os.Symlink(pcap, filepath.Join(dir, "key.pcap")); err != nil {
		return fmt.Errorf("link key.pcap: %w", err)
	}
	return nil
}

func sippArgs(dir string, r sippRun) ([]string, error) {
	sipPort := r.SIPPort
	if sipPort == 0 {
		var err error
		if sipPort, err = freeUDPPort(); err != nil {
			return nil, err
		}
	}
	mediaPort, err := freeUDPPort()
	if err != nil {
		return nil, err
	}
	args := []string{
		"-sf", filepath.Join(dir, "scenario.xml"),
		"-i", loopback, "-bind_local", "-p", strconv.Itoa(sipPort),
		"-mi", loopback, "-mp", strconv.Itoa(mediaPort),
		"-recv_timeout", "10000", "-max_socket", "60000",
		"-timeout", strconv.Itoa(int(r.Timeout.Seconds()+0.5)) + "s",
		"-trace_stat", "-stf", filepath.Join(dir, "stat.csv"), "-fd", "1",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		"-nostdin",
	}
	if r.Audio != nil {
		// rtp_stream runs one thread per 20 calls by default: a thousand
		// streams are 50 runnable threads, which the kernel's fair scheduler
		// serves ahead of the server's few. Fewer, busier threads.
		args = append(args, "-rtp_threadtasks", strconv.Itoa(rtpTasksPerThread))
	}
	if r.Inject != "" {
		args = append(args, "-inf", filepath.Join(dir, "agents.csv"))
	}
	if r.AuthURI != "" {
		args = append(args, "-auth_uri", r.AuthURI)
	}
	keys := slices.Sorted(maps.Keys(r.Keys))
	for _, k := range keys {
		args = append(args, "-key", k, r.Keys[k])
	}
	if r.UAS {
		return args, nil
	}
	args = append(args, "-s", r.Service,
		"-m", strconv.Itoa(r.Calls), "-r", strconv.FormatFloat(r.Rate, 'f', -1, 64), "-rp", "1000",
		"-l", strconv.Itoa(r.Limit), "-timeout_error")
	if r.Caller != "" {
		args = append(args, "-key", "caller", r.Caller)
	}
	if r.Key != 0 {
		args = append(args, "-key", "key", string(r.Key))
	}
	return append(args, "-nd", r.Target), nil
}

// parseStats reads the last line of SIPp's -trace_stat CSV and finds when the
// last call was created.
func parseStats(path string) (sippStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return sippStats{}, fmt.Errorf("read statistics: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma, r.FieldsPerRecord = ';', -1
	rows, err := r.ReadAll()
	// A SIPp still running may be writing the last line.
	for len(rows) > 1 && len(rows[len(rows)-1]) < len(rows[0]) {
		rows = rows[:len(rows)-1]
	}
	if err != nil || len(rows) < 2 {
		return sippStats{}, fmt.Errorf("parse statistics %s: %d rows: %v", path, len(rows), err)
	}
	col := columns(rows[0])
	last := rows[len(rows)-1]
	var st sippStats
	fields := []struct {
		name string
		dst  *int
	}{
		{"TotalCallCreated", &st.Created}, {"SuccessfulCall(C)", &st.Successful},
		{"FailedCall(C)", &st.Failed}, {"Retransmissions(C)", &st.Retransmissions},
		{"FailedTimeoutOnRecv(C)", &st.FailedRecvTimeout},
		{"FailedUnexpectedMessage(C)", &st.FailedUnexpected},
		{"FailedMaxUDPRetrans(C)", &st.FailedMaxRetrans},
	}
	for _, fd := range fields {
		if *fd.dst, err = col.int(last, fd.name); err != nil {
			return st, err
		}
	}
	st.Achieved = achievedRate(col, rows[1:], st.Created)
	return st, nil
}

// achievedRate is the slope of TotalCallCreated over CurrentTime between the
// first statistics line and the last one before every call was created, or
// the overall rate when the run was too short for two such lines.
func achievedRate(col csvColumns, rows [][]string, final int) float64 {
	type point struct {
		t float64
		n int
	}
	var pts []point
	start := -1.0
	for _, row := range rows {
		n, err1 := col.int(row, "TotalCallCreated")
		t, err2 := col.epoch(row, "CurrentTime")
		if start < 0 {
			start, _ = col.epoch(row, "StartTime")
		}
		if err1 != nil || err2 != nil {
			continue
		}
		pts = append(pts, point{t, n})
		if n >= final {
			break
		}
	}
	if len(pts) == 0 {
		return 0
	}
	if len(pts) >= 3 {
		a, b := pts[0], pts[len(pts)-2]
		return float64(b.n-a.n) / (b.t - a.t)
	}
	last := pts[len(pts)-1]
	if last.t <= start {
		return 0
	}
	return float64(last.n) / (last.t - start)
}

type csvColumns map[string]int

func columns(header []string) csvColumns {
	c := csvColumns{}
	for i, h := range header {
		c[strings.TrimSpace(h)] = i
	}
	return c
}

func (c csvColumns) field(row []string, name string) (string, error) {
	i, ok := c[name]
	if !ok || i >= len(row) {
		return "", fmt.Errorf("sipp statistics have no column %s", name)
	}
	return strings.TrimSpace(row[i]), nil
}

func (c csvColumns) int(row []string, name string) (int, error) {
	s, err := c.field(row, name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("sipp statistics column %s: %w", name, err)
	}
	return n, nil
}

// epoch reads the Unix time, the last of the tab-separated parts of SIPp's
// "2026-11-23	09:44:49.712970	1795427089.712970" time columns.
func (c csvColumns) epoch(row []string, name string) (float64, error) {
	s, err := c.field(row, name)
	if err != nil {
		return 0, err
	}
	parts := strings.Fields(s)
	if len(parts) == 0 {
		return 0, fmt.Errorf("sipp time column %s is empty", name)
	}
	v, err := strconv.ParseFloat(parts[len(parts)-1], 64)
	if err != nil {
		return 0, fmt.Errorf("sipp time column %s %q: %w", name, s, err)
	}
	return v, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}
