package clients

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestNewRefusesBadEntriesNamingTheSetting(t *testing.T) {
	cases := []struct {
		name string
		dev  bool
		list []Entry
		env  map[string]string
		want string
	}{
		{"a client with two secrets", true, []Entry{{ID: "a", Secret: "x", SecretEnv: "Y"}}, nil, "clients[0]: set exactly one"},
		{"a client without a secret", true, []Entry{{ID: "a"}}, nil, "clients[0]: set exactly one"},
		{"an unknown permission", true, []Entry{{ID: "a", Secret: "x", Permissions: []string{"root"}}}, nil, `clients[0].permissions: unknown permission "root"`},
		{"a bad secret hash", true, []Entry{{ID: "a", SecretSHA256: "abc"}}, nil, "clients[0].secret_sha256"},
		{"a secret hash that is not hex", true, []Entry{{ID: "a", SecretSHA256: strings.Repeat("z", 64)}}, nil, "clients[0].secret_sha256: want 64 hex digits"},
		{"production with a clear-text client secret", false, []Entry{{ID: "a", Secret: "s3cr3t"}}, nil, "clients[0].secret: a clear-text secret"},
		{"an id with a colon", true, []Entry{{ID: "a:b", Secret: "x"}}, nil, "clients[0].id: must be non-empty, without colons"},
		{"an empty id", true, []Entry{{Secret: "x"}}, nil, "clients[0].id"},
		{"a duplicate id", true, []Entry{{ID: "a", Secret: "x"}, {ID: "a", Secret: "y"}}, nil, `clients[1].id: duplicate client id "a"`},
		{"a secret from an unset variable", true, []Entry{{ID: "a", SecretEnv: "TG_SECRET"}}, nil, "clients[0].secret_env: $TG_SECRET: the secret is empty"},
		{"production with a short secret from the environment", false, []Entry{{ID: "a", SecretEnv: "TG_SECRET"}}, map[string]string{"TG_SECRET": "short"}, "clients[0].secret_env: $TG_SECRET: production mode (dev: false) needs a secret of at least 32 bytes, got 5"},
		{"production with a dev secret from the environment", false, []Entry{{ID: "a", SecretEnv: "TG_SECRET"}}, map[string]string{"TG_SECRET": "dev-app-secret"}, "known dev secret"},
		{"the second entry, past a good one", true, []Entry{{ID: "a", Secret: "x"}, {ID: "b", SecretSHA256: "abc"}}, nil, "clients[1].secret_sha256"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := New(Config{Clients: c.list, Getenv: env(c.env), Dev: c.dev})
			if err == nil {
				t.Fatalf("New = %v, nil; want an error naming %s", r, c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("New error = %q, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestNewReportsEveryBadEntry(t *testing.T) {
	_, err := New(Config{Clients: []Entry{{ID: "a", SecretSHA256: "abc"}, {ID: "b:c", Secret: "x", Permissions: []string{"root"}}}, Dev: true})
	for _, want := range []string{"clients[0].secret_sha256", "clients[1].id", "clients[1].permissions"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New error = %v, want it to name %s too", err, want)
		}
	}
}

func TestProductionRefusesDevSecrets(t *testing.T) {
	cases := []struct {
		name    string
		dev     bool
		secret  string
		wantErr bool
	}{
		{"production refuses the dev client secret", false, "dev-app-secret", true},
		{"production refuses a placeholder", false, "changeme", true},
		{"production accepts a strong client secret", false, "a-long-random-client-secret-value", false},
		{"production refuses a 1-byte secret", false, "x", true},
		{"production refuses a 31-byte secret", false, strings.Repeat("s", 31), true},
		{"production accepts a 32-byte secret", false, strings.Repeat("s", 32), false},
		{"dev accepts a short secret", true, "x", false},
		{"dev accepts the dev client secret", true, "dev-app-secret", false},
		{"an empty secret is refused everywhere", true, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(Config{
				Clients: []Entry{{ID: "app", SecretEnv: "TG_SECRET"}},
				Getenv:  env(map[string]string{"TG_SECRET": c.secret}),
				Dev:     c.dev,
			})
			if (err != nil) != c.wantErr {
				t.Errorf("New = %v, want error: %v", err, c.wantErr)
			}
			if err != nil && c.secret != "" && strings.Contains(err.Error(), c.secret) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestCheckAcceptsOnlyTheRightSecretOfAKnownClient(t *testing.T) {
	hash := sha256.Sum256([]byte("hashed-secret"))
	r, err := New(Config{
		Clients: []Entry{
			{ID: "app", Secret: "clear-secret", Permissions: []string{PermSessions}},
			{ID: "gateway", SecretEnv: "TG_GATEWAY", Permissions: []string{PermIntrospect, PermRevoke}},
			{ID: "admin", SecretSHA256: hex.EncodeToString(hash[:]), Permissions: []string{PermAdmin}},
		},
		Getenv: env(map[string]string{"TG_GATEWAY": "env-secret"}),
		Dev:    true,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, c := range []struct {
		name, id, secret string
		want             bool
		perms            []string
	}{
		{"a clear-text secret", "app", "clear-secret", true, []string{PermSessions}},
		{"a secret from the environment", "gateway", "env-secret", true, []string{PermIntrospect, PermRevoke}},
		{"a secret given as its hash", "admin", "hashed-secret", true, []string{PermAdmin}},
		{"a wrong secret", "app", "env-secret", false, nil},
		{"the hash instead of the secret", "admin", hex.EncodeToString(hash[:]), false, nil},
		{"an unknown client", "ghost", "clear-secret", false, nil},
		{"an empty id and secret", "", "", false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := r.Check(c.id, c.secret)
			if ok != c.want {
				t.Fatalf("Check(%q) = %v, want %v", c.id, ok, c.want)
			}
			if ok && (got.ID != c.id || !cmp.Equal(got.Permissions, c.perms)) {
				t.Errorf("Check(%q) = %+v, want that client with permissions %v", c.id, got, c.perms)
			}
		})
	}
	var none *Registry
	if _, ok := none.Check("app", "clear-secret"); ok {
		t.Errorf("a nil Registry accepted a client")
	}
}

func TestGrantedSaysWhetherSomeClientHoldsAPermission(t *testing.T) {
	r, err := New(Config{
		Clients: []Entry{
			{ID: "app", Secret: "app-secret", Permissions: []string{PermSessions}},
			{ID: "feeder", Secret: "feeder-secret", Permissions: []string{PermFeed}},
		},
		Dev: true,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, c := range []struct {
		perm string
		want bool
	}{{PermFeed, true}, {PermSessions, true}, {PermAdmin, false}} {
		if got := r.Granted(c.perm); got != c.want {
			t.Errorf("Granted(%q) = %v, want %v", c.perm, got, c.want)
		}
	}
	var none *Registry
	if none.Granted(PermFeed) {
		t.Errorf("a nil Registry granted %q", PermFeed)
	}
}
