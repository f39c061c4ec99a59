# syntax=docker/dockerfile:1
# Multi-stage build of healer's static binaries. Not used by the tests.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Only healer's own binaries: the Mesos emulator is a test tool.
# healer-scheduler serves healer-executor (beside it) to agents; healerctl is
# for `docker exec`.
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/ ./cmd/healer-scheduler ./cmd/healer-executor ./cmd/healerctl

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER nonroot:nonroot
# The admin HTTP port (--admin_listen / HEALER_ADMIN_LISTEN, default :7070).
EXPOSE 7070
ENTRYPOINT ["/usr/local/bin/healer-scheduler"]
