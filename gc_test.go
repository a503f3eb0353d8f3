package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/internal/syncbuf"
)

func TestGCPercentLeavesAtLeastTheHeadroomAndNeverLessThanGOGC100(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name     string
		live     uint64
		headroom uint64
		want     int
	}{
		{"before the first collection the default stands", 0, 64 * mib, 100},
		{"a 2 MiB live heap may grow by 64 MiB", 2 * mib, 64 * mib, 3200},
		{"a 3 MiB live heap rounds up to the next step of 50", 3 * mib, 64 * mib, 2150},
		{"a heap as large as the headroom gets the default", 64 * mib, 64 * mib, 100},
		{"a heap larger than the headroom gets the default", 500 * mib, 64 * mib, 100},
		{"a heap just under the headroom never goes below the default", 63 * mib, 64 * mib, 150},
		{"a nearly empty heap is capped", 1, 64 * mib, 100_000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := gcPercent(c.live, c.headroom)
			if got != c.want {
				t.Errorf("gcPercent(%d, %d) = %d, want %d", c.live, c.headroom, got, c.want)
			}
			if c.live > 0 && c.live < c.headroom && got < 100_000 && c.live*uint64(got)/100 < c.headroom {
				t.Errorf("gcPercent(%d, %d) = %d leaves %d bytes of growth, want at least %d", c.live, c.headroom, got, c.live*uint64(got)/100, c.headroom)
			}
		})
	}
}

func TestKeepGCHeadroomLeavesAnOperatorsSettingAlone(t *testing.T) {
	for _, name := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(name+" set", func(t *testing.T) {
			var logs syncbuf.Buffer
			env := map[string]string{name: "200"}
			stop := keepGCHeadroom(func(k string) string { return env[k] }, slog.New(slog.NewTextHandler(&logs, nil)))
			stop()
			if got := logs.String(); !strings.Contains(got, "left as set") {
				t.Errorf("logs = %q, want the setting left as set", got)
			}
		})
	}
	t.Run("nothing set", func(t *testing.T) {
		var logs syncbuf.Buffer
		stop := keepGCHeadroom(func(string) string { return "" }, slog.New(slog.NewTextHandler(&logs, nil)))
		stop() // returns only once the tuner has stopped and restored GOGC
		if got := logs.String(); !strings.Contains(got, "min_headroom_mib=64") {
			t.Errorf("logs = %q, want the headroom kept", got)
		}
	})
}
