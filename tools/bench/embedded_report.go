package main

import (
	"fmt"
	"math"
)

// The sizes the embedded verifier's targets are stated for.
const targetRefusals = 1000

// embeddedTargets judges the embedded verifier's targets (issue 12,
// point 3) that the run measured.
func embeddedTargets(r *results) []target {
	e := r.Embedded
	if e == nil {
		e = &embeddedResult{}
	}
	var ts []target
	name := "embedded verifier: warm check"
	g := goal{false, 1000, "ns"}
	if c := e.Check; c != nil {
		wall := fmt.Sprintf("wall clock %.0f ns (fastest batch %.0f ns), median of %d batches of %s checks", c.NsPerCheck, c.MinNsPerCheck, checkBatches, thousands(float64(c.Checks)))
		if c.CPUNsPerCheck > 0 {
			ts = append(ts, judge(name, g, c.CPUNsPerCheck, "the checking thread's CPU time; "+wall))
		} else {
			ts = append(ts, judge(name, g, c.NsPerCheck, wall))
		}
		ts = append(ts, judgeAllocs(c))
	} else {
		ts = append(ts, notMeasured(name, g, "not run or failed"), notMeasured("embedded verifier: allocations per warm check", goal{false, 0, "allocs"}, "not run or failed"))
	}
	name = "revocation at tokenguard → refused by the embedded verifier, p99"
	g = goal{false, 10, "ms"}
	if f := e.Refusal; f != nil && f.Measured > 0 {
		ts = append(ts, judge(name, g, f.FromSend.P99Ms, joinNotes(
			fmt.Sprintf("from sending the revocation; %d revocations, max %.2f ms; from the 204: p99 %.2f ms", f.Measured, f.FromSend.MaxMs, f.After204.P99Ms),
			undersized(f.Iterations, targetRefusals))))
	} else {
		ts = append(ts, notMeasured(name, g, "not run or failed"))
	}
	name = "embedded verifier memory per revocation"
	g = goal{false, 150, "B"}
	if m := e.Memory; m != nil && m.Tokens > 0 {
		ts = append(ts, judge(name, g, m.BytesPerRevocation, fmt.Sprintf("%s revoked tokens from the feed, the verifier's fixed cost included", thousands(float64(m.Tokens)))))
	} else {
		ts = append(ts, notMeasured(name, g, "not run or failed"))
	}
	return ts
}

// judgeAllocs judges "0 allocations" on whole allocations per check, as
// testing.AllocsPerRun counts them: an allocation of another goroutine
// during the batches (the feed's heartbeat) is not the check's.
func judgeAllocs(c *checkResult) target {
	whole := math.Floor(c.AllocsPerCheck)
	t := target{Name: "embedded verifier: allocations per warm check", Want: "≤ 0", Measured: &whole, Shown: fmt.Sprintf("%.0f", whole), Status: "met",
		Note: fmt.Sprintf("%.4f allocations per check in the whole process", c.AllocsPerCheck)}
	if whole > 0 {
		t.Status = "missed"
	}
	return t
}

// embeddedTables are the embedded verifier's measurements.
func embeddedTables(r *results) []table {
	e := r.Embedded
	if e == nil {
		return nil
	}
	t := table{title: "Embedded verifier (ES256), in the benchmark's process", header: []string{"measure", "value", "detail"}}
	if c := e.Check; c != nil {
		t.rows = append(t.rows, []string{"verifier.Verify, warm verified-token cache", fmt.Sprintf("%.0f ns CPU, %.0f ns wall, %.4f allocs", c.CPUNsPerCheck, c.NsPerCheck, c.AllocsPerCheck),
			fmt.Sprintf("median of %d batches of %s checks (fastest wall %.0f ns); %d feed reconnects meanwhile", checkBatches, thousands(float64(c.Checks)), c.MinNsPerCheck, c.Reconnects)})
	}
	if f := e.Refusal; f != nil {
		for _, row := range []struct {
			name string
			l    latency
		}{{"revocation sent → verifier refuses", f.FromSend}, {"tokenguard's 204 → verifier refuses", f.After204}} {
			t.rows = append(t.rows, []string{row.name, fmt.Sprintf("p99 %.3f ms", row.l.P99Ms),
				fmt.Sprintf("p50 %.3f ms, max %.3f ms, mean %.3f ms; %d of %d measured", row.l.P50Ms, row.l.MaxMs, row.l.MeanMs, f.Measured, f.Iterations)})
		}
		detail := fmt.Sprintf("%d of %d refused at the first check after the 204", f.At204, f.Measured)
		if f.Failures > 0 {
			detail += fmt.Sprintf("; %d failed, first: %s", f.Failures, headLine(f.FirstFailure))
		}
		t.rows = append(t.rows, []string{"POST /v1/admin/revocations → refused", "", detail})
	}
	if m := e.Memory; m != nil {
		t.rows = append(t.rows, []string{"verifier heap per revoked token", fmt.Sprintf("%.0f B", m.BytesPerRevocation),
			fmt.Sprintf("%s revoked tokens from the feed's snapshot in %.2f s; live heap %s → %s", thousands(float64(m.Tokens)), m.Seconds, mib(int64(m.HeapBefore)), mib(int64(m.HeapAfter)))})
	}
	return []table{t}
}
