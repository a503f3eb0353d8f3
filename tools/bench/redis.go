package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is one redis-server the benchmark owns, on a free loopback
// port, keeping nothing on disk.
type redisServer struct {
	Addr string
	proc *process
}

// startRedis runs a fresh redis-server, its working directory under dir
// and its log in logDir, and waits until it answers PING.
func startRedis(ctx context.Context, bin, dir, logDir, name string) (*redisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, name)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dataDir,
		"--protected-mode", "no",
		"--loglevel", "warning",
	}
	p, err := startProcess(ctx, name, bin, args, os.Environ(), filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	s := &redisServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), proc: p}
	if err := s.awaitPing(ctx); err != nil {
		p.Stop()
		return nil, err
	}
	return s, nil
}

// Stop stops the server; its data is gone.
func (s *redisServer) Stop() { s.proc.Stop() }

// Client returns a client with room for poolSize concurrent commands.
func (s *redisServer) Client(poolSize int) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr, PoolSize: poolSize, MaxRetries: -1})
}

func (s *redisServer) awaitPing(ctx context.Context) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := c.Ping(pctx).Err()
		cancel()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case time.Now().After(deadline):
			return fmt.Errorf("%s on %s not answering PING after 10s: %w", s.proc.name, s.Addr, err)
		}
		select {
		case <-s.proc.Exited():
			return s.proc.exitError()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// freePort returns a loopback port nobody listens on; never Redis's usual
// 6379, so that a Redis the machine runs is never touched.
func freePort() (int, error) {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if err := l.Close(); err != nil {
			return 0, err
		}
		if port != 6379 {
			return port, nil
		}
	}
}

// redisInfo reads one section of INFO as key → value.
func redisInfo(ctx context.Context, rdb *redis.Client, section string) (map[string]string, error) {
	s, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return nil, fmt.Errorf("INFO %s: %w", section, err)
	}
	return parseInfo(s), nil
}

// parseInfo reads the text of INFO: "key:value" lines, with "# Section"
// headers and blank lines in between.
func parseInfo(s string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}

// infoInt reads an integer field of INFO.
func infoInt(info map[string]string, key string) (int64, error) {
	v, ok := info[key]
	if !ok {
		return 0, fmt.Errorf("INFO has no %s", key)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("INFO %s = %q: not an integer", key, v)
	}
	return n, nil
}
