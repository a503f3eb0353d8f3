package handlers

import (
	"errors"
	"mime"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/clients"
	"github.com/tokenguard/tokenguard/sessions"
	"github.com/tokenguard/tokenguard/users"
)

// oauthError is an error of the token endpoint in the RFC 6749 §5.2 shape.
func oauthError(code, description string) error {
	return &apiError{http.StatusBadRequest, code, description}
}

// oauthForm reads the request of an OAuth endpoint (token, introspection,
// revocation): a form body, with no parameter twice (RFC 6749 §3.2), from
// an authenticated client (client_secret_basic or client_secret_post).
func (h *handler) oauthForm(c echo.Context) (Client, error) {
	r := c.Request()
	if err := requireForm(r); err != nil {
		return Client{}, err
	}
	client, err := h.oauthClient(c)
	if err != nil {
		return Client{}, err
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return Client{}, oauthError("invalid_request", k+" is given more than once")
		}
	}
	return client, nil
}

// requireForm refuses, as invalid_request, a request whose body is not
// declared a form (application/x-www-form-urlencoded): the OAuth endpoints
// and the back-channel logout receiver read nothing else.
func requireForm(r *http.Request) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return badRequest("the body must be application/x-www-form-urlencoded")
	}
	return nil
}

// oauthPermission refuses, as unauthorized_client, a client of an OAuth
// endpoint that lacks perm.
func oauthPermission(client Client, perm string) error {
	if !slices.Contains(client.Permissions, perm) {
		return oauthError("unauthorized_client", "the client lacks the permission "+perm)
	}
	return nil
}

// token is the OAuth 2.0 token endpoint. It serves two grants:
// refresh_token (RFC 6749 §6), by which the client that the session was
// opened by redeems the session's refresh token for a new access token and
// a rotated refresh token (see users.Service.Refresh for what happens to
// the token presented), and client_credentials (§4.4), by which a client
// obtains an access token for itself.
func (h *handler) token(c echo.Context) error {
	client, err := h.oauthForm(c)
	if err != nil {
		return err
	}
	r := c.Request()
	switch grant := r.PostForm.Get("grant_type"); grant {
	case "":
		return oauthError("invalid_request", "grant_type is required")
	case "refresh_token":
		return h.refreshGrant(c, client)
	case "client_credentials":
		return h.clientCredentialsGrant(c, client)
	}
	return oauthError("unsupported_grant_type", "grant_type must be refresh_token or client_credentials")
}

// clientCredentialsGrant issues the authenticated client an access token
// of its own (RFC 6749 §4.4.3): no refresh token (§4.4.3 says it should not
// be included), scope within the client's permissions.
func (h *handler) clientCredentialsGrant(c echo.Context, client Client) error {
	r := c.Request()
	issued, err := h.users.IssueClientToken(r.Context(), client.ID, client.Permissions, r.PostForm.Get("scope"))
	switch {
	case errors.Is(err, users.ErrScopeNotHeld):
		return oauthError("invalid_scope", "scope asks for a permission the client does not hold")
	case errors.Is(err, users.ErrInvalid):
		return oauthError("invalid_scope", "scope is malformed")
	case err != nil:
		return err
	}
	hdr := c.Response().Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Pragma", "no-cache")
	return c.JSON(http.StatusOK, clientTokenResponse{
		AccessToken: issued.AccessToken,
		TokenType:   "Bearer",
		ExpiresIn:   h.users.AccessTTL(),
		Scope:       issued.Claims.Scope,
	})
}

// clientTokenResponse is the answer of the client_credentials grant
// (RFC 6749 §5.1).
type clientTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

// refreshGrant is the refresh_token grant.
func (h *handler) refreshGrant(c echo.Context, client Client) error {
	r := c.Request()
	raw := r.PostForm.Get("refresh_token")
	if raw == "" {
		return oauthError("invalid_request", "refresh_token is required")
	}
	if err := oauthPermission(client, clients.PermSessions); err != nil {
		return err
	}
	scope := r.PostForm.Get("scope")
	if err := users.CheckScope(scope); err != nil {
		return oauthError("invalid_scope", "scope is malformed")
	}

	issued, err := h.users.Refresh(r.Context(), raw, client.ID, scope)
	switch {
	case errors.Is(err, blacklist.ErrBanned):
		return oauthError("invalid_grant", "the user is banned")
	case errors.Is(err, sessions.ErrInvalidGrant):
		return oauthError("invalid_grant", err.Error())
	case errors.Is(err, sessions.ErrScope):
		return oauthError("invalid_scope", "scope exceeds the scope of the session")
	case err != nil:
		return err
	}
	hdr := c.Response().Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Pragma", "no-cache")
	return c.JSON(http.StatusOK, h.tokens(issued))
}
