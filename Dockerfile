# Multi-stage: build a static binary, ship it alone on a distroless base as a
# non-root user. No config or secrets are baked in: mount a config file and
# pass secrets through the environment.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/tokenguard .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tokenguard /usr/local/bin/tokenguard
USER 65532:65532
ENV TOKENGUARD_LISTEN=:8080 \
    TOKENGUARD_LOG_FORMAT=json \
    TOKENGUARD_CONFIG=/etc/tokenguard/config.yaml
EXPOSE 8080
# The image has no shell or curl: the binary asks its own /readyz (at the
# configured listen address) and exits 0 only on 200.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/tokenguard", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/tokenguard"]
