package sip

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
)

// The registrar's stores are PostgreSQL and Redis in production (package
// agents, tested there against the real servers); sip may not import agents,
// so these tests give the registrar in-memory stores with the same contract.

// fakeCreds holds HA1s like the agent directory: per user and algorithm.
type fakeCreds struct {
	realm    string
	mu       sync.Mutex
	ha1      map[string]map[string]string // user → algorithm → HA1
	disabled map[string]bool
}

func newFakeCreds(realm string) *fakeCreds {
	return &fakeCreds{realm: realm, ha1: map[string]map[string]string{}, disabled: map[string]bool{}}
}

func (f *fakeCreds) add(user, password string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	md := md5.Sum([]byte(user + ":" + f.realm + ":" + password))
	sh := sha256.Sum256([]byte(user + ":" + f.realm + ":" + password))
	f.ha1[user] = map[string]string{"MD5": hex.EncodeToString(md[:]), "SHA-256": hex.EncodeToString(sh[:])}
}

func (f *fakeCreds) disable(user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disabled[user] = true
}

func (f *fakeCreds) HA1(_ context.Context, user, algorithm string) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.ha1[user][strings.ToUpper(algorithm)]
	return h, ok && !f.disabled[user], nil
}

// fakeLocations keeps one binding per agent.
type fakeLocations struct {
	mu       sync.Mutex
	bindings map[string]AgentBinding
}

func (f *fakeLocations) Register(_ context.Context, b AgentBinding) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bindings[b.AgentID] = b
	return nil
}

func (f *fakeLocations) Unregister(_ context.Context, agentID, contact string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.bindings[agentID]; ok && (contact == "*" || b.Contact == contact) {
		delete(f.bindings, agentID)
	}
	return nil
}

func (f *fakeLocations) Lookup(_ context.Context, agentID string) (AgentBinding, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.bindings[agentID]
	return b, ok, nil
}

func (f *fakeLocations) get(agentID string) (AgentBinding, bool) {
	b, ok, _ := f.Lookup(context.Background(), agentID)
	return b, ok
}

// fakeBans bans an IP after max failures, like agents.Bans per user+IP.
type fakeBans struct {
	max      int
	mu       sync.Mutex
	failures map[string]int // user|ip
	banned   map[netip.Addr]bool
}

func newFakeBans(max int) *fakeBans {
	return &fakeBans{max: max, failures: map[string]int{}, banned: map[netip.Addr]bool{}}
}

func (f *fakeBans) Failure(_ context.Context, user string, ip netip.Addr) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := user + "|" + ip.String()
	f.failures[k]++
	if f.failures[k] >= f.max {
		f.banned[ip] = true
	}
	return f.banned[ip], nil
}

func (f *fakeBans) Success(_ context.Context, user string, ip netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.failures, user+"|"+ip.String())
	return nil
}

func (f *fakeBans) Banned(_ context.Context, ip netip.Addr) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.banned[ip], nil
}

func (f *fakeBans) count(user string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k, v := range f.failures {
		if strings.HasPrefix(k, user+"|") {
			n += v
		}
	}
	return n
}

// registrarEnv is a real sipgo server on 127.0.0.1 answering REGISTER with
// a Registrar, and the stores behind it.
type registrarEnv struct {
	reg   *Registrar
	creds *fakeCreds
	locs  *fakeLocations
	bans  *fakeBans
	addr  *net.UDPAddr
}

const testRealm = "hotline.test"

func testRegistrarConfig() RegistrarConfig {
	cfg := DefaultRegistrarConfig()
	cfg.Realm = testRealm
	return cfg
}

func startRegistrar(t *testing.T, cfg RegistrarConfig) *registrarEnv {
	t.Helper()
	env := &registrarEnv{creds: newFakeCreds(cfg.Realm), locs: &fakeLocations{bindings: map[string]AgentBinding{}},
		bans: newFakeBans(5)}
	env.creds.add("1001", "s3cret-pass")
	env.creds.add("1002", "other-pass")
	env.reg = NewRegistrar(cfg, env.creds, env.locs, env.bans, nil, nil)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("hotline-test"))
	if err != nil {
		t.Fatalf("user agent: %v", err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	srv.OnRegister(env.reg.Handle)
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	env.addr = conn.LocalAddr().(*net.UDPAddr)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeUDP(conn) }()
	t.Cleanup(func() {
		_ = ua.Close()
		_ = conn.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("sip server did not stop")
		}
	})
	return env
}
