package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMedianTakesTheMiddle(t *testing.T) {
	cases := []struct {
		name string
		in   []float64
		want float64
	}{
		{"an odd count gives the middle value", []float64{30, 10, 20}, 20},
		{"an even count gives the mean of the middle two", []float64{4, 1, 3, 2}, 2.5},
		{"no values give zero", nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := median(c.in); got != c.want {
				t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
			}
		})
	}
}

func TestSummarizeUsesNearestRankPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // out of order on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := summarize(ds)
	want := latency{P50Ms: 50, P99Ms: 99, MaxMs: 100, MeanMs: 50.5}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summarize(1..100 ms) (-want +got):\n%s", diff)
	}
	if got := summarize(nil); got != (latency{}) {
		t.Errorf("summarize(nil) = %+v, want zero", got)
	}
}

func TestMediansAreOverTheRoundsWithoutAnError(t *testing.T) {
	rounds := []roundResult{
		{Round: 1, wrkResult: wrkResult{RequestsPerSec: 100, P50Ms: 1, P99Ms: 10}},
		{Round: 2, Error: "wrk failed", wrkResult: wrkResult{RequestsPerSec: 1e9, P50Ms: 1e9, P99Ms: 1e9}},
		{Round: 3, wrkResult: wrkResult{RequestsPerSec: 300, P50Ms: 3, P99Ms: 30}},
	}
	good, rps, p50, p99 := medians(rounds)
	if good != 2 || rps != 200 || p50 != 2 || p99 != 20 {
		t.Errorf("medians = %d rounds, %v rps, p50 %v, p99 %v; want 2 rounds, 200 rps, p50 2, p99 20", good, rps, p50, p99)
	}
	if good, rps, _, _ := medians(rounds[1:2]); good != 0 || rps != 0 {
		t.Errorf("medians of failed rounds only = %d rounds, %v rps; want 0, 0", good, rps)
	}
}

func TestFirstErrorIsWhyNothingWasMeasuredElseTheFirstFailedRound(t *testing.T) {
	rounds := []roundResult{{Round: 1}, {Round: 2, Error: "wrk failed"}, {Round: 3, Error: "later"}}
	cases := []struct {
		name   string
		err    string
		rounds []roundResult
		want   string
	}{
		{"a measurement that was not made says why", "did not start", rounds, "did not start"},
		{"else the first failed round is named", "", rounds, "round 2: wrk failed"},
		{"nothing went wrong", "", rounds[:1], ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := variantResult{Error: c.err, Rounds: c.rounds}
			s := sideResult{Error: c.err, Rounds: c.rounds}
			if got := v.firstError(); got != c.want {
				t.Errorf("variant firstError = %q, want %q", got, c.want)
			}
			if got := s.firstError(); got != c.want {
				t.Errorf("side-by-side firstError = %q, want %q", got, c.want)
			}
		})
	}
}
