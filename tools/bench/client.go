package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// newHTTPClient returns a keep-alive client for up to conns parallel
// requests to one host, as a gateway in front of tokenguard would hold.
func newHTTPClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns
	t.MaxIdleConnsPerHost = conns
	t.MaxConnsPerHost = conns
	return &http.Client{Transport: t, Timeout: 10 * time.Second}
}

// api talks to tokenguard's endpoints as the app and admin clients.
type api struct {
	http *http.Client
	sec  secrets
}

// openSession opens a session for subject and returns its access token.
func (a api) openSession(ctx context.Context, base, subject string) (string, error) {
	body, err := json.Marshal(map[string]string{"subject": subject})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/sessions", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.SetBasicAuth("app", a.sec.appSecret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("POST /v1/sessions: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("POST /v1/sessions: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST /v1/sessions = %d %s, want 201", resp.StatusCode, bytes.TrimSpace(b))
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("POST /v1/sessions: no access_token in %s", bytes.TrimSpace(b))
	}
	return out.AccessToken, nil
}

// verify asks /v1/verify about a token and returns the status.
func (a api) verify(ctx context.Context, base, token string) (int, error) {
	return getStatus(ctx, a.http, base+"/v1/verify", "Bearer "+token)
}

// revoke posts one revocation (a body with token, or jti and exp) as the
// admin client and returns the status.
func (a api) revoke(ctx context.Context, base string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/admin/revocations", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth("admin", a.sec.adminSecret)
	req.Header.Set("Content-Type", "application/json")
	return doStatus(a.http, req)
}

// getStatus sends a GET, with an Authorization header when given, and
// returns the status; the body is read and dropped so the connection is
// reused.
func getStatus(ctx context.Context, c *http.Client, url, authorization string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return doStatus(c, req)
}

func doStatus(c *http.Client, req *http.Request) (int, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}
