// Package nginxtest starts real nginx processes for tests, each on a free
// loopback port with a generated configuration and every file it writes
// (pid, logs, temporary bodies) in a directory of its own, so that tests
// never touch the machine's nginx and can show what a real reverse proxy
// does with tokenguard's answers.
package nginxtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is one nginx process owned by a test.
type Server struct {
	// Addr is the host:port nginx listens on, on 127.0.0.1.
	Addr string

	t    testing.TB
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs nginx in the foreground with http, the directives of its http
// block (server blocks, upstreams), and stops it when the test ends. http is
// given the address nginx must listen on. Without the binary the test is
// skipped with a loud message, except under CI=true, where a missing nginx
// fails the run.
func Start(t testing.TB, http func(addr string) string) *Server {
	t.Helper()
	bin := lookPath()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("nginx not found (CI=true): the forward-auth test needs it; install Debian's nginx")
		}
		t.Skip("SKIPPING INTEGRATION TEST: nginx not found; install it (apt-get install nginx) to run the real-nginx forward-auth test")
	}
	s := &Server{t: t, dir: t.TempDir()}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	conf := filepath.Join(s.dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(s.config(http(s.Addr))), 0o600); err != nil {
		t.Fatalf("write nginx.conf: %v", err)
	}
	// -e names the error log before the configuration is read, so that
	// nginx never opens the system's /var/log/nginx.
	cmd := exec.Command(bin, "-p", s.dir+"/", "-c", conf, "-e", filepath.Join(s.dir, "error.log"))
	out, err := os.Create(filepath.Join(s.dir, "stderr.log"))
	if err != nil {
		t.Fatalf("nginx log: %v", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	t.Cleanup(s.Stop)
	s.awaitReady()
	return s
}

// lookPath finds nginx on PATH or where Debian installs it (/usr/sbin is
// not on every user's PATH).
func lookPath() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return ""
}

// config is the whole nginx.conf: in the foreground, one worker, and every
// path inside the test's directory. The master runs as the current user; as
// root, the workers are told to stay root, since the default user (nobody)
// could not read the test's directory.
func (s *Server) config(http string) string {
	var b strings.Builder
	if os.Geteuid() == 0 {
		b.WriteString("user root;\n")
	}
	fmt.Fprintf(&b, `daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events {
    worker_connections 64;
}
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;

%[2]s
}
`, s.dir, http)
	return b.String()
}

// Stop shuts nginx down (SIGTERM: the master stops its workers and exits)
// and waits for it, killing it if it does not exit in time. It is safe to
// call more than once.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Logs returns nginx's error log and output, for a failing test to show.
func (s *Server) Logs() string {
	var b strings.Builder
	for _, name := range []string{"stderr.log", "error.log"} {
		data, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(&b, "%s: %v\n", name, err)
		}
		fmt.Fprintf(&b, "== %s\n%s", name, data)
	}
	return b.String()
}

// awaitReady waits until nginx accepts connections: readiness is an event
// we can observe, so there is no fixed sleep.
func (s *Server) awaitReady() {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			return
		}
		select {
		case <-s.done:
			s.cmd = nil
			s.t.Fatalf("nginx on %s exited before it was ready:\n%s", s.Addr, s.Logs())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("nginx on %s not ready after 10s: %v\n%s", s.Addr, err, s.Logs())
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
