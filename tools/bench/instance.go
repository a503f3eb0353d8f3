package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tokenguard/tokenguard/config"
)

// cacheKey is the setting of the verified-token cache (0 turns it off).
const cacheKey = "tokens.verified_cache_size"

// hs256SecretEnv names the variable that carries the HS256 secret to
// tokenguard (keys[].secret_env) and to the reference server.
const hs256SecretEnv = "BENCH_HS256_SECRET"

// The client that follows the revocation feed (permission feed), which
// every tokenguard of the run has: the embedded verifiers, (b) of the
// side-by-side run and those of the embedded phase, and the feed phase's
// subscribers. Its secret reaches the reference server in the environment.
const (
	feedClientID  = "feed"
	feedSecretEnv = "BENCH_FEED_SECRET"
)

// The kids of the run's two keys, the same for tokenguard and the
// reference server, which verify each other's tokens.
const (
	hs256KID = "hs1"
	es256KID = "es1"
)

// referenceMode is the mode of the reference: not tokenguard but the
// reference server (./reference), which verifies signatures with
// tokenguard's auth package and checks no revocation.
const referenceMode = "reference"

// instanceSpec says how to configure one tokenguard.
type instanceSpec struct {
	name      string
	alg       string // HS256 or ES256
	mode      string // strict or mirror (revocation.mode), or referenceMode
	cacheSize int    // verified-token cache entries; 0: off
	redisAddr string
	// protect is the reference server's guard of /app (its -protect);
	// extra are more of its flags.
	protect string
	extra   []string
	// env are more environment variables (NAME=value), after the run's.
	env []string
}

// instance is one running tokenguard, or the reference server.
type instance struct {
	spec instanceSpec
	base string // http://127.0.0.1:port
	proc *process
}

// launcher starts the tokenguard instances of one run and its reference
// servers: the binaries built for it, where their configurations (which
// hold the run's secrets) and their logs go.
type launcher struct {
	bin       string // tokenguard
	reference string // the reference server
	configDir string
	logDir    string
	sec       secrets
}

// start writes the instance's configuration and starts it; it does not
// wait for it to be ready (see awaitReady).
func (l launcher) start(ctx context.Context, spec instanceSpec) (*instance, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	bin, args := l.reference, referenceArgs(spec, port, l.sec)
	if spec.mode != referenceMode {
		file := filepath.Join(l.configDir, spec.name+".yaml")
		if err := os.WriteFile(file, []byte(instanceConfig(spec, port, l.sec)), 0o600); err != nil {
			return nil, err
		}
		bin, args = l.bin, []string{"-config", file}
	}
	p, err := startProcess(ctx, spec.name, bin, args, instanceEnv(spec, l.sec), filepath.Join(l.logDir, spec.name+".log"))
	if err != nil {
		return nil, err
	}
	return &instance{spec: spec, base: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), proc: p}, nil
}

// instanceConfig is the YAML of one instance: dev mode for the clear client
// secrets, JSON logs, the default issuer named (in dev an unnamed issuer
// follows listen, and the reference server must share it), and every other
// setting at its default. Only the
// instance with the verified-token cache names its setting in the file: the
// file is decoded strictly, so a tokenguard without that setting refuses
// to start with a message naming it, rather than quietly measuring no
// cache.
func instanceConfig(spec instanceSpec, port int, sec secrets) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dev: true\nlisten: 127.0.0.1:%d\nissuer: %s\nlog_format: json\n", port, config.Default().Issuer)
	fmt.Fprintf(&b, "redis:\n  addrs: [%q]\n", spec.redisAddr)
	if spec.cacheSize > 0 {
		fmt.Fprintf(&b, "tokens:\n  verified_cache_size: %d\n", spec.cacheSize)
	}
	fmt.Fprintf(&b, "revocation:\n  mode: %s\n", spec.mode)
	switch spec.alg {
	case "ES256":
		fmt.Fprintf(&b, "keys:\n  - {kid: %s, alg: ES256, private_key_file: %q}\n", es256KID, sec.es256File)
	default:
		fmt.Fprintf(&b, "keys:\n  - {kid: %s, alg: HS256, secret_env: %s}\n", hs256KID, hs256SecretEnv)
	}
	fmt.Fprintf(&b, "clients:\n  - {id: app, secret: %q, permissions: [sessions]}\n  - {id: admin, secret: %q, permissions: [admin]}\n  - {id: %s, secret: %q, permissions: [feed]}\n",
		sec.appSecret, sec.adminSecret, feedClientID, sec.feedSecret)
	return b.String()
}

// referenceArgs are the reference server's flags: the instance's key, and
// the issuer, audience and token lifetimes tokenguard has by default (which
// instanceConfig leaves alone), so that it accepts the tokens tokenguard
// issues with that key.
func referenceArgs(spec instanceSpec, port int, sec secrets) []string {
	def := config.Default()
	args := []string{
		"-listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		"-issuer", def.Issuer, "-audience", def.Audience,
		"-access-ttl", def.Tokens.AccessTTL.String(), "-leeway", def.Tokens.Leeway.String(),
	}
	if spec.protect != "" {
		args = append(args, "-protect", spec.protect)
	}
	args = append(args, spec.extra...)
	if spec.alg == "ES256" {
		return append(args, "-kid", es256KID, "-alg", "ES256", "-private-key-file", sec.es256File)
	}
	return append(args, "-kid", hs256KID, "-alg", "HS256", "-secret-env", hs256SecretEnv)
}

// instanceEnv is the benchmark's environment without any TOKENGUARD_
// variable of the caller's (they would change what is measured), plus the
// HS256 secret and the cache size, set on every instance so that "off" is
// explicit even once the cache is on by default.
func instanceEnv(spec instanceSpec, sec secrets) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, config.EnvPrefix) {
			env = append(env, kv)
		}
	}
	env = append(env,
		hs256SecretEnv+"="+sec.hs256Secret,
		feedSecretEnv+"="+sec.feedSecret,
		envName(cacheKey)+"="+strconv.Itoa(spec.cacheSize),
	)
	return append(env, spec.env...)
}

// envName is the environment variable of a setting, as config.Fields
// derives it; for a setting this tree does not have yet, the same rule.
func envName(key string) string {
	for _, f := range config.Fields() {
		if f.Key == key {
			return f.Env
		}
	}
	return config.EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// awaitReady polls /readyz until it answers 200 and returns how long after
// the process started that was. A process that exits first, or takes longer
// than timeout, is an error that quotes the end of its log.
func (in *instance) awaitReady(ctx context.Context, client *http.Client, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		status, err := getStatus(rctx, client, in.base+"/readyz", "")
		cancel()
		if err == nil && status == http.StatusOK {
			return time.Since(in.proc.started), nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("status %d", status)
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		select {
		case <-in.proc.Exited():
			return 0, in.proc.exitError()
		default:
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: /readyz not 200 after %v (last: %s); the end of its log:\n%s", in.spec.name, timeout, last, indent(tailFile(in.proc.logPath, 1500)))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Stop stops the instance.
func (in *instance) Stop() { in.proc.Stop() }

// memory reads the instance's resident set size and its peak.
func (in *instance) memory() (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", in.proc.Pid()))
	if err != nil {
		return 0, 0, err
	}
	st := parseProcStatus(string(b))
	return st["VmRSS"], st["VmHWM"], nil
}

// parseProcStatus reads the "kB" lines of /proc/<pid>/status as bytes.
func parseProcStatus(s string) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		num, unit, _ := strings.Cut(strings.TrimSpace(v), " ")
		if unit != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(num, 10, 64); err == nil {
			out[k] = n * 1024
		}
	}
	return out
}

// mirrorLoaded finds the instance's "revocation mirror loaded" log line and
// returns how many entries the snapshot held and how long it took, as the
// instance itself measured it.
func (in *instance) mirrorLoaded() (entries int64, took time.Duration, ok bool) {
	f, err := os.Open(in.proc.logPath)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg        string `json:"msg"`
			Entries    int64  `json:"entries"`
			DurationMS int64  `json:"duration_ms"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "revocation mirror loaded" {
			return line.Entries, time.Duration(line.DurationMS) * time.Millisecond, true
		}
	}
	return 0, 0, false
}
