#!/bin/bash
#
# flood.sh: the pre-authentication flood on the two-host bed, run N times, and the legitimate
# client's set-up times under it against the idle server's, per run and over all runs. Run it
# on the host, from the repository's root (it boots the two VMs itself, once per run):
#
#   SRDMA_BIN=build bench/flood.sh [RUNS] [OUT]
#
# Each run is tests/vm/wire-scenarios.sh flood (tests/vm/cases/45-preauth.sh): 2,000 attacker
# connections from ten addresses on host b (1,000 silent, 1,000 slowloris, held and renewed)
# while a legitimate client on b connects 20 times to the server on host a, each set-up timed
# (TCP connect to READY) against the median of 5 on the idle server just before. The issue's
# target is 20 of 20 within 3x in every run; the scenario's own check, which runs in the test
# command, allows one connect past 3x and none past 5x, so that a noisy machine does not fail
# the tests: this script is where the target is measured. Keep the machine otherwise quiet:
# other load on it slows the VMs, not the server under test.
#
# Environment: SRDMA_BIN (built programs, default ./build), SRDMA_CERTS (default
# $SRDMA_BIN/certs, made if missing), SRDMA_LOAD_BIN (the attackers' programs, default
# SRDMA_BIN). RUNS defaults to 10; OUT (default $SRDMA_BIN/flood-bench) gets one directory per
# run and summary.txt. Exit status 0 when every run passed its scenario; 1 otherwise.

set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-10}
bin=$(cd "${SRDMA_BIN:-$top/build}" && pwd) || exit 1
out=${2:-$bin/flood-bench}
certs=${SRDMA_CERTS:-$bin/certs}
[[ $runs =~ ^[1-9][0-9]*$ ]] || {
	echo "usage: bench/flood.sh [RUNS] [OUT]" >&2
	exit 2
}
if [ ! -x "$bin/srdma-server" ] || [ ! -x "$bin/srdma-flood" ]; then
	echo "flood.sh: no srdma-server or srdma-flood in $bin (build first)" >&2
	exit 1
fi
[ -e "$certs/ca.pem" ] || "$top/scripts/gen-certs.sh" "$certs" >/dev/null || exit 1
mkdir -p "$out"
out=$(cd "$out" && pwd)
summary=$out/summary.txt
: >"$summary"
failed=0 met=0
ratios=()
for i in $(seq 1 "$runs"); do
	d=$out/run$i
	rm -rf "$d"
	(cd "$top" && SRDMA_BIN=$bin SRDMA_LOAD_BIN=${SRDMA_LOAD_BIN:-$bin} SRDMA_CERTS=$certs \
		tests/vm/vm-run.sh --pair --timeout 600 --out "$d" -- tests/vm/wire-scenarios.sh flood \
		>"$d.log" 2>&1)
	line=$(grep -h "PASS wire_flood\|FAIL wire_flood" "$d.log" | head -n 1)
	times=$(grep -h "under the flood:" "$d.log" | head -n 1 | sed -E 's/.*idle set-up median ([0-9]+) us; under the flood: ([0-9 ]+) us.*/\1 \2/')
	if [ -z "$times" ] || [[ $line != *PASS* ]]; then
		failed=$((failed + 1))
		echo "run $i: the scenario did not pass: ${line:-no verdict} (see $d.log)" | tee -a "$summary"
		continue
	fi
	# shellcheck disable=SC2086 # the numbers are meant to be split
	set -- $times
	idle=$1
	shift
	r=$(printf '%s\n' "$@" | sort -n | awk -v idle="$idle" '
		{ x = $1 / idle; if (x <= 3) within++; v[NR] = x }
		END { printf "%d %.2f %.2f", within, v[int((NR + 1) / 2)], v[NR] }')
	read -r within median most <<<"$r"
	[ "$within" = "$#" ] && [ "$#" = 20 ] && met=$((met + 1))
	ratios+=("$most")
	printf 'run %d: idle median %d ms; under the flood %d of %d within 3x, median %sx, slowest %sx\n' \
		"$i" $((idle / 1000)) "$within" "$#" "$median" "$most" | tee -a "$summary"
done
if [ "${#ratios[@]}" -gt 0 ]; then
	printf 'slowest connect of each run: %s\n' "$(printf '%s\n' "${ratios[@]}" | sort -n | tr '\n' ' ')" |
		tee -a "$summary"
fi
echo "target (20 of 20 within 3x the idle set-up median) met in $met of $runs runs; $failed runs failed their scenario" |
	tee -a "$summary"
[ "$failed" = 0 ]
