package main

import (
	"fmt"

	"github.com/tokenguard/tokenguard/clients"
	"github.com/tokenguard/tokenguard/config"
)

// loadClients builds the client registry, which checks each client's
// settings and keeps its secret as a SHA-256 only.
func loadClients(cfg config.Config, getenv func(string) string) (*clients.Registry, error) {
	entries := make([]clients.Entry, 0, len(cfg.Clients))
	for _, c := range cfg.Clients {
		entries = append(entries, clients.Entry{ID: c.ID, Secret: c.Secret, SecretEnv: c.SecretEnv, SecretSHA256: c.SecretSHA256, Permissions: c.Permissions})
	}
	r, err := clients.New(clients.Config{Clients: entries, Getenv: getenv, Dev: cfg.Dev})
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return r, nil
}
