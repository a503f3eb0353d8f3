package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// Paths of the well-known documents (RFC 8615) and of the OAuth endpoints
// they point to, relative to the issuer.
const (
	jwksPath              = "/.well-known/jwks.json"
	metadataPath          = "/.well-known/oauth-authorization-server"
	tokenEndpointPath     = "/oauth2/token"
	introspectionEndpoint = "/oauth2/introspect"
	revocationEndpoint    = "/oauth2/revoke"
)

// keysMaxAge is how long verifiers may cache the JWKS and the metadata. A
// key rotation must wait at least this long between publishing the next key
// (verify-only) and signing with it, so that every cache knows the key
// before the first token it signed arrives.
const keysMaxAge = 5 * time.Minute

// jwks publishes the public keys of every asymmetric key, signing and
// verify-only, as an RFC 7517 JWK Set with kid, alg and use "sig". HMAC keys
// are never published.
func (h *handler) jwks(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(keysMaxAge.Seconds())))
	return c.JSON(http.StatusOK, h.auth.JWKS())
}

// serverMetadata is the RFC 8414 §2 authorization server metadata: what a
// client library needs to find our keys and endpoints. tokenguard has no
// authorization endpoint, so response_types_supported (required) is empty
// and grant_types_supported names the grants served, refresh_token and
// client_credentials.
type serverMetadata struct {
	Issuer                                    string   `json:"issuer"`
	JWKSURI                                   string   `json:"jwks_uri"`
	TokenEndpoint                             string   `json:"token_endpoint"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	IntrospectionEndpoint                     string   `json:"introspection_endpoint"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpoint                        string   `json:"revocation_endpoint"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
}

// clientAuthMethods are the client authentication methods of every OAuth
// endpoint (RFC 6749 §2.3.1).
var clientAuthMethods = []string{"client_secret_basic", "client_secret_post"}

// metadata serves the RFC 8414 document. The endpoint URLs are the issuer
// plus the path, so the issuer must be the URL clients reach tokenguard at.
func (h *handler) metadata(c echo.Context) error {
	base := strings.TrimSuffix(h.auth.Issuer(), "/")
	c.Response().Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(keysMaxAge.Seconds())))
	return c.JSON(http.StatusOK, serverMetadata{
		Issuer:                            h.auth.Issuer(),
		JWKSURI:                           base + jwksPath,
		TokenEndpoint:                     base + tokenEndpointPath,
		TokenEndpointAuthMethodsSupported: clientAuthMethods,
		GrantTypesSupported:               []string{"refresh_token", "client_credentials"},
		ResponseTypesSupported:            []string{},
		IntrospectionEndpoint:             base + introspectionEndpoint,
		IntrospectionEndpointAuthMethodsSupported: clientAuthMethods,
		RevocationEndpoint:                        base + revocationEndpoint,
		RevocationEndpointAuthMethodsSupported:    clientAuthMethods,
	})
}

// metadataPaths are where the metadata is served: RFC 8414 §3.1 inserts the
// well-known segment between the host and the path of an issuer that has
// one (https://example.com/auth is described at
// /.well-known/oauth-authorization-server/auth).
func metadataPaths(issuer string) []string { return wellKnownPaths(metadataPath, issuer) }

// wellKnownPaths are where the well-known document at path is served for
// issuer: path, and path followed by the issuer's path, if any.
func wellKnownPaths(path, issuer string) []string {
	paths := []string{path}
	if u, err := url.Parse(issuer); err == nil {
		if p := strings.TrimSuffix(u.Path, "/"); p != "" {
			paths = append(paths, path+p)
		}
	}
	return paths
}
