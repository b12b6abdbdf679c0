package tickets

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrStaleSchema is matched (errors.Is) by CheckSchema's error when the
// database lacks migrations that this binary needs.
var ErrStaleSchema = errors.New("stale database schema")

// migrateLockKey is the pg_advisory_lock key that serialises Migrate across
// nodes ("hotline" in ASCII, a value no other code of ours uses).
const migrateLockKey int64 = 0x686f746c696e65

// migration is one embedded SQL file, named NNNN_description.sql.
type migration struct {
	version int
	name    string // file name without ".sql"
	sql     string
}

// loadMigrations reads the migrations of fsys (files *.sql under dir), sorted
// by version; versions must run 1, 2, 3… without gaps or duplicates.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m, err := parseMigration(fsys, dir, e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d (versions must be 1, 2, 3… without gaps or duplicates)", m.name, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("no migrations in %s", dir)
	}
	return ms, nil
}

func parseMigration(fsys fs.FS, dir, file string) (migration, error) {
	name := strings.TrimSuffix(file, ".sql")
	num, _, ok := strings.Cut(name, "_")
	version, err := strconv.Atoi(num)
	if !ok || err != nil || len(num) != 4 || version <= 0 {
		return migration{}, fmt.Errorf("migration %s: name must look like 0001_description.sql", file)
	}
	body, err := fs.ReadFile(fsys, path.Join(dir, file))
	if err != nil {
		return migration{}, fmt.Errorf("read migration %s: %w", file, err)
	}
	return migration{version: version, name: name, sql: string(body)}, nil
}

func embeddedMigrations() ([]migration, error) {
	return loadMigrations(migrationFiles, "migrations")
}

// Migrate applies the embedded migrations the database lacks, in order, each
// in its own transaction, and returns the names of those it applied. A
// session advisory lock makes concurrent Migrate calls from several nodes
// safe: the second waits, then finds nothing left to do.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (applied []string, err error) {
	ms, err := embeddedMigrations()
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		return nil, fmt.Errorf("migrate: take advisory lock: %w", err)
	}
	defer func() {
		// Unlock even when ctx is done; a connection that cannot unlock is
		// closed, which releases the session lock on the server.
		uctx := context.WithoutCancel(ctx)
		if _, uerr := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", migrateLockKey); uerr != nil {
			_ = conn.Conn().Close(uctx)
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    int PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	done, err := appliedVersions(ctx, conn)
	if err != nil {
		return nil, err
	}
	applied = []string{}
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		if err := applyMigration(ctx, conn, m); err != nil {
			return applied, err
		}
		applied = append(applied, m.name)
	}
	return applied, nil
}

func appliedVersions(ctx context.Context, conn *pgxpool.Conn) (map[int]bool, error) {
	rows, err := conn.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	defer rows.Close()
	done := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
		}
		done[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	return done, nil
}

func applyMigration(ctx context.Context, conn *pgxpool.Conn, m migration) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: begin: %w", m.name, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return fmt.Errorf("migrate %s: %w", m.name, err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
		return fmt.Errorf("migrate %s: record version: %w", m.name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate %s: commit: %w", m.name, err)
	}
	return nil
}

// CheckSchema reports whether the database has every migration this binary
// needs. A database without schema_migrations is at version 0. A database
// behind the binary gives an error wrapping ErrStaleSchema that says what to
// run; one ahead of it (a newer binary migrated it) gives a plain error,
// because this binary cannot know whether it understands the newer schema.
func CheckSchema(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := embeddedMigrations()
	if err != nil {
		return err
	}
	want := ms[len(ms)-1].version
	have, err := schemaVersion(ctx, pool)
	if err != nil {
		return err
	}
	switch {
	case have < want:
		return &staleSchemaError{have: have, want: want}
	case have > want:
		return fmt.Errorf("database schema is at version %d, newer than this binary's %d: upgrade hotline", have, want)
	}
	return nil
}

// staleSchemaError is the error of a database behind the binary; its message
// is the one line an operator needs, and it matches ErrStaleSchema.
type staleSchemaError struct{ have, want int }

func (e *staleSchemaError) Error() string {
	return fmt.Sprintf("database schema is at version %d, this binary needs %d: run `hotline migrate`", e.have, e.want)
}

func (e *staleSchemaError) Is(target error) bool { return target == ErrStaleSchema }

func schemaVersion(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return 0, fmt.Errorf("check schema: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("check schema: %w", err)
	}
	return v, nil
}
