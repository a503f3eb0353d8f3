package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/tokenguard/tokenguard/adminapi"
)

// Bounds of events --follow's polling interval: often enough to feel live,
// never so often that a forgotten terminal loads the server.
const (
	minFollowInterval = 100 * time.Millisecond
	maxFollowInterval = time.Minute
)

// adminCommand is what every admin command shares: --json, -v, and the
// client built from the environment.
type adminCommand struct {
	cli
	fs      *flag.FlagSet
	json    bool
	verbose bool
}

func (c cli) adminCommand(name, synopsis string) *adminCommand {
	a := &adminCommand{cli: c, fs: newFlagSet(name, synopsis, c.stderr)}
	a.fs.BoolVar(&a.json, "json", false, "print the API's JSON instead of a table")
	a.fs.BoolVar(&a.verbose, "v", false, "show each call (method, URL, status) on stderr; never a secret")
	return a
}

// subjectFlag adds --issuer, for the commands that name a user.
func (a *adminCommand) subjectFlag() *string {
	return a.fs.String("issuer", "", "the trusted issuer whose user SUBJECT is (default: one of ours)")
}

// client builds the API client from TOKENGUARD_URL, TOKENGUARD_CLIENT_ID
// and TOKENGUARD_CLIENT_SECRET; a missing one is a usage error naming it.
func (a *adminCommand) client() (*adminapi.Client, error) {
	cfg := adminapi.Config{
		URL:          a.getenv("TOKENGUARD_URL"),
		ClientID:     a.getenv("TOKENGUARD_CLIENT_ID"),
		ClientSecret: a.getenv("TOKENGUARD_CLIENT_SECRET"),
	}
	var missing []string
	for _, v := range []struct{ name, value string }{
		{"TOKENGUARD_URL", cfg.URL}, {"TOKENGUARD_CLIENT_ID", cfg.ClientID}, {"TOKENGUARD_CLIENT_SECRET", cfg.ClientSecret},
	} {
		if v.value == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return nil, usagef("%s: set %s (the server, and a client with the admin permission)", a.fs.Name(), strings.Join(missing, ", "))
	}
	if a.verbose {
		cfg.Trace = func(method, url string, status int, took time.Duration) {
			answer := "no answer"
			if status != 0 {
				answer = fmt.Sprint(status)
			}
			fmt.Fprintf(a.stderr, "tokenguard: %s %s -> %s (%v)\n", method, url, answer, took.Round(time.Microsecond))
		}
	}
	client, err := adminapi.New(cfg)
	if err != nil {
		return nil, usagef("%s: TOKENGUARD_URL and credentials: %v", a.fs.Name(), err)
	}
	return client, nil
}

// parse parses the flags with want arguments and builds the client.
func (a *adminCommand) parse(args []string, want int) ([]string, *adminapi.Client, error) {
	pos, err := parseArgs(a.fs, args, want)
	if err != nil {
		return nil, nil, err
	}
	client, err := a.client()
	return pos, client, err
}

// done prints what a command whose answer is empty (204) did: a line for a
// person, nothing with --json (the exit status says it).
func (a *adminCommand) done(format string, args ...any) error {
	if a.json {
		return nil
	}
	_, err := fmt.Fprintf(a.stdout, format+"\n", args...)
	return err
}

// printJSON prints an answer's JSON as the server sent it, on one line.
func (a *adminCommand) printJSON(raw []byte) error {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err := a.stdout.Write(b.Bytes())
	return err
}

func (c cli) revoke(ctx context.Context, args []string) error {
	a := c.adminCommand("revoke", "--token T | --jti J --exp UNIX")
	token := a.fs.String("token", "", "the access token to revoke")
	jti := a.fs.String("jti", "", "the jti of the token to revoke (with --exp)")
	exp := a.fs.Int64("exp", 0, "the token's exp, in Unix seconds (with --jti)")
	_, client, err := a.parse(args, 0)
	if err != nil {
		return err
	}
	switch {
	case *token != "" && (*jti != "" || *exp != 0):
		return usagef("revoke: give --token, or --jti and --exp, not both")
	case *token != "":
		if err := client.RevokeToken(ctx, *token); err != nil {
			return fmt.Errorf("revoke: %w", err)
		}
		return a.done("token revoked")
	case *jti != "" && *exp > 0:
		if err := client.RevokeID(ctx, *jti, time.Unix(*exp, 0)); err != nil {
			return fmt.Errorf("revoke: %w", err)
		}
		return a.done("token %s revoked", *jti)
	}
	return usagef("revoke: give --token, or --jti and --exp (Unix seconds)")
}

func (c cli) logoutUser(ctx context.Context, args []string) error {
	a := c.adminCommand("logout-user", "SUBJECT [--issuer ISS]")
	issuer := a.subjectFlag()
	pos, client, err := a.parse(args, 1)
	if err != nil {
		return err
	}
	if err := client.LogOut(ctx, adminapi.User{Subject: pos[0], Issuer: *issuer}); err != nil {
		return fmt.Errorf("logout-user %s: %w", pos[0], err)
	}
	return a.done("%s logged out everywhere: every session ended, every token issued until now revoked", pos[0])
}

func (c cli) ban(ctx context.Context, args []string) error {
	a := c.adminCommand("ban", "SUBJECT --reason R [--duration D] [--issuer ISS]")
	issuer := a.subjectFlag()
	reason := a.fs.String("reason", "", "why, for the audit trail (required)")
	duration := a.fs.Duration("duration", 0, "how long, such as 24h (default: until lifted)")
	pos, client, err := a.parse(args, 1)
	if err != nil {
		return err
	}
	if *reason == "" {
		return usagef("ban: --reason is required: the audit trail says why")
	}
	st, err := client.Ban(ctx, adminapi.User{Subject: pos[0], Issuer: *issuer}, *duration, *reason)
	if err != nil {
		return fmt.Errorf("ban %s: %w", pos[0], err)
	}
	if a.json {
		return a.printJSON(st.JSON)
	}
	return printStatus(a.stdout, st)
}

func (c cli) unban(ctx context.Context, args []string) error {
	a := c.adminCommand("unban", "SUBJECT [--issuer ISS]")
	issuer := a.subjectFlag()
	pos, client, err := a.parse(args, 1)
	if err != nil {
		return err
	}
	if err := client.Unban(ctx, adminapi.User{Subject: pos[0], Issuer: *issuer}); err != nil {
		return fmt.Errorf("unban %s: %w", pos[0], err)
	}
	return a.done("%s is not banned", pos[0])
}

func (c cli) user(ctx context.Context, args []string) error {
	a := c.adminCommand("user", "SUBJECT [--issuer ISS]")
	issuer := a.subjectFlag()
	pos, client, err := a.parse(args, 1)
	if err != nil {
		return err
	}
	st, err := client.Status(ctx, adminapi.User{Subject: pos[0], Issuer: *issuer})
	if err != nil {
		return fmt.Errorf("user %s: %w", pos[0], err)
	}
	if a.json {
		return a.printJSON(st.JSON)
	}
	return printStatus(a.stdout, st)
}

func (c cli) sessions(ctx context.Context, args []string) error {
	a := c.adminCommand("sessions", "SUBJECT [--issuer ISS]")
	issuer := a.subjectFlag()
	pos, client, err := a.parse(args, 1)
	if err != nil {
		return err
	}
	list, err := client.Sessions(ctx, adminapi.User{Subject: pos[0], Issuer: *issuer})
	if err != nil {
		return fmt.Errorf("sessions %s: %w", pos[0], err)
	}
	if a.json {
		// Every page's sessions in one list, each as the server sent it.
		raw := make([]json.RawMessage, 0, len(list))
		for _, s := range list {
			raw = append(raw, s.JSON)
		}
		b, err := json.Marshal(map[string][]json.RawMessage{"sessions": raw})
		if err != nil {
			return err
		}
		return a.printJSON(b)
	}
	if len(list) == 0 {
		return a.done("%s has no live sessions", pos[0])
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCLIENT\tCREATED\tLAST USED\tEXPIRES\tIP\tDEVICE\tUSER AGENT")
	for _, s := range list {
		fmt.Fprintln(tw, cells(s.ID, s.ClientID, stamp(s.CreatedAt), stamp(s.LastUsedAt), stamp(s.ExpiresAt), s.IP, s.DeviceName, s.UserAgent))
	}
	return tw.Flush()
}

func (c cli) endSession(ctx context.Context, args []string) error {
	a := c.adminCommand("end-session", "[--] ID")
	pos, client, err := a.parse(args, 1)
	if err != nil {
		return err
	}
	if err := client.EndSession(ctx, pos[0]); err != nil {
		return fmt.Errorf("end-session %s: %w", pos[0], err)
	}
	return a.done("session %s ended", pos[0])
}

func (c cli) events(ctx context.Context, args []string) error {
	a := c.adminCommand("events", "[--subject S [--issuer ISS]] [--limit N] [--before ID] [--follow [--interval D]]")
	subject := a.fs.String("subject", "", "only this user's events")
	issuer := a.fs.String("issuer", "", "with --subject: the trusted issuer whose user it is")
	limit := a.fs.Int("limit", 0, "how many events, 1 to 500 (default: the server's, 50)")
	before := a.fs.String("before", "", "older than this event id (the next page; not with --follow)")
	follow := a.fs.Bool("follow", false, "keep polling and print new events as they come, oldest first, until interrupted")
	interval := a.fs.Duration("interval", 2*time.Second, "with --follow, how often to poll (100ms to 1m)")
	_, client, err := a.parse(args, 0)
	if err != nil {
		return err
	}
	q := adminapi.EventQuery{Subject: *subject, Issuer: *issuer, Limit: *limit, Before: *before}
	if !*follow {
		page, err := client.Events(ctx, q)
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		if a.json {
			return a.printJSON(page.JSON)
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, eventHeader)
		for _, e := range page.Events {
			fmt.Fprintln(tw, eventRow(e))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if page.NextBefore != "" {
			fmt.Fprintf(a.stderr, "tokenguard: older events: tokenguard events --before %s\n", page.NextBefore)
		}
		return nil
	}
	if *before != "" {
		return usagef("events: --before pages back; --follow goes forward: give one")
	}
	if *interval < minFollowInterval || *interval > maxFollowInterval {
		return usagef("events: --interval wants %v to %v, got %v", minFollowInterval, maxFollowInterval, *interval)
	}
	if !a.json {
		fmt.Fprintln(a.stdout, strings.ReplaceAll(eventHeader, "\t", "  "))
	}
	err = client.Follow(ctx, q, *interval, func(e adminapi.Event) error {
		if a.json {
			return a.printJSON(e.JSON)
		}
		_, err := fmt.Fprintln(a.stdout, strings.ReplaceAll(eventRow(e), "\t", "  "))
		return err
	})
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	return nil
}

const eventHeader = "TIME\tTYPE\tACTOR\tSUBJECT\tSESSION\tREASON"

func eventRow(e adminapi.Event) string {
	return cells(stamp(e.Time), e.Type, e.Actor, e.Subject, e.SessionID, e.Reason)
}

// printStatus shows a user as a two-column table.
func printStatus(w io.Writer, st adminapi.Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	banned, ban := "no", "-"
	if st.Banned {
		banned = "yes"
		if b := st.Ban; b != nil {
			until := "until lifted"
			if b.Until != nil {
				until = "until " + stamp(*b.Until)
			}
			ban = fmt.Sprintf("%s, since %s, by %s: %s", until, stamp(b.At), b.By, b.Reason)
		}
	}
	cut := "-"
	if st.RevokedBefore != nil {
		cut = stamp(*st.RevokedBefore)
	}
	fmt.Fprintln(tw, cells("subject", st.Subject))
	fmt.Fprintln(tw, cells("banned", banned))
	fmt.Fprintln(tw, cells("ban", ban))
	fmt.Fprintln(tw, cells("sessions", fmt.Sprint(st.Sessions)))
	fmt.Fprintln(tw, cells("revoked before", cut))
	return tw.Flush()
}

// stamp formats a time for a table: RFC 3339 in UTC, to the second.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// cells joins table cells with tabs, "-" for an empty one, every control
// character (a tab would shift the columns, an escape sequence could
// rewrite the terminal) shown as "?".
func cells(values ...string) string {
	out := make([]string, len(values))
	for i, v := range values {
		if v == "" {
			v = "-"
		}
		out[i] = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return '?'
			}
			return r
		}, v)
	}
	return strings.Join(out, "\t")
}
