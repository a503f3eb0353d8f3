package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

func (c cli) version(_ context.Context, args []string) error {
	fs := newFlagSet("version", "", c.stderr)
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	_, err := fmt.Fprint(c.stdout, versionText(info))
	return err
}

// versionText describes the build: the module's version ("(devel)" for a
// build from a source tree), the VCS revision it was built from, "+dirty"
// when the tree had uncommitted changes, and the Go version. A build
// without VCS information (go build -buildvcs=false, or a tree without
// .git, as in the Docker build) says so.
func versionText(info *debug.BuildInfo) string {
	module, version, goVersion := "github.com/tokenguard/tokenguard", "(unknown)", runtime.Version()
	revision, modified, when := "", false, ""
	if info != nil {
		if info.Main.Path != "" {
			module = info.Main.Path
		}
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			case "vcs.time":
				when = s.Value
			}
		}
	}
	switch {
	case revision == "":
		revision = "unknown (built without VCS information)"
	case modified:
		revision += "+dirty"
	}
	if when != "" {
		revision += " (" + when + ")"
	}
	return fmt.Sprintf("tokenguard %s\nmodule    %s\nrevision  %s\ngo        %s %s/%s\n", version, module, revision, goVersion, runtime.GOOS, runtime.GOARCH)
}
