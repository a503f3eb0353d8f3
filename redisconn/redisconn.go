// Package redisconn opens the Redis that holds tokenguard's state: a real
// server (standalone, Sentinel or Cluster, through one UniversalClient) or,
// when no address is configured, an embedded in-process Redis for trying the
// service out, whose data is lost on exit.
package redisconn

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Config says which Redis to open.
type Config struct {
	// Addrs: none opens the embedded store, one a standalone server,
	// several a Cluster; with MasterName set they are Sentinels.
	Addrs      []string
	MasterName string
	Username   string
	Password   string
	DB         int
	// DialTimeout bounds connecting and the start-up ping.
	DialTimeout time.Duration
	// Timeout bounds each read and write on a connection, and how long a
	// write waits for its replicas.
	Timeout time.Duration
	// MinReplicasAck is how many replicas must confirm a write before it
	// is acknowledged (see Writer); zero waits for none.
	MinReplicasAck int
	// CommandFailed, when not nil, is told the name of every command that
	// fails (see errorHook for what counts), for metrics.
	CommandFailed func(command string)
}

// Conn is an open connection to the store.
type Conn struct {
	// Client is the one client every package shares.
	Client redis.UniversalClient
	// Embedded is true when the store lives in this process.
	Embedded bool
	// Writer runs the writes that must be durable before they are
	// acknowledged, for every package that changes state.
	Writer *Writer

	stopEmbedded func()
}

// tickInterval is how often the embedded store's clock is moved on, so that
// its keys expire in wall-clock time (miniredis only expires keys when told).
const tickInterval = 50 * time.Millisecond

// Open connects to the configured store and pings it, so that a wrong
// address or password stops start-up instead of the first request.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Conn, error) {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	c := &Conn{}
	addrs := cfg.Addrs
	if len(addrs) == 0 {
		m := miniredis.NewMiniRedis()
		if err := m.Start(); err != nil {
			return nil, fmt.Errorf("start embedded store: %w", err)
		}
		c.Embedded = true
		c.stopEmbedded = runClock(m)
		addrs = []string{m.Addr()}
		log.Warn("EMBEDDED STORE: no redis.addrs configured, using an in-process Redis; every revocation is lost when tokenguard exits. Set redis.addrs (TOKENGUARD_REDIS_ADDRS) for anything but a trial.")
	}
	c.Client = redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:       addrs,
		MasterName:  cfg.MasterName,
		Username:    cfg.Username,
		Password:    cfg.Password,
		DB:          cfg.DB,
		DialTimeout: cfg.DialTimeout,
		// A request waits on Redis only briefly: with the store down, a
		// check fails within about a timeout instead of after seconds of
		// retried dials, so gateways see a prompt 503.
		ReadTimeout:           cfg.Timeout,
		WriteTimeout:          cfg.Timeout,
		MaxRetries:            1,
		DialerRetries:         1,
		ContextTimeoutEnabled: true,
	})
	if cfg.CommandFailed != nil {
		c.Client.AddHook(errorHook{failed: cfg.CommandFailed})
	}
	if cc, ok := c.Client.(*redis.ClusterClient); ok {
		watch(cc)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if err := c.Client.Ping(pctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis at %v: %w", addrs, err)
	}
	if !c.Embedded {
		warnIfVolatile(pctx, c.Client, cfg.MasterName, log)
	}
	c.Writer = NewWriter(c.Client, cfg.MinReplicasAck, cfg.Timeout)
	return c, nil
}

// Close closes the client and stops the embedded store, if any.
func (c *Conn) Close() error {
	err := c.Client.Close()
	if c.stopEmbedded != nil {
		c.stopEmbedded()
	}
	return err
}

// runClock keeps the embedded store's clock on wall-clock time and expires
// its keys as it goes. The returned function stops it and the store.
func runClock(m *miniredis.Miniredis) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(tickInterval)
		defer t.Stop()
		last := time.Now()
		m.SetTime(last)
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				m.SetTime(now)
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			m.Close()
		})
	}
}
