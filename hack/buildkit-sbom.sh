#!/bin/sh
# buildkit-sbom.sh runs BuildKit's own SBOM path with affix's engine as the
# generator, for `make bench` to time against affix's:
#
#   hack/buildkit-sbom.sh GENERATOR CONTEXT [EXTRA BUILDCTL BUILD ARGS...]
#
# runs
#
#   buildctl build --frontend dockerfile.v0 --local context=CONTEXT \
#     --local dockerfile=CONTEXT --opt platform=$PLATFORMS \
#     --opt attest:sbom=generator=GENERATOR --output $OUTPUT ...
#
# GENERATOR is the affix-scanner image (hack/scanner-image.sh prints its
# reference; the daemon must be able to pull it). Environment:
#   BUILDKIT_HOST  buildkitd address (buildctl's default otherwise)
#   PLATFORMS      default linux/amd64,linux/arm64
#   OUTPUT         buildctl --output (default: an OCI layout in a temporary
#                  directory, removed afterwards)
#   SCAN_STAGE=1   also scan the build stages (build-arg
#                  BUILDKIT_SBOM_SCAN_STAGE=true); the build-arg only
#                  overrides an ARG BUILDKIT_SBOM_SCAN_STAGE the Dockerfile
#                  declares (globally or in a stage), so without one it
#                  scans nothing more (BuildKit docs/attestations/sbom.md)
#   BUILDCTL       default bin/buildctl, else buildctl
# buildctl's progress goes to stderr; the last line on stdout is
# "buildkit-sbom seconds=S" (wall time of the build, scans included).
set -eu
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 GENERATOR CONTEXT [BUILDCTL BUILD ARGS...]" >&2; exit 2; }
generator=$1
context=$2
shift 2
PLATFORMS=${PLATFORMS:-linux/amd64,linux/arm64}
if [ -z "${BUILDCTL:-}" ]; then
	if [ -x bin/buildctl ]; then BUILDCTL=bin/buildctl; else BUILDCTL=buildctl; fi
fi
tmp=""
if [ -z "${OUTPUT:-}" ]; then
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/affix-buildkit-sbom.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT INT TERM
	OUTPUT="type=oci,dest=$tmp/layout,tar=false"
fi
set -- build --frontend dockerfile.v0 \
	--local context="$context" --local dockerfile="$context" \
	--opt platform="$PLATFORMS" \
	--opt attest:sbom=generator="$generator" \
	--output "$OUTPUT" --progress plain "$@"
[ "${SCAN_STAGE:-}" != 1 ] || set -- "$@" --opt build-arg:BUILDKIT_SBOM_SCAN_STAGE=true
[ -z "${BUILDKIT_HOST:-}" ] || set -- --addr "$BUILDKIT_HOST" "$@"
start=$(date +%s.%N)
"$BUILDCTL" "$@" >&2
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "buildkit-sbom seconds=%.3f\n", e - s }' 
