#!/bin/sh
# prepare.sh writes what examples/hello's Dockerfile needs besides the
# checked-in files: bin/hello-<arch>, the Go program in app/ cross-compiled
# for each architecture (with build info for an SBOM to read), and a static
# busybox for the RUN steps (Debian's busybox-static; BUSYBOX=PATH picks
# another). Nothing is pulled from a registry.
#
#   prepare.sh [DIR]   DIR defaults to this directory; another DIR gets a
#                      full copy of the context (Dockerfile, rootfs, ...).
#   ARCHS="amd64 arm64" (default) picks the architectures.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${1:-$here}
archs=${ARCHS:-"amd64 arm64"}
busybox=${BUSYBOX:-/bin/busybox}

mkdir -p "$dir/bin"
dir=$(cd "$dir" && pwd)
if [ "$dir" != "$here" ]; then
	cp -R "$here/Dockerfile" "$here/.dockerignore" "$here/dpkg-status.in" "$here/rootfs" "$dir/"
fi

if [ ! -x "$busybox" ]; then
	echo "prepare.sh: no busybox at $busybox (apt-get install busybox-static, or set BUSYBOX)" >&2
	exit 1
fi
if file -L "$busybox" 2>/dev/null | grep -q 'dynamically linked'; then
	echo "prepare.sh: $busybox is dynamically linked; a scratch image needs a static one (busybox-static)" >&2
	exit 1
fi
cp "$busybox" "$dir/busybox"
chmod 0755 "$dir/busybox"

for arch in $archs; do
	(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH="$arch" \
		go build -trimpath -buildvcs=false -ldflags='-s -w -buildid=' \
		-o "$dir/bin/hello-$arch" ./examples/hello/app)
done
echo "prepared $dir (busybox, bin/hello-{$(echo $archs | tr ' ' ,)})"
