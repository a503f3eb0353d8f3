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
