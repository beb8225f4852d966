#!/bin/sh
# bench-build.sh measures `affix build --push` of examples/hello (two
# platforms) on one buildkitd and one registry, in one run: beside the same
# build pushed by buildctl without SBOMs, the identical rebuild (caches),
# and BuildKit's own SBOM path with affix-scanner as the generator (the
# plugin's hack/scanner-image.sh and hack/buildkit-sbom.sh). Wall time,
# registry requests (a counting proxy) and peak RSS of the client.
# Needs root, runc, busybox-static, docker-registry (make deps), and
# bin/buildkitd, bin/buildctl (make tools) and bin/affix (make build).
# Arguments go to hack/benchbuild (-registry KIND, -scanner=false,
# -generator IMAGE).
set -eu
cd "$(dirname "$0")/.."
BIN="$PWD/bin"
[ -x "$BIN/affix" ] || go build -o "$BIN/" ./cmd/affix
exec go run ./hack/benchbuild -affix "$BIN/affix" -buildctl "$BIN/buildctl" "$@"
