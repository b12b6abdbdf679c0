package tickets

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/hotline-dev/hotline/tickets/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMigrateTwiceAppliesNothingTheSecondTime(t *testing.T) {
	pool := newPool(t, pgtest.NewDatabase(t))
	ctx := context.Background()
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	first, err := Migrate(ctx, pool)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	if len(first) != len(ms) || first[0] != "0001_calls" {
		t.Fatalf("first migrate applied %v, want all %d starting with 0001_calls", first, len(ms))
	}
	second, err := Migrate(ctx, pool)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(second) != 0 {
		t.Fatalf("second migrate applied %v, want nothing", second)
	}
	var rows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(ms) {
		t.Fatalf("schema_migrations has %d rows, want %d", rows, len(ms))
	}
	if err := CheckSchema(ctx, pool); err != nil {
		t.Fatalf("check schema after migrate: %v", err)
	}
}

func TestCheckSchema(t *testing.T) {
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	latest := ms[len(ms)-1].version
	tests := []struct {
		name  string
		setup string // SQL run on a fresh database
		stale bool
		msg   string
	}{
		{"empty database", "", true,
			fmt.Sprintf("database schema is at version 0, this binary needs %d: run `hotline migrate`", latest)},
		{"empty schema_migrations", "CREATE TABLE schema_migrations (version int PRIMARY KEY, name text)", true,
			fmt.Sprintf("database schema is at version 0, this binary needs %d: run `hotline migrate`", latest)},
		{"newer database", "CREATE TABLE schema_migrations (version int PRIMARY KEY, name text); INSERT INTO schema_migrations VALUES (999, 'future')", false,
			fmt.Sprintf("database schema is at version 999, newer than this binary's %d: upgrade hotline", latest)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := newPool(t, pgtest.NewDatabase(t))
			ctx := context.Background()
			if tt.setup != "" {
				if _, err := pool.Exec(ctx, tt.setup); err != nil {
					t.Fatal(err)
				}
			}
			err := CheckSchema(ctx, pool)
			if err == nil {
				t.Fatal("CheckSchema = nil, want an error")
			}
			if errors.Is(err, ErrStaleSchema) != tt.stale {
				t.Fatalf("errors.Is(err, ErrStaleSchema) = %v, want %v (err: %v)", !tt.stale, tt.stale, err)
			}
			if err.Error() != tt.msg {
				t.Fatalf("message %q, want %q", err.Error(), tt.msg)
			}
		})
	}
}

func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.NewDatabase(t)
	pools := []*pgxpool.Pool{newPool(t, url), newPool(t, url), newPool(t, url)}
	ctx := context.Background()
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		all []string
	)
	for _, pool := range pools {
		wg.Go(func() {
			applied, err := Migrate(ctx, pool)
			if err != nil {
				t.Errorf("concurrent migrate: %v", err)
				return
			}
			mu.Lock()
			all = append(all, applied...)
			mu.Unlock()
		})
	}
	wg.Wait()
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(all)
	if len(all) != len(ms) || len(slices.Compact(slices.Clone(all))) != len(ms) {
		t.Fatalf("migrations applied across nodes: %v, want each of %d exactly once", all, len(ms))
	}
	if err := CheckSchema(ctx, pools[0]); err != nil {
		t.Fatal(err)
	}
}

func TestLoadMigrationsRejectsBadSets(t *testing.T) {
	sql := &fstest.MapFile{Data: []byte("SELECT 1")}
	tests := []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"bad name", fstest.MapFS{"m/1_calls.sql": sql}, "name must look like 0001_description.sql"},
		{"gap", fstest.MapFS{"m/0001_a.sql": sql, "m/0003_c.sql": sql}, "expected version 2"},
		{"duplicate", fstest.MapFS{"m/0001_a.sql": sql, "m/0001_b.sql": sql}, "expected version 2"},
		{"empty", fstest.MapFS{"m/readme.txt": sql}, "no migrations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadMigrations(tt.files, "m")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("loadMigrations error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestEmbeddedMigrationsAreOrdered(t *testing.T) {
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.version != i+1 || !strings.HasPrefix(m.name, fmt.Sprintf("%04d_", m.version)) || strings.TrimSpace(m.sql) == "" {
			t.Fatalf("migration %d: %+v", i, m)
		}
	}
}
