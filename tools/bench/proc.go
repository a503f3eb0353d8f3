package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a process gets to exit after SIGTERM before it is
// killed.
const stopGrace = 5 * time.Second

// process is one child process the benchmark owns (redis-server or
// tokenguard). It writes its output to a log file, is told to stop with
// SIGTERM when its context ends or Stop is called, and is killed if it has
// not exited stopGrace later.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	cancel  context.CancelFunc
	started time.Time
	done    chan struct{}
	err     error // the exit status; read only after done is closed
}

// startProcess runs bin with args and env, its output appended to logPath.
func startProcess(ctx context.Context, name, bin string, args, env []string, logPath string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", name, err)
	}
	defer logFile.Close()

	pctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(pctx, bin, args...)
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childAttr()
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopGrace
	p := &process{name: name, logPath: logPath, cmd: cmd, cancel: cancel, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.started = time.Now()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the process has exited.
func (p *process) Exited() <-chan struct{} { return p.done }

// exitError describes how a process that should still be running ended:
// its first line quotes the last line of the process's log, which is where
// a tokenguard that refused its configuration says why, and the end of the
// log follows.
func (p *process) exitError() error {
	tail := tailFile(p.logPath, 1500)
	last := tail[strings.LastIndexByte(tail, '\n')+1:]
	return fmt.Errorf("%s exited (%v): %s\nthe end of its log %s:\n%s", p.name, p.err, last, p.logPath, indent(tail))
}

// Stop asks the process to exit and waits until it has. It is safe to call
// more than once.
func (p *process) Stop() {
	p.cancel()
	<-p.done
}

// tailFile returns at most the last n bytes of a file, starting on a line.
func tailFile(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read: %v)", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read: %v)", err)
	}
	off := max(st.Size()-n, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Sprintf("(cannot read: %v)", err)
	}
	s := string(b)
	if off > 0 {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return strings.TrimRight(s, "\n")
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
