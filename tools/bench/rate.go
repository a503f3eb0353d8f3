package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenguard/tokenguard/blacklist"
)

// rateResult is the throughput of POST /v1/admin/revocations.
type rateResult struct {
	Clients   int     `json:"clients"`
	Attempted int64   `json:"attempted"`
	OK        int64   `json:"ok"`
	Errors    int64   `json:"errors"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	Latency   latency `json:"latency"`
	// Statuses counts the answers by status ("error" for no answer).
	Statuses   map[string]int64 `json:"statuses"`
	FirstError string           `json:"first_error,omitempty"`
}

// revocationRate starts a mirror instance and has clients goroutines post
// revocations of unique jtis ({"jti","exp"}) until count have been sent or
// the time is up. Any answer but 204 is an error and is reported.
func (b *bench) revocationRate(ctx context.Context, redisAddr string) (*rateResult, error) {
	in, err := b.tokenguard.start(ctx, instanceSpec{name: "revocation-rate", alg: "HS256", mode: "mirror", redisAddr: redisAddr})
	if err != nil {
		return nil, err
	}
	defer in.Stop()
	a := api{http: newHTTPClient(b.opts.rateClients), sec: b.tokenguard.sec}
	if _, err := in.awaitReady(ctx, a.http, b.opts.readyTimeout); err != nil {
		return nil, err
	}

	runCtx, cancel := context.WithTimeout(ctx, b.opts.rateDuration)
	defer cancel()
	exp := time.Now().Add(storeConfig(blacklist.ModeStrict).MaxTokenLifetime).Unix()
	var next atomic.Int64
	var mu sync.Mutex // guards the fields below
	res := &rateResult{Clients: b.opts.rateClients, Statuses: map[string]int64{}}
	var took []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for range b.opts.rateClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			statuses := map[string]int64{}
			var firstErr string
			for next.Add(1) <= int64(b.opts.rateCount) && runCtx.Err() == nil {
				jti, err := randomText(16)
				if err != nil {
					firstErr = err.Error()
					break
				}
				body, err := json.Marshal(map[string]any{"jti": jti, "exp": exp})
				if err != nil {
					firstErr = err.Error()
					break
				}
				t0 := time.Now()
				status, err := a.revoke(runCtx, in.base, body)
				if err != nil && runCtx.Err() != nil {
					break // cut off by the time limit, not an error of the service
				}
				mine = append(mine, time.Since(t0))
				switch {
				case err != nil:
					statuses["error"]++
					if firstErr == "" {
						firstErr = err.Error()
					}
				case status != http.StatusNoContent:
					statuses[strconv.Itoa(status)]++
					if firstErr == "" {
						firstErr = fmt.Sprintf("status %d, want 204", status)
					}
				default:
					statuses[strconv.Itoa(status)]++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			took = append(took, mine...)
			for k, n := range statuses {
				res.Statuses[k] += n
			}
			if res.FirstError == "" {
				res.FirstError = firstErr
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.Attempted = int64(len(took))
	res.OK = res.Statuses[strconv.Itoa(http.StatusNoContent)]
	res.Errors = res.Attempted - res.OK
	res.Seconds = elapsed.Seconds()
	res.PerSecond = float64(res.OK) / elapsed.Seconds()
	res.Latency = summarize(took)
	if res.Errors > 0 || res.FirstError != "" {
		return res, fmt.Errorf("revocation rate: %d of %d revocations failed; first: %s", res.Errors, res.Attempted, res.FirstError)
	}
	return res, nil
}
