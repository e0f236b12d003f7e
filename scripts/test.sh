#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine: install what is missing, build with
# warnings as errors, build again with AddressSanitizer + UBSan (leak detection on) and run the
# unit and host tests, check the installed library (tests/install/check-install.sh), run the
# RDMA scenarios (in the Soft-RoCE VM, or directly where the machine has an RDMA device) against
# the sanitized binaries, then fuzz each decoder for a bounded time.
# Ends with one line "N passed, N failed" (cmocka cases, install checks, VM scenarios, fuzz
# targets and sanitizer checks); exits non-zero if anything failed or could not run.
#
#   scripts/test.sh [PHASE...]   PHASE: build unit install vm tls fuzz (default: all, in that
#                                order; the sanitizer build is made for unit, vm and tls)
#   SRDMA_BUILD_DIR=DIR          plain build in DIR (default build/), DIR-san, DIR-fuzz,
#                                DIR-install (the install check's build and prefix)
#   SRDMA_VM_SCENARIOS="a b"     run only these VM scenarios (default: all)
#   SRDMA_VM_TIMEOUT=SEC         kill the VM after SEC seconds (default 1200)
#   SRDMA_FUZZ_SECONDS=N         fuzzing time shared by the targets (default 60)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
base=${SRDMA_BUILD_DIR:-$top/build}
san=$base-san
fuzz=$base-fuzz
logs=$san/test-logs
fuzz_targets=(wire msg config)
fuzz_seconds=${SRDMA_FUZZ_SECONDS:-60}
# Sanitizer reports exit with this status (LSan's default would be 23, ASan's and UBSan's 1).
san_exit=99
passed=0
failed=0
times=()

pass() {
	passed=$((passed + $1))
}

note_fail() {
	echo "FAIL $*"
	failed=$((failed + 1))
}

# timed NAME FUNC: run a phase and remember how long it took; returns the phase's status.
timed() {
	local t0=$SECONDS rc
	"$2"
	rc=$?
	times+=("$1 $((SECONDS - t0)) s")
	return "$rc"
}

# san_env DIR: set $senv to the environment (for env(1)) that makes every sanitized program write
# any report to a file under DIR (log_path: DIR/asan.PID, DIR/ubsan.PID) and exit $san_exit.
# UBSan's log_path only takes effect with one sanitizer runtime per program (CMakeLists.txt links
# GCC's statically).
senv=()
san_env() {
	senv=(
		"ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=$san_exit:log_path=$1/asan"
		"UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=$san_exit:log_path=$1/ubsan"
	)
}

# build_canary: a program built with the same sanitizer flags as the tree that leaks ("leak") or
# overflows a signed int ("ub") on purpose. It runs with exactly the environment the tests get,
# so its reports prove, on every run, that the options reached the processes there, that LSan
# works there (it needs /proc and ptrace), and that a report ends up in a file and in the exit
# status.
build_canary() {
	local cc flags=(-x c -O0 -g "-fsanitize=address,undefined" -fno-sanitize-recover=all)
	cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$san/CMakeCache.txt")
	"${cc:-cc}" --version | grep -qi clang || flags+=(-static-libasan -static-libubsan)
	"${cc:-cc}" "${flags[@]}" -o "$san/san-canary" - <<-'EOF'
		#include <limits.h>
		#include <stdlib.h>
		#include <string.h>

		static void *volatile sink;
		static volatile int big = INT_MAX;

		/* Several blocks, so that a stale copy of the last pointer cannot hide them all. */
		__attribute__((noinline)) static void leak(void)
		{
			for (int i = 0; i < 4; i++) {
				sink = malloc(48);
				memset(sink, 0x5a, 48);
			}
			sink = NULL;
		}

		int main(int argc, char **argv)
		{
			if (argc > 1 && !strcmp(argv[1], "ub"))
				return big + argc > 0;
			leak();
			return 0;
		}
	EOF
}

# The canary's runs, as a shell command line: their pids and exit statuses go to the file $1.
# shellcheck disable=SC2016 # expanded by the inner shell
canary_sh='"$2" leak & a=$!; wait $a; ra=$?; "$2" ub & b=$!; wait $b; echo "$a $ra $b $?" >"$1"'

# check_canary NAME FILE DIR: both canary runs exited $san_exit, each with its report in DIR (a
# LeakSanitizer one, a UBSan one); those reports are then moved aside into DIR.canary.
check_canary() {
	local a ra b rb
	read -r a ra b rb <"$2" 2>/dev/null
	mkdir -p "$3.canary"
	if [ "${ra:-}" = "$san_exit" ] && [ "${rb:-}" = "$san_exit" ] &&
		grep -qs "ERROR: LeakSanitizer: detected memory leaks" "$3"/*."$a" &&
		grep -qs "runtime error: signed integer overflow" "$3"/*."$b"; then
		echo "sanitizer canary ($1): leak and UB reported in $3, exit $ra and $rb"
		pass 1
	else
		note_fail "sanitizer canary ($1): exits '${ra:-}' '${rb:-}' (want $san_exit)," \
			"reports: $(ls "$3")"
	fi
	[ -z "${a:-}" ] || mv -f "$3"/*."$a" "$3.canary/" 2>/dev/null
	[ -z "${b:-}" ] || mv -f "$3"/*."$b" "$3.canary/" 2>/dev/null
}

# scan_reports NAME DIR TEXT: every sanitizer report file in DIR, and every other file in TEXT (a
# file or a directory) that holds sanitizer output, is one failure (printed); none is one pass.
scan_reports() {
	local name=$1 dir=$2 textdir=$3 f n=0
	for f in "$dir"/*; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		note_fail "sanitizer ($name): report $f"
		sed -n '1,40p' "$f"
	done
	while IFS= read -r f; do
		n=$((n + 1))
		note_fail "sanitizer ($name): sanitizer output in $f"
		grep -E -m 5 -A 10 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f"
	done < <(grep -rlE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$textdir" \
		--exclude-dir=san --exclude-dir=san.canary --exclude-dir=.vm 2>/dev/null)
	if [ "$n" = 0 ]; then
		echo "sanitizer ($name): no reports"
		pass 1
	fi
}

phase_deps() {
	echo "== dependencies"
	scripts/install-deps.sh
}

phase_build() {
	echo "== build (warnings as errors)"
	SRDMA_BUILD_DIR=$base scripts/build.sh || note_fail "build: $base failed to build"
}

san_built=
phase_sanitize_build() {
	echo "== sanitizer build (ASan + UBSan) in $san"
	san_built=0
	if SRDMA_BUILD_DIR=$san scripts/build.sh -DSRDMA_SANITIZE=ON &&
		scripts/gen-certs.sh "$san/certs" >/dev/null && build_canary; then
		san_built=1
	fi
	mkdir -p "$logs"
}

# Unit and host tests: cmocka programs under ctest; count their individual test cases.
phase_unit() {
	local rc p f crashed dir=$logs/unit-san
	echo "== unit and host tests (sanitized)"
	if [ "$san_built" != 1 ]; then
		note_fail "unit: cannot run, the sanitizer build failed"
		return
	fi
	rm -rf "$dir"
	mkdir -p "$dir/san"
	san_env "$dir/san"
	env "${senv[@]}" bash -c "$canary_sh" canary "$dir/canary.txt" "$san/san-canary"
	check_canary host "$dir/canary.txt" "$dir/san"

	env "${senv[@]}" ctest --test-dir "$san" --output-on-failure -V \
		>"$logs/ctest.log" 2>&1
	rc=$?
	p=$(grep -o '\[  PASSED  \] [0-9]* test' "$logs/ctest.log" | awk '{ s += $4 } END { print s + 0 }')
	f=$(grep -o '\[  FAILED  \] [0-9]* test' "$logs/ctest.log" | awk '{ s += $4 } END { print s + 0 }')
	crashed=$(grep -E '^ *[0-9]+/[0-9]+ Test' "$logs/ctest.log" |
		grep -cE 'Failed|\*\*\*Exception|Timeout')
	echo "cmocka: $p passed, $f failed; programs failed or crashed: $crashed"
	pass "$p"
	failed=$((failed + f))
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		failed=$((failed + (crashed > 0 ? crashed : 1)))
		grep -E '^ *[0-9]+/[0-9]+ Test' "$logs/ctest.log"
	fi
	scan_reports unit "$dir/san" "$logs/ctest.log"
}

# The library as an application gets it: a build installed into a scratch prefix, its exported
# symbols against <srdma.h>, libsrdma.pc, and examples/ built out of the tree (shared and
# static). Each check is one pass or one failure.
phase_install() {
	local log=$base-install.log rc p f
	echo "== install (cmake --install, exported symbols, pkg-config, the example out of tree)"
	tests/install/check-install.sh "$base-install" >"$log" 2>&1
	rc=$?
	grep -v '^[0-9]* passed, [0-9]* failed$' "$log"
	read -r p f < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$log")
	pass "${p:-0}"
	failed=$((failed + ${f:-0}))
	if [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; then
		note_fail "install: check-install.sh exited $rc without a result; see $log"
	fi
}

# The RDMA scenarios against the sanitized programs. vm-run.sh passes only SRDMA_* variables
# into the VM, so the sanitizer options go in through env(1) as part of the command; the canary
# runs first under the same environment, so a run that lost the options cannot pass.
phase_vm() {
	local vmout=$logs/vm rc p f scenarios wrap
	echo "== RDMA scenarios (Soft-RoCE, sanitized)"
	if [ "$san_built" != 1 ]; then
		note_fail "vm: cannot run, the sanitizer build failed"
		return
	fi
	read -r -a scenarios <<<"${SRDMA_VM_SCENARIOS:-}"
	rm -rf "$vmout"
	mkdir -p "$vmout/san"
	# SRDMA_SANITIZED=1 tells the scenarios that the programs run under ASan: its allocator keeps
	# freed memory in quarantine and never gives it back, so RSS says nothing about leaks there
	# (LSan checks them exactly, at each program's exit).
	export SRDMA_BIN=$san SRDMA_CERTS=$san/certs SRDMA_SANITIZED=1
	# The canary first, then (exec) the scenarios, all under env(1) with the sanitizer options.
	wrap=(bash -c "$canary_sh; shift 2; exec \"\$@\"" canary)
	if [ -d /sys/class/infiniband ] && [ -n "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
		export SRDMA_VM_OUT=$vmout SRDMA_RXE_ADDR=${SRDMA_RXE_ADDR:-127.0.0.1}
		san_env "$vmout/san"
		env "${senv[@]}" "${wrap[@]}" "$vmout/canary.txt" "$san/san-canary" \
			tests/vm/scenarios.sh "${scenarios[@]}"
	else
		# Inside the VM the work directory $vmout is /tmp/vmwork.
		san_env /tmp/vmwork/san
		tests/vm/vm-run.sh --timeout "${SRDMA_VM_TIMEOUT:-1200}" --out "$vmout" -- \
			env "${senv[@]}" "${wrap[@]}" /tmp/vmwork/canary.txt "$san/san-canary" \
			tests/vm/scenarios.sh "${scenarios[@]}"
	fi
	rc=$?
	check_canary vm "$vmout/canary.txt" "$vmout/san"
	if [ -s "$vmout/results.txt" ]; then
		p=$(grep -c '^PASS' "$vmout/results.txt")
		f=$(grep -c '^FAIL' "$vmout/results.txt")
		pass "$p"
		failed=$((failed + f))
		# scenarios.sh exits 1 when a scenario failed; anything else (124: timeout, 125: the VM
		# failed) means the scenarios after the last result never ran.
		if [ "$rc" != 0 ] && { [ "$rc" != 1 ] || [ "$f" = 0 ]; }; then
			note_fail "vm: scenario run exited $rc after $((p + f)) scenarios; see $vmout"
		fi
	else
		note_fail "vm: the scenarios did not run (exit $rc); see $vmout"
	fi
	scan_reports vm "$vmout/san" "$vmout"
}

# libFuzzer targets, built with clang; each runs its share of the time on a scratch copy of its
# committed corpus (fuzz/corpus is never written). A target that does not build, crashes, or
# trips an invariant is one failure; one that runs clean is one pass.
phase_fuzz() {
	local t secs rc run execs
	echo "== fuzzing (${fuzz_seconds} s over ${#fuzz_targets[@]} targets)"
	secs=$((fuzz_seconds / ${#fuzz_targets[@]}))
	[ "$secs" -ge 1 ] || secs=1
	if ! { CC=clang cmake -S "$top" -B "$fuzz" -DSRDMA_FUZZ=ON -DSRDMA_TESTS=OFF \
		-DSRDMA_WERROR=ON >/dev/null &&
		cmake --build "$fuzz" -j "$(nproc)" --target "${fuzz_targets[@]/#/fuzz_}" \
			-- --no-print-directory >/dev/null; }; then
		for t in "${fuzz_targets[@]}"; do
			note_fail "fuzz_$t: cannot run, the fuzz build (clang) failed"
		done
		return
	fi
	for t in "${fuzz_targets[@]}"; do
		run=$fuzz/run/$t
		rm -rf "$run"
		mkdir -p "$run"
		cp -r "fuzz/corpus/$t" "$run/corpus"
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
			timeout -k 10 $((secs + 60)) "$fuzz/fuzz_$t" -max_total_time="$secs" \
			-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix="$run/" "$run/corpus" >"$run/log" 2>&1
		rc=$?
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/log")
		if [ "$rc" = 0 ]; then
			echo "fuzz_$t: ${execs:-?} runs in $secs s," \
				"corpus $(find "$run/corpus" -type f | wc -l) inputs"
			pass 1
		else
			note_fail "fuzz_$t: exit $rc after ${execs:-?} runs; artifacts in $run:"
			find "$run" -maxdepth 1 -regextype egrep \
				-regex '.*/(crash|leak|timeout|oom|slow-unit)-.*'

			grep -E -m 1 -A 30 'ERROR:|invariant violated|runtime error' "$run/log" ||
				tail -n 30 "$run/log"
		fi
	done
}

# An outside TLS audit (tests/tls/audit.sh): testssl.sh on this machine against srdma-server in
# the VM, default settings and --tls-min 1.2. Its PASS/FAIL lines count like the others'.
phase_tls() {
	local log=$base/tls-audit.log p f
	echo "== TLS audit (testssl.sh against srdma-server)"
	if [ ! -x "$base/srdma-server" ]; then
		note_fail "tls: cannot run, the build failed"
		return
	fi
	tests/tls/audit.sh "$base" "$san/certs" "$base/tls-audit" | tee "$log"
	read -r p f < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$log")
	pass "${p:-0}"
	failed=$((failed + ${f:-1}))
}

# want PHASE: the phase was asked for (or none was).
want() {
	[ ${#phases[@]} = 0 ] || [[ " ${phases[*]} " == *" $1 "* ]]
}

phases=("$@")
for p in "${phases[@]}"; do
	case $p in
	build | unit | install | vm | tls | fuzz) ;;
	*)
		echo "usage: $0 [build] [unit] [install] [vm] [tls] [fuzz]" >&2
		exit 2
		;;
	esac
done
[ ${#phases[@]} = 0 ] || echo "running only: ${phases[*]}"

start=$SECONDS
if ! timed deps phase_deps; then
	echo "cannot install dependencies"
	echo "0 passed, 1 failed"
	exit 1
fi
want build && timed build phase_build
if want unit || want vm || want tls; then
	timed sanitizer-build phase_sanitize_build
fi
want unit && timed unit phase_unit
want install && timed install phase_install
want vm && timed vm phase_vm
want tls && timed tls phase_tls
want fuzz && timed fuzz phase_fuzz

echo "== took $((SECONDS - start)) s: $(printf '%s, ' "${times[@]}" | sed 's/, $//')"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
