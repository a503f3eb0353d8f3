package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/tokenguard/tokenguard/config"
)

// healthcheck asks /readyz and succeeds only on 200. It is the image's
// HEALTHCHECK (the image has no shell or curl), so it fails with status 1
// whatever the reason, as Docker expects (2 is reserved there), and a
// bad flag is the only usage error.
func (c cli) healthcheck(ctx context.Context, args []string) error {
	fs := newFlagSet("healthcheck", "[-url URL] [-timeout D]", c.stderr)
	target := fs.String("url", "", "the readiness URL (default http://<listen>/readyz from the configuration, 127.0.0.1 for an unspecified host)")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the answer")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if *timeout <= 0 || *timeout > time.Minute {
		return usagef("healthcheck: -timeout wants more than 0 and at most 1m, got %v", *timeout)
	}
	u := *target
	if u == "" {
		path, required := configPath("", c.getenv)
		cfg, err := config.Load(path, required, c.getenv)
		if err != nil {
			return fmt.Errorf("healthcheck: no -url, and the listen address cannot be read: configuration: %w", err)
		}
		u = readyzURL(cfg.Listen)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return fmt.Errorf("healthcheck: reading the answer of %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d: %s", u, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	_, err = fmt.Fprintf(c.stdout, "%s\n", strings.TrimSpace(string(body)))
	return err
}

// readyzURL is where a server listening on listen answers /readyz for a
// process on the same host: an unspecified host (":8080", "0.0.0.0", "::")
// is reached on loopback.
func readyzURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen + "/readyz"
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.Is4() && ip.IsUnspecified()) {
		host = "127.0.0.1"
	} else if err == nil && ip.IsUnspecified() {
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz"
}
