package tickets

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hotline-dev/hotline/tickets/pgtest"
)

// TestNormalizeNumber covers the forms one caller's number arrives in (S21).
func TestNormalizeNumber(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"mobile", "13800138000", "13800138000"},
		{"mobile with spaces", " 138 0013 8000 ", "13800138000"},
		{"mobile with dashes", "138-0013-8000", "13800138000"},
		{"mobile with dots", "138.0013.8000", "13800138000"},
		{"plus 86 mobile", "+8613800138000", "13800138000"},
		{"plus 86 spaced", "+86 138 0013 8000", "13800138000"},
		{"0086 mobile", "008613800138000", "13800138000"},
		{"0086 with dash", "0086-138-0013-8000", "13800138000"},
		{"bare 86 mobile", "8613800138000", "13800138000"},
		{"bare 86 local number kept", "86123456", "86123456"},
		{"full-width digits", "１３８００１３８０００", "13800138000"},
		{"full-width plus and space", "＋86　138 0013 8000", "13800138000"},
		{"Beijing landline", "010-12345678", "01012345678"},
		{"Beijing landline in brackets", "(010) 1234 5678", "01012345678"},
		{"plus 86 Beijing", "+86 10 1234 5678", "01012345678"},
		{"plus 86 Shenzhen", "+86-755-8888-9999", "075588889999"},
		{"plus 86 with (0)", "+86 (0)10 1234 5678", "01012345678"},
		{"0086 Shanghai", "0086 21 6666 7777", "02166667777"},
		{"plus 86 400 number", "+86 400 123 4567", "4001234567"},
		{"plus 86 service number", "+86 95598", "95598"},
		{"service number", "12345", "12345"},
		{"other country", "+1 415 555 0100", "+14155550100"},
		{"other country via 00", "00 44 20 7946 0000", "+442079460000"},
		{"only plus 86", "+86", "+86"},
		{"anonymous", "anonymous", "anonymous"},
		{"letters kept", "1380013800a", "1380013800a"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NormalizeNumber(tc.in); got != tc.want {
				t.Fatalf("NormalizeNumber(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestNuisanceMatchesAnyForm checks a flag set on one written form of a
// number turns away the caller whose carrier sends another (S21), and that
// what is not a phone number cannot be flagged.
func TestNuisanceMatchesAnyForm(t *testing.T) {
	f := newStoreFixture(t)
	ctx := t.Context()
	if err := f.store.FlagNuisance(ctx, "139-0000-1111", "2001", "abusive calls"); err != nil {
		t.Fatalf("flag: %v", err)
	}
	for _, caller := range []string{"13900001111", "+8613900001111", "008613900001111", "8613900001111"} {
		if got, err := f.store.IsNuisance(ctx, caller); err != nil || !got {
			t.Fatalf("IsNuisance(%q) = %v, %v; want flagged", caller, got, err)
		}
	}
	if got, err := f.store.IsNuisance(ctx, "13900001112"); err != nil || got {
		t.Fatalf("another number = %v, %v; want not flagged", got, err)
	}
	if err := f.store.ClearNuisance(ctx, "+86 139 0000 1111", "2001", "apologised"); err != nil {
		t.Fatalf("clear in another form: %v", err)
	}
	if got, _ := f.store.IsNuisance(ctx, "13900001111"); got {
		t.Fatal("still flagged after clear")
	}
	assertCount(t, f.pool, `SELECT count(*) FROM nuisance_events WHERE number = '13900001111'`, 2)
	for _, bad := range []string{"anonymous", "12", "1390000111122223333444", "139;DROP"} {
		err := f.store.FlagNuisance(ctx, bad, "2001", "x")
		var fe FieldErrors
		if !errors.As(err, &fe) || fe["number"].Code == "" {
			t.Fatalf("flag %q = %v, want a number field error", bad, err)
		}
	}
	var fe FieldErrors
	if err := f.store.FlagNuisance(ctx, "13900001111", "2001", strings.Repeat("x", maxNuisanceReason+1)); !errors.As(err, &fe) || fe["reason"].Code == "" {
		t.Fatalf("long reason = %v, want a reason field error", err)
	}
}

// TestMigrationNormalizesFlags checks the migration that introduced
// NormalizeNumber rewrites flags stored as typed exactly as the Go function
// does, keeping the active flag where two forms of one number meet (S21).
func TestMigrationNormalizesFlags(t *testing.T) {
	ctx := t.Context()
	pool := pgtest.Pool(t, pgtest.NewDatabase(t))
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m migration) bool { return strings.HasSuffix(m.name, "_panel_hardening") })
	if i < 0 {
		t.Fatal("no panel_hardening migration")
	}
	// Migrate needs schema_migrations; apply the earlier ones by hand.
	if _, err := pool.Exec(ctx, `CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:i] {
		if err := applyMigration(ctx, conn, m); err != nil {
			t.Fatal(err)
		}
	}
	conn.Release()
	typed := []string{"138-0013-8000", "+86 139 0000 1111", "0086 10 1234 5678", "８６１３７００１３７０００",
		"+1 415 555 0100", "(010) 8888-9999", "12345", "anonymous"}
	for _, n := range typed {
		if _, err := pool.Exec(ctx, `INSERT INTO nuisance_numbers (number, flagged_by, reason) VALUES ($1, '2001', 'x')`, n); err != nil {
			t.Fatal(err)
		}
	}
	// Two forms of one number: the cleared one goes, the active one stays.
	if _, err := pool.Exec(ctx, `INSERT INTO nuisance_numbers (number, flagged_by, reason, cleared_at, cleared_by)
		VALUES ('13900001111', '2001', 'old', now(), '2001')`); err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	for _, n := range typed {
		var cleared bool
		err := pool.QueryRow(ctx, `SELECT cleared_at IS NOT NULL FROM nuisance_numbers WHERE number = $1`, NormalizeNumber(n)).Scan(&cleared)
		if err != nil || cleared {
			t.Fatalf("flag typed %q: no active row %q after the migration (%v)", n, NormalizeNumber(n), err)
		}
	}
	assertCount(t, pool, `SELECT count(*) FROM nuisance_numbers`, len(typed))
}
