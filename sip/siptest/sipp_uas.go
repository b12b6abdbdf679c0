package siptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// SIPpUASOptions run a scenario of scenarios/ as a server: SIPp answers
// the calls sent to it (a trunk's callee, an agent's phone).
type SIPpUASOptions struct {
	Scenario string // file name in scenarios/, e.g. "callee_answer.xml"
	// Calls is -m: SIPp exits after this many calls (default 1).
	Calls int
	// Echo makes SIPp send back the RTP it receives (-rtp_echo): a callee
	// whose far end hears itself, so audio is checked both ways.
	Echo bool
	// Timeout is -timeout: SIPp exits then whatever the calls (default 60 s).
	Timeout time.Duration
}

// SIPpUAS is a running SIPp server.
type SIPpUAS struct {
	// Addr is SIPp's SIP address, host:port on loopback (UDP).
	Addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	res  SIPpResult
	err  error
}

// StartSIPpUAS starts SIPp as a server and returns once it listens.
func StartSIPpUAS(ctx context.Context, opts SIPpUASOptions) (*SIPpUAS, error) {
	return startUAS(ctx, opts, 0)
}

// StartSIPpUASAt is StartSIPpUAS on a given SIP address (host:port on
// loopback): a peer that answers where another SIPp did before, e.g. a
// trunk that was busy and answers the retry.
func StartSIPpUASAt(ctx context.Context, addr string, opts SIPpUASOptions) (*SIPpUAS, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("sipp uas address %q: %w", addr, err)
	}
	sipPort, err := strconv.Atoi(p)
	if err != nil || sipPort <= 0 {
		return nil, fmt.Errorf("sipp uas address %q: want a port number", addr)
	}
	return startUAS(ctx, opts, sipPort)
}

// startUAS starts SIPp as a server on sipPort, or on free ports it picks
// when sipPort is 0, retrying a port someone else took meanwhile. A given
// SIP port is kept: only the media port is picked again.
func startUAS(ctx context.Context, opts SIPpUASOptions, sipPort int) (*SIPpUAS, error) {
	if opts.Calls == 0 {
		opts.Calls = 1
	}
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	dir, err := os.MkdirTemp("", "siptest-sipp-uas-")
	if err != nil {
		return nil, fmt.Errorf("sipp uas work dir: %w", err)
	}
	if err := stageScenario(dir, SIPpOptions{Scenario: opts.Scenario}); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		sp, mediaPort := sipPort, 0
		if sp == 0 {
			sp, mediaPort, err = pickSIPpPorts()
		} else {
			mediaPort, err = freePort("udp")
		}
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		u, err := startUASOnce(ctx, dir, opts, sp, mediaPort)
		if err == nil || attempt == startAttempts || !errors.Is(err, errPortTaken) {
			if err != nil {
				os.RemoveAll(dir)
			}
			return u, err
		}
		if sipPort != 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
}

var errPortTaken = errors.New("port taken")

func startUASOnce(ctx context.Context, dir string, opts SIPpUASOptions, sipPort, mediaPort int) (*SIPpUAS, error) {
	args := []string{"-sf", filepath.Join(dir, opts.Scenario), "-m", strconv.Itoa(opts.Calls),
		"-i", loopback, "-p", strconv.Itoa(sipPort), "-mi", loopback, "-mp", strconv.Itoa(mediaPort),
		"-timeout", strconv.Itoa(int(opts.Timeout.Seconds()+0.5)) + "s",
		"-trace_stat", "-stf", filepath.Join(dir, "stat.csv"), "-fd", "1",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"), "-nostdin"}
	if opts.Echo {
		args = append(args, "-rtp_echo")
	}
	u := &SIPpUAS{Addr: net.JoinHostPort(loopback, strconv.Itoa(sipPort)), dir: dir, done: make(chan struct{})}
	u.cmd = exec.CommandContext(ctx, SIPpPath, args...)
	u.cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	u.cmd.Stdout, u.cmd.Stderr = &stdout, &stderr
	if err := u.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sipp %s: %w", opts.Scenario, err)
	}
	go func() {
		defer close(u.done)
		err := u.cmd.Wait()
		u.res = SIPpResult{Stdout: stdout.String(), Stderr: stderr.String(), Errors: readFile(filepath.Join(dir, "errors.log"))}
		var exitErr *exec.ExitError
		switch {
		case errors.As(err, &exitErr):
			u.res.ExitCode = exitErr.ExitCode()
		case err != nil:
			u.err = err
		}
	}()
	// SIPp binds at once; one that could not exits within moments.
	select {
	case <-u.done:
		if addrInUse(u.res.Stderr) {
			return nil, fmt.Errorf("sipp %s: %w", opts.Scenario, errPortTaken)
		}
		return nil, fmt.Errorf("sipp %s exited at start (%d): %s", opts.Scenario, u.res.ExitCode, u.res.Stderr)
	case <-time.After(300 * time.Millisecond):
	}
	return u, nil
}

// Wait waits for SIPp to end (its calls done, or its timeout) and returns
// its statistics; Incoming counts the calls it received.
func (u *SIPpUAS) Wait(ctx context.Context) (SIPpResult, int, error) {
	select {
	case <-u.done:
	case <-ctx.Done():
		return u.Stop()
	}
	return u.result()
}

// Stop ends SIPp (SIGUSR1: it stops softly and writes its statistics) and
// returns them.
func (u *SIPpUAS) Stop() (SIPpResult, int, error) {
	select {
	case <-u.done:
	default:
		_ = u.cmd.Process.Signal(syscall.SIGUSR1)
		select {
		case <-u.done:
		case <-time.After(5 * time.Second):
			_ = u.cmd.Process.Kill()
			<-u.done
		}
	}
	return u.result()
}

func (u *SIPpUAS) result() (SIPpResult, int, error) {
	defer os.RemoveAll(u.dir)
	if u.err != nil {
		return u.res, 0, u.err
	}
	path := filepath.Join(u.dir, "stat.csv")
	var err error
	u.res.Successful, u.res.Failed, err = parseStat(path)
	if err != nil {
		return u.res, 0, fmt.Errorf("sipp uas exited %d: %w; stderr: %s", u.res.ExitCode, err, u.res.Stderr)
	}
	incoming, err := statColumn(path, "IncomingCall(C)")
	return u.res, incoming, err
}

// statColumn reads one cumulative column of the last statistics line.
func statColumn(path, name string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read statistics: %w", err)
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) < 2 {
		return 0, fmt.Errorf("statistics %s: no data line", path)
	}
	split := func(l []byte) []string {
		var out []string
		for _, f := range bytes.Split(l, []byte(";")) {
			out = append(out, string(f))
		}
		return out
	}
	return column(split(lines[0]), split(lines[len(lines)-1]), name)
}
