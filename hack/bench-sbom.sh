#!/bin/sh
# bench-sbom.sh measures `affix sbom` per platform image: packages found,
# wall time and peak RSS, for a fresh scan and a cache hit. It needs the
# affix binary (make build); AFFIX overrides its path. Extra arguments go
# to sbomgen/internal/benchsbom (-layout SOURCE, -format F, -runs N).
set -eu
cd "$(dirname "$0")/.."
exec go run ./sbomgen/internal/benchsbom -affix "${AFFIX:-bin/affix}" "$@"
