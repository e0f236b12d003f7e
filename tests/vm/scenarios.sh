#!/usr/bin/env bash
# The RDMA scenarios, run where an RDMA device exists (inside the Soft-RoCE VM) against the real
# srdma-server and srdma-client. Each file in cases/ defines t_NAME functions and registers
# the names; they run in file order. Usage: scenarios.sh [NAME...]; default: all.
#   scenarios.sh --except NAME...: all but those, in file order.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"

ALL_TESTS=()
register() {
	ALL_TESTS+=("$@")
}
for f in "$here"/cases/*.sh; do
	# shellcheck source=/dev/null
	. "$f"
done

: >"$RESULTS"
if [ $# = 0 ]; then
	tests=("${ALL_TESTS[@]}")
elif [ "$1" = --except ]; then
	shift
	tests=()
	for t in "${ALL_TESTS[@]}"; do
		[[ " $* " == *" $t "* ]] || tests+=("$t")
	done
	for t in "$@"; do
		[[ " ${ALL_TESTS[*]} " == *" $t "* ]] ||
			echo "FAIL vm_$t: no such scenario (in --except)" | tee -a "$RESULTS"
	done
else
	tests=("$@")
fi
for t in "${tests[@]}"; do
	if ! declare -F "t_$t" >/dev/null; then
		echo "FAIL vm_$t: no such scenario" | tee -a "$RESULTS"
		continue
	fi
	run_test "vm_$t" "t_$t"
done
grep -q '^FAIL' "$RESULTS" && exit 1
exit 0
