package agents

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPanelPasswordHash(t *testing.T) {
	h1, err := hashPanelPassword("s3cret-pass")
	if err != nil {
		t.Fatalf("hash: %v", err)
	}
	h2, err := hashPanelPassword("s3cret-pass")
	if err != nil {
		t.Fatalf("hash: %v", err)
	}
	if !strings.HasPrefix(h1, "$argon2id$v=19$m=19456,t=2,p=1$") || h1 == h2 {
		t.Fatalf("hashes %q and %q: want argon2id PHC strings with their own salts", h1, h2)
	}
	tests := []struct {
		name, encoded, password string
		want                    bool
		wantErr                 bool
	}{
		{"right password", h1, "s3cret-pass", true, false},
		{"wrong password", h1, "s3cret-pasS", false, false},
		{"empty password", h1, "", false, false},
		{"dummy hash matches nothing", dummyPanelHash, "", false, false},
		{"bcrypt string", "$2a$10$abcdefghijklmnopqrstuv", "x", false, true},
		{"sha-256 HA1", HA1(AlgorithmSHA256, "1001", "r", "x"), "x", false, true},
		{"huge memory", strings.Replace(h1, "m=19456", "m=4194304", 1), "s3cret-pass", false, true},
		{"zero passes", strings.Replace(h1, "t=2", "t=0", 1), "s3cret-pass", false, true},
		{"other version", strings.Replace(h1, "v=19", "v=16", 1), "s3cret-pass", false, true},
		{"short salt", "$argon2id$v=19$m=19456,t=2,p=1$YWJj$" + strings.Repeat("A", 43), "x", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkPanelPassword(tc.encoded, tc.password)
			if tc.wantErr != (err != nil) || (err != nil && !errors.Is(err, errBadPanelHash)) {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDirectoryStoresPanelHash checks the panel password is stored as an
// argon2id hash beside the HA1s, and that an agent without one cannot sign
// in to the panel.
func TestDirectoryStoresPanelHash(t *testing.T) {
	d, pool := newTestDirectory(t)
	ctx := context.Background()
	if err := d.Add(ctx, liNa(), "s3cret-pass"); err != nil {
		t.Fatalf("add: %v", err)
	}
	var stored string
	if err := pool.QueryRow(ctx, `SELECT panel_hash FROM agents WHERE id = '1001'`).Scan(&stored); err != nil {
		t.Fatalf("read panel hash: %v", err)
	}
	if ok, err := checkPanelPassword(stored, "s3cret-pass"); err != nil || !ok {
		t.Fatalf("stored panel hash %q does not check: %v %v", stored, ok, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE agents SET panel_hash = NULL WHERE id = '1001'`); err != nil {
		t.Fatalf("clear panel hash: %v", err)
	}
	t.Run("right SIP password", func(t *testing.T) {
		if _, ok, err := d.Verify(ctx, "1001", "s3cret-pass"); ok || !errors.Is(err, ErrNoPanelPassword) {
			t.Fatalf("verify = %v, %v; want ErrNoPanelPassword", ok, err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		if _, ok, err := d.Verify(ctx, "1001", "guess-pass"); ok || err != nil {
			t.Fatalf("verify = %v, %v; want a plain refusal", ok, err)
		}
	})
	t.Run("password set again", func(t *testing.T) {
		if err := d.SetPassword(ctx, "1001", "new-s3cret-pass"); err != nil {
			t.Fatalf("set password: %v", err)
		}
		if _, ok, err := d.Verify(ctx, "1001", "new-s3cret-pass"); !ok || err != nil {
			t.Fatalf("verify = %v, %v; want accepted", ok, err)
		}
	})
	t.Run("constraint refuses a non-argon2id hash", func(t *testing.T) {
		_, err := pool.Exec(ctx, `UPDATE agents SET panel_hash = $1 WHERE id = '1001'`, HA1(AlgorithmMD5, "1001", testRealm, "x"))
		if err == nil || !strings.Contains(err.Error(), "agents_panel_hash_check") {
			t.Fatalf("update = %v, want agents_panel_hash_check", err)
		}
	})
}

// TestSessionEpoch checks the database bumps the epoch that ends panel
// sessions on disable, password and role changes, and on nothing else.
func TestSessionEpoch(t *testing.T) {
	d, pool := newTestDirectory(t)
	ctx := context.Background()
	if err := d.Add(ctx, liNa(), "s3cret-pass"); err != nil {
		t.Fatalf("add: %v", err)
	}
	steps := []struct {
		name string
		run  func() error
		want int64
	}{
		{"added", func() error { return nil }, 1},
		{"display name changed", func() error {
			_, err := pool.Exec(ctx, `UPDATE agents SET display_name = 'Li Na 2' WHERE id = '1001'`)
			return err
		}, 1},
		{"password changed", func() error { return d.SetPassword(ctx, "1001", "new-s3cret-pass") }, 2},
		{"same role", func() error { return d.SetRole(ctx, "1001", RoleAgent) }, 2},
		{"role changed", func() error { return d.SetRole(ctx, "1001", RoleSupervisor) }, 3},
		{"disabled", func() error { return d.Disable(ctx, "1001") }, 4},
		{"disabled again", func() error { return d.Disable(ctx, "1001") }, 4},
	}
	for _, st := range steps {
		if err := st.run(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		a, err := d.Get(ctx, "1001")
		if err != nil {
			t.Fatalf("%s: get: %v", st.name, err)
		}
		if a.SessionEpoch != st.want {
			t.Fatalf("%s: epoch %d, want %d", st.name, a.SessionEpoch, st.want)
		}
	}
	if err := d.SetRole(ctx, "1001", "admin"); !errors.Is(err, ErrInvalidAgent) {
		t.Fatalf("set role admin = %v, want ErrInvalidAgent", err)
	}
	if err := d.SetRole(ctx, "9999", RoleAgent); !errors.Is(err, ErrAgentNotFound) {
		t.Fatalf("set role of unknown = %v, want ErrAgentNotFound", err)
	}
}

// TestVerifyBoundsHashing checks a sign-in waits for a free hashing slot
// and gives up with its context instead of piling up 19 MiB hashes.
func TestVerifyBoundsHashing(t *testing.T) {
	d, _ := newTestDirectory(t)
	for range cap(d.hashSlots) {
		d.hashSlots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := d.Verify(ctx, "1001", "s3cret-pass"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("verify with every slot taken = %v, want DeadlineExceeded", err)
	}
}
