// Package config holds tokenguard's settings: their defaults, the strict YAML
// file, the TOKENGUARD_* environment variables over it, and the validation
// that stops start-up with a message naming the bad setting.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration. Every scalar can also be set through
// the environment; see Fields.
type Config struct {
	// Listen is the HTTP listen address.
	Listen string `yaml:"listen"`
	// Issuer is the iss of the tokens we issue and require. Unset (or
	// empty) in both the file and the environment, a dev configuration
	// derives it from Listen; see Load.
	Issuer string `yaml:"issuer"`
	// Audience is the aud of the tokens we issue and require.
	Audience string `yaml:"audience"`
	// Dev relaxes the production checks: embedded store, ephemeral key and
	// clear-text client secrets are allowed.
	Dev bool `yaml:"dev"`
	// LogFormat is "text" or "json".
	LogFormat string `yaml:"log_format"`

	Redis  Redis  `yaml:"redis"`
	Tokens Tokens `yaml:"tokens"`
	HTTP   HTTP   `yaml:"http"`

	Revocation Revocation `yaml:"revocation"`
	Sessions   Sessions   `yaml:"sessions"`
	Events     Events     `yaml:"events"`
	Verify     Verify     `yaml:"verify"`
	Metrics    Metrics    `yaml:"metrics"`
	Feed       Feed       `yaml:"feed"`
	Console    Console    `yaml:"console"`

	Keys    []Key    `yaml:"keys"`
	Clients []Client `yaml:"clients"`
	// ClientAuth limits failed client authentications.
	ClientAuth ClientAuth `yaml:"client_auth"`

	// TrustedIssuers are other identity providers whose access tokens are
	// accepted, verified with their keys and then revoked like ours.
	TrustedIssuers []TrustedIssuer `yaml:"trusted_issuers"`
}

// Redis says where the revocation state lives.
type Redis struct {
	Addrs       []string      `yaml:"addrs"`
	MasterName  string        `yaml:"master_name"`
	Username    string        `yaml:"username"`
	Password    string        `yaml:"password" secret:"true"`
	DB          int           `yaml:"db"`
	KeyPrefix   string        `yaml:"key_prefix"`
	DialTimeout time.Duration `yaml:"dial_timeout"`
	Timeout     time.Duration `yaml:"timeout"`
	// MinReplicasAck is how many replicas must confirm a revocation, logout,
	// ban or refresh rotation (WAIT, within Timeout) before it is
	// acknowledged; 0 acknowledges once the master has it.
	MinReplicasAck int `yaml:"min_replicas_ack"`
}

// Revocation says how checks read the revocation state.
type Revocation struct {
	// Mode is "mirror" (a local in-memory copy, no network call per check)
	// or "strict" (Redis on every check).
	Mode string `yaml:"mode"`
	// MaxStaleness is how long the mirror may go without confirming it is
	// current before checks fail (or, with OnStoreFailure open, go on).
	MaxStaleness time.Duration `yaml:"max_staleness"`
	// OnStoreFailure is "closed" (refuse with 503) or "open" (answer from
	// what is known).
	OnStoreFailure string `yaml:"on_store_failure"`
}

// Tokens holds the token lifetimes.
type Tokens struct {
	AccessTTL time.Duration `yaml:"access_ttl"`
	Leeway    time.Duration `yaml:"leeway"`
	// RefreshTTL is how long a session lives without being used; every
	// refresh restarts it.
	RefreshTTL time.Duration `yaml:"refresh_ttl"`
	// SessionMaxAge is the absolute limit of a session, however much it is
	// used.
	SessionMaxAge time.Duration `yaml:"session_max_age"`
	// RefreshReuseWindow is how long the previous refresh token still
	// recovers the current one (two tabs, a lost response) instead of
	// ending the session as a replay; 0 makes refresh tokens single-use.
	RefreshReuseWindow time.Duration `yaml:"refresh_reuse_window"`
	// VerifiedCacheSize is how many of our own tokens are remembered after
	// their signature was verified, so that the same token presented again
	// skips it (exp, nbf and revocation are still checked every time);
	// 0 turns the cache off.
	VerifiedCacheSize int `yaml:"verified_cache_size"`
}

// Sessions holds the limits on device sessions.
type Sessions struct {
	// MaxPerUser caps one user's live sessions: opening one more ends the
	// oldest. 0 means no cap, which lets one user's sessions (and the cost
	// of logging them all out) grow without bound.
	MaxPerUser int `yaml:"max_per_user"`
}

// Events holds the settings of the audit trail and of the security events
// sent to other systems (the SSF transmitter).
type Events struct {
	// Retention is how long audit events are kept.
	Retention time.Duration `yaml:"retention"`
	// AllowedReceiverHosts are the hosts (exact, or "*.example.com" for
	// any name below it) that SSF push streams may deliver to. Outside dev
	// mode, a push endpoint must be https and its host must match one.
	AllowedReceiverHosts []string `yaml:"allowed_receiver_hosts"`
	// DeliveryRetention is how long an SSF event waits for delivery; older
	// undelivered events are dropped, counted and audited, and the stream
	// is marked.
	DeliveryRetention time.Duration `yaml:"delivery_retention"`
}

// Metrics says where Prometheus scrapes tokenguard.
type Metrics struct {
	// Listen is the address of the management listener that serves
	// /metrics, apart from the public one (Listen); empty turns it off.
	// /metrics has no authentication: keep it on loopback or on a network
	// only the scraper reaches.
	Listen string `yaml:"listen"`
}

// Feed holds the settings of the revocation feed (/v1/revocations/stream).
type Feed struct {
	// Heartbeat is how often an idle feed stream sends a comment line, so
	// that a subscriber notices a dead stream.
	Heartbeat time.Duration `yaml:"heartbeat"`
}

// Console holds the settings of the admin console served at /console/.
type Console struct {
	// Enabled serves the console; off by default.
	Enabled bool `yaml:"enabled"`
	// SessionTTL is how long a console session lives unused: every
	// request of the admin restarts it.
	SessionTTL time.Duration `yaml:"session_ttl"`
}

// HTTP holds the server's limits and timeouts.
type HTTP struct {
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	ShutdownGrace     time.Duration `yaml:"shutdown_grace"`
	BodyLimit         int64         `yaml:"body_limit"`
}

// Key is one signing or verification key.
type Key struct {
	KID            string `yaml:"kid"`
	Alg            string `yaml:"alg"`
	PrivateKeyFile string `yaml:"private_key_file"`
	PublicKeyFile  string `yaml:"public_key_file"`
	// SecretEnv names the environment variable holding an HS256 secret.
	SecretEnv  string `yaml:"secret_env"`
	VerifyOnly bool   `yaml:"verify_only"`
}

// Client is a machine caller (an app backend, a gateway, an admin tool).
// Exactly one of Secret (dev only), SecretEnv and SecretSHA256 is set.
type Client struct {
	ID string `yaml:"id"`
	// Secret is the secret in clear text; refused unless dev is true.
	Secret string `yaml:"secret"`
	// SecretEnv names the environment variable holding the secret.
	SecretEnv string `yaml:"secret_env"`
	// SecretSHA256 is the hex SHA-256 of the secret, so that the file never
	// holds it.
	SecretSHA256 string   `yaml:"secret_sha256"`
	Permissions  []string `yaml:"permissions"`
}

// ClientAuth limits failed client authentications, across every instance
// (the counts live in Redis). A client id or an address that reaches its
// limit within Window is refused (429) for a whole Window, the right secret
// included.
type ClientAuth struct {
	// FailuresPerClient is how many failed authentications one client id
	// may have within Window.
	FailuresPerClient int `yaml:"failures_per_client"`
	// FailuresPerIP is how many one source address may have within Window,
	// whatever the client ids: a guesser spraying ids.
	FailuresPerIP int `yaml:"failures_per_ip"`
	// Window is how far back failures count, and how long a lockout lasts.
	Window time.Duration `yaml:"window"`
}

// Verify holds the settings of the forward-auth check (/v1/verify).
type Verify struct {
	// Cookie names a cookie that carries the access token when the request
	// has no Authorization: Bearer header; empty means none.
	Cookie string `yaml:"cookie"`
	// TrustedProxies lists the addresses (IPs or CIDRs) whose X-Forwarded-*
	// and X-Original-* headers are believed; from anyone else they are
	// ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// CacheMaxAge is how long a proxy may cache an allow (Cache-Control
	// max-age, never past the token's exp): the revocation delay you
	// promise. 0 means no-store.
	CacheMaxAge time.Duration `yaml:"cache_max_age"`
	// EmailClaim names the claim sent as X-Auth-Request-Email; empty turns
	// the header off.
	EmailClaim string `yaml:"email_claim"`
	// GroupsClaim names the claim sent as X-Auth-Request-Groups; empty turns
	// the header off.
	GroupsClaim string `yaml:"groups_claim"`
}

// TrustedIssuer is another identity provider (Auth0, Keycloak, Supabase…)
// whose access tokens tokenguard accepts. Exactly one of JWKSURL and
// PublicKeyFile is set.
type TrustedIssuer struct {
	// Issuer is the iss of its tokens, compared exactly.
	Issuer string `yaml:"issuer"`
	// JWKSURL is where its JSON Web Key Set is published.
	JWKSURL string `yaml:"jwks_url"`
	// PublicKeyFile is a PEM public key that verifies all its tokens.
	PublicKeyFile string `yaml:"public_key_file"`
	// Audience is the aud its tokens must carry to be accepted here.
	Audience string `yaml:"audience"`
	// Algorithms pins the algorithms its tokens may use.
	Algorithms []string `yaml:"algorithms"`
	// MaxTokenLifetime is the longest its tokens live; longer-lived ones
	// are refused, and its revocations are kept that long. Zero means
	// auth.DefaultMaxTokenLifetime (24h).
	MaxTokenLifetime time.Duration `yaml:"max_token_lifetime"`
}

// Default returns the configuration in code, before file and environment.
func Default() Config {
	return Config{
		Listen:    ":8080",
		Issuer:    "http://localhost:8080",
		Audience:  "tokenguard",
		LogFormat: "text",
		Redis: Redis{
			KeyPrefix:   "tg:",
			DialTimeout: 5 * time.Second,
			Timeout:     time.Second,
		},
		Tokens: Tokens{
			AccessTTL:          15 * time.Minute,
			Leeway:             30 * time.Second,
			RefreshTTL:         30 * 24 * time.Hour,
			SessionMaxAge:      90 * 24 * time.Hour,
			RefreshReuseWindow: 10 * time.Second,
			VerifiedCacheSize:  10000,
		},
		Sessions: Sessions{MaxPerUser: 100},
		Events:   Events{Retention: 30 * 24 * time.Hour, DeliveryRetention: 24 * time.Hour},
		Revocation: Revocation{
			Mode:           "mirror",
			MaxStaleness:   5 * time.Second,
			OnStoreFailure: "closed",
		},
		Verify:     Verify{EmailClaim: "email", GroupsClaim: "groups"},
		Feed:       Feed{Heartbeat: 15 * time.Second},
		Console:    Console{SessionTTL: 30 * time.Minute},
		ClientAuth: ClientAuth{FailuresPerClient: 20, FailuresPerIP: 100, Window: time.Minute},
		HTTP: HTTP{
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownGrace:     15 * time.Second,
			BodyLimit:         64 << 10,
		},
	}
}

// Load builds the configuration: defaults, then the YAML file at path, then
// the environment (read through getenv), then validation. A missing file is
// an error only when required is true (the path was given explicitly).
//
// When neither the file nor the environment names the issuer, a dev
// configuration takes it from listen (see devIssuer), so that moving the
// port with TOKENGUARD_LISTEN moves the discovery document's URLs with it;
// outside dev it is the default, http://localhost:8080.
func Load(path string, required bool, getenv func(string) string) (Config, error) {
	cfg := Default()
	cfg.Issuer = "" // filled in below unless the file or the environment sets it
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := decode(data, &cfg); err != nil {
			return Config{}, fmt.Errorf("%s: %w", path, err)
		}
	case errors.Is(err, fs.ErrNotExist) && !required:
	default:
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	if err := applyEnv(&cfg, getenv); err != nil {
		return Config{}, err
	}
	if cfg.Issuer == "" {
		cfg.Issuer = Default().Issuer
		if cfg.Dev {
			cfg.Issuer = devIssuer(cfg.Listen)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// devIssuer is the issuer of a dev configuration that names none: the
// address it listens on, over http, with a loopback or unspecified host
// (127.0.0.1, ::1, 0.0.0.0, ::, or none) called localhost, which is what a
// browser or curl on the same machine uses. A listen address that does not
// parse keeps the default; Validate reports it.
func devIssuer(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return Default().Issuer
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && (ip.IsLoopback() || ip.IsUnspecified())) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// LogFormat returns the log format that the environment or the file at path
// asks for, the file read leniently (only log_format), else the default. It
// lets a configuration that fails to load be reported in the format its
// operator's log collector expects; it validates nothing.
func LogFormat(path string, getenv func(string) string) string {
	if f := getenv(envName("log_format")); f != "" {
		return f
	}
	var only struct {
		LogFormat string `yaml:"log_format"`
	}
	if data, err := os.ReadFile(path); err == nil && yaml.Unmarshal(data, &only) == nil && only.LogFormat != "" {
		return only.LogFormat
	}
	return Default().LogFormat
}

// Redacted returns a copy with every secret masked, fit for the start-up log
// and check-config: the Redis password and each client's secret and secret
// hash (a SHA-256 of a weak secret can be reversed by guessing).
func (c Config) Redacted() Config {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "***"
	}
	c.Redis.Password = mask(c.Redis.Password)
	clients := make([]Client, len(c.Clients))
	for i, cl := range c.Clients {
		cl.Secret = mask(cl.Secret)
		// The hash of a weak secret is as good as the secret: it can be
		// cracked offline.
		cl.SecretSHA256 = mask(cl.SecretSHA256)
		clients[i] = cl
	}
	c.Clients = clients
	return c
}

// decode reads YAML strictly: an unknown key or a value of the wrong type is
// an error that names the setting by its dotted path.
func decode(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(cfg)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	paths := keyLines(data)
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		msgs = append(msgs, namePath(e, paths))
	}
	return errors.New(strings.Join(msgs, "; "))
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)
var unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type`)

// namePath rewrites a yaml error "line N: ..." to name the setting on line N.
func namePath(msg string, paths map[int]string) string {
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	n, _ := strconv.Atoi(m[1])
	rest := m[2]
	if f := unknownFieldRE.FindStringSubmatch(rest); f != nil {
		return fmt.Sprintf("line %d: unknown setting %q", n, paths[n])
	}
	if p, ok := paths[n]; ok {
		return fmt.Sprintf("line %d: setting %q: %s", n, p, rest)
	}
	return msg
}

// keyLines maps each line of a YAML document that holds a key, or a list
// item, to that setting's dotted path (list items as path[i]).
func keyLines(data []byte) map[int]string {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil || len(root.Content) == 0 {
		return nil
	}
	paths := map[int]string{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				paths[k.Line] = p
				if v.Line != k.Line || v.Kind != yaml.ScalarNode {
					walk(v, p)
				}
			}
		case yaml.SequenceNode:
			for i, item := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if _, ok := paths[item.Line]; !ok || item.Kind == yaml.ScalarNode {
					paths[item.Line] = p
				}
				walk(item, p)
			}
		}
	}
	walk(root.Content[0], "")
	return paths
}
