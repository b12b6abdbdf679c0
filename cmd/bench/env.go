package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"
)

// Defaults of cmd/hotline when the environment sets nothing.
const (
	defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/hotline?sslmode=disable"
	defaultRedisURL    = "redis://127.0.0.1:6379/0"
	// benchRTPPorts lies below Linux's ephemeral range (32768-60999), so the
	// ports SIPp and the sample callers bind never collide with the pool.
	benchRTPPorts = "10000-32766"
	// benchWrapUp is acd.wrap_up_max in the bench: the agents enter no
	// ticket, so each one's wrap-up lasts this long (plus up to the ACD's 1 s
	// sweep) before the next call.
	benchWrapUp = time.Second
)

// Each run has its own database and Redis prefix, suffixed with the bench's
// pid: two runs on a shared machine must not drop each other's database or
// clear each other's keys.
var (
	benchDatabase  = fmt.Sprintf("hotline_bench_%d", os.Getpid())
	benchKeyPrefix = fmt.Sprintf("hotline-bench-%d:", os.Getpid())
)

// env is the private world of one bench run: a database, a Redis prefix and
// a config folder.
type env struct {
	dir         string
	realm       string // the registrar's digest realm (agents' HA1s)
	adminURL    string // maintenance database, for CREATE/DROP DATABASE
	databaseURL string // hotline_bench
	redisURL    string
	db          *pgxpool.Pool
	rdb         *redis.Client
	// trunkPort is the callbacks step's trunk (SIPp) on loopback; 0: the
	// server places no callback.
	trunkPort int
	// sets are -set overrides of the server's config, "dotted.key=value".
	sets []string
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// newEnv creates a fresh hotline_bench database, migrates it with the binary
// and clears the bench's Redis prefix. pprof turns on the server's
// /debug/pprof/ (http.pprof); sets override the server's config (-set).
func newEnv(ctx context.Context, binary string, pprof bool, trunkPort int, sets []string) (*env, error) {
	dir, err := os.MkdirTemp("", "hotline-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench dir: %w", err)
	}
	e := &env{dir: dir, redisURL: envOr("HOTLINE_REDIS_URL", defaultRedisURL), trunkPort: trunkPort, sets: sets}
	base, err := url.Parse(envOr("HOTLINE_DATABASE_URL", defaultDatabaseURL))
	if err != nil {
		return nil, fmt.Errorf("HOTLINE_DATABASE_URL: %w", err)
	}
	admin, bench := *base, *base
	admin.Path, bench.Path = "/postgres", "/"+benchDatabase
	e.adminURL, e.databaseURL = admin.String(), bench.String()
	if err := e.recreateDatabase(ctx); err != nil {
		return nil, err
	}
	if err := e.writeConfig(pprof); err != nil {
		return nil, err
	}
	out, err := e.command(ctx, binary, "migrate").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s migrate: %w: %s", binary, err, strings.TrimSpace(string(out)))
	}
	if e.db, err = pgxpool.New(ctx, e.databaseURL); err != nil {
		return nil, fmt.Errorf("connect %s: %w", benchDatabase, err)
	}
	opt, err := redis.ParseURL(e.redisURL)
	if err != nil {
		return nil, fmt.Errorf("HOTLINE_REDIS_URL: %w", err)
	}
	e.rdb = redis.NewClient(opt)
	if _, err := e.clearRedis(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// command runs the hotline binary against the bench database and config.
func (e *env) command(ctx context.Context, binary string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, append(args, "-config", e.configPath())...)
	cmd.Env = append(withoutHotlineEnv(os.Environ()),
		"HOTLINE_DATABASE_URL="+e.databaseURL, "HOTLINE_REDIS_URL="+e.redisURL)
	return cmd
}

func (e *env) configPath() string { return filepath.Join(e.dir, "hotline.yaml") }

func (e *env) recreateDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, e.adminURL)
	if err != nil {
		return fmt.Errorf("postgresql (%s) is unreachable: %w", redactURL(e.adminURL), err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		"DROP DATABASE IF EXISTS " + benchDatabase + " WITH (FORCE)",
		"CREATE DATABASE " + benchDatabase,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// close clears the Redis prefix, drops the bench database unless keepDB and
// removes the temp folder unless keepDir.
func (e *env) close(keepDB, keepDir bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if e.rdb != nil {
		if n, err := e.clearRedis(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "bench: clear redis %s*: %v\n", benchKeyPrefix, err)
		} else if n > 0 {
			fmt.Printf("cleaned %d redis keys under %s\n", n, benchKeyPrefix)
		}
		e.rdb.Close()
	}
	if e.db != nil {
		e.db.Close()
	}
	if !keepDB {
		if conn, err := pgx.Connect(ctx, e.adminURL); err == nil {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+benchDatabase+" WITH (FORCE)")
			conn.Close(ctx)
		}
	}
	if keepDir {
		fmt.Printf("kept %s (server.log, hotline.yaml, data/)\n", e.dir)
		return
	}
	os.RemoveAll(e.dir)
}

func (e *env) clearRedis(ctx context.Context) (int, error) {
	var keys []string
	iter := e.rdb.Scan(ctx, 0, benchKeyPrefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return 0, fmt.Errorf("redis at %s: scan %s*: %w", redactURL(e.redisURL), benchKeyPrefix, err)
	}
	for i := 0; i < len(keys); i += 500 {
		if err := e.rdb.Del(ctx, keys[i:min(i+500, len(keys))]...).Err(); err != nil {
			return 0, fmt.Errorf("redis: delete %s*: %w", benchKeyPrefix, err)
		}
	}
	return len(keys), nil
}

// writeConfig copies configs/hotline.yaml with a temp data_dir, the bench's
// Redis prefix, a long max_wait (nobody gets the callback offer mid-bench) and
// an always-open calendar, so every call takes the menu path. For the bridged
// calls: MD5 digests only (SIPp cannot answer SHA-256) and a short wrap-up
// (benchWrapUp: no ticket is entered, so wrap-up ends by wrap_up_max).
func (e *env) writeConfig(pprof bool) error {
	raw, err := os.ReadFile("configs/hotline.yaml")
	if err != nil {
		return fmt.Errorf("read configs/hotline.yaml (run from the repository root): %w", err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("configs/hotline.yaml: %w", err)
	}
	cfg["data_dir"] = filepath.Join(e.dir, "data")
	section(cfg, "sip")["rtp_ports"] = benchRTPPorts
	// The bench measures capacity: no admission cap below what the ports allow.
	section(cfg, "sip")["max_calls"] = 0
	// 127.0.0.1 only: the soak's hostile source, 127.0.0.2, is untrusted.
	section(cfg, "sip")["trusted"] = []string{"127.0.0.1/32", "::1/128"}
	section(cfg, "ivr")["max_wait"] = "1h"
	section(cfg, "queue")["key_prefix"] = benchKeyPrefix
	section(cfg, "calendar")["file"] = filepath.Join(e.dir, "calendar.yaml")
	reg := section(cfg, "registrar")
	reg["algorithms"] = []string{"MD5"}
	e.realm = "hotline" // cmd/hotline's default
	if r, ok := reg["realm"].(string); ok && r != "" {
		e.realm = r
	}
	section(cfg, "acd")["wrap_up_max"] = benchWrapUp.String()
	if pprof {
		section(cfg, "http")["pprof"] = true
	}
	if e.trunkPort != 0 {
		cb := section(cfg, "callbacks")
		cb["trunk"] = fmt.Sprintf("sip:%s:%d", loopback, e.trunkPort)
		cb["interval"] = "1s"
	}
	for _, kv := range e.sets {
		if err := setConfig(cfg, kv); err != nil {
			return err
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("bench config: %w", err)
	}
	if err := os.WriteFile(e.configPath(), out, 0o644); err != nil {
		return fmt.Errorf("write bench config: %w", err)
	}
	if err := copySiblings(e.dir); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(e.dir, "calendar.yaml"), []byte(alwaysOpenCalendar), 0o644)
}

// setConfig applies one -set override, "section.key=value" (any depth);
// the value is read as YAML, so numbers and booleans keep their type.
func setConfig(cfg map[string]any, kv string) error {
	path, raw, ok := strings.Cut(kv, "=")
	keys := strings.Split(path, ".")
	if !ok || slices.Contains(keys, "") {
		return fmt.Errorf("-set %q: want section.key=value", kv)
	}
	var v any
	if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
		return fmt.Errorf("-set %q: %w", kv, err)
	}
	m := cfg
	for _, k := range keys[:len(keys)-1] {
		m = section(m, k)
	}
	m[keys[len(keys)-1]] = v
	return nil
}

// copySiblings copies the other files of configs/ (files hotline.yaml names
// relative to its folder) into the bench's config folder.
func copySiblings(dir string) error {
	entries, err := os.ReadDir("configs")
	if err != nil {
		return fmt.Errorf("read configs/: %w", err)
	}
	for _, ent := range entries {
		if ent.IsDir() || ent.Name() == "hotline.yaml" || ent.Name() == "calendar.yaml" {
			continue
		}
		b, err := os.ReadFile(filepath.Join("configs", ent.Name()))
		if err != nil {
			return fmt.Errorf("copy config: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, ent.Name()), b, 0o644); err != nil {
			return fmt.Errorf("copy config: %w", err)
		}
	}
	return nil
}

func section(cfg map[string]any, name string) map[string]any {
	s, ok := cfg[name].(map[string]any)
	if !ok {
		s = map[string]any{}
		cfg[name] = s
	}
	return s
}

// alwaysOpenCalendar opens every day around the clock, with no holidays (S9
// is not what the bench measures).
const alwaysOpenCalendar = `timezone: Asia/Shanghai
weekly:
  mon: ["00:00-24:00"]
  tue: ["00:00-24:00"]
  wed: ["00:00-24:00"]
  thu: ["00:00-24:00"]
  fri: ["00:00-24:00"]
  sat: ["00:00-24:00"]
  sun: ["00:00-24:00"]
makeup_hours: ["00:00-24:00"]
holidays: []
makeup_days: []
`

// outcomes counts the call records of one caller number by outcome, and
// those that reached the expected queue.
func (e *env) outcomes(ctx context.Context, caller, category string) (map[string]int, int, error) {
	rows, err := e.db.Query(ctx,
		`SELECT outcome, count(*), count(*) FILTER (WHERE category = $2 AND queued_at IS NOT NULL)
		   FROM calls WHERE caller LIKE $1 || '%' GROUP BY outcome`, caller, category)
	if err != nil {
		return nil, 0, fmt.Errorf("count call records: %w", err)
	}
	defer rows.Close()
	out, queued := map[string]int{}, 0
	for rows.Next() {
		var outcome string
		var n, q int
		if err := rows.Scan(&outcome, &n, &q); err != nil {
			return nil, 0, fmt.Errorf("count call records: %w", err)
		}
		out[outcome], queued = n, queued+q
	}
	return out, queued, rows.Err()
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}
