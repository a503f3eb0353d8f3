package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// benchModule and serviceModule are the module paths the benchmark finds
// its way by: its own, and tokenguard's (replaced by ../..).
const (
	benchModule   = "github.com/tokenguard/tokenguard/tools/bench"
	serviceModule = "github.com/tokenguard/tokenguard"
)

// moduleDirs finds the benchmark's module and tokenguard's from the working
// directory, so that `go run .` works in tools/bench and
// `go -C tools/bench run .` from the repository's root.
func moduleDirs(ctx context.Context) (bench, service string, err error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", benchModule, serviceModule).Output()
	if err != nil {
		return "", "", fmt.Errorf("go list -m %s %s: %w; run from tools/bench (go -C tools/bench run .)", benchModule, serviceModule, err)
	}
	dirs := strings.Fields(string(out))
	if len(dirs) != 2 {
		return "", "", fmt.Errorf("go list -m: want two module directories, got %q", out)
	}
	return dirs[0], dirs[1], nil
}

// buildTokenguard builds the service once, exactly as it ships: no build
// tag, no benchmark-only code.
func buildTokenguard(ctx context.Context, service, dir string) (string, error) {
	return goBuild(ctx, service, ".", filepath.Join(dir, "tokenguard"))
}

// buildReference builds the reference server (./reference), which verifies
// signatures with tokenguard's auth package and checks no revocation.
func buildReference(ctx context.Context, bench, dir string) (string, error) {
	return goBuild(ctx, bench, "./reference", filepath.Join(dir, "reference"))
}

func goBuild(ctx context.Context, moduleDir, pkg, bin string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s in %s: %w\n%s", pkg, moduleDir, err, indent(string(out)))
	}
	return bin, nil
}
