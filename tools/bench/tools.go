package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// tools are the external programs the benchmark drives.
type tools struct {
	redisServer string
	wrk         string
	// nginx fronts variant (c) of the side-by-side run; empty when it is
	// not installed, and then (c) alone is not measured.
	nginx string
}

// findTools looks up redis-server and wrk on PATH. A missing one is
// installed from Debian's packages when we run as root; otherwise the
// benchmark stops and says what to install.
func findTools(ctx context.Context, log *slog.Logger) (tools, error) {
	var apt aptInstaller
	redisServer, err := apt.ensure(ctx, log, "redis-server", "redis-server")
	if err != nil {
		return tools{}, err
	}
	wrk, err := apt.ensure(ctx, log, "wrk", "wrk")
	if err != nil {
		return tools{}, err
	}
	return tools{redisServer: redisServer, wrk: wrk, nginx: findNginx()}, nil
}

// findNginx finds nginx on PATH or where Debian installs it (/usr/sbin is
// not on every user's PATH); empty when it is not installed.
func findNginx() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return ""
}

// aptInstaller installs Debian packages, running apt-get update once.
type aptInstaller struct {
	updated bool
}

func (a *aptInstaller) ensure(ctx context.Context, log *slog.Logger, program, pkg string) (string, error) {
	if path, err := exec.LookPath(program); err == nil {
		return path, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("%s is not on PATH and we are not root, so it cannot be installed here; install it first (Debian: sudo apt-get install -y %s)", program, pkg)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", fmt.Errorf("%s is not on PATH and there is no apt-get to install it; install %s by hand", program, pkg)
	}
	if !a.updated {
		log.Info("apt-get update", "for", pkg)
		if err := aptGet(ctx, "update", "-qq"); err != nil {
			return "", err
		}
		a.updated = true
	}
	log.Info("apt-get install", "package", pkg)
	if err := aptGet(ctx, "install", "-y", "-qq", "--no-install-recommends", pkg); err != nil {
		return "", err
	}
	path, err := exec.LookPath(program)
	if err != nil {
		return "", fmt.Errorf("%s is still not on PATH after installing %s", program, pkg)
	}
	return path, nil
}

func aptGet(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, indent(string(out)))
	}
	return nil
}

// machine describes where the numbers were measured.
type machine struct {
	CPUs         int    `json:"nproc"`
	CPUModel     string `json:"cpu_model"`
	Kernel       string `json:"kernel"`
	OSArch       string `json:"os_arch"`
	GoVersion    string `json:"go_version"`
	RedisVersion string `json:"redis_version"`
	WrkVersion   string `json:"wrk_version"`
	// LoadAverage is the 1-minute load average before the run began: other
	// work on the machine skews every number.
	LoadAverage string `json:"load_average_at_start"`
}

// loadAverage reads the 1-minute load average.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	load, _, _ := strings.Cut(string(b), " ")
	return load
}

func describeMachine(ctx context.Context, t tools, load string) machine {
	m := machine{
		CPUs:        runtime.NumCPU(),
		CPUModel:    "unknown",
		Kernel:      "unknown",
		OSArch:      runtime.GOOS + "/" + runtime.GOARCH,
		GoVersion:   runtime.Version(),
		LoadAverage: load,
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuModel(b)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.RedisVersion = redisVersion(commandOutput(ctx, t.redisServer, "--version"))
	// wrk -v prints its version and exits with status 1.
	m.WrkVersion = wrkVersion(commandOutput(ctx, t.wrk, "-v"))
	return m
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// commandOutput runs a program for what it prints, whatever its exit
// status; it reports the error only when the program printed nothing.
func commandOutput(ctx context.Context, bin string, args ...string) string {
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if len(bytes.TrimSpace(out)) == 0 && err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	return string(out)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if s == "" {
		return "unknown"
	}
	return s
}

// redisVersion shortens `redis-server --version` ("Redis server v=7.0.15
// sha=… malloc=jemalloc-5.3.0 bits=64 build=…") to "Redis 7.0.15
// (jemalloc-5.3.0)".
func redisVersion(out string) string {
	line := firstLine(out)
	var version, malloc string
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			version = v
		}
		if v, ok := strings.CutPrefix(f, "malloc="); ok {
			malloc = v
		}
	}
	switch {
	case version == "":
		return line
	case malloc == "":
		return "Redis " + version
	}
	return fmt.Sprintf("Redis %s (%s)", version, malloc)
}

// wrkVersion keeps the first line of `wrk -v` up to its copyright.
func wrkVersion(out string) string {
	line, _, _ := strings.Cut(firstLine(out), " Copyright")
	return line
}
