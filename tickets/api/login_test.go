package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestLogin(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, id, pass string
		wantStatus     int
		wantRole       string
	}{
		{"agent", "1001", password, http.StatusOK, "agent"},
		{"supervisor", "2001", password, http.StatusOK, "supervisor"},
		{"wrong password", "1001", "not-the-password", http.StatusUnauthorized, ""},
		{"unknown agent", "9999", password, http.StatusUnauthorized, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := f.newClient(t).do("POST", "/api/login", map[string]string{"agent_id": tc.id, "password": tc.pass}, nil)
			if res.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", res.status, tc.wantStatus, res.raw)
			}
			if tc.wantStatus == http.StatusUnauthorized {
				// The same answer for both, so ids cannot be probed.
				if res.body["error"] != "wrong agent id or password" || res.header.Get("Set-Cookie") != "" {
					t.Fatalf("refusal = %s (cookie %q)", res.raw, res.header.Get("Set-Cookie"))
				}
				return
			}
			if res.body["agent_id"] != tc.id || res.body["role"] != tc.wantRole || len(res.body["csrf_token"].(string)) < 40 {
				t.Fatalf("body = %s", res.raw)
			}
			cookie := res.header.Get("Set-Cookie")
			for _, attr := range []string{sessionCookie + "=", "Path=/", "HttpOnly", "SameSite=Strict"} {
				if !strings.Contains(cookie, attr) {
					t.Fatalf("cookie %q lacks %s", cookie, attr)
				}
			}
			if strings.Contains(cookie, "Secure") {
				t.Fatalf("cookie %q is Secure on plain HTTP", cookie)
			}
		})
	}
	if n := counterValue(t, f.metrics.loginFailures.WithLabelValues(reasonBadCredentials)); n != 2 {
		t.Fatalf("bad_credentials failures = %v, want 2", n)
	}
}

// TestSessionInRedis checks the session is server-side under the prefix
// with a sliding idle lifetime, and that logout ends it.
func TestSessionInRedis(t *testing.T) {
	f := newFixture(t)
	c := f.login(t, "1001")
	keys, err := f.rdb.Keys(t.Context(), f.prefix+"api:session:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("session keys = %v (%v), want 1", keys, err)
	}
	if err := f.rdb.Expire(t.Context(), keys[0], time.Hour).Err(); err != nil {
		t.Fatalf("shorten ttl: %v", err)
	}
	if res := c.do("GET", "/api/session", nil, nil); res.status != http.StatusOK || res.body["csrf_token"] != c.csrf {
		t.Fatalf("session = %d %s", res.status, res.raw)
	}
	if idle := DefaultConfig().SessionIdle; f.rdb.TTL(t.Context(), keys[0]).Val() < idle-time.Minute {
		t.Fatalf("ttl after a request = %s, want renewed to %s", f.rdb.TTL(t.Context(), keys[0]).Val(), idle)
	}
	if res := c.do("POST", "/api/logout", nil, nil); res.status != http.StatusNoContent {
		t.Fatalf("logout = %d %s", res.status, res.raw)
	}
	if n := f.rdb.Exists(t.Context(), keys[0]).Val(); n != 0 {
		t.Fatal("session still in Redis after logout")
	}
	if res := c.do("GET", "/api/session", nil, nil); res.status != http.StatusUnauthorized {
		t.Fatalf("after logout = %d %s, want 401", res.status, res.raw)
	}
}

func TestLoginRateLimited(t *testing.T) {
	f := newFixture(t)
	c := f.newClient(t)
	burst := DefaultConfig().Login.AccountBurst
	for i := range burst {
		if res := c.do("POST", "/api/login", map[string]string{"agent_id": "1001", "password": "guess-" + string(rune('a'+i))}, nil); res.status != http.StatusUnauthorized {
			t.Fatalf("guess %d = %d, want 401", i, res.status)
		}
	}
	res := c.do("POST", "/api/login", map[string]string{"agent_id": "1001", "password": password}, nil)
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" ||
		!strings.Contains(res.raw, "for this agent id") {
		t.Fatalf("after %d failures = %d %s (Retry-After %q), want 429 for the account", burst, res.status, res.raw, res.header.Get("Retry-After"))
	}
}

func TestSecureCookieOverTLS(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewTLSServer(f.srv.Config.Handler)
	t.Cleanup(srv.Close)
	res, err := srv.Client().Post(srv.URL+"/api/login", "application/json",
		strings.NewReader(`{"agent_id":"1001","password":"`+password+`"}`))
	if err != nil {
		t.Fatalf("login over TLS: %v", err)
	}
	res.Body.Close()
	if c := res.Header.Get("Set-Cookie"); res.StatusCode != http.StatusOK || !strings.Contains(c, "Secure") {
		t.Fatalf("login over TLS = %d, cookie %q, want Secure", res.StatusCode, c)
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t)
	k := f.draft(t, "1001", time.Minute)
	path := "/api/tickets/" + k.Ref + "/notes"
	tests := []struct {
		name    string
		headers map[string]string
		noToken bool
		want    int
	}{
		{"token missing", nil, true, http.StatusForbidden},
		{"token wrong", map[string]string{csrfHeader: "forged"}, false, http.StatusForbidden},
		{"other origin", map[string]string{"Origin": "https://evil.example"}, false, http.StatusForbidden},
		{"other referer", map[string]string{"Referer": "https://evil.example/page"}, false, http.StatusForbidden},
		{"same origin", map[string]string{"Origin": f.srv.URL}, false, http.StatusNoContent},
		{"no origin (integration)", nil, false, http.StatusNoContent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := f.login(t, "1001")
			if tc.noToken {
				c.csrf = ""
			}
			res := c.do("POST", path, map[string]string{"note": "called back"}, tc.headers)
			if res.status != tc.want {
				t.Fatalf("status %d, want %d: %s", res.status, tc.want, res.raw)
			}
			if tc.want == http.StatusForbidden && res.body["error"] == "" {
				t.Fatalf("403 without a JSON error: %s", res.raw)
			}
		})
	}
	t.Run("no session", func(t *testing.T) {
		if res := f.newClient(t).do("POST", path, map[string]string{"note": "x"}, nil); res.status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", res.status)
		}
	})
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatalf("read counter: %v", err)
	}
	return m.GetCounter().GetValue()
}
