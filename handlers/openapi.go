package handlers

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// openapiDoc is the OpenAPI 3.1 description of every route, kept by hand
// next to the handlers it describes. The handler tests check every request
// and answer they make against it, and that it names exactly the routes New
// registers, so it cannot drift from the code.
//
//go:embed openapi.json
var openapiDoc []byte

// openapiMaxAge is how long anyone may cache the description without asking
// again; after that the ETag makes asking cheap.
const openapiMaxAge = 5 * time.Minute

// openapiDocument serves the description as it is. It changes only with the
// binary, so its ETag is a digest of the bytes.
type openapiDocument struct {
	etag string
}

func newOpenAPIDocument() openapiDocument {
	sum := sha256.Sum256(openapiDoc)
	return openapiDocument{etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

func (d openapiDocument) serve(c echo.Context) error {
	hdr := c.Response().Header()
	hdr.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(openapiMaxAge.Seconds())))
	hdr.Set("ETag", d.etag)
	if d.current(c.Request().Header.Get("If-None-Match")) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openapiDoc)
}

// current reports whether an If-None-Match value names this version: "*",
// or a list holding its ETag, weak or strong (RFC 9110 §13.1.2).
func (d openapiDocument) current(ifNoneMatch string) bool {
	for _, tag := range strings.Split(ifNoneMatch, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == d.etag {
			return true
		}
	}
	return false
}
