#!/bin/sh
# demo.sh is `make demo`: the main job end to end on a fresh machine.
#
# It starts a throwaway buildkitd (bin/buildkitd, runc, native snapshotter,
# temporary root, unix socket) and a local registry without the referrers
# API (Debian's docker-registry 2.8, else bin/registry v3, on a free port,
# temporary storage), prepares examples/hello in a temporary copy, builds it
# for linux/amd64 and linux/arm64 with `affix build --push`, which publishes
# the index and one SPDX SBOM referrer per platform manifest in one push,
# then prints `affix ls` of the image and the start of its arm64 SBOM. It
# stops and removes everything it started on exit, also on failure or ^C.
#
# Needs root (buildkitd with runc), runc, busybox-static and docker-registry
# (make deps), bin/buildkitd (make tools) and bin/affix (make build).
# Environment: SOURCE_DATE_EPOCH (default: the commit time), KEEP=1 keeps
# the services running until ^C, DEMO_BIN the directory of buildkitd,
# buildctl, affix (and registry, without docker-registry) instead of bin/
# (integration's TestDemo runs the demo with the binaries it tests),
# DEMO_PORTS the ports the registry may take (FIRST-LAST, default
# 5000-5099: the first free one).
set -eu
cd "$(dirname "$0")/.."
repo=$PWD
BIN=${DEMO_BIN:-$repo/bin}
export PATH="$BIN:$PATH"

if [ -t 2 ]; then
	say() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
else
	say() { printf '\n==> %s\n' "$*" >&2; }
fi
die() { echo "demo: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "buildkitd with runc needs root (run as root, or with sudo)"
command -v runc >/dev/null 2>&1 || die "runc not found (make deps)"
[ -x "$BIN/buildkitd" ] && [ -x "$BIN/buildctl" ] || die "$BIN/buildkitd or $BIN/buildctl not found (make tools)"
[ -x "$BIN/affix" ] || die "$BIN/affix not found (make build)"
registry_bin=""
if command -v docker-registry >/dev/null 2>&1; then
	registry_bin=$(command -v docker-registry)
elif [ -x "$BIN/registry" ]; then
	registry_bin=$BIN/registry
else
	die "no registry server: apt-get install docker-registry (make deps), or make tools for bin/registry"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/affix-demo.XXXXXX")
bk_pid=""
reg_pid=""
cleanup() {
	status=$?
	trap - EXIT INT TERM
	if [ -n "$bk_pid" ]; then
		kill "$bk_pid" 2>/dev/null || true
		wait "$bk_pid" 2>/dev/null || true
	fi
	if [ -n "$reg_pid" ]; then
		kill "$reg_pid" 2>/dev/null || true
		wait "$reg_pid" 2>/dev/null || true
	fi
	if [ "$status" != 0 ]; then
		for f in buildkitd.log registry.log; do
			if [ -s "$work/$f" ]; then
				echo "--- last lines of $f" >&2
				tail -n 20 "$work/$f" >&2
			fi
		done
	fi
	# A crashed container can leave mounts below the buildkitd root.
	if [ -r /proc/self/mounts ]; then
		awk -v d="$work/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
			umount -l "$m" 2>/dev/null || true
		done
	fi
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_http URL SECONDS: wait until URL answers (any HTTP status).
wait_http() {
	i=0
	while [ "$i" -lt "$(($2 * 10))" ]; do
		if command -v curl >/dev/null 2>&1; then
			curl -s -o /dev/null "$1" && return 0
		elif command -v wget >/dev/null 2>&1; then
			wget -q -O /dev/null "$1" 2>/dev/null && return 0
		else
			grep -q "listening on" "$work/registry.log" 2>/dev/null && return 0
		fi
		kill -0 "$reg_pid" 2>/dev/null || return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

say "starting buildkitd (root $work/bk)"
sock="$work/bk/buildkitd.sock"
mkdir -p "$work/bk"
"$BIN/buildkitd" --root "$work/bk/state" --addr "unix://$sock" \
	--oci-worker-snapshotter=native --containerd-worker=false \
	>"$work/buildkitd.log" 2>&1 &
bk_pid=$!
i=0
until [ -S "$sock" ] && "$BIN/buildctl" --addr "unix://$sock" debug workers >/dev/null 2>&1; do
	kill -0 "$bk_pid" 2>/dev/null || die "buildkitd exited (see above)"
	i=$((i + 1))
	[ "$i" -lt 600 ] || die "buildkitd did not answer within 60s"
	sleep 0.1
done
echo "buildkitd ready at unix://$sock" >&2

say "starting a registry without the referrers API ($(basename "$registry_bin"))"
port=""
ports=${DEMO_PORTS:-5000-5099}
case "$ports" in
*[!0-9-]* | -* | *- | *-*-* | "") die "DEMO_PORTS=$ports: want FIRST-LAST, e.g. 5000-5099" ;;
esac
for p in $(seq "${ports%-*}" "${ports#*-}"); do
	if command -v ss >/dev/null 2>&1 && ss -ltn 2>/dev/null | awk '{print $4}' | grep -q ":$p\$"; then
		continue
	fi
	mkdir -p "$work/registry"
	cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$p
  secret: affix-demo
EOF
	OTEL_TRACES_EXPORTER=none OTEL_SDK_DISABLED=true "$registry_bin" serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
	reg_pid=$!
	if wait_http "http://127.0.0.1:$p/v2/" 15; then
		port=$p
		break
	fi
	kill "$reg_pid" 2>/dev/null || true
	wait "$reg_pid" 2>/dev/null || true
	reg_pid=""
done
[ -n "$port" ] || die "no registry could listen on 127.0.0.1:$ports (DEMO_PORTS sets the range)"
host=127.0.0.1:$port
echo "registry ready at http://$host" >&2

say "preparing examples/hello (cross-compiled binaries, static busybox) in $work/hello"
examples/hello/prepare.sh "$work/hello" >&2

export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 1700000000)}"
export AFFIX_CACHE_DIR="$work/cache"
export DOCKER_CONFIG="$work/docker"
image=$host/hello:demo

say "affix build --platform linux/amd64,linux/arm64 --push -t $image"
affix build --builder "unix://$sock" \
	--platform linux/amd64,linux/arm64 \
	--push -t "$image" \
	--progress plain --metadata-file "$work/metadata.json" \
	"$work/hello"

say "affix ls $image"
affix ls "$image"

say "affix get --verify --platform linux/arm64 $image (SPDX 2.3 JSON: document and packages)"
affix get --verify --platform linux/arm64 "$image" >"$work/arm64.spdx.json"
# The document is one line of JSON; show its head, the operating system and
# the packages it lists.
head -c 300 "$work/arm64.spdx.json"
echo " ..."
grep -o '"name":"[^"]*","SPDXID":"SPDXRef-\(Package\|OperatingSystem\)-[^"]*","versionInfo":"[^"]*"' "$work/arm64.spdx.json" |
	sed 's/"name":"\([^"]*\)".*"versionInfo":"\([^"]*\)"/  \1 \2/' | head -n 25

say "done: one push published the index and an SPDX referrer per platform (referrers tag schema: this registry has no referrers API)"
if [ "${KEEP:-}" = 1 ]; then
	echo "KEEP=1: buildkitd (unix://$sock) and the registry ($host) keep running until ^C" >&2
	wait "$reg_pid"
fi
