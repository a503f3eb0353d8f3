package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// target is one goal of the benchmark (issues 5 and 12), judged on numbers
// from the same run.
type target struct {
	Name string `json:"name"`
	// Want is the goal as written, e.g. "≥ 0.90×".
	Want string `json:"want"`
	// Measured is nil when the run could not measure it.
	Measured *float64 `json:"measured,omitempty"`
	Shown    string   `json:"shown"`
	// Status is met, missed or not measured.
	Status string `json:"status"`
	// Note gives the numbers behind a ratio, by how much a goal was
	// missed, or why it was not measured.
	Note string `json:"note,omitempty"`
}

// goal is a bound on a value: at least or at most limit, in unit.
type goal struct {
	atLeast bool
	limit   float64
	unit    string
}

// The sizes the targets are stated for; a smaller run says so next to them.
const (
	targetRevocations = 1_000_000
	targetPropagation = 1000
)

func (g goal) String() string {
	op := "≤"
	if g.atLeast {
		op = "≥"
	}
	return op + " " + formatValue(g.limit, g.unit)
}

// judge compares a measured value with its goal.
func judge(name string, g goal, value float64, note string) target {
	t := target{Name: name, Want: g.String(), Measured: &value, Shown: formatValue(value, g.unit), Status: "met", Note: note}
	met := value >= g.limit
	if !g.atLeast {
		met = value <= g.limit
	}
	if !met {
		t.Status = "missed"
		by := (g.limit - value) / g.limit
		if !g.atLeast {
			by = (value - g.limit) / g.limit
		}
		t.Note = joinNotes("missed by "+percent(by), note)
	}
	return t
}

func notMeasured(name string, g goal, why string) target {
	return target{Name: name, Want: g.String(), Shown: "—", Status: "not measured", Note: why}
}

// evaluate judges every target that the run measured.
func evaluate(r *results) []target {
	var ts []target
	ratio := func(name, num, den string, g goal, p99 bool) {
		a, okA := r.variant(num)
		b, okB := r.variant(den)
		switch {
		case !okA:
			ts = append(ts, notMeasured(name, g, num+" was not measured"))
		case !okB:
			ts = append(ts, notMeasured(name, g, den+" was not measured"))
		case p99:
			ts = append(ts, judge(name, g, a.P99Ms/b.P99Ms, fmt.Sprintf("%.2f vs %.2f ms", a.P99Ms, b.P99Ms)))
		default:
			ts = append(ts, judge(name, g, a.RequestsPerSec/b.RequestsPerSec, fmt.Sprintf("%s vs %s req/s", thousands(a.RequestsPerSec), thousands(b.RequestsPerSec))))
		}
	}
	for _, alg := range []string{"HS256", "ES256"} {
		ratio(alg+": mirror ÷ reference, req/s", alg+" mirror", alg+" "+referenceMode, goal{true, 0.9, "×"}, false)
		ratio(alg+": mirror ÷ strict, req/s", alg+" mirror", alg+" strict", goal{true, 2, "×"}, false)
		ratio(alg+": mirror p99 ÷ reference p99", alg+" mirror", alg+" "+referenceMode, goal{false, 1.5, "×"}, true)
	}
	ratio("ES256: with cache ÷ without, req/s", "ES256 mirror+cache", "ES256 mirror", goal{true, 3, "×"}, false)
	ts = append(ts, sideTargets(r)...)

	g := goal{false, 10, "ms"}
	switch p := r.Propagation; {
	case p == nil || p.Measured == 0:
		ts = append(ts, notMeasured("propagation p99 (204 on A → 401 on B)", g, "not run or failed"))
	default:
		ts = append(ts, judge("propagation p99 (204 on A → 401 on B)", g, p.After204.P99Ms,
			joinNotes(fmt.Sprintf("%d revocations, max %.2f ms", p.Measured, p.After204.MaxMs), undersized(p.Iterations, targetPropagation))))
	}
	g = goal{false, 150, "B"}
	if m := r.RedisMemory; m != nil && m.KeysAdded > 0 {
		ts = append(ts, judge("Redis memory per revoked token", g, m.BytesPerToken,
			joinNotes(fmt.Sprintf("of which change log %.0f B (its last %v); %.0f B right after a burst, every entry still in the log", m.ChangeLogPerToken, time.Duration(m.WindowSeconds*float64(time.Second)), m.Burst.BytesPerToken),
				undersized(m.Revocations, targetRevocations))))
	} else {
		ts = append(ts, notMeasured("Redis memory per revoked token", g, "not run or failed"))
	}
	if m := r.MirrorMemory; m != nil && m.Entries > 0 {
		ts = append(ts, judge("mirror memory per entry", g, m.BytesPerEntry, undersized(m.Entries, targetRevocations)))
	} else {
		ts = append(ts, notMeasured("mirror memory per entry", g, "not run or failed"))
	}
	g = goal{false, 5, "s"}
	if m := r.Ready; m != nil && m.Seconds > 0 {
		ts = append(ts, judge(fmt.Sprintf("ready with %s revocations", thousands(float64(m.Revocations))), g, m.Seconds,
			joinNotes(fmt.Sprintf("RSS %s", mib(m.RSSBytes)), undersized(int(m.Revocations), targetRevocations))))
	} else {
		ts = append(ts, notMeasured("ready with 1,000,000 revocations", g, "not run or failed"))
	}
	g = goal{false, 100, "ms"}
	const feedTarget = "feed delivery p99, 204 → subscriber (1,000 subscribers, 500 revocations/s)"
	if m := r.Feed; m != nil && m.Deliveries > 0 {
		ts = append(ts, judge(feedTarget, g, m.Delivery.P99Ms, joinNotes(
			fmt.Sprintf("%d subscribers, %.0f revocations/s achieved, %s events, p99 %.2f ms from posting; %s RSS per idle subscriber, %s under load", m.Connected, m.AchievedRate, thousands(float64(m.Deliveries)), m.FromSend.P99Ms, kib(m.BytesPerSubscriber), kib(m.LoadedBytesPerSubscriber)),
			undersized(m.Connected, targetFeedSubscribers), undersizedRate(m.Rate, targetFeedRate))))
	} else {
		ts = append(ts, notMeasured(feedTarget, g, "not run or failed"))
	}
	g = goal{true, 5000, "/s"}
	if m := r.RevocationRate; m != nil && m.Attempted > 0 {
		ts = append(ts, judge("revocations/s through the API", g, m.PerSecond, fmt.Sprintf("%d clients, %d errors", m.Clients, m.Errors)))
	} else {
		ts = append(ts, notMeasured("revocations/s through the API", g, "not run or failed"))
	}
	return append(ts, embeddedTargets(r)...)
}

// The connection count issue 12's tail and side-by-side targets are stated
// for (wrk -t1 -c32).
const targetTailConnections = 32

// sideTargets judges issue 12's targets on the side-by-side run: the p99
// of /v1/verify, and (b) within 10% of (a).
func sideTargets(r *results) []target {
	var ts []target
	name := fmt.Sprintf("/v1/verify p99 at wrk -t1 -c%d (issue 12)", targetTailConnections)
	g := goal{false, 3, "ms"}
	if v, ok := r.side(sideVerify, targetTailConnections); ok {
		ts = append(ts, judge(name, g, v.P99Ms, fmt.Sprintf("%s req/s; %s revocations", thousands(v.RequestsPerSec), thousands(float64(r.Settings.TailRevocations)))))
	} else {
		ts = append(ts, notMeasured(name, g, "not run at that many connections, or failed"))
	}
	name = fmt.Sprintf("(b) embedded ÷ (a) signatures only, req/s at -c%d (issue 12)", targetTailConnections)
	g = goal{true, 0.9, "×"}
	a, okA := r.side(sideSignatures, targetTailConnections)
	b, okB := r.side(sideEmbedded, targetTailConnections)
	switch {
	case !okA:
		ts = append(ts, notMeasured(name, g, "(a) was not measured"))
	case !okB:
		ts = append(ts, notMeasured(name, g, "(b) was not measured"))
	default:
		ts = append(ts, judge(name, g, b.RequestsPerSec/a.RequestsPerSec, fmt.Sprintf("%s vs %s req/s; p99 %.2f vs %.2f ms", thousands(b.RequestsPerSec), thousands(a.RequestsPerSec), b.P99Ms, a.P99Ms)))
	}
	return ts
}

// percent shows a fraction as a percentage, with a decimal when it is small.
func percent(f float64) string {
	if f < 0.095 { // below 10% once rounded
		return fmt.Sprintf("%.1f%%", 100*f)
	}
	return fmt.Sprintf("%.0f%%", 100*f)
}

// undersized notes a run smaller than the target is stated for.
func undersized(n, want int) string {
	if n >= want {
		return ""
	}
	return fmt.Sprintf("only %s measured, the target is for %s", thousands(float64(n)), thousands(float64(want)))
}

// undersizedRate notes a feed phase written more slowly than the target
// is stated for.
func undersizedRate(rate, want int) string {
	if rate >= want {
		return ""
	}
	return fmt.Sprintf("only %d revocations/s written, the target is for %d", rate, want)
}

func kib(bytes float64) string {
	return fmt.Sprintf("%.1f KiB", bytes/1024)
}

func joinNotes(notes ...string) string {
	var out []string
	for _, n := range notes {
		if n != "" {
			out = append(out, n)
		}
	}
	return strings.Join(out, "; ")
}

func formatValue(v float64, unit string) string {
	switch unit {
	case "×":
		return fmt.Sprintf("%.2f×", v)
	case "ms":
		return fmt.Sprintf("%.2f ms", v)
	case "B":
		return fmt.Sprintf("%.0f B", v)
	case "s":
		return fmt.Sprintf("%.2f s", v)
	case "/s":
		return thousands(v) + "/s"
	}
	return strconv.FormatFloat(v, 'g', 4, 64) + " " + unit
}

// thousands rounds v and writes it with thousands separators.
func thousands(v float64) string {
	n := int64(v + 0.5)
	if v < 0 {
		n = int64(v - 0.5)
	}
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func mib(bytes int64) string {
	return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20))
}
