#!/bin/sh
# bench-push.sh reports the registry requests and wall time of `affix push`
# of the two-platform fixture on each registry kind, beside the same image
# pushed without SBOMs plus one `oras attach` per platform, in one run.
# Needs bin/affix (make build), docker-registry (make deps), and bin/oras
# and optionally bin/registry (distribution v3), built here when missing.
set -eu
cd "$(dirname "$0")/.."
BIN="$PWD/bin"
[ -x "$BIN/affix" ] || go build -o "$BIN/" ./cmd/affix
[ -x "$BIN/oras" ] || GOBIN="$BIN" go install oras.land/oras/cmd/oras@v1.3.6
[ -x "$BIN/registry" ] || GOBIN="$BIN" go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2 || echo "distribution v3 not built; skipped"
exec go run ./hack/benchpush -affix "$BIN/affix" -oras "$BIN/oras" "$@"
