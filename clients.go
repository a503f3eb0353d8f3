package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/tokenguard/tokenguard/config"
	"github.com/tokenguard/tokenguard/handlers"
)

// loadClients resolves each client's secret to its SHA-256, the only form the
// HTTP layer keeps.
func loadClients(cfg config.Config, getenv func(string) string) ([]handlers.Client, error) {
	out := make([]handlers.Client, 0, len(cfg.Clients))
	for i, c := range cfg.Clients {
		hc := handlers.Client{ID: c.ID, Permissions: c.Permissions}
		switch {
		case c.SecretSHA256 != "":
			b, err := hex.DecodeString(c.SecretSHA256)
			if err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("configuration: clients[%d].secret_sha256: want 64 hex digits", i)
			}
			copy(hc.SecretHash[:], b)
		default:
			secret, what := c.Secret, fmt.Sprintf("clients[%d].secret", i)
			if c.SecretEnv != "" {
				secret, what = getenv(c.SecretEnv), fmt.Sprintf("clients[%d] (secret from $%s)", i, c.SecretEnv)
			}
			if err := cfg.CheckSecret(what, []byte(secret), false); err != nil {
				return nil, fmt.Errorf("configuration: %w", err)
			}
			hc.SecretHash = sha256.Sum256([]byte(secret))
		}
		out = append(out, hc)
	}
	return out, nil
}
