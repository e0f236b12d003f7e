#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is missing, build, make demo
# certificates, then run one srdma-server and 10 srdma-clients over real RDMA: on this
# machine's RDMA device if it has one, otherwise in the Soft-RoCE VM (tests/vm/vm-run.sh).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=${SRDMA_BUILD_DIR:-$top/build}
scripts/install-deps.sh
SRDMA_BUILD_DIR=$build scripts/build.sh
scripts/gen-certs.sh "$build/certs" >/dev/null
export SRDMA_BIN=$build SRDMA_CERTS=$build/certs
if [ -n "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
	echo "== demo on this machine's RDMA device"
	exec tests/vm/demo.sh
fi
echo "== no RDMA device here: running the demo in the Soft-RoCE VM"
exec tests/vm/vm-run.sh --timeout 600 -- tests/vm/demo.sh
