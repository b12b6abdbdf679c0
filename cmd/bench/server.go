package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// loopback is the only address the bench uses.
const loopback = "127.0.0.1"

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat: 100 on
// every Linux architecture Go supports (the kernel ABI fixes it).
const clockTicks = 100

// server is the hotline process under test.
type server struct {
	cmd     *exec.Cmd
	sipAddr string
	http    string
	api     string // the API and panel listener, http://host:port
	logPath string
	done    chan struct{}
}

// serverSetup is what startServer needs.
type serverSetup struct {
	Binary, ConfigPath, LogPath string
	SIPAddr, HTTPAddr, RTPPorts string
	APIAddr                     string // the API and panel listener
	DatabaseURL, RedisURL       string
}

// startServer runs `hotline serve` with a private config and waits for /readyz.
// The environment overrides are set explicitly so a HOTLINE_* variable of the
// caller's shell cannot point the bench at another port or database.
func startServer(ctx context.Context, s serverSetup) (*server, error) {
	logf, err := os.Create(s.LogPath)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	cmd := exec.Command(s.Binary, "serve", "-config", s.ConfigPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(withoutHotlineEnv(os.Environ()),
		// The bench reads /metrics and /readyz: HTTPAddr is the ops listener.
		"HOTLINE_SIP_LISTEN="+s.SIPAddr, "HOTLINE_OPS_LISTEN="+s.HTTPAddr, "HOTLINE_HTTP_LISTEN="+s.APIAddr,
		"HOTLINE_RTP_PORTS="+s.RTPPorts, "HOTLINE_NODE=bench",
		"HOTLINE_DATABASE_URL="+s.DatabaseURL, "HOTLINE_REDIS_URL="+s.RedisURL)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", s.Binary, err)
	}
	srv := &server{cmd: cmd, sipAddr: s.SIPAddr, http: "http://" + s.HTTPAddr, api: "http://" + s.APIAddr, logPath: s.LogPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(srv.done)
	}()
	if err := srv.waitReady(ctx, 30*time.Second); err != nil {
		srv.stop()
		return nil, err
	}
	return srv, nil
}

// withoutHotlineEnv drops the variables the bench sets itself and keeps the rest
// (HOTLINE_SECRET_KEY among them; a throwaway one when unset, since the
// bench database holds nothing worth a real key).
func withoutHotlineEnv(env []string) []string {
	own := []string{"HOTLINE_SIP_LISTEN=", "HOTLINE_HTTP_LISTEN=", "HOTLINE_OPS_LISTEN=", "HOTLINE_RTP_PORTS=", "HOTLINE_NODE=",
		"HOTLINE_DATA_DIR=", "HOTLINE_DATABASE_URL=", "HOTLINE_REDIS_URL=", "HOTLINE_CONFIG="}
	out := env[:0:0]
	secret := false
	for _, kv := range env {
		if !slices.ContainsFunc(own, func(p string) bool { return strings.HasPrefix(kv, p) }) {
			out = append(out, kv)
			secret = secret || (strings.HasPrefix(kv, "HOTLINE_SECRET_KEY=") && kv != "HOTLINE_SECRET_KEY=")
		}
	}
	if !secret {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		out = append(out, "HOTLINE_SECRET_KEY="+base64.StdEncoding.EncodeToString(key))
	}
	return out
}

func (s *server) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("hotline exited during start-up; log %s: %s", s.logPath, tailFile(s.logPath, 3))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := http.Get(s.http + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("hotline not ready after %v; log %s: %s", limit, s.logPath, tailFile(s.logPath, 3))
}

// stop drains the server (SIGTERM), hangs up what is left (second signal) and
// kills it if it still runs.
func (s *server) stop() {
	steps := []struct {
		sig  os.Signal
		wait time.Duration
	}{{syscall.SIGTERM, 10 * time.Second}, {syscall.SIGINT, 5 * time.Second}, {os.Kill, 5 * time.Second}}
	for _, st := range steps {
		if err := s.cmd.Process.Signal(st.sig); err != nil {
			return // already gone
		}
		select {
		case <-s.done:
			return
		case <-time.After(st.wait):
		}
	}
}

// cpu is the server's user+system CPU time so far.
func (s *server) cpu() (time.Duration, error) {
	return procCPU(s.cmd.Process.Pid)
}

// procCPU reads utime+stime of a process (all its threads) from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read cpu of %d: %w", pid, err)
	}
	// Fields after the command name (which may hold spaces) start at field 3, state.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// waitIdle waits until the server has no call and no record pending, so the
// next step starts clean and its records are all in PostgreSQL.
func (s *server) waitIdle(ctx context.Context, limit time.Duration) (metrics, error) {
	deadline := time.Now().Add(limit)
	for {
		m, err := scrape(s.http + "/metrics")
		if err != nil {
			return m, err
		}
		if m.value("hotline_sip_active_calls") == 0 && m.value("hotline_tickets_records_pending") == 0 {
			return m, nil
		}
		if time.Now().After(deadline) {
			return m, fmt.Errorf("server not idle after %v: %v active calls, %v records pending",
				limit, m.value("hotline_sip_active_calls"), m.value("hotline_tickets_records_pending"))
		}
		select {
		case <-ctx.Done():
			return m, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// freeUDPPort finds a UDP port of loopback free now.
func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", net.JoinHostPort(loopback, "0"))
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// freeSIPAddr finds a port free for both UDP and TCP (SIP listens on both).
func freeSIPAddr() (string, error) {
	for range 20 {
		p, err := freeUDPPort()
		if err != nil {
			return "", err
		}
		addr := net.JoinHostPort(loopback, strconv.Itoa(p))
		l, err := net.Listen("tcp", addr)
		if err == nil {
			l.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("no port of %s free for both udp and tcp", loopback)
}

func freeTCPAddr() (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
	if err != nil {
		return "", fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		return ""
	}
	return lastLines(string(b), n)
}
