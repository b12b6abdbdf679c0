package sip

import (
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

func TestRegisterStaleNonce(t *testing.T) {
	cfg := testRegistrarConfig()
	cfg.NonceTTL = 300 * time.Millisecond
	env := startRegistrar(t, cfg)
	c := newRegClient(t, env)
	// An expired nonce gets stale=true whatever the password: checking it
	// would tell a guesser holding one old nonce which guess was right, with
	// no failure counted. The phone retries on a fresh nonce without asking.
	for _, password := range []string{"s3cret-pass", "wrong-pass"} {
		t.Run(password, func(t *testing.T) {
			req := c.request("1001", "<sip:1001@127.0.0.1:5999>")
			ch := challengeFor(t, c.do(req), "SHA-256")
			time.Sleep(400 * time.Millisecond)
			_, res := c.again(req, credentialsFor(t, req, ch, "1001", password, 1))
			for _, got := range challenges(t, res) {
				if !got.Stale || got.Nonce == ch.Nonce {
					t.Fatalf("challenge %+v: want stale=true and a new nonce", got)
				}
			}
		})
	}
	if n := env.bans.count("1001"); n != 0 {
		t.Fatalf("failures counted: %d, want 0 (an expired nonce is no failure)", n)
	}
}

func TestRegisterNonceFromAnotherNodeIsStale(t *testing.T) {
	env := startRegistrar(t, testRegistrarConfig())
	other := startRegistrar(t, testRegistrarConfig()) // another random secret
	c := newRegClient(t, env)
	req := c.request("1001", "<sip:1001@127.0.0.1:5999>")
	challengeFor(t, c.do(req), "MD5") // our own challenge, not answered
	co := newRegClient(t, other)
	ch := challengeFor(t, co.do(co.request("1001", "<sip:1001@127.0.0.1:5999>")), "MD5")
	_, res := c.again(req, credentialsFor(t, req, ch, "1001", "s3cret-pass", 1))
	if got := challengeFor(t, res, "MD5"); !got.Stale {
		t.Fatalf("foreign nonce with the right password: %+v, want stale=true", got)
	}
	if n := env.bans.count("1001"); n != 0 {
		t.Fatalf("failures counted: %d, want 0", n)
	}
}

func TestRegisterNonceCountReplay(t *testing.T) {
	env := startRegistrar(t, testRegistrarConfig())
	c := newRegClient(t, env)
	req := c.request("1001", "<sip:1001@127.0.0.1:5999>")
	ch := challengeFor(t, c.do(req), "MD5")
	first := credentialsFor(t, req, ch, "1001", "s3cret-pass", 1)
	req, res := c.again(req, first)
	if res.StatusCode != 200 {
		t.Fatalf("first use: status %d", res.StatusCode)
	}
	tests := []struct {
		name string
		nc   int
		want int
	}{
		{"same nc replayed", 1, 401},
		{"next nc", 2, 200},
		{"lower nc", 1, 401},
		{"nc skipping ahead", 7, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The same cnonce: with nc 1 this is the first request's Authorization.
			cred, err := digest.Digest(ch, digest.Options{Method: "REGISTER", URI: req.Recipient.String(),
				Username: "1001", Password: "s3cret-pass", Count: tt.nc, Cnonce: first.Cnonce})
			if err != nil {
				t.Fatalf("digest: %v", err)
			}
			var res *sip.Response
			req, res = c.again(req, cred)
			if res.StatusCode != tt.want {
				t.Fatalf("nc %d: status %d, want %d", tt.nc, res.StatusCode, tt.want)
			}
		})
	}
}

func TestRegisterExpiries(t *testing.T) {
	contact := "<sip:1001@127.0.0.1:5999>"
	tests := []struct {
		name        string
		contact     string
		expires     string // Expires header; "" for none
		wantStatus  int
		wantGranted int  // contact expires param of the 200 (0: none expected)
		wantBound   bool // binding present afterwards
	}{
		{"default", contact, "", 200, 3600, true},
		{"header", contact, "120", 200, 120, true},
		{"contact param wins over header", contact + ";expires=300", "120", 200, 300, true},
		{"clamped to max", contact, "99999", 200, 7200, true},
		{"too brief", contact, "30", 423, 0, true},
		{"expires 0 unregisters", contact, "0", 200, 0, false},
		{"contact param 0 unregisters", contact + ";expires=0", "", 200, 0, false},
		{"wildcard with expires 0", "*", "0", 200, 0, false},
		{"wildcard without expires 0", "*", "60", 400, 0, true},
		{"malformed expires", contact, "soon", 400, 0, true},
		{"another contact's expires 0 keeps the binding", "<sip:1001@127.0.0.1:6000>", "0", 200, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := startRegistrar(t, testRegistrarConfig())
			c := newRegClient(t, env)
			if res := c.login("1001", "s3cret-pass", "SHA-256", contact); res.StatusCode != 200 {
				t.Fatalf("initial registration: status %d", res.StatusCode)
			}
			var hdrs []sip.Header
			if tt.expires != "" {
				hdrs = append(hdrs, sip.NewHeader("Expires", tt.expires))
			}
			res := c.login("1001", "s3cret-pass", "SHA-256", tt.contact, hdrs...)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status %d %s, want %d", res.StatusCode, res.Reason, tt.wantStatus)
			}
			if tt.wantStatus == 423 {
				if h := res.GetHeader("Min-Expires"); h == nil || h.Value() != "60" {
					t.Fatalf("423 Min-Expires = %v, want 60 (RFC 3261 §10.3 step 7)", h)
				}
			}
			if tt.wantGranted != 0 {
				if got := contactExpiresParam(t, res); got != tt.wantGranted {
					t.Fatalf("granted %d, want %d", got, tt.wantGranted)
				}
			}
			if _, ok := env.locs.get("1001"); ok != tt.wantBound {
				t.Fatalf("bound = %v, want %v", ok, tt.wantBound)
			}
		})
	}
}

func TestRegisterRefusesAlgorithmNotOffered(t *testing.T) {
	cfg := testRegistrarConfig()
	cfg.Algorithms = []string{"SHA-256"}
	env := startRegistrar(t, cfg)
	c := newRegClient(t, env)
	req := c.request("1001", "<sip:1001@127.0.0.1:5999>")
	ch := challengeFor(t, c.do(req), "SHA-256")
	ch.Algorithm = "MD5" // a downgrade with the right password
	_, res := c.again(req, credentialsFor(t, req, ch, "1001", "s3cret-pass", 1))
	if res.StatusCode != 401 {
		t.Fatalf("MD5 credentials on a SHA-256-only registrar: status %d, want 401", res.StatusCode)
	}
	if chs := challenges(t, res); len(chs) != 1 || chs[0].Algorithm != "SHA-256" {
		t.Fatalf("challenges %+v, want SHA-256 only", chs)
	}
}

func TestRegisterOtherUsersAORForbidden(t *testing.T) {
	env := startRegistrar(t, testRegistrarConfig())
	c := newRegClient(t, env)
	req := c.request("1002", "<sip:1002@127.0.0.1:5999>") // To is 1002
	ch := challengeFor(t, c.do(req), "SHA-256")
	_, res := c.again(req, credentialsFor(t, req, ch, "1001", "s3cret-pass", 1))
	if res.StatusCode != 403 {
		t.Fatalf("status %d, want 403", res.StatusCode)
	}
	if _, ok := env.locs.get("1002"); ok {
		t.Fatal("1001 bound 1002's AOR")
	}
}

func TestRegisterQueryListsBinding(t *testing.T) {
	env := startRegistrar(t, testRegistrarConfig())
	c := newRegClient(t, env)
	if res := c.login("1001", "s3cret-pass", "MD5", "<sip:1001@127.0.0.1:5999>", sip.NewHeader("Expires", "600")); res.StatusCode != 200 {
		t.Fatalf("register: %d", res.StatusCode)
	}
	res := c.login("1001", "s3cret-pass", "MD5", "")
	if res.StatusCode != 200 || res.Contact() == nil || res.Contact().Address.Port != 5999 {
		t.Fatalf("query: %d, contact %v", res.StatusCode, res.Contact())
	}
	if got := contactExpiresParam(t, res); got != 600 {
		t.Fatalf("query expires %d, want 600", got)
	}
}

func TestNoncesUnit(t *testing.T) {
	n := newNonces([]byte("secret"), time.Minute)
	now := time.Now()
	src, elsewhere := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("198.51.100.9")
	nonce := n.mint(src, now)
	other := newNonces([]byte("other"), time.Minute)
	flip := "A"
	if nonce[20] == 'A' {
		flip = "B"
	}
	tampered := nonce[:20] + flip + nonce[21:] // in the random part
	tests := []struct {
		name         string
		nonces       *nonces
		nonce        string
		from         netip.Addr
		at           time.Time
		valid, fresh bool
	}{
		{"fresh", n, nonce, src, now.Add(time.Second), true, true},
		{"expired", n, nonce, src, now.Add(2 * time.Minute), true, false},
		{"from another source", n, nonce, elsewhere, now, false, false},
		{"IPv4-mapped source", n, nonce, netip.AddrFrom16(src.As16()), now, true, true},
		{"other secret", other, nonce, src, now, false, false},
		{"garbage", n, "not-a-nonce", src, now, false, false},
		{"tampered", n, tampered, src, now, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, valid, fresh := tt.nonces.verify(tt.nonce, tt.from, tt.at)
			if valid != tt.valid || fresh != tt.fresh {
				t.Fatalf("verify = %v, %v; want %v, %v", valid, fresh, tt.valid, tt.fresh)
			}
		})
	}
}

func TestNoncesOverflowMakesForgottenNoncesStale(t *testing.T) {
	n := newNonces([]byte("secret"), time.Minute)
	n.max = 2
	t0 := time.Now()
	ip := netip.MustParseAddr("192.0.2.7")
	a, b, c := n.mint(ip, t0), n.mint(ip, t0), n.mint(ip, t0)
	for _, x := range []string{a, b} {
		if ok, stale := n.use(x, 1, t0, t0); !ok || stale {
			t.Fatalf("first use = %v, %v", ok, stale)
		}
	}
	// The table is full of live nonces: it is cleared, and nonces issued
	// before then can no longer be checked for replays.
	if ok, stale := n.use(c, 1, t0, t0.Add(time.Millisecond)); !ok || stale {
		t.Fatalf("third nonce = %v, %v; want accepted", ok, stale)
	}
	if ok, stale := n.use(a, 2, t0, t0.Add(2*time.Millisecond)); ok || !stale {
		t.Fatalf("forgotten nonce = %v, %v; want stale", ok, stale)
	}
}

func TestRegistrarConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*RegistrarConfig)
		ok     bool
	}{
		{"defaults", func(*RegistrarConfig) {}, true},
		{"empty realm", func(c *RegistrarConfig) { c.Realm = "" }, false},
		{"quote in realm", func(c *RegistrarConfig) { c.Realm = `a"b` }, false},
		{"short nonce ttl", func(c *RegistrarConfig) { c.NonceTTL = time.Second }, false},
		{"max below min", func(c *RegistrarConfig) { c.MaxExpires = 30 * time.Second }, false},
		{"default above max", func(c *RegistrarConfig) { c.DefaultExpires = 3 * time.Hour }, false},
		{"fractional seconds", func(c *RegistrarConfig) { c.MinExpires = 1500 * time.Millisecond }, false},
		{"md5 only", func(c *RegistrarConfig) { c.Algorithms = []string{"MD5"} }, true},
		{"no algorithm", func(c *RegistrarConfig) { c.Algorithms = nil }, false},
		{"unknown algorithm", func(c *RegistrarConfig) { c.Algorithms = []string{"SHA-512"} }, false},
		{"repeated algorithm", func(c *RegistrarConfig) { c.Algorithms = []string{"MD5", "MD5"} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultRegistrarConfig()
			tt.mutate(&cfg)
			if err := cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
