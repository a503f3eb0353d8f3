package main

import (
	"os"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/config"
)

// TestREADMEListsEverySetting keeps the README's configuration table in step
// with the schema: every setting and its environment variable must be there.
func TestREADMEListsEverySetting(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, f := range config.Fields() {
		row := "| `" + f.Key + "` | `" + f.Env + "`"
		if !strings.Contains(readme, row) {
			t.Errorf("README.md lacks the row for %s (%s)", f.Key, f.Env)
		}
	}
}
