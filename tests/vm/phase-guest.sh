#!/usr/bin/env bash
# scripts/test.sh's vm phase inside the Soft-RoCE VM: the RDMA scenarios (tests/vm/scenarios.sh),
# then, when SRDMA_PKG_DIR is set, the installed Debian packages over RDMA
# (debian/tests/rdma-echo), so that they need no VM boot of their own.
#
#   tests/vm/phase-guest.sh [SCENARIO...]
#
# The package phase builds and installs the packages on the host while the scenarios run
# (the VM sees the host's root file system live, over 9p) and then writes SRDMA_PKG_DIR/installed
# (certificates in SRDMA_PKG_DIR/certs) or SRDMA_PKG_DIR/not-installed. This waits for one of
# them, at most SRDMA_PKG_WAIT seconds (default 900), and writes rdma-echo's output to
# $SRDMA_VM_OUT/pkg/rdma-echo.log and its exit status to $SRDMA_VM_OUT/pkg/rdma-echo.rc.
# Exits with the scenarios' status.
set -u
here=$(cd "$(dirname "$0")" && pwd)
"$here/scenarios.sh" "$@"
rc=$?
# For scripts/test.sh: what needs no more of this VM may start.
touch "${SRDMA_VM_OUT:-/tmp}/scenarios.done"

pkg=${SRDMA_PKG_DIR:-}
if [ -n "$pkg" ]; then
	out=${SRDMA_VM_OUT:-/tmp}/pkg
	mkdir -p "$out"
	end=$((SECONDS + ${SRDMA_PKG_WAIT:-900}))
	while [ ! -e "$pkg/installed" ] && [ ! -e "$pkg/not-installed" ] && [ "$SECONDS" -lt "$end" ]; do
		sleep 1
	done
	if [ -e "$pkg/installed" ]; then
		SRDMA_CERTS=$pkg/certs SRDMA_VM_OUT=$out "$here/../../debian/tests/rdma-echo" \
			>"$out/rdma-echo.log" 2>&1
		echo $? >"$out/rdma-echo.rc"
	elif [ -e "$pkg/not-installed" ]; then
		echo "the packages were not installed" >"$out/rdma-echo.log"
		echo skipped >"$out/rdma-echo.rc"
	else
		echo "the packages were not installed within ${SRDMA_PKG_WAIT:-900} s" >"$out/rdma-echo.log"
		echo timeout >"$out/rdma-echo.rc"
	fi
fi
exit "$rc"
