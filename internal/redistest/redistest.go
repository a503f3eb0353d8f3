// Package redistest starts real redis-server processes for tests, each on a
// free loopback port of its own, so that tests never touch a Redis that
// happens to run on the machine and fault tests can kill and restart theirs:
// single servers, a Redis Cluster (Cluster) and a Sentinel group
// (Sentinel).
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Server is one redis-server process owned by a test.
type Server struct {
	// Addr is the server's host:port on 127.0.0.1.
	Addr string

	t    testing.TB
	bin  string
	port int
	dir  string
	// conf, when set, is a config file given first on the command line
	// (a Sentinel needs one it can rewrite).
	conf string
	args []string

	mu   sync.Mutex // guards cmd, done and adm: tests kill servers from goroutines
	cmd  *exec.Cmd
	done chan struct{}
	adm  *redis.Client
}

// Start runs a fresh redis-server on a free loopback port, keeping nothing
// on disk, and stops it when the test ends. Without the binary the test is
// skipped with a loud message, except under CI=true, where a missing Redis
// fails the run.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t)
}

// StartWith is Start with more redis-server arguments, which come after the
// defaults and so override them: "--appendonly", "yes" turns the append-only
// file on.
func StartWith(t testing.TB, args ...string) *Server {
	t.Helper()
	s := newServer(t, lookBinary(t), args)
	s.startFirst()
	t.Cleanup(s.Stop)
	return s
}

// lookBinary finds redis-server, or skips (fails under CI=true).
func lookBinary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found on PATH (CI=true): integration tests need it; install Debian's redis-server")
		}
		t.Skip("SKIPPING INTEGRATION TEST: redis-server not found on PATH; install it (apt-get install redis-server) to run the real-Redis tests")
	}
	return bin
}

func newServer(t testing.TB, bin string, args []string) *Server {
	t.Helper()
	s := &Server{t: t, bin: bin, port: freePort(t), dir: t.TempDir(), args: args}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	return s
}

// Client returns a new client for the server, closed when the test ends.
func (s *Server) Client() *redis.Client {
	s.t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop kills the server at once (SIGKILL), as a crash would. It is safe to
// call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Running reports whether the server process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Restart kills the server if it runs and starts it again on the same port
// and directory, with args added to the ones it was started with: a server
// with an append-only file or snapshots reloads them, one without comes back
// empty, as after a crash.
func (s *Server) Restart(args ...string) {
	s.t.Helper()
	s.Stop()
	s.args = append(s.args, args...)
	s.start()
}

func (s *Server) start() {
	s.t.Helper()
	if s.launch() {
		s.t.Fatalf("redis-server on port %d exited before it was ready:\n%s", s.port, s.Log())
	}
}

// startFirst starts a server for the first time. Its port was free when it
// was chosen, but another process may have taken it since (any outgoing
// connection takes an ephemeral port): a server that exits before it is
// ready is tried again on fresh ports, twice at most. A restart keeps its
// port and uses start.
func (s *Server) startFirst() {
	s.t.Helper()
	for attempt := 1; ; attempt++ {
		if !s.launch() {
			return
		}
		if attempt == 3 {
			s.t.Fatalf("redis-server on port %d exited before it was ready, on 3 ports in turn:\n%s", s.port, s.Log())
		}
		s.t.Logf("redis-server on port %d exited before it was ready; trying fresh ports:\n%s", s.port, s.Log())
		s.port = freePort(s.t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		for i := 0; i+1 < len(s.args); i++ {
			if s.args[i] == "--cluster-port" {
				s.args[i+1] = strconv.Itoa(freePort(s.t))
			}
		}
	}
}

// launch runs the server and waits until it answers; exited reports that it
// stopped before that.
func (s *Server) launch() (exited bool) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(args,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--protected-mode", "no",
		"--loglevel", "warning",
	)
	if s.conf == "" {
		// A replica's first sync starts at once rather than after the
		// default five seconds spent waiting for more replicas.
		args = append(args, "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0")
	}
	args = append(args, s.args...)
	cmd := exec.Command(s.bin, args...)
	logFile, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatalf("redis-server log: %v", err)
	}
	defer logFile.Close()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	if s.awaitReady(done) {
		s.cmd = nil
		return true
	}
	return false
}

// awaitReady waits until the server answers PING: readiness is an event we
// can observe, so there is no fixed sleep. A server loading its append-only
// file answers LOADING until it is done.
func (s *Server) awaitReady(exited <-chan struct{}) (early bool) {
	s.t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return false
		}
		select {
		case <-exited:
			return true
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %d not ready after 10s: %v", s.port, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Log returns what the server has logged, for failure messages.
func (s *Server) Log() string {
	out, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return err.Error()
	}
	return string(out)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// String describes the server for test logs.
func (s *Server) String() string { return fmt.Sprintf("redis-server %s", s.Addr) }

// ForEachBackend runs test twice: against miniredis (the embedded store of
// `go run .`, fast) and against a real redis-server started for it.
func ForEachBackend(t *testing.T, test func(t *testing.T, rdb *redis.Client)) {
	t.Helper()
	t.Run("miniredis", func(t *testing.T) {
		m := miniredis.RunT(t)
		c := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { _ = c.Close() })
		test(t, c)
	})
	t.Run("redis-server", func(t *testing.T) {
		test(t, Start(t).Client())
	})
}

// await polls cond until it returns nil, failing the test with its last
// error after timeout: it waits for an event the servers make happen.
func await(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v: %v", what, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// info reads one field of INFO from a server.
func info(ctx context.Context, c *redis.Client, section, field string) (string, error) {
	s, err := c.Info(ctx, section).Result()
	if err != nil {
		return "", err
	}
	return infoField(s, field), nil
}
