package main

import (
	"context"

	"github.com/tokenguard/tokenguard/handlers"
	"github.com/tokenguard/tokenguard/sessions"
)

// refreshTokens lets the RFC 7662 and RFC 7009 endpoints see the session
// store's refresh tokens in the HTTP layer's terms.
type refreshTokens struct{ store *sessions.Store }

// IntrospectRefresh describes a live refresh token.
func (r refreshTokens) IntrospectRefresh(ctx context.Context, token string) (handlers.RefreshInfo, bool, error) {
	i, ok, err := r.store.Introspect(ctx, token)
	if err != nil || !ok {
		return handlers.RefreshInfo{}, false, err
	}
	return handlers.RefreshInfo{
		SessionID: i.SessionID,
		Subject:   i.Subject,
		ClientID:  i.ClientID,
		Scope:     i.Scope,
		IssuedAt:  i.IssuedAt,
		ExpiresAt: i.ExpiresAt,
	}, true, nil
}

// RevokeRefresh ends the session of a live refresh token.
func (r refreshTokens) RevokeRefresh(ctx context.Context, token, actor string) (bool, error) {
	return r.store.RevokeRefreshToken(ctx, token, actor)
}
