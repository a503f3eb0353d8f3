// Package redistest starts real redis-server processes for tests, each on a
// free loopback port of its own, so that tests never touch a Redis that
// happens to run on the machine and fault tests can kill and restart theirs.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs a fresh redis-server on a free loopback port and stops it when
// the test ends. Without the binary the test is skipped with a loud message,
// except under CI=true, where a missing Redis fails the run.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found on PATH (CI=true): integration tests need it; install Debian's redis-server")
		}
		t.Skip("SKIPPING INTEGRATION TEST: redis-server not found on PATH; install it (apt-get install redis-server) to run the real-Redis tests")
	}
	s := &Server{t: t, bin: bin, port: freePort(t), dir: t.TempDir()}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	s.start()
	t.Cleanup(s.Stop)
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
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts the server again on the same port, empty: the data is gone,
// as after a crash of a server that keeps nothing on disk.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

func (s *Server) start() {
	s.t.Helper()
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--protected-mode", "no",
		"--loglevel", "warning",
	)
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
	s.awaitReady(done)
}

// awaitReady waits until the server answers PING: readiness is an event we
// can observe, so there is no fixed sleep.
func (s *Server) awaitReady(exited <-chan struct{}) {
	s.t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redis-server on port %d exited before it was ready:\n%s", s.port, out)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %d not ready after 10s: %v", s.port, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
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
