package pgtest

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestWithDatabase(t *testing.T) {
	tests := []struct {
		name, admin, want string
	}{
		{"url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
			"postgres://postgres@127.0.0.1:5432/hotline_test_x?sslmode=disable"},
		{"postgresql scheme without path", "postgresql://u:p@db",
			"postgresql://u:p@db/hotline_test_x"},
		{"keyword/value", "host=127.0.0.1 user=postgres",
			"host=127.0.0.1 user=postgres dbname=hotline_test_x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := withDatabase(tt.admin, "hotline_test_x")
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("withDatabase(%q) = %q, want %q", tt.admin, got, tt.want)
			}
		})
	}
}

func TestNewDatabase(t *testing.T) {
	u := NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connect to the new database: %v", err)
	}
	defer conn.Close(ctx)
	var name string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, "hotline_test_") {
		t.Fatalf("current database %q, want hotline_test_*", name)
	}
}

func TestRedactHidesPassword(t *testing.T) {
	got := redact("postgres://u:secret@db/x")
	if strings.Contains(got, "secret") {
		t.Fatalf("redact kept the password: %s", got)
	}
}

func TestMigrated(t *testing.T) {
	calls := 0
	migrate := func(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
		calls++
		_, err := pool.Exec(ctx, "CREATE TABLE marker (id int)")
		return []string{"0001_marker"}, err
	}
	url, pool := Migrated(t, migrate)
	if calls != 1 {
		t.Fatalf("migrate ran %d times, want once", calls)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to the returned url: %v", err)
	}
	defer conn.Close(ctx)
	for name, q := range map[string]interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}{"pool": pool, "url": conn} {
		var table string
		if err := q.QueryRow(ctx, "SELECT to_regclass('marker')::text").Scan(&table); err != nil {
			t.Fatalf("%s: migrated table missing: %v", name, err)
		}
	}
}
