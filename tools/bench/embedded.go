package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"time"

	"github.com/tokenguard/tokenguard/config"
	"github.com/tokenguard/tokenguard/verifier"
)

// The embedded verifier's measurements (issue 12, point 3): a warm check
// inside an embedding service, a revocation at tokenguard until the
// embedding service refuses the token, and the memory a revocation costs
// the verifier. (The protected handler behind it, driven by wrk beside (a)
// and (c), is in the side-by-side run, sidebyside.go.) The verifier needs
// tokenguard's JWKS, which publishes no HMAC key, so every measurement
// here uses the run's ES256 key. It follows the feed as the client "feed"
// that every tokenguard of the run has (feedClientID).

// refusalTimeout is how long the verifier may take to refuse a token
// revoked at tokenguard before the iteration counts as failed.
const refusalTimeout = 2 * time.Second

// checkBatches is how many timed batches of warm checks are run; the
// median batch is reported.
const checkBatches = 5

// embeddedResult holds the embedded verifier's measurements.
type embeddedResult struct {
	Check   *checkResult       `json:"check,omitempty"`
	Refusal *refusalResult     `json:"refusal,omitempty"`
	Memory  *verifierMemResult `json:"memory,omitempty"`
}

// checkResult is the cost of verifier.Verify on a token it has verified
// before (the verified-token cache warm), in this process.
type checkResult struct {
	Checks int `json:"checks_per_batch"`
	// NsPerCheck is the median batch's wall-clock time per check;
	// MinNsPerCheck the fastest batch's. On a busy machine they include
	// the time the benchmark's thread waited for a core.
	NsPerCheck    float64 `json:"ns_per_check"`
	MinNsPerCheck float64 `json:"min_ns_per_check"`
	// CPUNsPerCheck is the median batch's CPU time of the checking thread
	// per check (Linux; zero elsewhere): what a check costs, whatever else
	// runs on the machine.
	CPUNsPerCheck float64 `json:"cpu_ns_per_check,omitempty"`
	// AllocsPerCheck counts every heap allocation of the process during
	// the batches (runtime.MemStats.Mallocs), divided by the checks.
	AllocsPerCheck float64 `json:"allocs_per_check"`
	// Reconnects counts the feed connections dialled during the batches:
	// a check itself makes no network call.
	Reconnects int64 `json:"feed_reconnects_during"`
}

// refusalResult is how long a revocation at tokenguard takes to make an
// embedded verifier refuse the token.
type refusalResult struct {
	Iterations int `json:"iterations"`
	Measured   int `json:"measured"`
	Failures   int `json:"failures"`
	// FirstFailure says what went wrong first, when anything did.
	FirstFailure string `json:"first_failure,omitempty"`
	// FromSend runs from sending the revocation to the verifier's first
	// refusal; After204 from tokenguard's 204.
	FromSend latency `json:"from_send"`
	After204 latency `json:"after_204"`
	// At204 counts the revocations the verifier refused already at the
	// first check after tokenguard's 204.
	At204 int `json:"refused_at_204"`
}

// verifierMemResult is what revoked tokens learnt from the feed cost an
// embedded verifier's heap.
type verifierMemResult struct {
	Loaded     int     `json:"revocations_loaded"`
	Tokens     int     `json:"tokens"`
	HeapBefore uint64  `json:"heap_alloc_before"`
	HeapAfter  uint64  `json:"heap_alloc_after"`
	Seconds    float64 `json:"seconds_to_load"`
	// BytesPerRevocation is the live heap the whole verifier adds, its
	// fixed cost included, divided by the revoked tokens it holds.
	BytesPerRevocation float64 `json:"bytes_per_revocation"`
}

// measureEmbedded runs the embedded verifier's measurements on a Redis and
// a tokenguard (ES256, mirror) of their own. A measurement that fails is
// recorded in res.Problems and the others go on.
func (b *bench) measureEmbedded(ctx context.Context, res *results) error {
	srv, err := startRedis(ctx, b.tools.redisServer, b.dir, b.logDir, "redis-embedded")
	if err != nil {
		return err
	}
	defer srv.Stop()
	tg, err := b.tokenguard.start(ctx, instanceSpec{name: "embedded-es256-mirror", alg: "ES256", mode: "mirror", redisAddr: srv.Addr})
	if err != nil {
		return err
	}
	defer tg.Stop()
	a := api{http: newHTTPClient(2), sec: b.tokenguard.sec}
	if _, err := tg.awaitReady(ctx, a.http, b.opts.readyTimeout); err != nil {
		res.problem(fmt.Errorf("embedded verifier: tokenguard did not start: %w", err))
		return nil
	}
	out := &embeddedResult{}
	res.Embedded = out

	b.log.Info("embedded verifier: warm check and revocation → refusal", "checks", b.opts.embeddedChecks, "revocations", b.opts.embeddedRevocations)
	revoked, err := b.embeddedInProcess(ctx, a, tg.base, out)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	res.problem(err)

	b.log.Info("embedded verifier: memory per revocation", "revocations", b.opts.embeddedMemory)
	out.Memory, err = b.verifierMemory(ctx, srv, tg.base, revoked)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	res.problem(err)
	return nil
}

// newVerifier builds an embedded verifier for the tokenguard at base, as an
// embedding service would (tokenguard's issuer, audience and lifetimes are
// its defaults), runs it until the returned stop is called, and waits until
// it is ready.
func (b *bench) newVerifier(ctx context.Context, base string) (*verifier.Verifier, func(), error) {
	def := config.Default()
	v, err := verifier.New(ctx, verifier.Config{
		URL: base, Issuer: def.Issuer, Audience: def.Audience,
		AccessTTL: def.Tokens.AccessTTL, Leeway: def.Tokens.Leeway,
		ClientID: feedClientID, ClientSecret: b.tokenguard.sec.feedSecret,
		VerifiedCacheSize: def.Tokens.VerifiedCacheSize,
		Logger:            b.log.With("verifier", "in-process"),
	})
	if err != nil {
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- v.Run(runCtx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			b.log.Warn("embedded verifier: Run", "err", err)
		}
	}
	err = awaitChange(ctx, v, b.opts.readyTimeout, "ready", func() bool { return v.Ready() == nil })
	if err != nil {
		stop()
		return nil, nil, err
	}
	return v, stop, nil
}

// awaitChange waits, change by change of the verifier's state, until cond
// holds, at most timeout.
func awaitChange(ctx context.Context, v *verifier.Verifier, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		changed := v.Changed()
		if cond() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("embedded verifier: not %s after %v", what, timeout)
		}
	}
}

// embeddedInProcess runs an embedded verifier in this process, as an
// embedding service does, measures its warm check, then revocations at
// tokenguard until it refuses them. It returns how many tokens it revoked.
func (b *bench) embeddedInProcess(ctx context.Context, a api, base string, out *embeddedResult) (int, error) {
	v, stop, err := b.newVerifier(ctx, base)
	if err != nil {
		return 0, err
	}
	defer stop()
	var problems []error
	out.Check, err = measureCheck(ctx, a, base, v, b.opts.embeddedChecks)
	problems = append(problems, err)
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	out.Refusal, err = measureRefusal(ctx, a, base, v, b.opts.embeddedRevocations)
	problems = append(problems, err)
	revoked := 0
	if out.Refusal != nil {
		revoked = out.Refusal.Measured
	}
	return revoked, errors.Join(problems...)
}

// measureCheck times verifier.Verify on one token it has checked before,
// in checkBatches batches of n, and counts the process's allocations
// meanwhile.
func measureCheck(ctx context.Context, a api, base string, v *verifier.Verifier, n int) (*checkResult, error) {
	token, err := a.openSession(ctx, base, "embedded-check")
	if err != nil {
		return nil, fmt.Errorf("warm check: %w", err)
	}
	if _, err := v.Verify(ctx, token); err != nil { // warms the cache
		return nil, fmt.Errorf("warm check: the verifier refuses a fresh token: %w", err)
	}
	res := &checkResult{Checks: n}
	reconnects := v.Stats().Reconnects
	var perBatch, cpuPerBatch []float64
	var mallocs uint64
	runtime.LockOSThread() // so that the thread's CPU time is the loop's
	defer runtime.UnlockOSThread()
	for range checkBatches {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		cpu0, cpuOK := threadCPU()
		start := time.Now()
		for range n {
			if _, err := v.Verify(ctx, token); err != nil {
				return nil, fmt.Errorf("warm check: Verify = %w, want nil", err)
			}
		}
		took := time.Since(start)
		cpu1, cpuOK1 := threadCPU()
		runtime.ReadMemStats(&after)
		perBatch = append(perBatch, float64(took.Nanoseconds())/float64(n))
		if cpuOK && cpuOK1 {
			cpuPerBatch = append(cpuPerBatch, float64((cpu1-cpu0).Nanoseconds())/float64(n))
		}
		mallocs += after.Mallocs - before.Mallocs
	}
	res.NsPerCheck, res.MinNsPerCheck = median(perBatch), slices.Min(perBatch)
	if len(cpuPerBatch) == checkBatches {
		res.CPUNsPerCheck = median(cpuPerBatch)
	}
	res.AllocsPerCheck = float64(mallocs) / float64(n*checkBatches)
	res.Reconnects = v.Stats().Reconnects - reconnects
	return res, nil
}

// measureRefusal revokes n fresh tokens at tokenguard (POST
// /v1/admin/revocations), each accepted by the verifier first, and times
// each until the verifier refuses it, checking again at every change of
// its state.
func measureRefusal(ctx context.Context, a api, base string, v *verifier.Verifier, n int) (*refusalResult, error) {
	res := &refusalResult{Iterations: n}
	var fromSend, after204 []time.Duration
	fail := func(err error) {
		res.Failures++
		if res.FirstFailure == "" {
			res.FirstFailure = err.Error()
		}
	}
	for i := range n {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		token, err := a.openSession(ctx, base, fmt.Sprintf("embedded-%d", i))
		if err != nil {
			fail(err)
			continue
		}
		if _, err := v.Verify(ctx, token); err != nil {
			fail(fmt.Errorf("the verifier refuses a fresh token: %w", err))
			continue
		}
		body, err := json.Marshal(map[string]string{"token": token})
		if err != nil {
			return nil, err
		}
		sent := time.Now()
		status, err := a.revoke(ctx, base, body)
		acked := time.Now()
		if err != nil || status != http.StatusNoContent {
			fail(fmt.Errorf("revocation answered %d (err %v), want 204", status, err))
			continue
		}
		refused, first, err := awaitRefusal(ctx, v, token, acked.Add(refusalTimeout))
		if err != nil {
			fail(err)
			continue
		}
		if first {
			res.At204++
		}
		fromSend = append(fromSend, refused.Sub(sent))
		after204 = append(after204, refused.Sub(acked))
	}
	res.Measured = len(fromSend)
	res.FromSend, res.After204 = summarize(fromSend), summarize(after204)
	switch {
	case res.Measured == 0:
		return res, errors.New("revocation → refusal: no revocation was measured: " + res.FirstFailure)
	case res.Failures > 0:
		return res, fmt.Errorf("revocation → refusal: %d of %d iterations failed; first: %s", res.Failures, res.Iterations, res.FirstFailure)
	}
	return res, nil
}

// awaitRefusal checks token with the verifier at once and again at every
// change of its state until it is refused as revoked, and returns when
// that was and whether the first check refused it already.
func awaitRefusal(ctx context.Context, v *verifier.Verifier, token string, deadline time.Time) (time.Time, bool, error) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for first := true; ; first = false {
		changed := v.Changed()
		_, err := v.Verify(ctx, token)
		now := time.Now()
		switch {
		case errors.Is(err, verifier.ErrRevoked):
			return now, first, nil
		case err != nil:
			return now, first, fmt.Errorf("the verifier refused a revoked token with %w, want %w", err, verifier.ErrRevoked)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return now, first, ctx.Err()
		case <-timer.C:
			return now, first, fmt.Errorf("the verifier still accepted a token %v after tokenguard acknowledged its revocation", refusalTimeout)
		}
	}
}

// verifierMemory loads n revocations into Redis, then measures the live
// heap of this process before a new embedded verifier is built and once
// it holds every revoked token from the feed's snapshot: the verifier's
// fixed cost is in the difference, so the figure per revocation is a bound
// from above. prior counts the tokens revoked before, which it holds too.
func (b *bench) verifierMemory(ctx context.Context, srv *redisServer, base string, prior int) (*verifierMemResult, error) {
	n := b.opts.embeddedMemory
	rdb := srv.Client(b.opts.loadWorkers)
	_, err := loadRevocations(ctx, rdb, n, b.opts.loadWorkers)
	if cerr := rdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("verifier memory: load %d revocations: %w", n, err)
	}
	res := &verifierMemResult{Loaded: n}
	res.HeapBefore = liveHeap()
	start := time.Now()
	v, stop, err := b.newVerifier(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("verifier memory: %w", err)
	}
	defer stop()
	want := n + prior
	err = awaitChange(ctx, v, b.opts.readyTimeout, fmt.Sprintf("holding %d revoked tokens", want), func() bool { return v.Stats().Tokens >= want })
	if err != nil {
		return nil, fmt.Errorf("verifier memory: %w (it holds %d)", err, v.Stats().Tokens)
	}
	res.Seconds = time.Since(start).Seconds()
	res.HeapAfter = liveHeap()
	res.Tokens = v.Stats().Tokens
	runtime.KeepAlive(v)
	res.BytesPerRevocation = (float64(res.HeapAfter) - float64(res.HeapBefore)) / float64(res.Tokens)
	return res, nil
}
