#!/usr/bin/env bash
# The RDMA scenarios, run where an RDMA device exists (inside the Soft-RoCE VM) against the real
# srdma-server and srdma-client. Each file in cases/ defines t_NAME functions and registers
# the names; they run in file order. Usage: scenarios.sh [NAME...]; default: all.
# scenarios.sh --list prints "NN NAME" for each (NN: the number of its cases/ file).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"

ALL_TESTS=()
CASE_OF=() # "NN NAME": the number of the cases/ file that registered each scenario
register() {
	local n
	ALL_TESTS+=("$@")
	for n in "$@"; do
		CASE_OF+=("$case_num $n")
	done
}
for f in "$here"/cases/*.sh; do
	case_num=${f##*/}
	case_num=${case_num%%-*}
	# shellcheck source=/dev/null
	. "$f"
done

# --list: each scenario's case file number and name, one per line, in running order.
if [ "${1:-}" = --list ]; then
	printf '%s\n' "${CASE_OF[@]}"
	exit 0
fi

: >"$RESULTS"
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=("${ALL_TESTS[@]}")
for t in "${tests[@]}"; do
	if ! declare -F "t_$t" >/dev/null; then
		echo "FAIL vm_$t: no such scenario" | tee -a "$RESULTS"
		continue
	fi
	run_test "vm_$t" "t_$t"
done
grep -q '^FAIL' "$RESULTS" && exit 1
exit 0
