package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tokenguard/tokenguard/adminapi"
)

// cli is what a command gets from main: the environment and the two output
// streams. Commands read flags from their arguments and nothing else.
type cli struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand of the binary.
type command struct {
	name string
	// args is the synopsis after the name, summary one line about it.
	args, summary string
	// admin marks the commands that call a server's admin API.
	admin bool
	run   func(ctx context.Context, args []string) error
}

// commands lists every subcommand, in the order help shows them.
func (c cli) commands() []command {
	return []command{
		{name: "serve", args: "[-config FILE]", summary: "serve the API (what the binary does with no command)",
			run: func(ctx context.Context, args []string) error { return serve(ctx, args, c.getenv, c.stderr, nil) }},
		{name: "check-config", args: "[-config FILE]", summary: "validate the configuration as serve would and print it, secrets masked", run: c.checkConfig},
		{name: "healthcheck", args: "[-url URL] [-timeout D]", summary: "exit 0 if the server's /readyz answers 200 (the image's HEALTHCHECK)", run: c.healthcheck},
		{name: "version", summary: "print the module version, VCS revision and Go version", run: c.version},
		{name: "help", args: "[COMMAND]", summary: "show this help, or one command's flags", run: c.help},
		{name: "revoke", args: "--token T | --jti J --exp UNIX", summary: "revoke one access token", admin: true, run: c.revoke},
		{name: "logout-user", args: "SUBJECT [--issuer ISS]", summary: "end every session of a user and revoke every token issued until now", admin: true, run: c.logoutUser},
		{name: "ban", args: "SUBJECT --reason R [--duration D] [--issuer ISS]", summary: "ban a user (until lifted, or for D), ending every session", admin: true, run: c.ban},
		{name: "unban", args: "SUBJECT [--issuer ISS]", summary: "lift a user's ban", admin: true, run: c.unban},
		{name: "user", args: "SUBJECT [--issuer ISS]", summary: "show a user's ban, sessions and cut-off", admin: true, run: c.user},
		{name: "sessions", args: "SUBJECT [--issuer ISS]", summary: "list a user's live sessions, newest first", admin: true, run: c.sessions},
		{name: "end-session", args: "[--] ID", summary: "end one session (its tokens fail at once)", admin: true, run: c.endSession},
		{name: "events", args: "[--subject S [--issuer ISS]] [--limit N] [--before ID] [--follow [--interval D]]", summary: "show the audit trail, newest first; --follow prints new events as they come", admin: true, run: c.events},
	}
}

// Exit statuses of the binary, as help and the README list them.
const (
	exitOK          = 0
	exitRefused     = 1
	exitUsage       = 2
	exitUnavailable = 3
)

// exitStatuses explains each exit status, for help and the README.
func exitStatuses() []struct {
	code    int
	meaning string
} {
	return []struct {
		code    int
		meaning string
	}{
		{exitOK, "success"},
		{exitRefused, "refused: the API said no (4xx: credentials, permission, not found, bad input), an invalid configuration, not ready, or the service failed"},
		{exitUsage, "usage: an unknown command, a bad flag or argument, a missing TOKENGUARD_* variable"},
		{exitUnavailable, "unavailable: the server cannot be reached, failed (5xx, 503 included) or did not answer as the API does"},
	}
}

func (c cli) help(_ context.Context, args []string) error {
	if len(args) > 0 {
		for _, cmd := range c.commands() {
			if cmd.name == args[0] && cmd.name != "help" {
				return cmd.run(context.Background(), []string{"-h"})
			}
		}
		return usagef("unknown command %q; see tokenguard help", args[0])
	}
	w := c.stdout
	list := func(admin bool) {
		for _, cmd := range c.commands() {
			if cmd.admin == admin {
				fmt.Fprintf(w, "  tokenguard %s %s\n        %s\n", cmd.name, cmd.args, cmd.summary)
			}
		}
	}
	fmt.Fprint(w, "tokenguard issues JWT access tokens and revokes them immediately.\n\nCommands:\n")
	list(false)
	fmt.Fprint(w, `
Admin commands call a running server's admin API as a client with the admin
permission, named by the environment:
  TOKENGUARD_URL            the server, such as http://127.0.0.1:8080
  TOKENGUARD_CLIENT_ID      the client's id
  TOKENGUARD_CLIENT_SECRET  its secret (never a flag, never printed)
Each prints a table, or with --json the API's JSON (nothing for an empty
answer; events --follow prints one event per line); -v shows each call on
stderr. SUBJECT is one of our users, or with --issuer a trusted issuer's.

`)
	list(true)
	fmt.Fprint(w, "\nExit status:\n")
	for _, s := range exitStatuses() {
		fmt.Fprintf(w, "  %d  %s\n", s.code, s.meaning)
	}
	return nil
}

// usageError is a command line mistake: exit status 2.
type usageError struct {
	msg string
	// shown is set when the flag package has printed the problem already.
	shown bool
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// loggedError is an error that has been logged already (as JSON, see
// fatal): main exits without printing it again.
type loggedError struct{ error }

func (e loggedError) Unwrap() error { return e.error }

// report prints err, unless it was logged or shown already, and returns the
// exit status it stands for.
func report(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var logged loggedError
	var usage *usageError
	switch {
	case errors.As(err, &logged):
	case errors.As(err, &usage) && usage.shown:
	default:
		fmt.Fprintf(stderr, "tokenguard: %v\n", err)
	}
	return exitStatus(err)
}

// exitStatus maps an error to the exit status it stands for.
func exitStatus(err error) int {
	var usage *usageError
	var api *adminapi.Error
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &usage):
		return exitUsage
	case errors.As(err, &api):
		if api.Status >= 500 {
			return exitUnavailable
		}
		return exitRefused
	case errors.Is(err, adminapi.ErrUnreachable), errors.Is(err, adminapi.ErrBadAnswer):
		return exitUnavailable
	}
	return exitRefused
}

// newFlagSet returns a flag set for a command whose usage line is
// "tokenguard name synopsis"; it prints to stderr.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: tokenguard %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags anywhere among the arguments (`ban alice --reason
// x` as well as `ban --reason x alice`; after "--" everything is an
// argument) and requires exactly want positional arguments.
func parseArgs(fs *flag.FlagSet, args []string, want int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			// The flag package has printed the error and the usage.
			if strings.HasPrefix(err.Error(), "flag provided but not defined") {
				// A session id may start with "-".
				fmt.Fprintln(fs.Output(), "an argument that starts with - goes after --, as in: tokenguard end-session -- -abc")
			}
			return nil, &usageError{msg: err.Error(), shown: true}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	if len(pos) != want {
		fs.Usage()
		what := "no arguments"
		if want == 1 {
			what = "one argument"
		}
		return nil, &usageError{msg: fmt.Sprintf("%s takes %s, got %d", fs.Name(), what, len(pos)), shown: false}
	}
	return pos, nil
}
