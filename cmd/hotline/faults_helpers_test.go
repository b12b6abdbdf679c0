package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The fault tests run real processes: a PostgreSQL of their own (stopped and
// started again) and the hotline binary as a subprocess (killed or signalled).

// TestMain removes the hotline binary the fault tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if hotlineBin.dir != "" {
		_ = os.RemoveAll(hotlineBin.dir)
	}
	os.Exit(code)
}

var hotlineBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// buildHotline builds this package's binary once per test process.
func buildHotline(t *testing.T) string {
	t.Helper()
	hotlineBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "hotline-bin-")
		if err != nil {
			hotlineBin.err = err
			return
		}
		hotlineBin.dir = dir
		path := filepath.Join(dir, "hotline")
		out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput()
		if err != nil {
			hotlineBin.err = fmt.Errorf("go build: %w\n%s", err, out)
			return
		}
		hotlineBin.path = path
	})
	if hotlineBin.err != nil {
		t.Fatal(hotlineBin.err)
	}
	return hotlineBin.path
}

// freeTCPAddr is a loopback address with a free TCP port.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// privatePG is a PostgreSQL cluster of the test's own (Debian's server
// binaries, trust authentication, TCP on a free loopback port), which the
// test may stop and start again without touching the shared server.
type privatePG struct {
	t      *testing.T
	bindir string
	dir    string
	port   int
}

func startPrivatePG(t *testing.T) *privatePG {
	t.Helper()
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(found) == 0 {
		t.Fatal("no PostgreSQL server binaries under /usr/lib/postgresql: install postgresql (scripts/services.sh does)")
	}
	sort.Slice(found, func(i, j int) bool { return pgMajor(found[i]) < pgMajor(found[j]) })
	// Not t.TempDir: the server runs as user postgres when we are root, and
	// t.TempDir's parents are closed to other users.
	dir, err := os.MkdirTemp("", "hotline-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p := &privatePG{t: t, bindir: filepath.Dir(found[len(found)-1]), dir: dir}
	t.Cleanup(func() {
		_ = p.ctl("stop", "-m", "immediate")
		_ = os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres system user for initdb: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	p.port, _ = strconv.Atoi(strings.TrimPrefix(freeTCPAddr(t), "127.0.0.1:"))
	if out, err := p.run("initdb", "-D", p.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.url("postgres"))
	if err != nil {
		t.Fatalf("private postgres: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE hotline"); err != nil {
		t.Fatal(err)
	}
	return p
}

func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

func (p *privatePG) data() string { return filepath.Join(p.dir, "data") }

func (p *privatePG) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, db)
}

// run runs a server binary as the cluster's owner: ourselves, or user
// postgres when we are root (initdb and pg_ctl refuse root).
func (p *privatePG) run(name string, args ...string) ([]byte, error) {
	bin := filepath.Join(p.bindir, name)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	cmd.Dir = p.dir
	return cmd.CombinedOutput()
}

func (p *privatePG) ctl(action string, args ...string) error {
	all := append([]string{"-D", p.data(), "-w", "-t", "60"}, args...)
	if action == "start" {
		all = append(all, "-l", filepath.Join(p.dir, "postgres.log"),
			"-o", fmt.Sprintf("-p %d -k '' -c listen_addresses=127.0.0.1 -c fsync=off", p.port))
	}
	out, err := p.run("pg_ctl", append(all, action)...)
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %w\n%s", action, err, out)
	}
	return nil
}

func (p *privatePG) start() {
	p.t.Helper()
	if err := p.ctl("start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "postgres.log"))
		p.t.Fatalf("%v\n%s", err, log)
	}
}

// stop shuts the server down (fast: sessions are ended, as in an outage).
func (p *privatePG) stop() {
	p.t.Helper()
	if err := p.ctl("stop", "-m", "fast"); err != nil {
		p.t.Fatal(err)
	}
}

// procNode is the hotline binary running as a subprocess.
type procNode struct {
	t       *testing.T
	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error
	node    string
	sipHP   string
	opsAddr string
	target  string
	dir     string

	mu  sync.Mutex
	out bytes.Buffer
}

// procSetup is what a subprocess node is given: its name, the shared
// database and Redis, and its config file's extra sections.
type procSetup struct {
	Node, DatabaseURL, RedisURL, KeyPrefix, RTPPorts string
	// YAML is appended to the config after the common test settings.
	YAML string
}

// startProcNode runs `hotline serve` and waits until /readyz says ready.
func startProcNode(t *testing.T, s procSetup) *procNode {
	t.Helper()
	bin := buildHotline(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "calendar.yaml"), []byte(calendarOpen), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`log_level: debug
queue:
  key_prefix: %q
calendar:
  file: calendar.yaml
tickets:
  deadlines_file: %q
`, s.KeyPrefix, filepath.Join(repoRoot(t), "configs", "deadlines.yaml")) + s.YAML
	confPath := filepath.Join(dir, "hotline.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// A port found free can be taken again before the subprocess binds it
	// (an outgoing connection's ephemeral port comes from the same range),
	// so a start that fails on "address already in use" is tried again on
	// other ports.
	for attempt := 1; ; attempt++ {
		n, inUse := startProcNodeOn(t, s, bin, dir, confPath, freeSIPListen(t), freeTCPAddr(t))
		if n != nil {
			return n
		}
		if !inUse || attempt == 3 {
			t.Fatalf("node %s could not start (attempt %d)", s.Node, attempt)
		}
	}
}

// startProcNodeOn starts the node on the given SIP and ops addresses and
// waits until it is ready. It returns nil and true when the node exited
// because one of its ports was taken.
func startProcNodeOn(t *testing.T, s procSetup, bin, dir, confPath, sipHP, opsAddr string) (*procNode, bool) {
	t.Helper()
	n := &procNode{t: t, node: s.Node, sipHP: sipHP, opsAddr: opsAddr, dir: dir, done: make(chan struct{})}
	n.target = "sip:12345@" + n.sipHP
	cmd := exec.Command(bin, "serve", "-config", confPath)
	cmd.Env = append(withoutEnv(os.Environ(), "HOTLINE_"),
		"HOTLINE_NODE="+s.Node, "HOTLINE_SIP_LISTEN="+n.sipHP, "HOTLINE_OPS_LISTEN="+n.opsAddr,
		"HOTLINE_HTTP_LISTEN=127.0.0.1:0", "HOTLINE_RTP_PORTS="+s.RTPPorts, "HOTLINE_DATA_DIR="+dir,
		"HOTLINE_DATABASE_URL="+s.DatabaseURL, "HOTLINE_REDIS_URL="+s.RedisURL,
		"HOTLINE_SECRET_KEY="+strings.Repeat("5a", 32))
	cmd.Stdout, cmd.Stderr = &syncWriter{mu: &n.mu, w: &n.out}, &syncWriter{mu: &n.mu, w: &n.out}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.cmd = cmd
	go func() { n.exitErr = cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-n.done
		if t.Failed() {
			t.Logf("node %s output (tail):\n%s", n.node, n.tail(40))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st, _ := n.readyz(); st == http.StatusOK {
			return n, false
		}
		select {
		case <-n.done:
			if tail := n.tail(20); strings.Contains(tail, "address already in use") {
				t.Logf("node %s: a port was taken before it bound, trying other ports:\n%s", s.Node, tail)
				return nil, true
			}
			t.Fatalf("node %s exited at start: %v\n%s", s.Node, n.exitErr, n.tail(20))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not ready within 30 s\n%s", s.Node, n.tail(20))
		}
	}
}

// withoutEnv drops the variables starting with prefix (a developer's
// HOTLINE_* must not point the subprocess elsewhere).
func withoutEnv(env []string, prefix string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}

func (n *procNode) readyz() (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	res, err := c.Get("http://" + n.opsAddr + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	return res.StatusCode, b.String()
}

func (n *procNode) signal(sig os.Signal) {
	n.t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		n.t.Fatalf("signal %v to node %s: %v", sig, n.node, err)
	}
}

// wait waits up to d for the process to exit and returns its exit error.
func (n *procNode) wait(d time.Duration) (exited bool, err error) {
	select {
	case <-n.done:
		return true, n.exitErr
	case <-time.After(d):
		return false, nil
	}
}

func (n *procNode) output() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.out.String()
}

func (n *procNode) tail(lines int) string {
	all := strings.Split(strings.TrimRight(n.output(), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}
