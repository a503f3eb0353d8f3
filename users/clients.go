package users

import (
	"context"
	"slices"
	"strings"

	"github.com/tokenguard/tokenguard/auth"
)

// ErrScopeNotHeld reports a client asking for a scope beyond its
// permissions.
var ErrScopeNotHeld = &invalidError{"scope asks for a permission the client does not hold"}

// ClientToken is an access token a client obtained for itself.
type ClientToken struct {
	AccessToken string
	Claims      *auth.Claims
}

// IssueClientToken is the client_credentials grant (RFC 6749 §4.4): an
// access token for the client clientID itself, whose subject is the client
// id (RFC 9068 §2.2) and whose scope is the requested one, which must be a
// subset of the client's permissions, or all of them when empty. The token
// is marked as a client's (auth.Claims.ClientToken), so that the revocation
// state knows its subject under a name of its own (SubjectOf): a user whose
// subject is spelled like a client id never shares its cut-offs or bans.
// It verifies, introspects and is revoked like any other access token.
func (s *Service) IssueClientToken(ctx context.Context, clientID string, permissions []string, scope string) (ClientToken, error) {
	if err := CheckScope(scope); err != nil {
		return ClientToken{}, err
	}
	if scope == "" {
		scope = strings.Join(permissions, " ")
	}
	for _, p := range strings.Fields(scope) {
		if !slices.Contains(permissions, p) {
			return ClientToken{}, ErrScopeNotHeld
		}
	}
	token, claims, err := s.tokens.Issue(auth.IssueRequest{Subject: clientID, ClientID: clientID, Scope: scope, Client: true})
	if err != nil {
		return ClientToken{}, err
	}
	s.log.InfoContext(ctx, "client token issued", "client_id", clientID, "jti", claims.ID, "scope", scope)
	return ClientToken{AccessToken: token, Claims: claims}, nil
}
