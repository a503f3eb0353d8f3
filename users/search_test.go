package users

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/internal/redistest"
)

// found is what a test compares of a search result.
type found struct {
	Subject  string
	Known    bool
	Sessions int
	Banned   bool
}

func TestFindListsOurUserAlwaysAndATrustedIssuersUserWhenKnown(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, rdb, options{})
		find := func(t *testing.T, sub string) []found {
			t.Helper()
			list, err := f.users.Find(ctx, sub)
			if err != nil {
				t.Fatalf("Find(%q): %v", sub, err)
			}
			var out []found
			for _, u := range list {
				out = append(out, found{u.Subject, u.Known, u.Sessions, u.Ban != nil})
			}
			return out
		}
		if diff := cmp.Diff([]found{{Subject: "nobody"}}, find(t, "nobody")); diff != "" {
			t.Errorf("a sub nobody holds (-want +got):\n%s", diff)
		}

		f.open(t, "42")
		if diff := cmp.Diff([]found{{Subject: "42", Known: true, Sessions: 1}}, find(t, "42")); diff != "" {
			t.Errorf("our user with a session, the trusted issuer's unknown (-want +got):\n%s", diff)
		}

		theirs, err := f.users.Subject(foreignIssuer, "42")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.users.Ban(ctx, console, theirs, 0, "spam"); err != nil {
			t.Fatal(err)
		}
		want := []found{{Subject: "42", Known: true, Sessions: 1}, {Subject: theirs, Known: true, Banned: true}}
		if diff := cmp.Diff(want, find(t, "42")); diff != "" {
			t.Errorf("both users known (-want +got):\n%s", diff)
		}

		if _, err := f.users.Find(ctx, ""); err == nil {
			t.Error("Find of an empty sub: nil error, want ErrInvalid")
		}
	})
}
