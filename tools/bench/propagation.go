package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// propagationTimeout is how long B may take to refuse a token revoked on A
// before the iteration counts as failed.
const propagationTimeout = 2 * time.Second

// propagationResult is how long a revocation on one instance takes to
// reach another.
type propagationResult struct {
	Iterations int `json:"iterations"`
	Measured   int `json:"measured"`
	Failures   int `json:"failures"`
	// FirstFailure says what went wrong first, when anything did.
	FirstFailure string `json:"first_failure,omitempty"`
	// After204 runs from A's 204 to B's first 401 (received); FromSend
	// from sending the revocation to A.
	After204 latency `json:"after_204"`
	FromSend latency `json:"from_send"`
	// PollsPerRevocation and MeanPollMs give the polling's resolution.
	PollsPerRevocation float64 `json:"polls_per_revocation"`
	MeanPollMs         float64 `json:"mean_poll_ms"`
}

// propagation starts two mirror instances, A and B, on one Redis. Each
// iteration opens a session on A, checks the token verifies on B, revokes
// it through A's admin endpoint, and polls B's /v1/verify over a kept-alive
// connection until it answers 401.
func (b *bench) propagation(ctx context.Context, redisAddr string) (*propagationResult, error) {
	var undo cleanups
	defer undo.run()
	nodes := make([]*instance, 2)
	for i, name := range []string{"propagation-a", "propagation-b"} {
		in, err := b.tokenguard.start(ctx, instanceSpec{name: name, alg: "HS256", mode: "mirror", redisAddr: redisAddr})
		if err != nil {
			return nil, err
		}
		undo.add(in.Stop)
		nodes[i] = in
	}
	onA := api{http: newHTTPClient(2), sec: b.tokenguard.sec}
	onB := api{http: newHTTPClient(1), sec: b.tokenguard.sec}
	for _, in := range nodes {
		if _, err := in.awaitReady(ctx, onA.http, b.opts.readyTimeout); err != nil {
			return nil, err
		}
	}
	baseA, baseB := nodes[0].base, nodes[1].base

	res := &propagationResult{Iterations: b.opts.propagation}
	var after, fromSend []time.Duration
	var polls int
	var pollTime time.Duration
	fail := func(err error) {
		res.Failures++
		if res.FirstFailure == "" {
			res.FirstFailure = err.Error()
		}
	}
	for i := range b.opts.propagation {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		token, err := onA.openSession(ctx, baseA, fmt.Sprintf("propagation-%d", i))
		if err != nil {
			fail(err)
			continue
		}
		if status, err := onB.verify(ctx, baseB, token); err != nil || status != http.StatusOK {
			fail(fmt.Errorf("instance B: a fresh token verifies with %d (err %v), want 200", status, err))
			continue
		}
		body, err := json.Marshal(map[string]string{"token": token})
		if err != nil {
			return nil, err
		}
		sent := time.Now()
		status, err := onA.revoke(ctx, baseA, body)
		acked := time.Now()
		if err != nil || status != http.StatusNoContent {
			fail(fmt.Errorf("instance A: revocation answered %d (err %v), want 204", status, err))
			continue
		}
		for {
			t0 := time.Now()
			status, err := onB.verify(ctx, baseB, token)
			now := time.Now()
			polls++
			pollTime += now.Sub(t0)
			if err == nil && status == http.StatusUnauthorized {
				after = append(after, now.Sub(acked))
				fromSend = append(fromSend, now.Sub(sent))
				break
			}
			if err != nil || status != http.StatusOK {
				fail(fmt.Errorf("instance B: verify answered %d (err %v) while the revocation propagated, want 200 then 401", status, err))
				break
			}
			if now.Sub(acked) > propagationTimeout {
				fail(fmt.Errorf("instance B still accepted a token %v after A acknowledged its revocation", propagationTimeout))
				break
			}
		}
	}
	res.Measured = len(after)
	res.After204, res.FromSend = summarize(after), summarize(fromSend)
	if polls > 0 {
		res.PollsPerRevocation = float64(polls) / float64(max(res.Measured, 1))
		res.MeanPollMs = ms(pollTime / time.Duration(polls))
	}
	if res.Measured == 0 {
		return res, errors.New("propagation: no revocation was measured: " + res.FirstFailure)
	}
	if res.Failures > 0 {
		return res, fmt.Errorf("propagation: %d of %d iterations failed; first: %s", res.Failures, res.Iterations, res.FirstFailure)
	}
	return res, nil
}
