#!/bin/sh
# bench.sh is `make bench`: Go benchmarks of the engines, then the
# end-to-end measurements (packages, wall time and peak RSS of `affix sbom`
# per platform; registry requests and wall time of `affix push` per registry
# kind beside oras; `affix build --push` beside buildctl when available).
# Every figure in docs/ comes from here; see docs/benchmarks.md.
set -eu
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"

echo "== go test -bench (engines)"
go test -run '^$' -bench . -benchmem -count 1 ./internal/oci/ ./sbomgen/ ./exporter/ ./internal/cli/ ./plugin/convert/ ./internal/discover/

echo
echo "== affix sbom: per platform"
hack/bench-sbom.sh

echo
echo "== affix push vs push without SBOMs + oras attach"
hack/bench-push.sh

echo
echo "== affix build --push vs buildctl (without SBOMs, and with affix-scanner as BuildKit's generator)"
hack/bench-build.sh
