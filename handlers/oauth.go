package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/clients"
	"github.com/tokenguard/tokenguard/users"
)

// Token type hints (RFC 7009 §2.1, RFC 7662 §2.1).
const (
	hintAccessToken  = "access_token"
	hintRefreshToken = "refresh_token"
)

// searchOrder is the order in which the token kinds are tried. A hint only
// puts its kind first: RFC 7009 §2.1 and RFC 7662 §2.1 require extending the
// search when the hint is wrong, and an unknown hint is ignored.
func searchOrder(hint string) []string {
	if hint == hintRefreshToken {
		return []string{hintRefreshToken, hintAccessToken}
	}
	return []string{hintAccessToken, hintRefreshToken}
}

// oauthTokenRequest reads the request of the introspection and revocation
// endpoints: an OAuth form (oauthForm) from a client holding perm, and the
// token with its optional hint.
func (h *handler) oauthTokenRequest(c echo.Context, perm string) (client Client, token, hint string, err error) {
	client, err = h.oauthForm(c)
	if err != nil {
		return Client{}, "", "", err
	}
	if err := oauthPermission(client, perm); err != nil {
		return Client{}, "", "", err
	}
	r := c.Request()
	token = r.PostForm.Get("token")
	if token == "" {
		return Client{}, "", "", oauthError("invalid_request", "token is required")
	}
	return client, token, r.PostForm.Get("token_type_hint"), nil
}

// introspection is an RFC 7662 §2.2 response. Every member but active is
// omitted when empty, so an inactive token is exactly {"active":false}.
// token_use (access_token or refresh_token) is an extension, as in Ory
// Hydra; sid is the session.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Nbf       int64  `json:"nbf,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Aud       any    `json:"aud,omitempty"`
	Iss       string `json:"iss,omitempty"`
	JTI       string `json:"jti,omitempty"`
	SID       string `json:"sid,omitempty"`
	TokenUse  string `json:"token_use,omitempty"`
}

// introspect is the RFC 7662 endpoint. An access token (ours or a trusted
// issuer's) is active when authenticate accepts it, so expired, revoked,
// banned and malformed tokens are all inactive; any client with the
// permission may introspect it, since resource servers are exactly who ask.
// A refresh token is active only for the client it was issued to. Anything
// else is {"active":false}; only a store that cannot be read is an error
// (503), since "inactive" would be a claim we could not check.
func (h *handler) introspect(c echo.Context) error {
	client, token, hint, err := h.oauthTokenRequest(c, clients.PermIntrospect)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	resp := introspection{}
	for _, kind := range searchOrder(hint) {
		var found bool
		if kind == hintAccessToken {
			found, err = h.introspectAccess(ctx, token, &resp)
		} else {
			found, err = h.introspectRefresh(ctx, client, token, &resp)
		}
		if err != nil {
			return err
		}
		if found {
			break
		}
	}
	hdr := c.Response().Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Pragma", "no-cache")
	return c.JSON(http.StatusOK, resp)
}

// introspectAccess fills resp for a good access token. found means the
// search is over.
func (h *handler) introspectAccess(ctx context.Context, token string, resp *introspection) (found bool, err error) {
	claims, err := h.users.Authenticate(ctx, token)
	if users.Inactive(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	*resp = introspection{
		Active:    true,
		Scope:     claims.Scope,
		ClientID:  claims.ClientID,
		TokenType: "Bearer",
		Sub:       claims.Subject,
		Iss:       claims.Issuer,
		SID:       claims.SessionID,
		TokenUse:  hintAccessToken,
	}
	if !claims.IDDerived() {
		resp.JTI = claims.ID
	}
	if claims.ExpiresAt != nil {
		resp.Exp = claims.ExpiresAt.Unix()
	}
	if claims.IssuedAt != nil {
		resp.Iat = claims.IssuedAt.Unix()
	}
	if claims.NotBefore != nil {
		resp.Nbf = claims.NotBefore.Unix()
	}
	switch len(claims.Audience) {
	case 0:
	case 1:
		resp.Aud = claims.Audience[0]
	default:
		resp.Aud = []string(claims.Audience)
	}
	return true, nil
}

// introspectRefresh fills resp for a live refresh token of client. A refresh
// token of another client is found but inactive: it must not be described
// to anyone but its owner.
func (h *handler) introspectRefresh(ctx context.Context, client Client, token string, resp *introspection) (found bool, err error) {
	info, ok, err := h.users.RefreshToken(ctx, token)
	if err != nil || !ok {
		return false, err
	}
	if info.ClientID != client.ID {
		return true, nil
	}
	*resp = introspection{
		Active:   true,
		Scope:    info.Scope,
		ClientID: info.ClientID,
		Exp:      info.ExpiresAt.Unix(),
		Iat:      info.IssuedAt.Unix(),
		Sub:      info.Subject,
		Iss:      h.auth.Issuer(),
		SID:      info.SessionID,
		TokenUse: hintRefreshToken,
	}
	return true, nil
}

// revokeToken is the RFC 7009 endpoint. An access token (ours or a trusted
// issuer's, revoked or not) has its jti revoked until it expires; a refresh
// token ends its whole session. A token that is unknown, malformed or
// already expired needs nothing and is answered 200 like a revocation
// (§2.2). The answer is 200 only once the store has the revocation; when it
// cannot be reached, 503 with Retry-After (§2.2.1).
//
// Any client with the revoke permission may revoke an access token: whoever
// holds the token can already end its session through /v1/logout, so tying
// it to the client it was issued to would protect nothing. A refresh token
// is the client's own credential (RFC 6749 §10.4) and only that client may
// revoke it (RFC 7009 §2.1); another client gets invalid_grant.
func (h *handler) revokeToken(c echo.Context) error {
	client, token, hint, err := h.oauthTokenRequest(c, clients.PermRevoke)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	for _, kind := range searchOrder(hint) {
		var done bool
		if kind == hintAccessToken {
			done, err = h.users.RevokeAccess(ctx, client.ID, token)
		} else {
			done, err = h.users.RevokeRefresh(ctx, client.ID, token)
		}
		if errors.Is(err, users.ErrOtherClient) {
			return oauthError("invalid_grant", "the refresh token was issued to another client")
		}
		if err != nil {
			return err
		}
		if done {
			break
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.NoContent(http.StatusOK)
}
