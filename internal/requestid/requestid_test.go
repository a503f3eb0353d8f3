package requestid

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestValidKeepsCommonIDsAndRefusesTheRest(t *testing.T) {
	cases := []struct {
		name string
		id   string
		want bool
	}{
		{"a UUID", "3f1c2a9e-7b4d-4c1e-9a2b-5d6e7f801234", true},
		{"nginx's 32 hex digits", "0123456789abcdef0123456789abcdef", true},
		{"a trace header value", "Root=1-67891233-abcdef012345678912345678", true},
		{"base64", "q83vEjRWeJA+/w==", true},
		{"MaxLen characters", strings.Repeat("a", MaxLen), true},
		{"an empty value", "", false},
		{"one character over MaxLen", strings.Repeat("a", MaxLen+1), false},
		{"a space", "a b", false},
		{"a newline", "a\nlevel=ERROR", false},
		{"a quote", `a"b`, false},
		{"non-ASCII", "idé", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Valid(c.id); got != c.want {
				t.Errorf("Valid(%q) = %v, want %v", c.id, got, c.want)
			}
		})
	}
}

func TestNewIsValidAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := New()
		if len(id) != 32 || !Valid(id) {
			t.Fatalf("New() = %q, want 32 hex digits", id)
		}
		if seen[id] {
			t.Fatalf("New() returned %q twice", id)
		}
		seen[id] = true
	}
}

func TestHandlerAddsTheContextsID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
	log.InfoContext(NewContext(context.Background(), "req-1"), "with an id")
	log.InfoContext(context.Background(), "without")
	log.Info("no context")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3: %s", len(lines), buf.String())
	}
	for i, want := range []string{"req-1", "", ""} {
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatal(err)
		}
		got, _ := rec["request_id"].(string)
		if got != want {
			t.Errorf("line %d request_id = %q, want %q: %s", i, got, want, lines[i])
		}
		if rec["component"] != "test" {
			t.Errorf("line %d lost the logger's attributes: %s", i, lines[i])
		}
	}
}
