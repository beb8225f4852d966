#!/bin/sh
# bench-large.sh measures affix on a large generated image (hack/largeimage):
# two platforms, each with 1 GiB of big files, 50000 small files, a dpkg
# database of 3000 packages and 10000 whiteouts. For each command (sbom from
# the layout and from its tar, the cache hit, push with and without SBOMs,
# the push again, get, attach) it reports wall and CPU time, peak RSS, bytes
# read and written, registry requests and what TMPDIR held. Takes about 5
# minutes and 8 GiB in $TMPDIR, removed at the end. Needs bin/affix (make
# build) and bin/registry (distribution v3; else Debian's docker-registry).
# Extra arguments go to `largeimage bench` (-cases, -runs, -work DIR to keep
# the image, -big, -small-files, ...; -h lists them). See docs/benchmarks.md,
# "Large images".
set -eu
cd "$(dirname "$0")/.."
[ -x bin/affix ] || go build -o bin/ ./cmd/affix
exec go run ./hack/largeimage bench -affix bin/affix "$@"
