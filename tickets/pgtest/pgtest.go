// Package pgtest is the one PostgreSQL helper of every package's tests: each
// test gets a throw-away database on the real server named by
// HOTLINE_DATABASE_URL (or the local default), so tests run against
// PostgreSQL itself, never a mock.
//
// Under go test -short the helpers skip the test (the fast lane runs only
// tests without external services); without -short an unreachable server
// fails the test, so a run cannot pass by skipping.
//
// pgtest imports none of hotline's packages: the package that owns the schema
// (tickets) uses it from its own in-package tests, which could not import a
// helper that imported tickets. So Migrated takes the migration function
// (tickets.Migrate) from its caller instead of calling it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultURL is used when HOTLINE_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL returns the URL of the server's admin database for tests.
func AdminURL() string {
	if u := os.Getenv("HOTLINE_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// MigrateFunc brings the schema of the database behind pool up to date and
// returns the migrations it applied; tickets.Migrate is one.
type MigrateFunc func(ctx context.Context, pool *pgxpool.Pool) (applied []string, err error)

// Migrated creates a new database (NewDatabase), applies migrate to it and
// returns its URL and a pool on it, closed when the test ends.
func Migrated(t testing.TB, migrate MigrateFunc) (string, *pgxpool.Pool) {
	t.Helper()
	url := NewDatabase(t)
	pool := Pool(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := migrate(ctx, pool); err != nil {
		t.Fatalf("pgtest: migrate: %v", err)
	}
	return url, pool
}

// Pool opens a pool on url, closed when the test ends.
func Pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("pgtest: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewDatabase creates the database hotline_test_<random> and returns its
// URL; it is dropped when the test ends. Under -short it skips the test; an
// unreachable server otherwise fails it.
func NewDatabase(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("pgtest: needs PostgreSQL, which -short leaves out")
	}
	admin := AdminURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: PostgreSQL unreachable at %s (set HOTLINE_DATABASE_URL): %v", redact(admin), err)
	}
	defer conn.Close(context.Background())
	name := "hotline_test_" + randomHex(8)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() { drop(t, admin, name) })
	u, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

func drop(t testing.TB, admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Errorf("pgtest: drop database %s: %v", name, err)
		return
	}
	defer conn.Close(context.Background())
	// WITH (FORCE) (PostgreSQL 13+) ends sessions a test left open.
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Errorf("pgtest: drop database %s: %v", name, err)
	}
}

// withDatabase returns the admin connection string pointing at database name;
// it accepts URLs and keyword/value strings.
func withDatabase(admin, name string) (string, error) {
	if strings.HasPrefix(admin, "postgres://") || strings.HasPrefix(admin, "postgresql://") {
		u, err := url.Parse(admin)
		if err != nil {
			return "", fmt.Errorf("parse database url %s: %w", redact(admin), err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	return admin + " dbname=" + name, nil
}

// redact hides a password in a URL for messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return "the configured server"
	}
	return u.Redacted()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
