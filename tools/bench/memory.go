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
	// WindowSeconds is how long the change logs keep an entry
	// (blacklist.ChangeLogWindow); InWindow of the revocations were written
	// after the benchmark waited that long, as a steady rate over a token
	// lifetime would leave them: only those are still in the logs.
	WindowSeconds float64 `json:"change_log_window_seconds"`
	InWindow      int     `json:"revocations_in_window"`
	// KeysAdded counts the keys that appeared, the change logs apart.
	KeysAdded         int64   `json:"keys_added"`
	UsedBefore        int64   `json:"used_memory_before"`
	UsedAfter         int64   `json:"used_memory_after"`
	RSSBefore         int64   `json:"used_memory_rss_before"`
	RSSAfter          int64   `json:"used_memory_rss_after"`
	ChangeLogs        int     `json:"change_logs"`
	ChangeLogEntries  int64   `json:"change_log_entries"`
	ChangeLogBytes    int64   `json:"change_log_bytes"`
	BytesPerToken     float64 `json:"bytes_per_token"`
	ChangeLogPerToken float64 `json:"change_log_bytes_per_token"`
	// Burst is the same reading before the wait: every revocation written
	// so far is still in the logs, as right after a burst shorter than the
	// window.
	Burst burstMemory `json:"burst"`
}

// burstMemory is Redis's memory while every revocation is still in the
// change logs.
type burstMemory struct {
	Revocations       int     `json:"revocations"`
	UsedAfter         int64   `json:"used_memory_after"`
	ChangeLogEntries  int64   `json:"change_log_entries"`
	ChangeLogBytes    int64   `json:"change_log_bytes"`
	BytesPerToken     float64 `json:"bytes_per_token"`
	ChangeLogPerToken float64 `json:"change_log_bytes_per_token"`
}

// redisMemory loads n revocations into an empty Redis as a steady
// revocation rate leaves them after one token lifetime, and reads INFO
// memory's used_memory before and after. Every revoked token lives one
// lifetime (plus the leeway), so at a steady rate the change logs hold the
// share of them written within their window: the benchmark writes the
// others first, reads the memory (every entry still in the logs, as after
// a burst), waits out the window and writes the last share, whose log
// entries trim the earlier ones as they would have been trimmed over time.
// It also sums MEMORY USAGE of the change logs (streams), to show their
// share.
func (b *bench) redisMemory(ctx context.Context, rdb *redis.Client, n int) (*redisMemoryResult, error) {
	before, err := redisInfo(ctx, rdb, "memory")
	if err != nil {
		return nil, err
	}
	keysBefore, err := rdb.DBSize(ctx).Result()
	if err != nil {
		return nil, err
	}
	cfg := storeConfig(blacklist.ModeStrict)
	window := blacklist.ChangeLogWindow
	live := cfg.MaxTokenLifetime + cfg.Leeway
	inWindow := int(float64(n) * min(1, window.Seconds()/live.Seconds()))
	first := n - inWindow
	res := &redisMemoryResult{Revocations: n, WindowSeconds: window.Seconds(), InWindow: inWindow}

	b.log.Info("memory: loading revocations", "count", first, "then_after", window, "count_in_window", inWindow)
	load1, err := loadRevocations(ctx, rdb, first, b.opts.loadWorkers)
	if err != nil {
		return nil, fmt.Errorf("load %d revocations: %w", first, err)
	}
	loaded := time.Now()
	b.log.Info("memory: loaded", "count", first, "seconds", fmt.Sprintf("%.1f", load1.Seconds), "per_second", int(load1.PerSecond))
	burst, err := b.readRedisMemory(ctx, rdb, cfg.Prefix, keysBefore)
	if err != nil {
		return nil, err
	}
	res.Burst = burstMemory{Revocations: first, UsedAfter: burst.used, ChangeLogEntries: burst.logEntries, ChangeLogBytes: burst.logBytes}
	if burst.keys > 0 {
		res.Burst.BytesPerToken = float64(burst.used-infoIntOr(before, "used_memory")) / float64(burst.keys)
		res.Burst.ChangeLogPerToken = float64(burst.logBytes) / float64(burst.keys)
	}

	b.log.Info("memory: waiting out the change logs' window", "window", window)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(loaded.Add(window + time.Second))):
	}
	load2, err := loadRevocations(ctx, rdb, inWindow, b.opts.loadWorkers)
	if err != nil {
		return nil, fmt.Errorf("load %d revocations: %w", inWindow, err)
	}
	secs := load1.Seconds + load2.Seconds
	res.Load = loadStats{Count: n, Seconds: secs, PerSecond: float64(n) / secs, Concurrent: load1.Concurrent}

	after, err := redisInfo(ctx, rdb, "memory")
	if err != nil {
		return nil, err
	}
	steady, err := b.readRedisMemory(ctx, rdb, cfg.Prefix, keysBefore)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		key string
		dst *int64
		m   map[string]string
	}{
		{"used_memory", &res.UsedBefore, before},
		{"used_memory_rss", &res.RSSBefore, before},
		{"used_memory_rss", &res.RSSAfter, after},
	} {
		if *f.dst, err = infoInt(f.m, f.key); err != nil {
			return nil, err
		}
	}
	res.UsedAfter, res.ChangeLogs, res.ChangeLogEntries, res.ChangeLogBytes, res.KeysAdded = steady.used, steady.logs, steady.logEntries, steady.logBytes, steady.keys
	if res.KeysAdded <= 0 {
		return res, errors.New("redis memory: no revocation key was added")
	}
	res.BytesPerToken = float64(res.UsedAfter-res.UsedBefore) / float64(res.KeysAdded)
	res.ChangeLogPerToken = float64(res.ChangeLogBytes) / float64(res.KeysAdded)
	return res, nil
}

// redisReading is Redis's memory at one moment: used_memory, the keys
// added since the start (the change logs apart) and the change logs.
type redisReading struct {
	used       int64
	keys       int64
	logs       int
	logEntries int64
	logBytes   int64
}

func (b *bench) readRedisMemory(ctx context.Context, rdb *redis.Client, prefix string, keysBefore int64) (redisReading, error) {
	var r redisReading
	info, err := redisInfo(ctx, rdb, "memory")
	if err != nil {
		return r, err
	}
	if r.used, err = infoInt(info, "used_memory"); err != nil {
		return r, err
	}
	keys, err := rdb.DBSize(ctx).Result()
	if err != nil {
		return r, err
	}
	if r.logs, r.logEntries, r.logBytes, err = streamMemory(ctx, rdb, prefix); err != nil {
		return r, err
	}
	r.keys = keys - keysBefore - int64(r.logs)
	return r, nil
}

// infoIntOr reads an integer field of INFO, zero when it cannot.
func infoIntOr(info map[string]string, key string) int64 {
	n, err := infoInt(info, key)
	if err != nil {
		return 0
	}
	return n
}

// streamMemory finds the change logs (every stream under prefix) with SCAN
// and adds up their lengths and their MEMORY USAGE.
func streamMemory(ctx context.Context, rdb *redis.Client, prefix string) (logs int, entries, bytes int64, err error) {
	var keys []string
	iter := rdb.ScanType(ctx, 0, prefix+"*", 10000, "stream").Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return 0, 0, 0, fmt.Errorf("scan change logs: %w", err)
	}
	for _, k := range keys {
		n, err := rdb.MemoryUsage(ctx, k, 0).Result()
		if err != nil {
			return 0, 0, 0, fmt.Errorf("MEMORY USAGE %s: %w", k, err)
		}
		l, err := rdb.XLen(ctx, k).Result()
		if err != nil {
			return 0, 0, 0, fmt.Errorf("XLEN %s: %w", k, err)
		}
		bytes += n
		entries += l
	}
	return len(keys), entries, bytes, nil
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
