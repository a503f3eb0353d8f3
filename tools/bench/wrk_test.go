package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// wrkOK is wrk 4.1.0's report of a run with --latency and no errors.
const wrkOK = `Running 5s test @ http://127.0.0.1:40123/v1/verify
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.41ms    3.02ms  48.50ms   91.20%
    Req/Sec    14.32k     1.05k   16.80k    72.00%
  Latency Distribution
     50%    1.95ms
     75%    2.60ms
     90%    3.80ms
     99%   12.54ms
  142512 requests in 5.00s, 21.34MB read
Requests/sec:  28477.61
Transfer/sec:      4.26MB
`

// wrkErrors is a report with every error line wrk can print.
const wrkErrors = `Running 2s test @ http://127.0.0.1:40123/v1/verify
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   850.12us    1.02ms   1.50s    95.00%
    Req/Sec     5.10k   400.00     6.00k    70.00%
  Latency Distribution
     50%  612.00us
     75%    1.01ms
     90%    1.90ms
     99%    1.20s
  20400 requests in 2.00s, 2.10MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 1515
Requests/sec:  10200.00
Transfer/sec:      1.05MB
`

func TestParseWrkReadsTheReport(t *testing.T) {
	cases := []struct {
		name string
		out  string
		want wrkResult
	}{
		{"a clean run gives rate, count and percentiles in ms", wrkOK, wrkResult{
			Requests: 142512, Seconds: 5, RequestsPerSec: 28477.61,
			P50Ms: 1.95, P75Ms: 2.6, P90Ms: 3.8, P99Ms: 12.54,
		}},
		{"error lines are counted and µs and s latencies converted", wrkErrors, wrkResult{
			Requests: 20400, Seconds: 2, RequestsPerSec: 10200,
			P50Ms: 0.612, P75Ms: 1.01, P90Ms: 1.9, P99Ms: 1200,
			Non2xx: 1515, SocketErrors: 10,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseWrk(c.out)
			if err != nil {
				t.Fatalf("parseWrk: %v", err)
			}
			if diff := cmp.Diff(c.want, got, cmp.Comparer(approx)); diff != "" {
				t.Errorf("parseWrk (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWrkRefusesAnIncompleteReport(t *testing.T) {
	cases := []struct {
		name, out, want string
	}{
		{"a run without --latency", strings.Replace(wrkOK, "  Latency Distribution\n     50%    1.95ms\n     75%    2.60ms\n     90%    3.80ms\n     99%   12.54ms\n", "", 1), "latency distribution"},
		{"no Requests/sec", strings.Replace(wrkOK, "Requests/sec:  28477.61\n", "", 1), "Requests/sec"},
		{"no request count", strings.Replace(wrkOK, "  142512 requests in 5.00s, 21.34MB read\n", "", 1), "requests in"},
		{"an error message instead of a report", "unable to connect to 127.0.0.1:1 Connection refused\n", "Requests/sec"},
		{"a latency in an unknown unit", strings.Replace(wrkOK, "12.54ms", "12.54ps", 1), "99%"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseWrk(c.out)
			if err == nil {
				t.Fatalf("parseWrk = %+v, nil; want an error mentioning %q", got, c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("parseWrk error = %q, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestParseWrkDurationKnowsEveryUnit(t *testing.T) {
	cases := map[string]time.Duration{
		"612.00us": 612 * time.Microsecond,
		"1.95ms":   1950 * time.Microsecond,
		"1.50s":    1500 * time.Millisecond,
		"2.00m":    2 * time.Minute,
		"1.00h":    time.Hour,
	}
	for in, want := range cases {
		got, err := parseWrkDuration(in)
		if err != nil || got != want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ms", "1.2", "abcms"} {
		if got, err := parseWrkDuration(in); err == nil {
			t.Errorf("parseWrkDuration(%q) = %v, nil; want an error", in, got)
		}
	}
}

// approx compares floats that went through unit conversions.
func approx(a, b float64) bool {
	d := a - b
	return d < 1e-9 && d > -1e-9
}
