package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// results holds every raw number of one run; it is written as
// results.json and rendered as the tables.
type results struct {
	StartedAt time.Time `json:"started_at"`
	Seconds   float64   `json:"seconds"`
	Machine   machine   `json:"machine"`
	Settings  settings  `json:"settings"`

	// Preload is the loading of the revocations the throughput runs see.
	Preload        *loadStats          `json:"preload,omitempty"`
	Throughput     []variantResult     `json:"throughput,omitempty"`
	Propagation    *propagationResult  `json:"propagation,omitempty"`
	RevocationRate *rateResult         `json:"revocation_rate,omitempty"`
	RedisMemory    *redisMemoryResult  `json:"redis_memory,omitempty"`
	MirrorMemory   *mirrorMemoryResult `json:"mirror_memory,omitempty"`
	Ready          *readyResult        `json:"ready,omitempty"`
	// SideBySide is the run of issue 12: /v1/verify's tail, and the
	// protected handler behind (a), (b) and (c).
	SideBySide []sideResult    `json:"side_by_side,omitempty"`
	Feed       *feedResult     `json:"feed,omitempty"`
	Embedded   *embeddedResult `json:"embedded_verifier,omitempty"`

	Targets []target `json:"targets"`
	// Problems lists what could not be measured, or went wrong while
	// measuring; the run exits non-zero when there is any.
	Problems []string `json:"problems,omitempty"`
}

// settings records how the run was configured.
type settings struct {
	Rounds            int     `json:"rounds"`
	DurationSeconds   float64 `json:"duration_seconds"`
	Threads           int     `json:"threads"`
	Connections       int     `json:"connections"`
	Revocations       int     `json:"revocations"`
	MemoryRevocations int     `json:"memory_revocations"`
	Propagation       int     `json:"propagation_iterations"`
	RateClients       int     `json:"rate_clients"`
	RateCount         int     `json:"rate_count"`
	RateSeconds       float64 `json:"rate_seconds"`
	CacheSize         int     `json:"cache_size"`
	AccessTTL         string  `json:"access_ttl"`
	Leeway            string  `json:"leeway"`
	TailConnections   []int   `json:"tail_connections"`
	TailRevocations   int     `json:"tail_revocations"`
	FeedSubscribers   int     `json:"feed_subscribers"`
	FeedRate          int     `json:"feed_rate_per_second"`
	FeedSeconds       float64 `json:"feed_seconds"`
}

// problem records something that went wrong without stopping the run.
func (r *results) problem(err error) {
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
}

// side returns the side-by-side variant of that name measured at that many
// connections, if any.
func (r *results) side(name string, connections int) (sideResult, bool) {
	for _, s := range r.SideBySide {
		if s.Name == name && s.Connections == connections && s.GoodRounds > 0 {
			return s, true
		}
	}
	return sideResult{}, false
}

// variant returns the measured variant of that name, if any.
func (r *results) variant(name string) (variantResult, bool) {
	for _, v := range r.Throughput {
		if v.Name == name && v.GoodRounds > 0 {
			return v, true
		}
	}
	return variantResult{}, false
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
