package agents

import (
	"context"
	"testing"
)

// TestDirectoryVerify checks password verification against the stored HA1
// digests: only the right password of an enabled agent in the directory's
// realm passes, and every failure looks the same (ok false, no error).
func TestDirectoryVerify(t *testing.T) {
	d, pool := newTestDirectory(t)
	ctx := context.Background()
	if err := d.Add(ctx, liNa(), "s3cret-pass"); err != nil {
		t.Fatalf("add: %v", err)
	}
	off := Agent{ID: "1002", DisplayName: "Zhao Lei", StaffNumber: "1002",
		Categories: []string{"inquiry"}, Role: RoleAgent}
	if err := d.Add(ctx, off, "s3cret-pass"); err != nil {
		t.Fatalf("add: %v", err)
	}
	if err := d.Disable(ctx, "1002"); err != nil {
		t.Fatalf("disable: %v", err)
	}
	other := NewDirectory(pool, "other.realm")
	tests := []struct {
		name     string
		dir      *Directory
		id, pass string
		wantOK   bool
	}{
		{"right password", d, "1001", "s3cret-pass", true},
		{"wrong password", d, "1001", "s3cret-pasS", false},
		{"empty password", d, "1001", "", false},
		{"unknown agent", d, "9999", "s3cret-pass", false},
		{"disabled agent", d, "1002", "s3cret-pass", false},
		// The panel hash is not tied to the SIP realm.
		{"password set for another realm", other, "1001", "s3cret-pass", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, ok, err := tc.dir.Verify(ctx, tc.id, tc.pass)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if ok && (a.ID != tc.id || a.Role != RoleAgent || !a.Enabled || a.DisplayName != "Li Na") {
				t.Fatalf("agent = %+v", a)
			}
			if !ok && a.ID != "" {
				t.Fatalf("a failed verification returned agent %+v", a)
			}
		})
	}
	t.Run("after a password change", func(t *testing.T) {
		if err := d.SetPassword(ctx, "1001", "new-s3cret-pass"); err != nil {
			t.Fatalf("set password: %v", err)
		}
		if _, ok, err := d.Verify(ctx, "1001", "s3cret-pass"); err != nil || ok {
			t.Fatalf("old password: ok %v err %v, want refused", ok, err)
		}
		if _, ok, err := d.Verify(ctx, "1001", "new-s3cret-pass"); err != nil || !ok {
			t.Fatalf("new password: ok %v err %v, want accepted", ok, err)
		}
	})
}
