# syntax=docker/dockerfile:1
# healer's image: healer-scheduler with healer-executor beside it (where the
# scheduler finds the executor it serves to agents, at /executor/healer-executor
# on its admin port), healerctl, and the example repair scripts in
# /usr/local/libexec/healer (master-scope steps run inside this container).
#
#   docker build -t registry.example.com/healer:1.0.0 --build-arg VERSION=1.0.0 .
#
# deploy/dockerfile_test.go keeps it correct without Docker: the Go version is
# go.mod's, the build is `make build`, and every binary and path it copies
# exists after `make build`. See docs/install-marathon.md.

ARG GO_VERSION=1.26
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# `make build` compiles every binary under cmd/, static (CGO_ENABLED=0), into
# /out; healerctl is there once cmd/healerctl is. The demo and the Mesos
# emulator are test tools: they stay out of the image.
RUN GOFLAGS="-ldflags=-X=github.com/healer-mesos/healer/scheduler/app.Version=${VERSION}" make build BIN=/out \
 && rm /out/healer-demo /out/mesos-emulator

# A minimal base that still has /bin/sh: Mesos runs a Marathon app's cmd with
# /bin/sh -c, and healer runs every master-scope step with /bin/sh -c. A base
# without a shell (scratch, distroless) would fail both.
FROM alpine:3.21
# ipmitool is for deploy/repairs/ipmi-power-cycle.sh. Add the tools your own
# master-scope steps need, or build with --build-arg EXTRA_PACKAGES= for none.
ARG EXTRA_PACKAGES="ipmitool"
RUN addgroup -S -g 10001 healer \
 && adduser -S -D -H -u 10001 -G healer -s /sbin/nologin healer \
 && if [ -n "${EXTRA_PACKAGES}" ]; then apk add --no-cache ${EXTRA_PACKAGES}; fi
COPY --from=build /out/ /usr/local/bin/
COPY deploy/repairs/ /usr/local/libexec/healer/
# A numeric user, so that runtimes that refuse root can check it.
USER 10001:10001
# The admin HTTP port (--admin_listen, default :7070; the Marathon app sets it
# to $PORT0).
EXPOSE 7070
ENTRYPOINT ["/usr/local/bin/healer-scheduler"]
