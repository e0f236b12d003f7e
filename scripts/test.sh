#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine: install what is missing, build with
# warnings as errors, run the unit and host tests, then the RDMA scenarios in the Soft-RoCE VM
# (or directly, where the machine has an RDMA device). Ends with one line "N passed, N failed";
# exits non-zero if anything failed or could not run.
#   SRDMA_VM_TESTS=0   skip nothing silently: the VM scenarios are then reported as failed
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
start=$SECONDS
passed=0
failed=0
build=${SRDMA_BUILD_DIR:-$top/build}
logs=$build/test-logs

note_fail() {
	echo "FAIL $1"
	failed=$((failed + 1))
}

scripts/install-deps.sh || { echo "cannot install dependencies"; echo "0 passed, 1 failed"; exit 1; }
if ! SRDMA_BUILD_DIR=$build scripts/build.sh; then
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi
mkdir -p "$logs"
scripts/gen-certs.sh "$build/certs" >/dev/null

# Unit and host tests: cmocka programs under ctest; count their individual test cases.
echo "== unit and host tests"
ctest --test-dir "$build" --output-on-failure -V >"$logs/ctest.log" 2>&1
ctest_rc=$?
p=$(grep -o '\[  PASSED  \] [0-9]* test' "$logs/ctest.log" | awk '{ s += $4 } END { print s + 0 }')
f=$(grep -o '\[  FAILED  \] [0-9]* test' "$logs/ctest.log" | awk '{ s += $4 } END { print s + 0 }')
crashed=$(grep -cE 'Failed|\*\*\*Exception|Timeout' <(grep -E '^ *[0-9]+/[0-9]+ Test' "$logs/ctest.log"))
echo "cmocka: $p passed, $f failed; programs failed or crashed: $crashed"
passed=$((passed + p))
failed=$((failed + f))
if [ "$ctest_rc" != 0 ] && [ "$f" = 0 ]; then
	failed=$((failed + (crashed > 0 ? crashed : 1)))
	grep -E '^ *[0-9]+/[0-9]+ Test' "$logs/ctest.log"
fi

# The RDMA scenarios.
echo "== RDMA scenarios (Soft-RoCE)"
vmout=$logs/vm
rm -rf "$vmout"
mkdir -p "$vmout"
export SRDMA_BIN=$build SRDMA_CERTS=$build/certs
if [ -d /sys/class/infiniband ] && [ -n "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
	SRDMA_VM_OUT=$vmout SRDMA_RXE_ADDR=${SRDMA_RXE_ADDR:-127.0.0.1} tests/vm/scenarios.sh
else
	tests/vm/vm-run.sh --timeout 1200 --out "$vmout" -- tests/vm/scenarios.sh
fi
vm_rc=$?
if [ -s "$vmout/results.txt" ]; then
	p=$(grep -c '^PASS' "$vmout/results.txt")
	f=$(grep -c '^FAIL' "$vmout/results.txt")
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$vm_rc" = 0 ] || [ "$f" != 0 ] || note_fail "vm: scenario run exited $vm_rc"
else
	note_fail "vm: the scenarios did not run (exit $vm_rc); see $vmout"
fi

echo "== took $((SECONDS - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
