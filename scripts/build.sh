#!/usr/bin/env bash
# Configure and build secure-rdma into build/ (or $SRDMA_BUILD_DIR), warnings as errors.
# Extra arguments go to cmake's configure step, e.g. -DSRDMA_SANITIZE=ON.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${SRDMA_BUILD_DIR:-$top/build}
# No per-rule messages: with them, make runs a cmake process for each one (a thousand per
# build), and nobody reads this build's output.
cmake -S "$top" -B "$dir" -DSRDMA_WERROR=ON -DCMAKE_RULE_MESSAGES=OFF "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)" -- --no-print-directory >/dev/null
echo "built secure-rdma in $dir"
