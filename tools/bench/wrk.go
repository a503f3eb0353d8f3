package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkOptions are the load generator's settings.
type wrkOptions struct {
	threads     int
	connections int
	duration    time.Duration
}

// wrkResult is what one wrk run reports.
type wrkResult struct {
	Requests       int64   `json:"requests"`
	Seconds        float64 `json:"seconds"`
	RequestsPerSec float64 `json:"requests_per_sec"`
	P50Ms          float64 `json:"p50_ms"`
	P75Ms          float64 `json:"p75_ms"`
	P90Ms          float64 `json:"p90_ms"`
	P99Ms          float64 `json:"p99_ms"`
	Non2xx         int64   `json:"non_2xx"`
	SocketErrors   int64   `json:"socket_errors"`
}

// runWrk drives url with the same bearer token on every request.
func runWrk(ctx context.Context, bin, url, token string, o wrkOptions) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, o.duration+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"-t", strconv.Itoa(o.threads),
		"-c", strconv.Itoa(o.connections),
		"-d", fmt.Sprintf("%ds", int(o.duration/time.Second)),
		"--latency",
		"-H", "Authorization: Bearer "+token,
		url)
	cmd.SysProcAttr = childAttr()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w\n%s", err, indent(string(out)))
	}
	res, err := parseWrk(string(out))
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk output: %w\n%s", err, indent(string(out)))
	}
	return res, nil
}

// parseWrk reads wrk's report (run with --latency): the request count,
// Requests/sec, the latency distribution, and the error lines wrk prints
// only when there were errors.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveRate, haveCount bool
	percentiles := map[string]*float64{"50%": &r.P50Ms, "75%": &r.P75Ms, "90%": &r.P90Ms, "99%": &r.P99Ms}
	found := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		fields := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "Requests/sec:"):
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, "Requests/sec:")), 64)
			if err != nil {
				return r, fmt.Errorf("bad Requests/sec line %q", line)
			}
			r.RequestsPerSec, haveRate = v, true
		case len(fields) == 2 && percentiles[fields[0]] != nil:
			d, err := parseWrkDuration(fields[1])
			if err != nil {
				return r, fmt.Errorf("latency %s: %w", fields[0], err)
			}
			*percentiles[fields[0]] = ms(d)
			found[fields[0]] = true
		case len(fields) >= 4 && fields[1] == "requests" && fields[2] == "in":
			n, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("bad request count in %q", line)
			}
			d, err := parseWrkDuration(strings.TrimSuffix(fields[3], ","))
			if err != nil {
				return r, fmt.Errorf("bad duration in %q: %w", line, err)
			}
			r.Requests, r.Seconds, haveCount = n, d.Seconds(), true
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "Non-2xx or 3xx responses:")), 10, 64)
			if err != nil {
				return r, fmt.Errorf("bad line %q", line)
			}
			r.Non2xx = n
		case strings.HasPrefix(line, "Socket errors:"):
			// Socket errors: connect 0, read 1, write 0, timeout 2
			for _, part := range strings.Split(strings.TrimPrefix(line, "Socket errors:"), ",") {
				kv := strings.Fields(part)
				if len(kv) != 2 {
					return r, fmt.Errorf("bad line %q", line)
				}
				n, err := strconv.ParseInt(kv[1], 10, 64)
				if err != nil {
					return r, fmt.Errorf("bad line %q", line)
				}
				r.SocketErrors += n
			}
		}
	}
	switch {
	case !haveRate:
		return r, errors.New("no Requests/sec line")
	case !haveCount:
		return r, errors.New("no \"N requests in T\" line")
	case len(found) != len(percentiles):
		return r, errors.New("no latency distribution (was --latency given?)")
	}
	return r, nil
}

// parseWrkDuration reads wrk's durations: a number and one of us, ms, s, m
// or h.
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("bad duration %q", s)
			}
			return time.Duration(v * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("bad duration %q", s)
}

// ms is a duration in milliseconds, the unit of every latency reported.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
