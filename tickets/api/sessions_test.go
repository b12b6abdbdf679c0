package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
)

// TestSessionEndsOnAccountChange checks a disable, a password change and a
// role change end the agent's sessions at once, on every node, and leave
// other agents' sessions alone.
func TestSessionEndsOnAccountChange(t *testing.T) {
	f := newFixture(t)
	// A second node: its own API instance on the same Redis and PostgreSQL.
	other := httptest.NewServer(New(f.opts))
	t.Cleanup(other.Close)
	tests := []struct {
		name   string
		change func(ctx context.Context) error
	}{
		{"disabled", func(ctx context.Context) error { return f.dir.Disable(ctx, "1001") }},
		{"password changed", func(ctx context.Context) error { return f.dir.SetPassword(ctx, "1001", "changed-pass") }},
		{"role changed", func(ctx context.Context) error { return f.dir.SetRole(ctx, "1001", agents.RoleSupervisor) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			if _, err := f.pool.Exec(ctx, `UPDATE agents SET enabled = true, disabled_at = NULL, role = 'agent' WHERE id = '1001'`); err != nil {
				t.Fatalf("reset agent: %v", err)
			}
			if err := f.dir.SetPassword(ctx, "1001", password); err != nil {
				t.Fatalf("reset password: %v", err)
			}
			c, bystander := f.login(t, "1001"), f.login(t, "1002")
			onOther := *c
			onOther.base = other.URL
			if res := onOther.do("GET", "/api/session", nil, nil); res.status != http.StatusOK {
				t.Fatalf("before the change on the other node = %d %s", res.status, res.raw)
			}
			if err := tc.change(ctx); err != nil {
				t.Fatalf("change: %v", err)
			}
			res := onOther.do("GET", "/api/session", nil, nil)
			if res.status != http.StatusUnauthorized || !strings.Contains(res.raw, "session has ended") {
				t.Fatalf("after the change on the other node = %d %s, want 401 session ended", res.status, res.raw)
			}
			if res := c.do("GET", "/api/session", nil, nil); res.status != http.StatusUnauthorized {
				t.Fatalf("after the change = %d %s, want 401", res.status, res.raw)
			}
			if res := bystander.do("GET", "/api/session", nil, nil); res.status != http.StatusOK {
				t.Fatalf("another agent's session = %d %s, want 200", res.status, res.raw)
			}
			if n := len(f.rdb.Keys(ctx, f.prefix+"api:session:*").Val()); n != 1 {
				t.Fatalf("session keys = %d, want 1 (the bystander's; the ended one deleted)", n)
			}
			if res := bystander.do("POST", "/api/logout", nil, nil); res.status != http.StatusNoContent {
				t.Fatalf("logout bystander = %d", res.status)
			}
		})
	}
}

// TestSessionAbsoluteExpiry checks a session in constant use still ends
// SessionMax after sign-in, and that renewals never reach past it.
func TestSessionAbsoluteExpiry(t *testing.T) {
	f := newFixture(t)
	c := f.login(t, "1001")
	cfg := DefaultConfig()
	keys := f.rdb.Keys(t.Context(), f.prefix+"api:session:*").Val()
	if len(keys) != 1 {
		t.Fatalf("session keys = %v", keys)
	}
	for at := time.Hour; at < cfg.SessionMax-10*time.Minute; at += time.Hour {
		f.clock.advance(time.Hour)
		if res := c.do("GET", "/api/session", nil, nil); res.status != http.StatusOK {
			t.Fatalf("at %s = %d %s, want 200", at, res.status, res.raw)
		}
	}
	f.clock.advance(cfg.SessionMax - 10*time.Minute - (cfg.SessionMax/time.Hour-1)*time.Hour) // 11h50m after sign-in
	if res := c.do("GET", "/api/session", nil, nil); res.status != http.StatusOK {
		t.Fatalf("10 min before the end = %d %s, want 200", res.status, res.raw)
	}
	if ttl := f.rdb.PTTL(t.Context(), keys[0]).Val(); ttl <= 0 || ttl > 10*time.Minute {
		t.Fatalf("ttl 10 min before the end = %s, want renewed only up to the end", ttl)
	}
	f.clock.advance(10 * time.Minute)
	if res := c.do("GET", "/api/session", nil, nil); res.status != http.StatusUnauthorized {
		t.Fatalf("at %s after sign-in = %d %s, want 401", cfg.SessionMax, res.status, res.raw)
	}
	if f.rdb.Exists(t.Context(), keys[0]).Val() != 0 {
		t.Fatal("expired session still in Redis")
	}
}

// TestLoginWithoutPanelPassword checks an agent whose panel hash was never
// set cannot sign in, and is told why only with the right password.
func TestLoginWithoutPanelPassword(t *testing.T) {
	f := newFixture(t)
	if _, err := f.pool.Exec(t.Context(), `UPDATE agents SET panel_hash = NULL WHERE id = '1002'`); err != nil {
		t.Fatalf("clear panel hash: %v", err)
	}
	res := f.newClient(t).do("POST", "/api/login", map[string]string{"agent_id": "1002", "password": password}, nil)
	if res.status != http.StatusForbidden || !strings.Contains(res.raw, "no panel password yet") ||
		!strings.Contains(res.raw, "hotline agent password -id 1002") || res.header.Get("Set-Cookie") != "" {
		t.Fatalf("right password = %d %s, want 403 naming the fix", res.status, res.raw)
	}
	res = f.newClient(t).do("POST", "/api/login", map[string]string{"agent_id": "1002", "password": "a-wrong-one"}, nil)
	if res.status != http.StatusUnauthorized || res.body["error"] != "wrong agent id or password" {
		t.Fatalf("wrong password = %d %s, want the usual 401", res.status, res.raw)
	}
	if n := counterValue(t, f.metrics.loginFailures.WithLabelValues(reasonNoPanelPassword)); n != 1 {
		t.Fatalf("no_panel_password failures = %v, want 1", n)
	}
}
