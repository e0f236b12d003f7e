#!/usr/bin/env bash
# Install the Debian 12 packages that secure-rdma needs to build, test, and boot its Soft-RoCE
# VM. Does nothing when everything is already installed. Needs root (or sudo).
set -euo pipefail

pkgs=(
	# build
	build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
	libibverbs-dev libssl-dev openssl libinih-dev libjson-c-dev libcmocka-dev libsystemd-dev
	# man pages (docs/man -> pandoc), and the install check's nm and readelf
	pandoc binutils
	# the Debian packages (debian/: dpkg-buildpackage, debhelper, lintian)
	dpkg-dev debhelper lintian
	# RDMA user space, and the reference tools the benchmarks compare against
	rdma-core ibverbs-providers ibverbs-utils perftest rdmacm-utils
	# the Soft-RoCE VM and the test scripts
	qemu-system-x86 linux-image-amd64 busybox-static cpio iproute2 kmod jq tcpdump procps
	# srdma-server's metrics listener, and the real Prometheus, promtool and curl of its test
	libmicrohttpd-dev libgnutls28-dev prometheus curl
	# the outside TLS audit (tests/tls/audit.sh)
	testssl.sh
	# plots of the benchmarks
	gnuplot-nox
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "$0: run as root to install: ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
