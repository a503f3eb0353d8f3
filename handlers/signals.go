package handlers

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/clients"
	"github.com/tokenguard/tokenguard/signals"
)

// Paths of the SSF transmitter, relative to the issuer.
const (
	ssfMetadataPath      = "/.well-known/ssf-configuration"
	ssfConfigurationPath = "/ssf/stream"
	ssfStatusPath        = "/ssf/status"
	ssfVerificationPath  = "/ssf/verify"
	ssfPollPath          = "/ssf/poll/"
)

// ssfMetadata is the SSF 1.0 §7.1 transmitter configuration metadata.
type ssfMetadata struct {
	SpecVersion              string          `json:"spec_version"`
	Issuer                   string          `json:"issuer"`
	JWKSURI                  string          `json:"jwks_uri"`
	DeliveryMethodsSupported []string        `json:"delivery_methods_supported"`
	ConfigurationEndpoint    string          `json:"configuration_endpoint"`
	StatusEndpoint           string          `json:"status_endpoint"`
	VerificationEndpoint     string          `json:"verification_endpoint"`
	AuthorizationSchemes     []ssfAuthScheme `json:"authorization_schemes"`
	DefaultSubjects          string          `json:"default_subjects"`
}

type ssfAuthScheme struct {
	SpecURN string `json:"spec_urn"`
}

// base is the issuer without a final slash: the endpoints hang off it.
func (h *handler) base() string { return strings.TrimSuffix(h.auth.Issuer(), "/") }

// ssfConfiguration serves the transmitter metadata. Receivers authenticate
// with OAuth 2.0 (a Bearer token from the client_credentials grant,
// RFC 6750) or HTTP Basic; every subject's events are sent (no subject
// management endpoints, default_subjects ALL).
func (h *handler) ssfConfiguration(c echo.Context) error {
	base := h.base()
	c.Response().Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(keysMaxAge.Seconds())))
	return c.JSON(http.StatusOK, ssfMetadata{
		SpecVersion:              "1_0",
		Issuer:                   h.auth.Issuer(),
		JWKSURI:                  base + jwksPath,
		DeliveryMethodsSupported: []string{signals.MethodPush, signals.MethodPoll},
		ConfigurationEndpoint:    base + ssfConfigurationPath,
		StatusEndpoint:           base + ssfStatusPath,
		VerificationEndpoint:     base + ssfVerificationPath,
		AuthorizationSchemes:     []ssfAuthScheme{{SpecURN: "urn:ietf:rfc:6749"}, {SpecURN: "urn:ietf:rfc:7617"}},
		DefaultSubjects:          "ALL",
	})
}

// requireEvents admits a client holding the events permission, by a token
// of its own (the client_credentials grant, its scope holding events) or
// by HTTP Basic. A token is checked against the registry too, so that a
// permission taken away ends its use at once.
func (h *handler) requireEvents(next echo.HandlerFunc) echo.HandlerFunc {
	basic := h.requireClient(clients.PermEvents)(next)
	return func(c echo.Context) error {
		scheme, _, _ := strings.Cut(c.Request().Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return basic(c)
		}
		claims, err := h.bearerUser(c)
		if err != nil {
			return err
		}
		if !claims.ClientToken() || !h.clients.registry.Permits(claims.ClientID, clients.PermEvents) {
			return &apiError{http.StatusForbidden, "access_denied", "a token of a client with the permission events is required"}
		}
		if !slices.Contains(strings.Fields(claims.Scope), clients.PermEvents) {
			return &apiError{http.StatusForbidden, "access_denied", "the token's scope lacks events"}
		}
		c.Set(clientKey, Client{ID: claims.ClientID})
		return next(c)
	}
}

// signalsError maps the transmitter's refusals to answers.
func signalsError(err error) error {
	switch {
	case errors.Is(err, signals.ErrNotFound):
		return &apiError{http.StatusNotFound, "not_found", "no such stream"}
	case errors.Is(err, signals.ErrInvalid):
		return badRequest("%s", err.Error())
	case errors.Is(err, signals.ErrConflict):
		return &apiError{http.StatusConflict, "conflict", "the client has as many streams as allowed"}
	case errors.Is(err, signals.ErrUnavailable):
		return &apiError{http.StatusServiceUnavailable, "temporarily_unavailable", "the event streams cannot be reached; retry shortly"}
	}
	return err
}

// streamDelivery is a stream's delivery (SSF 1.0 §8.1.1).
type streamDelivery struct {
	Method      string `json:"method"`
	EndpointURL string `json:"endpoint_url,omitempty"`
}

// streamConfig is a stream's configuration as SSF 1.0 §8.1.1 shows it.
type streamConfig struct {
	StreamID        string         `json:"stream_id"`
	Iss             string         `json:"iss"`
	Aud             string         `json:"aud"`
	EventsSupported []string       `json:"events_supported"`
	EventsRequested []string       `json:"events_requested"`
	EventsDelivered []string       `json:"events_delivered"`
	Delivery        streamDelivery `json:"delivery"`
	Description     string         `json:"description,omitempty"`
}

func (h *handler) streamConfig(s signals.Stream) streamConfig {
	d := streamDelivery{Method: s.Method, EndpointURL: s.EndpointURL}
	if s.Method == signals.MethodPoll {
		d.EndpointURL = h.base() + ssfPollPath + s.ID
	}
	return streamConfig{
		StreamID:        s.ID,
		Iss:             h.auth.Issuer(),
		Aud:             s.ClientID,
		EventsSupported: signals.Supported,
		EventsRequested: nonNil(s.Requested),
		EventsDelivered: nonNil(s.Delivered()),
		Delivery:        d,
		Description:     s.Description,
	}
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// deliveryRequest is the delivery a receiver asks for.
type deliveryRequest struct {
	Method      *string `json:"method"`
	EndpointURL *string `json:"endpoint_url"`
}

// streamRequest is the body of a create, update or replace. The
// transmitter-supplied members may be sent back as read (SSF 1.0 §8.1.1.4);
// they change nothing.
type streamRequest struct {
	StreamID        *string          `json:"stream_id"`
	Iss             jsontext.Value   `json:"iss"`
	Aud             jsontext.Value   `json:"aud"`
	EventsSupported jsontext.Value   `json:"events_supported"`
	EventsDelivered jsontext.Value   `json:"events_delivered"`
	EventsRequested *[]string        `json:"events_requested"`
	Delivery        *deliveryRequest `json:"delivery"`
	Description     *string          `json:"description"`
}

func (r streamRequest) toRequest() signals.Request {
	out := signals.Request{EventsRequested: r.EventsRequested, Description: r.Description}
	if r.Delivery != nil {
		out.Method, out.EndpointURL = r.Delivery.Method, r.Delivery.EndpointURL
	}
	return out
}

// createStream is SSF 1.0 §8.1.1.1: 201 with the configuration.
func (h *handler) createStream(c echo.Context) error {
	var req streamRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.StreamID != nil {
		return badRequest("stream_id is chosen by the transmitter")
	}
	s, err := h.signals.CreateStream(c.Request().Context(), caller(c).ID, req.toRequest())
	if err != nil {
		return signalsError(err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, h.streamConfig(s))
}

// readStream is SSF 1.0 §8.1.1.2: one stream by ?stream_id=, or all of the
// client's as an array.
func (h *handler) readStream(c echo.Context) error {
	ctx := c.Request().Context()
	c.Response().Header().Set("Cache-Control", "no-store")
	if !c.QueryParams().Has("stream_id") {
		list, err := h.signals.Streams(ctx, caller(c).ID)
		if err != nil {
			return signalsError(err)
		}
		out := make([]streamConfig, 0, len(list))
		for _, s := range list {
			out = append(out, h.streamConfig(s))
		}
		return c.JSON(http.StatusOK, out)
	}
	s, err := h.signals.Stream(ctx, caller(c).ID, c.QueryParam("stream_id"))
	if err != nil {
		return signalsError(err)
	}
	return c.JSON(http.StatusOK, h.streamConfig(s))
}

// updateStream is SSF 1.0 §8.1.1.3 (PATCH: the members given) and
// §8.1.1.4 (PUT: the whole receiver-supplied configuration).
func (h *handler) updateStream(c echo.Context) error {
	var req streamRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.StreamID == nil {
		return badRequest("stream_id is required")
	}
	full := c.Request().Method == http.MethodPut
	s, err := h.signals.UpdateStream(c.Request().Context(), caller(c).ID, *req.StreamID, req.toRequest(), full)
	if err != nil {
		return signalsError(err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, h.streamConfig(s))
}

// deleteStream is SSF 1.0 §8.1.1.5: 204.
func (h *handler) deleteStream(c echo.Context) error {
	if err := h.signals.DeleteStream(c.Request().Context(), caller(c).ID, c.QueryParam("stream_id")); err != nil {
		return signalsError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// streamStatus is SSF 1.0 §8.1.2's status body.
type streamStatus struct {
	StreamID string `json:"stream_id"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
}

func statusOf(s signals.Stream) streamStatus {
	st := streamStatus{StreamID: s.ID, Status: s.Status, Reason: s.Reason}
	if s.Lost > 0 {
		// The mark of events lost past the retention.
		st.Reason = strings.TrimSpace(st.Reason + " (" + strconv.FormatInt(s.Lost, 10) + " events undelivered past the retention were dropped, the last at " + s.LostAt.UTC().Format(timestampLayout) + ")")
	}
	return st
}

// readStatus is SSF 1.0 §8.1.2.1.
func (h *handler) readStatus(c echo.Context) error {
	s, err := h.signals.Stream(c.Request().Context(), caller(c).ID, c.QueryParam("stream_id"))
	if err != nil {
		return signalsError(err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, statusOf(s))
}

// setStatus is SSF 1.0 §8.1.2.2.
func (h *handler) setStatus(c echo.Context) error {
	var req streamStatus
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	s, err := h.signals.SetStatus(c.Request().Context(), caller(c).ID, req.StreamID, req.Status, req.Reason)
	if err != nil {
		return signalsError(err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, statusOf(s))
}

// verificationRequest is SSF 1.0 §8.1.4.2's body.
type verificationRequest struct {
	StreamID string `json:"stream_id"`
	State    string `json:"state"`
}

// verifyStream queues a verification event: 204.
func (h *handler) verifyStream(c echo.Context) error {
	var req verificationRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := h.signals.Verify(c.Request().Context(), caller(c).ID, req.StreamID, req.State); err != nil {
		return signalsError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// setError is one entry of a poll's setErrs (RFC 8936 §2.4.3).
type setError struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

// pollRequest is RFC 8936 §2.4's body.
type pollRequest struct {
	MaxEvents         *int                `json:"maxEvents"`
	ReturnImmediately bool                `json:"returnImmediately"`
	Ack               []string            `json:"ack"`
	SetErrs           map[string]setError `json:"setErrs"`
}

// pollResponse is RFC 8936 §2.5's body.
type pollResponse struct {
	Sets          orderedSETs `json:"sets"`
	MoreAvailable bool        `json:"moreAvailable,omitempty"`
}

// orderedSETs writes the sets object with its members in stream order
// (oldest first), which a receiver reading the members in order can keep;
// a JSON object's order means nothing to most parsers, but costs nothing
// to give.
type orderedSETs []signals.SET

// MarshalJSON writes {"<jti>":"<set>",...} in order.
func (o orderedSETs) MarshalJSON() ([]byte, error) {
	var b jsontext.Value = []byte{'{'}
	for i, s := range o {
		if i > 0 {
			b = append(b, ',')
		}
		k, err := jsontext.AppendQuote(nil, s.JTI)
		if err != nil {
			return nil, err
		}
		v, err := jsontext.AppendQuote(nil, s.Token)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}'), nil
}

// poll serves a poll stream's endpoint (RFC 8936).
func (h *handler) poll(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	var req pollRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	r := signals.PollRequest{MaxEvents: signals.MaxPollEvents, ReturnImmediately: req.ReturnImmediately, Ack: req.Ack}
	if req.MaxEvents != nil {
		r.MaxEvents = *req.MaxEvents
	}
	if len(req.SetErrs) > 0 {
		r.Errors = make(map[string]string, len(req.SetErrs))
		for jti, e := range req.SetErrs {
			r.Errors[jti] = e.Err
		}
	}
	res, err := h.signals.Poll(c.Request().Context(), caller(c).ID, id, r)
	if err != nil {
		return signalsError(err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, pollResponse{Sets: res.Sets, MoreAvailable: res.MoreAvailable})
}
