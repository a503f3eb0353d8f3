package lockout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/internal/redistest"
	"github.com/tokenguard/tokenguard/internal/testclock"
)

type fixture struct {
	l     *Limiter
	trail *audit.Log
	clock *testclock.Clock
	logs  *bytes.Buffer
}

func newFixture(t *testing.T, rdb redis.UniversalClient, perID, perIP int) *fixture {
	t.Helper()
	f := &fixture{trail: audit.New(rdb, audit.Config{Prefix: "tg:", Retention: time.Hour}), clock: testclock.New(time.Now()), logs: &bytes.Buffer{}}
	l, err := New(rdb, Config{
		Name: "client", Prefix: "tg:", MaxPerID: perID, MaxPerIP: perIP, Window: time.Minute,
		Audit: f.trail, IDEvent: audit.TypeClientLockedOut, IPEvent: audit.TypeClientIPLockedOut,
		Logger: slog.New(slog.NewTextHandler(f.logs, nil)), Clock: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.l = l
	return f
}

// wantLocked checks that err is a lockout with about d left.
func wantLocked(t *testing.T, err error, d time.Duration, why string) {
	t.Helper()
	var locked *LockedError
	if !errors.As(err, &locked) || !errors.Is(err, ErrLocked) {
		t.Fatalf("%s: %v, want a *LockedError", why, err)
	}
	if locked.RetryAfter > d || locked.RetryAfter < d-5*time.Second {
		t.Errorf("%s: retry after %v, want about %v", why, locked.RetryAfter, d)
	}
}

func (f *fixture) events(t *testing.T, typ string) []audit.Event {
	t.Helper()
	all, err := f.trail.List(context.Background(), audit.Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for _, e := range all {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func TestTheFailureThatReachesTheLimitLocksTheIDOutForAWindow(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, rdb, 3, 100)
		for i := range 3 {
			if err := f.l.Check(ctx, "app", "192.0.2.1"); err != nil {
				t.Fatalf("Check before failure %d = %v, want nil", i+1, err)
			}
			if err := f.l.Fail(ctx, "app", "192.0.2.1"); err != nil {
				t.Fatalf("Fail %d = %v, want nil: the failure that reaches the limit is still counted", i+1, err)
			}
		}
		wantLocked(t, f.l.Check(ctx, "app", "192.0.2.1"), time.Minute, "Check after 3 failures")
		wantLocked(t, f.l.Check(ctx, "app", "198.51.100.9"), time.Minute, "Check of the id from another address")
		wantLocked(t, f.l.Fail(ctx, "app", "192.0.2.1"), time.Minute, "Fail while locked out")
		if err := f.l.Check(ctx, "other", "192.0.2.1"); err != nil {
			t.Errorf("Check of another id from the same address = %v, want nil", err)
		}
		if got, want := f.l.Counts(), (Counts{Failures: 4, Refusals: 3, Lockouts: 1}); got != want {
			t.Errorf("Counts = %+v, want %+v (the failure refused by the id's lockout still counts for the address)", got, want)
		}
		ev := f.events(t, audit.TypeClientLockedOut)
		if len(ev) != 1 || ev[0].Actor != "app" || ev[0].Subject != "" || !strings.Contains(ev[0].Reason, "3 failed authentications") || !strings.Contains(ev[0].Reason, "192.0.2.1") {
			t.Errorf("lockout events = %+v, want one, by app, with the count and the address", ev)
		}
	})
}

func TestFailuresAgeOutOfTheWindow(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, rdb, 3, 100)
		for range 2 {
			if err := f.l.Fail(ctx, "app", "192.0.2.1"); err != nil {
				t.Fatal(err)
			}
		}
		f.clock.Advance(61 * time.Second)
		for range 2 {
			if err := f.l.Fail(ctx, "app", "192.0.2.1"); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.l.Check(ctx, "app", "192.0.2.1"); err != nil {
			t.Errorf("Check after 2 failures, a window apart from 2 others = %v, want nil", err)
		}
		f.clock.Advance(59 * time.Second)
		if err := f.l.Fail(ctx, "app", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		wantLocked(t, f.l.Check(ctx, "app", "192.0.2.1"), time.Minute, "the third failure within 59 s")
	})
}

func TestAnAddressIsLimitedAcrossIDs(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, rdb, 20, 4)
		for i := range 4 {
			if err := f.l.Fail(ctx, fmt.Sprintf("guess-%d", i), "203.0.113.5"); err != nil {
				t.Fatal(err)
			}
		}
		wantLocked(t, f.l.Check(ctx, "app", "203.0.113.5"), time.Minute, "a fresh id from the locked-out address")
		if err := f.l.Check(ctx, "app", "192.0.2.1"); err != nil {
			t.Errorf("Check of the id from another address = %v, want nil", err)
		}
		ev := f.events(t, audit.TypeClientIPLockedOut)
		if len(ev) != 1 || ev[0].Actor != "guess-3" || !strings.Contains(ev[0].Reason, "203.0.113.5") {
			t.Errorf("address lockout events = %+v, want one naming the address", ev)
		}
		if n := len(f.events(t, audit.TypeClientLockedOut)); n != 0 {
			t.Errorf("%d client lockouts, want none: no id failed 20 times", n)
		}
	})
}

func TestALockoutEndsAfterTheWindow(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	f := newFixture(t, rdb, 1, 100)
	if err := f.l.Fail(ctx, "app", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	wantLocked(t, f.l.Check(ctx, "app", "192.0.2.1"), time.Minute, "after the one failure allowed")
	mr.FastForward(time.Minute)
	f.clock.Advance(time.Minute)
	if err := f.l.Check(ctx, "app", "192.0.2.1"); err != nil {
		t.Errorf("Check a window later = %v, want nil", err)
	}
	if err := f.l.Fail(ctx, "app", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.events(t, audit.TypeClientLockedOut)); n != 2 {
		t.Errorf("%d lockout events, want 2: one per lockout", n)
	}
}

func TestLogsNameTheIDAndAddressButBoundThem(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, redistest.Start(t).Client(), 2, 100)
	long := strings.Repeat("x", 10_000)
	for range 2 {
		if err := f.l.Fail(ctx, long, "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.l.Fail(ctx, "app", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	logs := f.logs.String()
	for _, want := range []string{`msg="authentication failed" client_id=app ip=192.0.2.1`, `msg="locked out" scope=id client_id=` + strings.Repeat("x", maxLabel) + "…"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, strings.Repeat("x", maxLabel+1)) {
		t.Errorf("logs hold more than %d bytes of a client id", maxLabel)
	}
}

func TestAnUnreachableStoreIsUnavailableNotOpen(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	f := newFixture(t, redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1}), 3, 100)
	mr.SetError("LOADING down")
	if err := f.l.Check(ctx, "app", "192.0.2.1"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Check with Redis down = %v, want ErrUnavailable", err)
	}
	if err := f.l.Fail(ctx, "app", "192.0.2.1"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Fail with Redis down = %v, want ErrUnavailable", err)
	}
}

func TestNewRefusesMissingSettings(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	trail := audit.New(rdb, audit.Config{Prefix: "tg:", Retention: time.Hour})
	good := Config{Name: "client", MaxPerID: 1, MaxPerIP: 1, Window: time.Second, Audit: trail, IDEvent: "a", IPEvent: "b"}
	if _, err := New(rdb, good); err != nil {
		t.Fatalf("New(%+v) = %v", good, err)
	}
	for name, edit := range map[string]func(*Config){
		"no name":        func(c *Config) { c.Name = "" },
		"no id limit":    func(c *Config) { c.MaxPerID = 0 },
		"no ip limit":    func(c *Config) { c.MaxPerIP = 0 },
		"no window":      func(c *Config) { c.Window = 0 },
		"no audit trail": func(c *Config) { c.Audit = nil },
		"no event type":  func(c *Config) { c.IPEvent = "" },
	} {
		c := good
		edit(&c)
		if _, err := New(rdb, c); err == nil {
			t.Errorf("New with %s = nil error, want a refusal", name)
		}
	}
}
