package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/blacklist"
)

// redisMemoryResult is what revoked tokens cost Redis.
type redisMemoryResult struct {
	Revocations int       `json:"revocations"`
	Load        loadStats `json:"load"`
	// KeysAdded counts the keys that appeared, the change logs apart.
	KeysAdded         int64   `json:"keys_added"`
	UsedBefore        int64   `json:"used_memory_before"`
	UsedAfter         int64   `json:"used_memory_after"`
	RSSBefore         int64   `json:"used_memory_rss_before"`
	RSSAfter          int64   `json:"used_memory_rss_after"`
	ChangeLogs        int     `json:"change_logs"`
	ChangeLogBytes    int64   `json:"change_log_bytes"`
	BytesPerToken     float64 `json:"bytes_per_token"`
	ChangeLogPerToken float64 `json:"change_log_bytes_per_token"`
}

// redisMemory loads n revocations into an empty Redis and reads INFO
// memory's used_memory before and after. It also sums MEMORY USAGE of the
// change logs (streams), to show their share.
func (b *bench) redisMemory(ctx context.Context, rdb *redis.Client, n int) (*redisMemoryResult, error) {
	before, err := redisInfo(ctx, rdb, "memory")
	if err != nil {
		return nil, err
	}
	keysBefore, err := rdb.DBSize(ctx).Result()
	if err != nil {
		return nil, err
	}
	b.log.Info("memory: loading revocations", "count", n)
	load, err := loadRevocations(ctx, rdb, n, b.opts.loadWorkers)
	if err != nil {
		return nil, fmt.Errorf("load %d revocations: %w", n, err)
	}
	b.log.Info("memory: loaded", "count", n, "seconds", fmt.Sprintf("%.1f", load.Seconds), "per_second", int(load.PerSecond))
	after, err := redisInfo(ctx, rdb, "memory")
	if err != nil {
		return nil, err
	}
	keysAfter, err := rdb.DBSize(ctx).Result()
	if err != nil {
		return nil, err
	}
	res := &redisMemoryResult{Revocations: n, Load: load}
	for _, f := range []struct {
		key string
		dst *int64
		m   map[string]string
	}{
		{"used_memory", &res.UsedBefore, before},
		{"used_memory", &res.UsedAfter, after},
		{"used_memory_rss", &res.RSSBefore, before},
		{"used_memory_rss", &res.RSSAfter, after},
	} {
		if *f.dst, err = infoInt(f.m, f.key); err != nil {
			return nil, err
		}
	}
	res.ChangeLogs, res.ChangeLogBytes, err = streamMemory(ctx, rdb, storeConfig(blacklist.ModeStrict).Prefix)
	if err != nil {
		return nil, err
	}
	res.KeysAdded = keysAfter - keysBefore - int64(res.ChangeLogs)
	if res.KeysAdded <= 0 {
		return res, errors.New("redis memory: no revocation key was added")
	}
	res.BytesPerToken = float64(res.UsedAfter-res.UsedBefore) / float64(res.KeysAdded)
	res.ChangeLogPerToken = float64(res.ChangeLogBytes) / float64(res.KeysAdded)
	return res, nil
}

// streamMemory finds the change logs (every stream under prefix) with SCAN
// and adds up their MEMORY USAGE.
func streamMemory(ctx context.Context, rdb *redis.Client, prefix string) (int, int64, error) {
	var logs []string
	iter := rdb.ScanType(ctx, 0, prefix+"*", 10000, "stream").Iterator()
	for iter.Next(ctx) {
		logs = append(logs, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return 0, 0, fmt.Errorf("scan change logs: %w", err)
	}
	var total int64
	for _, k := range logs {
		n, err := rdb.MemoryUsage(ctx, k, 0).Result()
		if err != nil {
			return 0, 0, fmt.Errorf("MEMORY USAGE %s: %w", k, err)
		}
		total += n
	}
	return len(logs), total, nil
}

// mirrorMemoryResult is what a mirror entry costs tokenguard's heap.
type mirrorMemoryResult struct {
	Entries       int     `json:"entries"`
	LoadSeconds   float64 `json:"load_seconds"`
	HeapBefore    uint64  `json:"heap_alloc_before"`
	HeapAfter     uint64  `json:"heap_alloc_after"`
	BytesPerEntry float64 `json:"bytes_per_entry"`
}

// mirrorMemory loads a mirror-mode blacklist.Store in this process from
// the Redis at rdb and measures the live heap (after GC) it adds.
func (b *bench) mirrorMemory(ctx context.Context, rdb *redis.Client) (*mirrorMemoryResult, error) {
	if err := rdb.Ping(ctx).Err(); err != nil { // the connection exists before the baseline
		return nil, err
	}
	before := liveHeap()
	store := blacklist.New(rdb, storeConfig(blacklist.ModeMirror))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- store.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			b.log.Warn("mirror memory: store.Run", "err", err)
		}
	}()

	start := time.Now()
	deadline := start.Add(b.opts.readyTimeout)
	for {
		err := store.Ready(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("mirror not ready after %v: %w", b.opts.readyTimeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	loaded := time.Since(start)
	after := liveHeap()
	res := &mirrorMemoryResult{Entries: store.Stats().Entries, LoadSeconds: loaded.Seconds(), HeapBefore: before, HeapAfter: after}
	runtime.KeepAlive(store)
	if res.Entries == 0 {
		return res, errors.New("mirror memory: the mirror holds no entry")
	}
	res.BytesPerEntry = (float64(after) - float64(before)) / float64(res.Entries)
	return res, nil
}

// liveHeap is the heap in use once garbage is collected.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// readyResult is how long a new instance takes to load the revocation
// state and answer /readyz.
type readyResult struct {
	Revocations     int64   `json:"revocations"`
	Seconds         float64 `json:"seconds"`
	RSSBytes        int64   `json:"rss_bytes"`
	PeakRSSBytes    int64   `json:"peak_rss_bytes"`
	SnapshotEntries int64   `json:"snapshot_entries,omitempty"`
	SnapshotSeconds float64 `json:"snapshot_seconds,omitempty"`
}

// readyTime starts a mirror instance on the Redis at redisAddr, which holds
// revocations, and times it from process start to the first /readyz 200.
func (b *bench) readyTime(ctx context.Context, redisAddr string, revocations int64) (*readyResult, error) {
	in, err := b.tokenguard.start(ctx, instanceSpec{name: "ready", alg: "HS256", mode: "mirror", redisAddr: redisAddr})
	if err != nil {
		return nil, err
	}
	defer in.Stop()
	took, err := in.awaitReady(ctx, newHTTPClient(1), b.opts.readyTimeout)
	if err != nil {
		return nil, err
	}
	res := &readyResult{Revocations: revocations, Seconds: took.Seconds()}
	if res.RSSBytes, res.PeakRSSBytes, err = in.memory(); err != nil {
		return res, fmt.Errorf("ready: memory of the instance: %w", err)
	}
	if n, d, ok := in.mirrorLoaded(); ok {
		res.SnapshotEntries, res.SnapshotSeconds = n, d.Seconds()
	}
	return res, nil
}
