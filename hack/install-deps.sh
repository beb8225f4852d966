#!/bin/sh
# install-deps.sh installs the system packages affix's tests and demo need,
# when missing: runc (buildkitd's OCI worker) and Debian's docker-registry
# (distribution 2.8, a registry without the referrers API), util-linux for
# unshare, iproute2, busybox-static (a shell for RUN steps in images built
# FROM scratch), and gcc with the C library headers (the race detector of
# make test needs cgo; affix itself builds with CGO_ENABLED=0), and jq
# (the README's by-hand blocks read affix ls --json with it), and a docker
# client for the Docker CLI plugin test: only the client, taken out of
# Debian's docker.io package into /usr/local/bin, never a Docker engine. It
# needs root (or sudo) only when something is missing.
set -eu
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
# download_docker_client DIR downloads the Debian package that holds
# /usr/bin/docker (docker-cli since trixie, docker.io before) into DIR.
download_docker_client() {
	for pkg in docker-cli docker.io; do
		if (cd "$1" && apt-get download -qq "$pkg" >/dev/null 2>&1) &&
			dpkg-deb -c "$1/${pkg}"_*.deb | grep ' \./usr/bin/docker$' >/dev/null; then
			echo "$1/${pkg}"_*.deb
			return 0
		fi
		rm -f "$1/${pkg}"_*.deb
	done
	return 1
}
if ! command -v docker >/dev/null 2>&1; then
	echo "installing: docker (the client of Debian's docker-cli or docker.io, no engine)"
	tmp=$(mktemp -d)
	# apt-get download writes to the current directory as _apt when it can.
	chmod 0777 "$tmp"
	deb=$(download_docker_client "$tmp") || {
		$sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
		deb=$(download_docker_client "$tmp")
	} || { echo "install-deps: no Debian package with a docker client" >&2; exit 1; }
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" ./usr/bin/docker
	$sudo install -m 0755 "$tmp/usr/bin/docker" /usr/local/bin/docker
	rm -rf "$tmp"
fi
need=""
command -v runc >/dev/null 2>&1 || need="$need runc"
command -v docker-registry >/dev/null 2>&1 || need="$need docker-registry"
command -v unshare >/dev/null 2>&1 || need="$need util-linux"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
# A static busybox gives FROM-scratch test images a shell for RUN steps.
dpkg -s busybox-static >/dev/null 2>&1 || need="$need busybox-static"
command -v gcc >/dev/null 2>&1 || need="$need gcc"
dpkg -s libc6-dev >/dev/null 2>&1 || need="$need libc6-dev"
command -v jq >/dev/null 2>&1 || need="$need jq"
[ -n "$need" ] || exit 0
echo "installing:$need"
export DEBIAN_FRONTEND=noninteractive
# A fresh VM may be running apt itself (apt-daily, unattended-upgrades):
# wait for its lock, and try a flaky mirror again, rather than fail.
apt="$sudo apt-get -o DPkg::Lock::Timeout=300"
for try in 1 2 3; do
	# shellcheck disable=SC2086
	if $apt update -qq && $apt install -y -qq --no-install-recommends $need >/dev/null; then
		exit 0
	fi
	echo "apt-get failed (attempt $try of 3)" >&2
	sleep $((try * 10))
done
exit 1
