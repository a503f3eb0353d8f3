package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// variant is one configuration whose /v1/verify throughput is measured.
type variant struct {
	alg   string // HS256 or ES256
	mode  string // referenceMode (signatures only, no revocation check), strict, mirror
	cache bool   // the verified-token cache
}

// variants are measured in this order, round after round.
func variants() []variant {
	return []variant{
		{alg: "HS256", mode: referenceMode},
		{alg: "HS256", mode: "strict"},
		{alg: "HS256", mode: "mirror"},
		{alg: "ES256", mode: referenceMode},
		{alg: "ES256", mode: "strict"},
		{alg: "ES256", mode: "mirror"},
		{alg: "ES256", mode: "mirror", cache: true},
	}
}

func (v variant) name() string {
	n := v.alg + " " + v.mode
	if v.cache {
		n += "+cache"
	}
	return n
}

// slug names the variant's files.
func (v variant) slug() string {
	return strings.ToLower(strings.NewReplacer(" ", "-", "+", "-").Replace(v.name()))
}

// variantResult is the throughput of one variant over every round.
type variantResult struct {
	Name      string        `json:"name"`
	Alg       string        `json:"alg"`
	Mode      string        `json:"mode"`
	CacheSize int           `json:"cache_size"`
	Error     string        `json:"error,omitempty"` // why it was not measured
	Rounds    []roundResult `json:"rounds"`
	// GoodRounds counts the rounds without error; the medians are over
	// them, and zero when there is none.
	GoodRounds     int     `json:"good_rounds"`
	RequestsPerSec float64 `json:"requests_per_sec_median"`
	P50Ms          float64 `json:"p50_ms_median"`
	P99Ms          float64 `json:"p99_ms_median"`
}

// roundResult is one wrk run of one variant.
type roundResult struct {
	Round int    `json:"round"`
	Error string `json:"error,omitempty"`
	wrkResult
}

// throughput starts one tokenguard per variant on the Redis at redisAddr,
// then drives each in turn with wrk, rounds times, so that every variant
// sees the same conditions (interleaved rather than one after the other).
// Only one instance is under load at a time. A variant that cannot start
// is reported and the others go on.
func (b *bench) throughput(ctx context.Context, redisAddr string) ([]variantResult, error) {
	var undo cleanups
	defer undo.run()
	vs := variants()
	results := make([]variantResult, len(vs))
	instances := make([]*instance, len(vs))
	var problems []error
	for i, v := range vs {
		spec := instanceSpec{name: v.slug(), alg: v.alg, mode: v.mode, redisAddr: redisAddr}
		if v.cache {
			spec.cacheSize = b.opts.cacheSize
		}
		results[i] = variantResult{Name: v.name(), Alg: v.alg, Mode: v.mode, CacheSize: spec.cacheSize}
		in, err := b.tokenguard.start(ctx, spec)
		if err != nil {
			return nil, err
		}
		undo.add(in.Stop)
		instances[i] = in
	}
	probe := newHTTPClient(2)
	var running []int
	for i, in := range instances {
		if _, err := in.awaitReady(ctx, probe, b.opts.readyTimeout); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			results[i].Error = "did not start: " + err.Error()
			problems = append(problems, fmt.Errorf("%s: %w", results[i].Name, err))
			b.log.Warn("variant not measured: tokenguard did not start", "variant", results[i].Name, "log", in.proc.logPath)
			in.Stop()
			continue
		}
		running = append(running, i)
	}
	b.log.Info("throughput: instances ready", "running", len(running), "of", len(vs))
	issuers := make([]string, len(vs))
	for _, i := range running {
		issuers[i] = sessionBase(instances, running, i)
	}

	a := api{http: probe, sec: b.tokenguard.sec}
	for r := range b.opts.rounds {
		// Each round starts one variant further on, so that no variant is
		// always measured first or right after the same neighbour.
		for k := range running {
			i := running[(k+r)%len(running)]
			rr := b.runVariant(ctx, a, instances[i], issuers[i], r+1)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if rr.Error != "" {
				problems = append(problems, fmt.Errorf("%s round %d: %s", results[i].Name, r+1, rr.Error))
			}
			results[i].Rounds = append(results[i].Rounds, rr)
			b.log.Info("wrk", "variant", results[i].Name, "round", r+1, "req_per_sec", int(rr.RequestsPerSec), "p50_ms", rr.P50Ms, "p99_ms", rr.P99Ms, "error", rr.Error)
		}
	}
	for i := range results {
		results[i].aggregate()
	}
	return results, errors.Join(problems...)
}

// sessionBase is where the sessions whose tokens drive instances[i] are
// opened: the instance itself or, for the reference server, which issues
// nothing, the first running tokenguard with the same key. Empty means
// there is none.
func sessionBase(instances []*instance, running []int, i int) string {
	if instances[i].spec.mode != referenceMode {
		return instances[i].base
	}
	for _, j := range running {
		if in := instances[j]; in.spec.mode != referenceMode && in.spec.alg == instances[i].spec.alg {
			return in.base
		}
	}
	return ""
}

// runVariant opens a fresh session on issuer (so that no token nears its
// expiry however long the run), checks that its token verifies on the
// instance, and drives the instance's /v1/verify with it.
func (b *bench) runVariant(ctx context.Context, a api, in *instance, issuer string, round int) roundResult {
	rr := roundResult{Round: round}
	if issuer == "" {
		rr.Error = fmt.Sprintf("no running tokenguard with the %s key to issue its token", in.spec.alg)
		return rr
	}
	token, err := a.openSession(ctx, issuer, "bench-user")
	if err != nil {
		rr.Error = err.Error()
		return rr
	}
	if status, err := a.verify(ctx, in.base, token); err != nil || status != http.StatusOK {
		rr.Error = fmt.Sprintf("the token does not verify before the run: status %d, err %v", status, err)
		return rr
	}
	res, err := runWrk(ctx, b.tools.wrk, in.base+"/v1/verify", token, b.opts.wrk)
	if err != nil {
		rr.Error = err.Error()
		return rr
	}
	rr.wrkResult = res
	if res.Non2xx > 0 || res.SocketErrors > 0 {
		rr.Error = fmt.Sprintf("%d non-2xx responses and %d socket errors out of %d requests", res.Non2xx, res.SocketErrors, res.Requests)
	}
	return rr
}

// aggregate takes the median of the good rounds.
func (v *variantResult) aggregate() {
	v.GoodRounds, v.RequestsPerSec, v.P50Ms, v.P99Ms = medians(v.Rounds)
}

// medians counts the rounds without error and takes the median of their
// requests per second, p50 and p99; the medians are zero when none is good.
func medians(rounds []roundResult) (good int, rps, p50, p99 float64) {
	var r, p5, p9 []float64
	for _, rr := range rounds {
		if rr.Error != "" {
			continue
		}
		r = append(r, rr.RequestsPerSec)
		p5 = append(p5, rr.P50Ms)
		p9 = append(p9, rr.P99Ms)
	}
	return len(r), median(r), median(p5), median(p9)
}
