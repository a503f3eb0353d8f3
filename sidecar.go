package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/config"
	"github.com/tokenguard/tokenguard/handlers"
)

// trustedIssuers loads the other identity providers whose tokens are
// accepted. A JWKS that cannot be fetched at start-up does not stop
// tokenguard (its own tokens must keep working); it is logged and fetched
// again on the first token that needs it. The background refreshes stop
// when ctx is done.
func trustedIssuers(ctx context.Context, cfg config.Config, log *slog.Logger) ([]*auth.TrustedIssuer, error) {
	out := make([]*auth.TrustedIssuer, 0, len(cfg.TrustedIssuers))
	for i, ti := range cfg.TrustedIssuers {
		loaded, err := auth.NewTrustedIssuer(ctx, auth.TrustedIssuerConfig{
			Issuer:        ti.Issuer,
			Audience:      ti.Audience,
			Algorithms:    ti.Algorithms,
			JWKSURL:       ti.JWKSURL,
			PublicKeyFile: ti.PublicKeyFile,
			Logger:        log,
		})
		if err != nil {
			return nil, fmt.Errorf("configuration: trusted_issuers[%d]: %w", i, err)
		}
		log.Info("trusted issuer", "issuer", ti.Issuer, "audience", ti.Audience, "algorithms", ti.Algorithms, "jwks_url", ti.JWKSURL, "public_key_file", ti.PublicKeyFile)
		out = append(out, loaded)
	}
	return out, nil
}

// verifyConfig turns the forward-auth settings into the HTTP layer's.
func verifyConfig(v config.Verify) (handlers.VerifyConfig, error) {
	proxies := make([]netip.Prefix, 0, len(v.TrustedProxies))
	for i, p := range v.TrustedProxies {
		prefix, err := config.ParseProxy(p)
		if err != nil {
			return handlers.VerifyConfig{}, fmt.Errorf("configuration: verify.trusted_proxies[%d]: %w", i, err)
		}
		proxies = append(proxies, prefix)
	}
	return handlers.VerifyConfig{
		Cookie:         v.Cookie,
		TrustedProxies: proxies,
		CacheMaxAge:    v.CacheMaxAge,
		EmailClaim:     v.EmailClaim,
		GroupsClaim:    v.GroupsClaim,
	}, nil
}
