# syntax=docker/dockerfile:1
# Multi-stage build of healer's static binaries. Not used by the tests.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/ ./cmd/...

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER nonroot:nonroot
# The admin HTTP port (override with --admin_listen / HEALER_ADMIN_LISTEN).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/healer-scheduler"]
