package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/config"
)

// storeConfig is the revocation store as tokenguard configures it by
// default (key prefix, leeway, token lifetime), so that what the benchmark
// writes in-process is exactly what the instances read, change log
// included.
func storeConfig(mode blacklist.Mode) blacklist.Config {
	def := config.Default()
	return blacklist.Config{
		Prefix:           def.Redis.KeyPrefix,
		Leeway:           def.Tokens.Leeway,
		MaxTokenLifetime: def.Tokens.AccessTTL,
		Mode:             mode,
	}
}

// loadStats says how a bulk load went.
type loadStats struct {
	Count      int     `json:"count"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"per_second"`
	Concurrent int     `json:"concurrent"`
}

// loadRevocations revokes n random token ids through the blacklist
// package, as tokenguard's own revocation does (key, TTL and change-log
// entry), with workers goroutines. Every token expires one access-token
// lifetime from now, so all n stay live for the whole benchmark.
func loadRevocations(ctx context.Context, rdb redis.UniversalClient, n, workers int) (loadStats, error) {
	cfg := storeConfig(blacklist.ModeStrict)
	store := blacklist.New(rdb, cfg)
	exp := time.Now().Add(cfg.MaxTokenLifetime)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				jti, err := randomText(16) // as tokenguard's jti: 128 bits, base64url
				if err == nil {
					err = store.RevokeToken(ctx, jti, exp)
				}
				if err != nil {
					cancel(fmt.Errorf("revoke: %w", err))
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return loadStats{}, err
	}
	took := time.Since(start)
	return loadStats{Count: n, Seconds: took.Seconds(), PerSecond: float64(n) / took.Seconds(), Concurrent: workers}, nil
}
