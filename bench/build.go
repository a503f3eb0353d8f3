package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// moduleRoot finds the tokenguard module from the working directory, so
// that `go run ./bench` works from the root and `go run .` from bench/.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == "/dev/null" || filepath.Base(gomod) != "go.mod" {
		return "", fmt.Errorf("not inside the tokenguard module (go env GOMOD = %q); run from the repository", gomod)
	}
	return filepath.Dir(gomod), nil
}

// buildTokenguard builds the service once, with the bench tag that allows
// the reference mode (revocation.mode: off).
func buildTokenguard(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "tokenguard")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "tokenguard_bench", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build -tags tokenguard_bench: %w\n%s", err, indent(string(out)))
	}
	return bin, nil
}
