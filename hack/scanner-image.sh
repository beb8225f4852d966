#!/bin/sh
# scanner-image.sh builds the affix-scanner image (BuildKit SBOM generator,
# plugin/scanner/Dockerfile) with buildkitd and pushes it:
#
#   REGISTRY=registry.example.com/tools hack/scanner-image.sh
#   REGISTRY=127.0.0.1:5000 INSECURE=1 PLATFORMS=linux/amd64 hack/scanner-image.sh
#
# It cross-compiles cmd/affix-scanner (CGO_ENABLED=0, static) for every
# platform with GOOS/GOARCH/GOARM, so no RUN step runs and any builder
# builds every platform. The image is reproducible: SOURCE_DATE_EPOCH (default:
# the commit time) sets every timestamp.
#
# Environment:
#   REGISTRY        registry[/path] to push to (required)
#   IMAGE           image name (default affix-scanner)
#   TAG             tag (default VERSION)
#   VERSION         affix version stamped into the binary (default: git describe, -dirty also
#                   for untracked files; else dev)
#   PLATFORMS       comma-separated platforms (default linux/amd64,linux/arm64)
#   INSECURE=1      push over plain HTTP (a local test registry)
#   BUILDKIT_HOST   buildkitd address (buildctl's default otherwise)
#   BUILDCTL, GO    the buildctl and go commands (default: bin/buildctl, else buildctl; go)
#   METADATA_FILE   also write buildctl's metadata (image digest) there
#
# It prints the pushed reference, REGISTRY/IMAGE:TAG@sha256:..., on stdout.
set -eu
cd "$(dirname "$0")/.."

: "${REGISTRY:?set REGISTRY to the registry (and path) to push the scanner image to}"
IMAGE=${IMAGE:-affix-scanner}
if [ -z "${VERSION:-}" ]; then
	# -dirty also for untracked files, as the Makefile's VERSION.
	VERSION=$(git describe --tags --always --dirty 2>/dev/null) || VERSION=dev
	if [ "$VERSION" != dev ] && [ "${VERSION%-dirty}" = "$VERSION" ] && [ -n "$(git status --porcelain 2>/dev/null)" ]; then
		VERSION=$VERSION-dirty
	fi
fi
TAG=${TAG:-$VERSION}
PLATFORMS=${PLATFORMS:-linux/amd64,linux/arm64}
GO=${GO:-go}
COMMIT=$(git rev-parse HEAD 2>/dev/null || true)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
if [ -z "${BUILDCTL:-}" ]; then
	if [ -x bin/buildctl ]; then BUILDCTL=bin/buildctl; else BUILDCTL=buildctl; fi
fi
ref="${REGISTRY%/}/$IMAGE:$TAG"

ctx=$(mktemp -d "${TMPDIR:-/tmp}/affix-scanner-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT INT TERM

pkg=github.com/affix-oci/affix
ldflags="-s -w -buildid= -X $pkg/internal/version.Version=$VERSION -X $pkg/internal/version.Commit=$COMMIT"
old_ifs=$IFS
IFS=,
for p in $PLATFORMS; do
	IFS=$old_ifs
	os=${p%%/*}
	rest=${p#*/}
	arch=${rest%%/*}
	variant=""
	[ "$rest" = "$arch" ] || variant=${rest#*/}
	goarm=""
	case "$arch/$variant" in
	arm64/v8) variant="" ;; # BuildKit normalizes linux/arm64/v8 to linux/arm64
	arm/v6) goarm=6 ;;
	arm/v7 | arm/) goarm=7 ;;
	esac
	dir="$ctx/bin/${os}_${arch}${variant:+_}$variant"
	echo "building affix-scanner for $p" >&2
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOARM=$goarm GOFLAGS=-buildvcs=false \
		"$GO" build -trimpath -ldflags "$ldflags" -o "$dir/affix-scanner" ./cmd/affix-scanner
	IFS=,
done
IFS=$old_ifs

out="type=image,name=$ref,push=true,rewrite-timestamp=true"
[ "${INSECURE:-}" != 1 ] || out="$out,registry.insecure=true"
meta="$ctx/metadata.json"
set -- --frontend dockerfile.v0 \
	--local context="$ctx" --local dockerfile=plugin/scanner \
	--opt platform="$PLATFORMS" \
	--opt build-arg:VERSION="$VERSION" \
	--opt build-arg:SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" \
	--output "$out" --metadata-file "$meta" --progress plain
if [ -n "${BUILDKIT_HOST:-}" ]; then
	"$BUILDCTL" --addr "$BUILDKIT_HOST" build "$@" >&2
else
	"$BUILDCTL" build "$@" >&2
fi
[ -z "${METADATA_FILE:-}" ] || cp "$meta" "$METADATA_FILE"
dgst=$(tr ',' '\n' <"$meta" | sed -n 's/.*"containerimage.digest": *"\(sha256:[0-9a-f]*\)".*/\1/p' | head -n1)
echo "$ref${dgst:+@}$dgst"
