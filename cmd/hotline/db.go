package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// connect opens PostgreSQL and Redis and checks both answer, with a clear error.
func connect(ctx context.Context, cfg Config) (*pgxpool.Pool, *redis.Client, error) {
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	opt, err := redisOptions(cfg.RedisURL)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	rdb := redis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		pool.Close()
		rdb.Close()
		return nil, nil, fmt.Errorf("redis at %s is unreachable (%v): start it or set HOTLINE_REDIS_URL", opt.Addr, err)
	}
	return pool, rdb, nil
}

// redisOptions reads HOTLINE_REDIS_URL with the server's pool defaults;
// pool_size=N and min_idle_conns=N in the URL override them.
func redisOptions(url string) (*redis.Options, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("HOTLINE_REDIS_URL: %w", err)
	}
	if !strings.Contains(url, "pool_size") {
		// go-redis's default (10 per CPU) had calls, matching and the
		// registrar wait for a connection at a few hundred calls/s.
		opt.PoolSize = defaultRedisConns
	}
	if !strings.Contains(url, "min_idle_conns") {
		// Dial the whole pool up front and keep it. go-redis otherwise grows
		// the pool on demand, so the first burst of calls after a quiet
		// spell dials dozens of connections inside it, each a TCP handshake,
		// HELLO and CLIENT SETINFO in Redis at its busiest moment (seen on
		// the wire in the matching benchmark).
		opt.MinIdleConns = opt.PoolSize
	}
	// CLIENT SETINFO (Redis 7.2+) only labels the connection; Redis 7.0,
	// Debian 12's, answers it with an error: a wasted round trip per
	// connection.
	opt.DisableIdentity = true
	return opt, nil
}

// defaultDBConns is the pool size when HOTLINE_DATABASE_URL names none
// (pool_max_conns=N in the URL overrides it).
const defaultDBConns = 16

// defaultRedisConns is the Redis pool size when HOTLINE_REDIS_URL names none
// (pool_size=N in the URL overrides it).
const defaultRedisConns = 64

func openDB(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("HOTLINE_DATABASE_URL: %w", err)
	}
	pcfg.ConnConfig.ConnectTimeout = 5 * time.Second
	if !strings.Contains(cfg.DatabaseURL, "pool_max_conns") {
		// pgxpool's default (max(4, CPUs)) makes the call records, the
		// nuisance check (S21) and the agent state history queue behind
		// each other at a few hundred calls/s on 2 cores.
		pcfg.MaxConns = defaultDBConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgresql: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgresql at %s:%d is unreachable (%v): start it or set HOTLINE_DATABASE_URL",
			pcfg.ConnConfig.Host, pcfg.ConnConfig.Port, firstLine(err))
	}
	return pool, nil
}
