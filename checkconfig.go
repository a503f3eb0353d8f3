package main

import (
	"bytes"
	"context"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/tokenguard/tokenguard/auth"
)

// checkConfig loads and checks the configuration exactly as serve does (the
// same prepare, so the same refusals and messages) and prints the effective
// configuration, every secret masked. It connects to no Redis and fetches
// no JWKS: a trusted issuer's key file is read, its JWKS URL is not.
func (c cli) checkConfig(ctx context.Context, args []string) error {
	fs := newFlagSet("check-config", "[-config FILE]", c.stderr)
	configFlag := fs.String("config", "", "path of the YAML configuration (default $TOKENGUARD_CONFIG, else config.yaml)")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	p, err := prepare(*configFlag, c.getenv)
	if err != nil {
		return err
	}
	for i, ti := range p.set.auth.TrustedIssuers {
		if ti.PublicKeyFile == "" {
			continue
		}
		if _, err := auth.NewTrustedIssuer(ctx, ti); err != nil {
			return fmt.Errorf("configuration: trusted_issuers[%d]: %w", i, err)
		}
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "# %s: valid (dev: %t). The effective configuration (defaults, file, environment), secrets masked:\n", p.path, p.cfg.Dev)
	if len(p.keys) == 0 {
		out.WriteString("# no keys: serve signs with an ephemeral key (dev only)\n")
	}
	if len(p.cfg.Redis.Addrs) == 0 {
		out.WriteString("# no redis.addrs: serve runs on the embedded store (dev only)\n")
	}
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(p.cfg.Redacted()); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err = c.stdout.Write(out.Bytes())
	return err
}
