package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// table is one block of the report, rendered as plain text on stdout and
// as markdown in results.md.
type table struct {
	title  string
	header []string
	rows   [][]string
}

// machineLines describe the machine and the run's settings.
func machineLines(r *results) []string {
	m, s := r.Machine, r.Settings
	return []string{
		fmt.Sprintf("machine: %d CPUs (nproc), %s, %s, kernel %s; load average %s at start", m.CPUs, m.CPUModel, m.OSArch, m.Kernel, m.LoadAverage),
		fmt.Sprintf("software: %s; %s; %s", m.GoVersion, m.RedisVersion, m.WrkVersion),
		fmt.Sprintf("run: %s, %.0f s; wrk -t%d -c%d -d%.0fs --latency, %d round(s) interleaved; %s revocations preloaded; tokens.access_ttl %s, leeway %s",
			r.StartedAt.Format("2006-01-02 15:04 MST"), r.Seconds, s.Threads, s.Connections, s.DurationSeconds, s.Rounds,
			thousands(float64(s.Revocations)), s.AccessTTL, s.Leeway),
	}
}

func reportTables(r *results) []table {
	var out []table
	if len(r.Throughput) > 0 {
		t := table{
			title:  "GET /v1/verify, the same token on every request (median of rounds)",
			header: []string{"variant", "req/s", "req/s per round", "p50 ms", "p99 ms", "note"},
		}
		for _, v := range r.Throughput {
			var rounds []string
			for _, rr := range v.Rounds {
				if rr.Error != "" {
					rounds = append(rounds, "error")
				} else {
					rounds = append(rounds, thousands(rr.RequestsPerSec))
				}
			}
			name := v.Name
			if v.Mode == referenceMode {
				name += " (signatures only, no revocation check)"
			}
			if v.GoodRounds == 0 {
				t.rows = append(t.rows, []string{name, "—", strings.Join(rounds, " / "), "—", "—", headLine(v.firstError())})
				continue
			}
			t.rows = append(t.rows, []string{name, thousands(v.RequestsPerSec), strings.Join(rounds, " / "),
				fmt.Sprintf("%.2f", v.P50Ms), fmt.Sprintf("%.2f", v.P99Ms), headLine(v.firstError())})
		}
		out = append(out, t)
	}
	if len(r.SideBySide) > 0 {
		t := table{
			title: fmt.Sprintf("Side by side (issue 12): wrk -t1, the same token on every request, %s revocations loaded; /v1/verify on HS256, the protected handler on ES256 (median of rounds)",
				thousands(float64(r.Settings.TailRevocations))),
			header: []string{"variant", "wrk -c", "req/s", "req/s per round", "p50 ms", "p99 ms", "p99 per round", "note"},
		}
		for _, s := range r.SideBySide {
			var rounds, p99s []string
			for _, rr := range s.Rounds {
				if rr.Error != "" {
					rounds, p99s = append(rounds, "error"), append(p99s, "error")
					continue
				}
				rounds = append(rounds, thousands(rr.RequestsPerSec))
				p99s = append(p99s, fmt.Sprintf("%.2f", rr.P99Ms))
			}
			conns := strconv.Itoa(s.Connections)
			if s.GoodRounds == 0 {
				t.rows = append(t.rows, []string{s.Name, conns, "—", strings.Join(rounds, " / "), "—", "—", strings.Join(p99s, " / "), headLine(s.firstError())})
				continue
			}
			t.rows = append(t.rows, []string{s.Name, conns, thousands(s.RequestsPerSec), strings.Join(rounds, " / "),
				fmt.Sprintf("%.2f", s.P50Ms), fmt.Sprintf("%.2f", s.P99Ms), strings.Join(p99s, " / "), headLine(s.firstError())})
		}
		out = append(out, t)
	}
	if p := r.Propagation; p != nil {
		t := table{
			title:  fmt.Sprintf("Propagation: revoke on A, poll B (%d of %d revocations measured, %.1f polls each, %.3f ms per poll)", p.Measured, p.Iterations, p.PollsPerRevocation, p.MeanPollMs),
			header: []string{"delay", "p50 ms", "p99 ms", "max ms", "mean ms"},
		}
		for _, row := range []struct {
			name string
			l    latency
		}{{"A's 204 → B's first 401", p.After204}, {"revocation sent → B's first 401", p.FromSend}} {
			t.rows = append(t.rows, []string{row.name, fmt.Sprintf("%.3f", row.l.P50Ms), fmt.Sprintf("%.3f", row.l.P99Ms), fmt.Sprintf("%.3f", row.l.MaxMs), fmt.Sprintf("%.3f", row.l.MeanMs)})
		}
		if p.Failures > 0 {
			t.rows = append(t.rows, []string{fmt.Sprintf("%d failed", p.Failures), "", "", "", headLine(p.FirstFailure)})
		}
		out = append(out, t)
	}
	t := table{title: "Revocation state", header: []string{"measure", "value", "detail"}}
	if m := r.Preload; m != nil {
		t.rows = append(t.rows, []string{fmt.Sprintf("preload (in-process, %d goroutines)", m.Concurrent), thousands(m.PerSecond) + "/s",
			fmt.Sprintf("%s revocations in %.1f s", thousands(float64(m.Count)), m.Seconds)})
	}
	if m := r.RevocationRate; m != nil {
		statuses := make([]string, 0, len(m.Statuses))
		for k, n := range m.Statuses {
			statuses = append(statuses, fmt.Sprintf("%s×%d", k, n))
		}
		sort.Strings(statuses)
		t.rows = append(t.rows, []string{fmt.Sprintf("POST /v1/admin/revocations (%d clients)", m.Clients), thousands(m.PerSecond) + "/s",
			fmt.Sprintf("%s ok, %d errors in %.1f s; p50 %.2f ms, p99 %.2f ms; statuses %s", thousands(float64(m.OK)), m.Errors, m.Seconds, m.Latency.P50Ms, m.Latency.P99Ms, strings.Join(statuses, ", "))})
	}
	if m := r.RedisMemory; m != nil {
		t.rows = append(t.rows, []string{"Redis used_memory per revoked token", fmt.Sprintf("%.0f B", m.BytesPerToken),
			fmt.Sprintf("%s → %s for %s keys; change logs %.0f B/token (%d streams, %s entries: the last %s revocations, written after waiting out the logs' %v window, as a steady rate leaves them); right after %s at once, all still in the logs: %.0f B/token, of which logs %.0f B; RSS %s → %s; loaded at %s/s",
				mib(m.UsedBefore), mib(m.UsedAfter), thousands(float64(m.KeysAdded)), m.ChangeLogPerToken, m.ChangeLogs,
				thousands(float64(m.ChangeLogEntries)), thousands(float64(m.InWindow)), time.Duration(m.WindowSeconds*float64(time.Second)),
				thousands(float64(m.Burst.Revocations)), m.Burst.BytesPerToken, m.Burst.ChangeLogPerToken,
				mib(m.RSSBefore), mib(m.RSSAfter), thousands(m.Load.PerSecond))})
	}
	if m := r.MirrorMemory; m != nil {
		t.rows = append(t.rows, []string{"mirror heap per entry", fmt.Sprintf("%.0f B", m.BytesPerEntry),
			fmt.Sprintf("%s entries; live heap %s → %s; loaded in %.2f s", thousands(float64(m.Entries)), mib(int64(m.HeapBefore)), mib(int64(m.HeapAfter)), m.LoadSeconds)})
	}
	if m := r.Ready; m != nil {
		detail := fmt.Sprintf("from process start to /readyz 200; RSS %s (peak %s)", mib(m.RSSBytes), mib(m.PeakRSSBytes))
		if m.SnapshotEntries > 0 {
			detail += fmt.Sprintf("; its snapshot: %s entries in %.2f s", thousands(float64(m.SnapshotEntries)), m.SnapshotSeconds)
		}
		t.rows = append(t.rows, []string{fmt.Sprintf("new instance ready, %s revocations", thousands(float64(m.Revocations))), fmt.Sprintf("%.2f s", m.Seconds), detail})
	}
	if len(t.rows) > 0 {
		out = append(out, t)
	}
	if f := r.Feed; f != nil {
		ft := table{
			title: fmt.Sprintf("Revocation feed: %d subscribers on one instance, %d revocations/s posted to its admin API for %.0f s (%s acknowledged, %.0f/s achieved)",
				f.Connected, f.Rate, f.Seconds, thousands(float64(f.Written)), f.AchievedRate),
			header: []string{"measure", "value", "detail"},
		}
		ft.rows = append(ft.rows,
			[]string{"delivery p50 / p99 / max (204 → read by a subscriber)", fmt.Sprintf("%.2f / %.2f / %.2f ms", f.Delivery.P50Ms, f.Delivery.P99Ms, f.Delivery.MaxMs),
				fmt.Sprintf("%s of %s events; %d streams ended by the instance, %d fresh snapshots on open streams", thousands(float64(f.Deliveries)), thousands(float64(f.Expected)), f.Disconnected, f.Resets)},
			[]string{"delivery p50 / p99 / max (posted → read by a subscriber)", fmt.Sprintf("%.2f / %.2f / %.2f ms", f.FromSend.P50Ms, f.FromSend.P99Ms, f.FromSend.MaxMs),
				"adds the revocation's own write through the API"},
			[]string{"RSS per subscriber, idle", kib(f.BytesPerSubscriber), fmt.Sprintf("RSS %s with none → %s with %d connected", mib(f.RSSBefore), mib(f.RSSSubscribed), f.Connected)},
			[]string{"RSS per subscriber, under load", kib(f.LoadedBytesPerSubscriber), fmt.Sprintf("RSS %s at the end of the writes", mib(f.RSSAfter))},
		)
		if f.FirstError != "" {
			ft.rows = append(ft.rows, []string{"first error", "", headLine(f.FirstError)})
		}
		out = append(out, ft)
	}
	out = append(out, embeddedTables(r)...)
	tt := table{title: "Targets, each from this run", header: []string{"target", "measured", "goal", "status", "note"}}
	for _, g := range r.Targets {
		tt.rows = append(tt.rows, []string{g.Name, g.Shown, g.Want, g.Status, g.Note})
	}
	return append(out, tt)
}

// firstError is the first thing that went wrong with a side-by-side
// variant.
func (s sideResult) firstError() string { return firstError(s.Error, s.Rounds) }

// firstError is the first thing that went wrong with a variant.
func (v variantResult) firstError() string { return firstError(v.Error, v.Rounds) }

// firstError is err, why a measurement was not made at all, or else the
// first of its rounds' errors; empty when nothing went wrong.
func firstError(err string, rounds []roundResult) string {
	if err != "" {
		return err
	}
	for _, r := range rounds {
		if r.Error != "" {
			return fmt.Sprintf("round %d: %s", r.Round, r.Error)
		}
	}
	return ""
}

// writeText writes the report as aligned plain text.
func writeText(w io.Writer, r *results) error {
	var b strings.Builder
	for _, l := range machineLines(r) {
		b.WriteString(l + "\n")
	}
	for _, t := range reportTables(r) {
		fmt.Fprintf(&b, "\n%s\n", t.title)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(t.header, "\t"))
		for _, row := range t.rows {
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	writeProblems(&b, r, "")
	_, err := io.WriteString(w, b.String())
	return err
}

// writeMarkdown writes the report as markdown tables under a title.
func writeMarkdown(w io.Writer, r *results) error {
	_, err := io.WriteString(w, "# tokenguard benchmark results\n\n"+markdownBody(r))
	return err
}

// markdownBody is the report as markdown tables, without a title: the
// results section of docs/performance.md.
func markdownBody(r *results) string {
	var b strings.Builder
	for _, l := range machineLines(r) {
		b.WriteString("- " + l + "\n")
	}
	for _, t := range reportTables(r) {
		fmt.Fprintf(&b, "\n### %s\n\n", t.title)
		b.WriteString("| " + strings.Join(t.header, " | ") + " |\n")
		b.WriteString("|" + strings.Repeat(" --- |", len(t.header)) + "\n")
		for _, row := range t.rows {
			cells := make([]string, len(row))
			for i, c := range row {
				cells[i] = strings.ReplaceAll(c, "|", `\|`)
			}
			b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
		}
	}
	writeProblems(&b, r, "- ")
	return b.String()
}

func writeProblems(b *strings.Builder, r *results, bullet string) {
	if len(r.Problems) == 0 {
		return
	}
	if bullet == "" {
		fmt.Fprintf(b, "\nProblems (%d):\n", len(r.Problems))
	} else {
		fmt.Fprintf(b, "\n### Problems (%d)\n", len(r.Problems))
	}
	for _, p := range r.Problems {
		head, rest, _ := strings.Cut(strings.TrimSpace(p), "\n")
		if bullet == "" { // plain text
			fmt.Fprintf(b, "- %s\n", head)
			if rest != "" {
				fmt.Fprintf(b, "%s\n", indent(rest))
			}
			continue
		}
		fmt.Fprintf(b, "\n%s%s\n", bullet, head)
		if rest != "" {
			fmt.Fprintf(b, "\n  ```text\n  %s\n  ```\n", strings.ReplaceAll(rest, "\n", "\n  "))
		}
	}
}

// headLine is the first line of a message.
func headLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
