package agents

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/hotline-dev/hotline/tickets"
	"github.com/hotline-dev/hotline/tickets/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

const testRealm = "hotline.test"

// newTestDirectory returns a directory on a fresh, migrated database.
func newTestDirectory(t *testing.T) (*Directory, *pgxpool.Pool) {
	t.Helper()
	_, pool := pgtest.Migrated(t, tickets.Migrate)
	return NewDirectory(pool, testRealm), pool
}

func liNa() Agent {
	return Agent{ID: "1001", DisplayName: "Li Na", StaffNumber: "1001",
		Categories: []string{"complaint", "inquiry"}, Role: RoleAgent}
}

func TestDirectoryAddGetList(t *testing.T) {
	d, _ := newTestDirectory(t)
	ctx := context.Background()
	a := liNa()
	a.Categories = []string{" Inquiry", "complaint", "inquiry"}
	if err := d.Add(ctx, a, "s3cret-pass"); err != nil {
		t.Fatalf("add: %v", err)
	}
	got, err := d.Get(ctx, "1001")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	want := liNa()
	want.Enabled = true
	if got.ID != want.ID || got.DisplayName != want.DisplayName || got.StaffNumber != want.StaffNumber ||
		got.Role != want.Role || !got.Enabled || !slices.Equal(got.Categories, want.Categories) {
		t.Fatalf("get = %+v, want %+v", got, want)
	}
	if err := d.Add(ctx, Agent{ID: "2001", DisplayName: "Wang", StaffNumber: "2001",
		Categories: []string{"emergency"}, Role: RoleSupervisor}, "another-pass"); err != nil {
		t.Fatalf("add supervisor: %v", err)
	}
	list, err := d.List(ctx)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list) != 2 || list[0].ID != "1001" || list[1].ID != "2001" || list[1].Role != RoleSupervisor {
		t.Fatalf("list = %+v", list)
	}
}

func TestDirectoryAddRejects(t *testing.T) {
	d, _ := newTestDirectory(t)
	ctx := context.Background()
	if err := d.Add(ctx, liNa(), "s3cret-pass"); err != nil {
		t.Fatalf("add: %v", err)
	}
	tests := []struct {
		name     string
		mutate   func(*Agent)
		password string
		want     error
	}{
		{"id with colon", func(a *Agent) { a.ID = "10:01" }, "s3cret-pass", ErrInvalidAgent},
		{"upper-case id", func(a *Agent) { a.ID = "Bob" }, "s3cret-pass", ErrInvalidAgent},
		{"unknown category", func(a *Agent) { a.ID = "1002"; a.Categories = []string{"sales"} }, "s3cret-pass", ErrInvalidAgent},
		{"no category", func(a *Agent) { a.ID = "1002"; a.Categories = nil }, "s3cret-pass", ErrInvalidAgent},
		{"bad role", func(a *Agent) { a.ID = "1002"; a.Role = "admin" }, "s3cret-pass", ErrInvalidAgent},
		{"staff not digits", func(a *Agent) { a.ID = "1002"; a.StaffNumber = "A1" }, "s3cret-pass", ErrInvalidAgent},
		{"name with newline", func(a *Agent) { a.ID = "1002"; a.DisplayName = "x\r\nVia: evil" }, "s3cret-pass", ErrInvalidAgent},
		{"short password", func(a *Agent) { a.ID = "1002" }, "short", ErrInvalidAgent},
		{"duplicate id", func(a *Agent) { a.StaffNumber = "9999" }, "s3cret-pass", ErrAgentExists},
		{"duplicate staff number", func(a *Agent) { a.ID = "1002" }, "s3cret-pass", ErrAgentExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := liNa()
			tt.mutate(&a)
			if err := d.Add(ctx, a, tt.password); !errors.Is(err, tt.want) {
				t.Fatalf("add = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDirectoryHA1(t *testing.T) {
	d, pool := newTestDirectory(t)
	ctx := context.Background()
	if err := d.Add(ctx, liNa(), "s3cret-pass"); err != nil {
		t.Fatalf("add: %v", err)
	}
	if err := d.Add(ctx, Agent{ID: "1002", DisplayName: "Zhao", StaffNumber: "1002",
		Categories: []string{"business"}, Role: RoleAgent}, "other-pass"); err != nil {
		t.Fatalf("add: %v", err)
	}
	if err := d.Disable(ctx, "1002"); err != nil {
		t.Fatalf("disable: %v", err)
	}
	tests := []struct {
		name, id, algorithm, want string
		ok                        bool
		dir                       *Directory
	}{
		// RFC 8760 §3 / RFC 7616 §3.4.2: HA1 = H(user:realm:password).
		{"md5", "1001", "MD5", HA1("MD5", "1001", testRealm, "s3cret-pass"), true, d},
		{"sha-256 lower case", "1001", "sha-256", HA1("SHA-256", "1001", testRealm, "s3cret-pass"), true, d},
		{"unknown agent", "9999", "MD5", "", false, d},
		{"disabled agent", "1002", "MD5", "", false, d},
		{"unsupported algorithm", "1001", "SHA-512", "", false, d},
		{"other realm", "1001", "MD5", "", false, NewDirectory(pool, "elsewhere")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := tt.dir.HA1(ctx, tt.id, tt.algorithm)
			if err != nil || ok != tt.ok || got != tt.want {
				t.Fatalf("HA1 = %q, %v, %v; want %q, %v", got, ok, err, tt.want, tt.ok)
			}
		})
	}
	var stored int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM agents WHERE ha1_md5 LIKE '%s3cret%'
		OR ha1_sha256 LIKE '%s3cret%' OR display_name LIKE '%s3cret%'`).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("password found in the table (%d rows, %v)", stored, err)
	}
}

func TestHA1KnownVectors(t *testing.T) {
	// RFC 7616 §3.9.1 example (Mufasa, http-auth@example.org, Circle of Life):
	// these HA1s give that section's responses 8ca523f5… (MD5) and 753927fa… (SHA-256).
	tests := []struct{ name, alg, want string }{
		{"md5", "MD5", "3d78807defe7de2157e2b0b6573a855f"},
		{"sha-256", "SHA-256", "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HA1(tt.alg, "Mufasa", "http-auth@example.org", "Circle of Life"); got != tt.want {
				t.Fatalf("HA1 = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDirectoryDisableAndSetPassword(t *testing.T) {
	d, _ := newTestDirectory(t)
	ctx := context.Background()
	if err := d.Add(ctx, liNa(), "s3cret-pass"); err != nil {
		t.Fatalf("add: %v", err)
	}
	if err := d.SetPassword(ctx, "1001", "new-password"); err != nil {
		t.Fatalf("set password: %v", err)
	}
	if got, ok, _ := d.HA1(ctx, "1001", "MD5"); !ok || got != HA1("MD5", "1001", testRealm, "new-password") {
		t.Fatalf("HA1 after SetPassword = %q, %v", got, ok)
	}
	if err := d.Disable(ctx, "1001"); err != nil {
		t.Fatalf("disable: %v", err)
	}
	if err := d.Disable(ctx, "1001"); err != nil {
		t.Fatalf("disable twice: %v", err)
	}
	if a, err := d.Get(ctx, "1001"); err != nil || a.Enabled {
		t.Fatalf("get after disable = %+v, %v; want disabled", a, err)
	}
	tests := []struct {
		name string
		run  func() error
	}{
		{"get unknown", func() error { _, err := d.Get(ctx, "9999"); return err }},
		{"disable unknown", func() error { return d.Disable(ctx, "9999") }},
		{"set password unknown", func() error { return d.SetPassword(ctx, "9999", "long-enough") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); !errors.Is(err, ErrAgentNotFound) {
				t.Fatalf("err = %v, want ErrAgentNotFound", err)
			}
		})
	}
}
