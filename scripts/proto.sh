#!/usr/bin/env bash
# Regenerates the gogo/protobuf code of proto/*.proto into proto/healerpb and
# fails if it differs from what is committed (`make proto` runs this; so does
# CI). After editing a .proto: run it, then commit the regenerated *.pb.go.
#
# Needs: protoc (Debian: apt-get install -y protobuf-compiler; installed here
# when missing and we are root), Go, and the module proxy for
# protoc-gen-gogofaster (installed into .tools/ at the pinned version).
set -euo pipefail
cd "$(dirname "$0")/.."

GOGO_VERSION=v1.3.2 # keep equal to github.com/gogo/protobuf in go.mod
TOOLS="$PWD/.tools"
OUT=proto/healerpb

if ! command -v protoc >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "proto.sh: installing protoc (protobuf-compiler)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends protobuf-compiler >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends protobuf-compiler >/dev/null; }
  else
    echo "proto.sh: protoc not found; install it (Debian: apt-get install -y protobuf-compiler)" >&2
    exit 1
  fi
fi

if [ ! -x "$TOOLS/protoc-gen-gogofaster" ] || [ "$(cat "$TOOLS/protoc-gen-gogofaster.version" 2>/dev/null)" != "$GOGO_VERSION" ]; then
  GOBIN="$TOOLS" go install "github.com/gogo/protobuf/protoc-gen-gogofaster@$GOGO_VERSION"
  echo "$GOGO_VERSION" >"$TOOLS/protoc-gen-gogofaster.version"
fi

# gogo.proto and the descriptor.proto it imports come from the gogo module.
go mod download github.com/gogo/protobuf
GOGO_DIR="$(go list -m -f '{{.Dir}}' github.com/gogo/protobuf)"

mkdir -p "$OUT"
protoc \
  -I proto -I "$GOGO_DIR" -I "$GOGO_DIR/protobuf" \
  --plugin=protoc-gen-gogofaster="$TOOLS/protoc-gen-gogofaster" \
  --gogofaster_out=paths=source_relative:"$OUT" \
  proto/*.proto

# Fail when the regenerated code differs from the committed code, or when a
# generated file is not committed at all.
if ! git diff --quiet -- "$OUT" || [ -n "$(git ls-files --others --exclude-standard -- "$OUT")" ]; then
  echo "proto.sh: the generated code in $OUT differs from what is committed:" >&2
  git status --short -- "$OUT" >&2
  git --no-pager diff --stat -- "$OUT" >&2
  echo "proto.sh: it has been regenerated in place; review and commit it ($(protoc --version), protoc-gen-gogofaster $GOGO_VERSION)." >&2
  exit 1
fi
echo "proto.sh: $OUT is up to date ($(protoc --version), protoc-gen-gogofaster $GOGO_VERSION)"
