#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine: install what is missing, build with
# warnings as errors, build again with AddressSanitizer + UBSan (leak detection on) and run the
# unit and host tests, check the installed library (tests/install/check-install.sh), build the
# Debian packages and run what they install (debian/), run the RDMA scenarios (in the Soft-RoCE
# VM, or directly where the machine has an RDMA device) against the sanitized binaries, the
# two-host scenarios (two Soft-RoCE VMs joined by a wire) against the plain ones, then fuzz
# each decoder for a bounded time.
# Ends with one line "N passed, N failed" (cmocka cases, install checks, VM scenarios, fuzz
# targets and sanitizer checks); exits non-zero if anything failed or could not run.
#
#   scripts/test.sh [PHASE...]   PHASE: build unit install package vm wire tls fuzz (default: all,
#                                in that order; the sanitizer build is made for unit, vm and tls;
#                                wire runs in the background, beside tls; where the scenarios
#                                run in a VM, those that check no time run in a second VM
#                                beside the others (vm_side, at nice 10), install, package, fuzz and
#                                tls run in the background beside them, at the lowest CPU
#                                priority, the
#                                packages' RDMA check runs in that VM after the scenarios, and
#                                wire starts when the scenarios are done, or once only the
#                                srdma-cp ones are left; its flood scenario, which measures
#                                set-up times, waits until this machine runs nothing else)
#   SRDMA_BUILD_DIR=DIR          plain build in DIR (default build/), DIR-san, DIR-fuzz,
#                                DIR-install (the install check's prefix: it installs DIR), DIR-pkg
#                                (the Debian packages and their logs)
#   SRDMA_VM_SCENARIOS="a b"     run only these VM scenarios, in one VM (default: all)
#   SRDMA_VM_TIMEOUT=SEC         kill the VM after SEC seconds (default 1500)
#   SRDMA_WIRE_SCENARIOS="a b"   run only these two-host scenarios (default: all)
#   SRDMA_WIRE_TIMEOUT=SEC       kill the two VMs after SEC seconds (default 900)
#   SRDMA_FUZZ_SECONDS=N         fuzzing time shared by the targets (default 60)
# shellcheck disable=SC2030,SC2031 # bg_start's subshell keeps its own counts (see there)
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
	# Configured for the install check's prefix, which then installs this build instead of
	# compiling the tree once more (phase_install).
	SRDMA_BUILD_DIR=$base scripts/build.sh -DCMAKE_INSTALL_PREFIX="$base-install/prefix" \
		-DCMAKE_INSTALL_LIBDIR=lib || note_fail "build: $base failed to build"
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
	local log=$base-install.log rc p f from=()
	echo "== install (cmake --install, exported symbols, pkg-config, the example out of tree)"
	[ "$(sed -n 's/^CMAKE_INSTALL_PREFIX:[A-Z]*=//p' "$base/CMakeCache.txt" 2>/dev/null)" = \
		"$base-install/prefix" ] && from=(--from-build "$base")
	tests/install/check-install.sh "${from[@]}" "$base-install" >"$log" 2>&1
	rc=$?
	grep -v '^[0-9]* passed, [0-9]* failed$' "$log"
	read -r p f < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$log")
	pass "${p:-0}"
	failed=$((failed + ${f:-0}))
	if [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; then
		note_fail "install: check-install.sh exited $rc without a result; see $log"
	fi
}

# count_results NAME DIR RC: the PASS and FAIL lines of DIR/results.txt counted. A run that
# exited RC with scenarios left unrun is one more failure: scenarios.sh exits 1 when a scenario
# failed; anything else (124: timeout, 125: the VM failed) means the scenarios after the last
# result never ran. No results at all is one failure.
count_results() {
	local name=$1 dir=$2 rc=$3 p f
	if [ -s "$dir/results.txt" ]; then
		p=$(grep -c '^PASS' "$dir/results.txt")
		f=$(grep -c '^FAIL' "$dir/results.txt")
		pass "$p"
		failed=$((failed + f))
		if [ "$rc" != 0 ] && { [ "$rc" != 1 ] || [ "$f" = 0 ]; }; then
			note_fail "$name: scenario run exited $rc after $((p + f)) scenarios; see $dir"
		fi
	else
		note_fail "$name: the scenarios did not run (exit $rc); see $dir"
	fi
}

# Scenarios that check no time against a bound, and whose waits are long enough that their
# programs may be slow (set-up bounds of 10 s or more): in a whole run in a VM they run in a
# second VM, beside the others, at CPU priority vm_side_nice, taking mostly what the first VM
# leaves idle. The first VM keeps every scenario that measures time or needs something done
# within a few seconds (write_regions' idle client, api_revoke's bystander, api_async's 5 s
# watch). At that priority the second VM's scenarios take two to eight times as long as
# alone; the list is sized to end by the time the host checks do (the two-host phase waits
# for both).
vm_side=(isolation client_retry inject_blind inject_leaked_psn inject_forged_message
	dataplane_modes dataplane_chacha20 mutual_tls capture_no_secrets logs_no_secrets
	api_regions api_msg_write)
vm_side_nice=10
vm_side_pid=
sidedir=$logs/vm-side

# vm_side_start DIR: the vm_side scenarios in a second VM, in the background (output in DIR).
vm_side_start() {
	rm -rf "$1"
	mkdir -p "$1/san"
	nice -n "$vm_side_nice" tests/vm/vm-run.sh --timeout "${SRDMA_VM_TIMEOUT:-1500}" --out "$1" \
		-- env "${senv[@]}" tests/vm/scenarios.sh "${vm_side[@]}" >"$1/run.log" 2>&1 &
	vm_side_pid=$!
	echo "== RDMA scenarios that check no time (${#vm_side[@]}) in a second VM, at nice $vm_side_nice"
}

# vm_side_running: the second VM still runs its scenarios.
vm_side_running() {
	[ -n "$vm_side_pid" ] && kill -0 "$vm_side_pid" 2>/dev/null
}

# vm_side_collect: wait for the second VM; its output, counts and sanitizer reports.
vm_side_collect() {
	local rc=0
	[ -n "$vm_side_pid" ] || return 0
	wait "$vm_side_pid" || rc=$?
	vm_side_pid=
	echo "== RDMA scenarios in the second VM"
	cat "$sidedir/run.log"
	count_results "vm (second VM)" "$sidedir" "$rc"
	scan_reports vm-side "$sidedir/san" "$sidedir"
}

# The RDMA scenarios against the sanitized programs. vm-run.sh passes only SRDMA_* variables
# into the VM, so the sanitizer options go in through env(1) as part of the command; the canary
# runs first under the same environment, so a run that lost the options cannot pass.
phase_vm() {
	local vmout=$logs/vm rc scenarios wrap vmpid
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
	# Programs that are only load (attack tools, srdma-client run by the hundred) from the
	# plain build, at half the CPU (tests/vm/lib.sh, LOAD_BIN); the servers, and every
	# program whose own behaviour is checked, stay sanitized.
	[ -x "$base/srdma-badpeer" ] && [ -x "$base/srdma-client" ] && export SRDMA_LOAD_BIN=$base
	# The canary first, then (exec) the scenarios, all under env(1) with the sanitizer options.
	wrap=(bash -c "$canary_sh; shift 2; exec \"\$@\"" canary)
	if [ -d /sys/class/infiniband ] && [ -n "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
		export SRDMA_VM_OUT=$vmout SRDMA_RXE_ADDR=${SRDMA_RXE_ADDR:-127.0.0.1}
		san_env "$vmout/san"
		env "${senv[@]}" "${wrap[@]}" "$vmout/canary.txt" "$san/san-canary" \
			tests/vm/scenarios.sh "${scenarios[@]}"
	else
		# Inside the VM the work directory $vmout is /tmp/vmwork. The package phase, in the
		# background, has its RDMA check run there after the scenarios (phase-guest.sh).
		san_env /tmp/vmwork/san
		# A whole run puts the scenarios that check no time (vm_side) in a second VM, started
		# first and at a lower CPU priority.
		if [ ${#scenarios[@]} = 0 ]; then
			vm_side_start "$sidedir"
			scenarios=(--except "${vm_side[@]}")
		fi
		[ "$pkg_in_vm" = 1 ] && export SRDMA_PKG_DIR=$base-pkg
		tests/vm/vm-run.sh --timeout "${SRDMA_VM_TIMEOUT:-1500}" --out "$vmout" -- \
			env "${senv[@]}" "${wrap[@]}" /tmp/vmwork/canary.txt "$san/san-canary" \
			tests/vm/phase-guest.sh "${scenarios[@]}" &
		vmpid=$!
		# Once the scenarios are done (the VM then runs the packages' check), or earlier if
		# vm_start_early says so, what follows may start: vm_after_scenarios, if set.
		if [ -n "${vm_after_scenarios:-}" ]; then
			while kill -0 "$vmpid" 2>/dev/null && [ ! -e "$vmout/scenarios.done" ] &&
				! vm_start_early; do
				sleep 1
			done
			"$vm_after_scenarios"
		fi
		wait "$vmpid"
	fi
	rc=$?
	vm_side_collect
	check_canary vm "$vmout/canary.txt" "$vmout/san"
	count_results vm "$vmout" "$rc"
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
		-DSRDMA_WERROR=ON -DCMAKE_RULE_MESSAGES=OFF >/dev/null &&
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

# The Debian packages (debian/): built with dpkg-buildpackage from a copy of the tree, checked by
# lintian (an error fails, warnings are printed), installed into this machine with apt, the
# library used as an application would (debian/tests/build-against-dev), and the installed
# srdma-server run from /usr/bin with the installed clients over RDMA, in the Soft-RoCE VM where
# the machine has no device (debian/tests/rdma-echo); then purged, unless they were installed
# before. Each check is one pass or one failure.
phase_package() {
	local pkg=$base-pkg
	if package_install; then
		if [ "$pkg_in_vm" = 1 ]; then
			touch "$pkg/installed"
			echo "package: installed; the installed programs run over RDMA after the scenarios, in their VM"
		else
			package_rdma
			package_purge
		fi
	elif [ "$pkg_in_vm" = 1 ]; then
		mkdir -p "$pkg"
		touch "$pkg/not-installed"
	fi
}

# package_install: build, check and install the packages; fails if they could not be installed.
# What the purge needs is left in $pkg/names and $pkg/was-installed.
package_install() {
	local t0 version cmake_version changes debs names was_installed rc p f sudo=
	echo "== Debian packages (dpkg-buildpackage, lintian, apt install, the installed programs)"
	[ "$(id -u)" = 0 ] || sudo=sudo
	version=$(dpkg-parsechangelog -S Version 2>/dev/null)
	cmake_version=$(sed -n 's/^project(secure-rdma VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
	if [ -n "$version" ] && [ "$version" = "$cmake_version" ]; then
		echo "package: debian/changelog version $version = the project's"
		pass 1
	else
		note_fail "package: debian/changelog version '$version' is not the project's" \
			"'$cmake_version' (CMakeLists.txt): add a debian/changelog entry (dch -v)"
	fi

	# A copy of the tree (the files git knows or would add, or all but build directories),
	# so that the build's by-products (obj-*, debian/tmp, ../*.deb) stay out of the checkout.
	t0=$SECONDS
	rm -rf "$pkg"
	mkdir -p "$pkg/src"
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -co --exclude-standard |
			tar -cf - --verbatim-files-from -T - --ignore-failed-read 2>/dev/null
	else
		tar -cf - --exclude-vcs --exclude='./build*' --exclude='./obj-*' --exclude='./debian/tmp' .
	fi | tar -xf - -C "$pkg/src"
	if (cd "$pkg/src" && DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=$(nproc)" \
		dpkg-buildpackage -us -uc -b) >"$pkg/build.log" 2>&1; then
		changes=$(ls "$pkg"/*.changes)
		mapfile -t debs < <(ls "$pkg"/*.deb)
		echo "package: built in $((SECONDS - t0)) s: $(cd "$pkg" && echo *.deb)"
		pass 1
	else
		note_fail "package: dpkg-buildpackage failed; the end of $pkg/build.log:"
		tail -n 25 "$pkg/build.log"
		return
	fi

	# dh_missing (debhelper compat 13) already fails the build if a file `cmake --install` laid
	# out is in no package; check it here too, against the packages' own contents.
	(cd "$pkg/src/debian/tmp" && find . ! -type d | sed 's|^\./||' | sort) >"$pkg/installed.txt"
	for p in "${debs[@]}"; do
		dpkg-deb --fsys-tarfile "$p" | tar -t
	done | sed -n 's|^\./||; /\/$/d; \|^usr/share/doc/|d; s|^\(usr/share/man/.*\)\.gz$|\1|; p' |
		sort -u >"$pkg/packaged.txt"
	f=$(comm -23 "$pkg/installed.txt" "$pkg/packaged.txt" | tr '\n' ' ')
	if [ -s "$pkg/installed.txt" ] && [ -z "$f" ]; then
		echo "package: the $(wc -l <"$pkg/installed.txt") files of cmake --install are all packaged"
		pass 1
	else
		note_fail "package: files of cmake --install in no package: $f"
	fi

	t0=$SECONDS
	lintian --fail-on error "$changes" >"$pkg/lintian.txt" 2>&1
	rc=$?
	read -r p f < <(awk '/^E: / { e++ } /^W: / { w++ } END { print e + 0, w + 0 }' "$pkg/lintian.txt")
	grep -E '^[EW]: ' "$pkg/lintian.txt"
	if [ "$rc" = 0 ] && [ "$p" = 0 ]; then
		echo "package: lintian: no errors, $f warnings ($((SECONDS - t0)) s;" \
			"all tags in $pkg/lintian.txt)"
		pass 1
	else
		note_fail "package: lintian: $p errors, $f warnings (exit $rc); see $pkg/lintian.txt"
		[ "$p" != 0 ] || tail -n 5 "$pkg/lintian.txt"
	fi

	mapfile -t names < <(for p in "${debs[@]}"; do dpkg-deb -f "$p" Package; done)
	was_installed=$(dpkg-query -W -f='${Status}\n' "${names[@]}" 2>/dev/null | grep -c ' installed$')
	printf '%s\n' "${names[@]}" >"$pkg/names"
	echo "$was_installed" >"$pkg/was-installed"
	t0=$SECONDS
	if DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --reinstall "${debs[@]}" \
		>"$pkg/apt.log" 2>&1; then
		echo "package: installed with apt-get in $((SECONDS - t0)) s: ${names[*]}"
		pass 1
	else
		note_fail "package: apt-get install failed:"
		tail -n 15 "$pkg/apt.log"
		return
	fi

	debian/tests/build-against-dev >"$pkg/build-against-dev.log" 2>&1
	sed 's/^/package: /' "$pkg/build-against-dev.log" | grep -E '^package: (PASS|FAIL)'
	pass "$(grep -c '^PASS' "$pkg/build-against-dev.log")"
	failed=$((failed + $(grep -c '^FAIL' "$pkg/build-against-dev.log")))
	scripts/gen-certs.sh "$pkg/certs" >/dev/null
}

# package_rdma: the installed programs over RDMA (debian/tests/rdma-echo), on this machine's
# device or in a VM of their own (which sees this machine's root file system, the installed
# packages included).
package_rdma() {
	local t0=$SECONDS rc
	mkdir -p "$pkg/vm"
	if [ -n "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
		SRDMA_CERTS=$pkg/certs SRDMA_VM_OUT=$pkg/vm SRDMA_RXE_ADDR=${SRDMA_RXE_ADDR:-127.0.0.1} \
			debian/tests/rdma-echo >"$pkg/rdma-echo.log" 2>&1
	else
		SRDMA_CERTS=$pkg/certs tests/vm/vm-run.sh --timeout "${SRDMA_VM_TIMEOUT:-600}" \
			--out "$pkg/vm" -- debian/tests/rdma-echo >"$pkg/rdma-echo.log" 2>&1
	fi
	rc=$?
	package_rdma_count "$pkg/rdma-echo.log" "$rc" "$((SECONDS - t0)) s"
}

# package_rdma_count LOG STATUS WHEN: rdma-echo's PASS/FAIL lines in LOG count; a non-zero
# STATUS without a FAIL line is one failure.
package_rdma_count() {
	local p f
	sed -n 's/^\(PASS\|FAIL\) /package: &/p' "$1"
	p=$(grep -c '^PASS' "$1")
	f=$(grep -c '^FAIL' "$1")
	pass "$p"
	failed=$((failed + f))
	if [ "$2" != 0 ] && [ "$f" = 0 ]; then
		note_fail "package: the installed programs did not run over RDMA (exit $2); see $1"
		tail -n 10 "$1"
	else
		echo "package: the installed programs over RDMA: $p passed, $f failed ($3)"
	fi
}

# package_purge: purge the packages again, unless they were installed before.
package_purge() {
	local names sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	mapfile -t names <"$pkg/names"
	[ "$(cat "$pkg/was-installed")" = 0 ] || return 0
	if DEBIAN_FRONTEND=noninteractive $sudo apt-get purge -y -qq "${names[@]}" \
		>>"$pkg/apt.log" 2>&1 && [ ! -e /usr/bin/srdma-server ]; then
		echo "package: purged again"
		pass 1
	else
		note_fail "package: apt-get purge ${names[*]} failed; see $pkg/apt.log"
	fi
}

# package_after_vm: the end of the package phase when its RDMA check ran in the scenarios' VM
# (tests/vm/phase-guest.sh): that check's results, then the purge.
package_after_vm() {
	local pkg=$base-pkg log=$logs/vm/pkg/rdma-echo.log rc
	echo "== Debian packages: the installed programs over RDMA (run in the scenarios' VM)"
	[ -e "$pkg/installed" ] || return 0 # the package phase failed, and said so
	rc=$(cat "$logs/vm/pkg/rdma-echo.rc" 2>/dev/null)
	if [ -s "$log" ]; then
		package_rdma_count "$log" "${rc:-none}" "after the scenarios"
	else
		note_fail "package: the installed programs did not run over RDMA (the VM left no log)"
	fi
	package_purge
}

# The two-host scenarios (tests/vm/wire-scenarios.sh): srdma-server in one Soft-RoCE VM, the
# clients in another, joined by a wire (tests/vm/vm-run.sh --pair); the plain build, for speed.
# Their PASS/FAIL lines count like the VM scenarios'.
phase_wire() {
	local out=$base/wire rc scenarios
	echo "== two hosts on a wire (Soft-RoCE VMs joined by a QEMU netdev)"
	if [ ! -x "$base/srdma-server" ] || ! scripts/gen-certs.sh "$base/certs" >/dev/null; then
		note_fail "wire: cannot run, the build or its certificates failed"
		return
	fi
	read -r -a scenarios <<<"${SRDMA_WIRE_SCENARIOS:-}"
	rm -rf "$out"
	mkdir -p "$out"
	# The signal that this machine runs nothing else now (wire_quiet), passed on into the
	# VMs' shared directory, where the flood scenario waits for it.
	(
		while [ ! -e "$base/wire.quiet" ]; do sleep 1; done
		: >"$out/quiet"
	) &
	local watcher=$!
	env -u SRDMA_SANITIZED SRDMA_BIN="$base" SRDMA_CERTS="$base/certs" SRDMA_WIRE_QUIET=quiet \
		tests/vm/vm-run.sh --pair --timeout "${SRDMA_WIRE_TIMEOUT:-900}" --out "$out" -- \
		tests/vm/wire-scenarios.sh "${scenarios[@]}"
	rc=$?
	kill "$watcher" 2>/dev/null
	wait "$watcher" 2>/dev/null
	count_results wire "$out" "$rc"
}

# bg_start NAME FUNC [NICE]: run FUNC (a phase, or several) in the background, beside the ones
# that follow, at CPU priority NICE (default 0); its output goes to a file and is printed, its
# counts added and its times noted, by bg_collect NAME.
declare -A bg_pid=()
bg_start() {
	local name=$1 fn=$2 prio=${3:-0} dir=$base/phases
	mkdir -p "$dir"
	rm -f "$dir/$name.counts" "$dir/$name.times"
	echo "== $name: started in the background (its output follows when it ends)"
	(
		[ "$prio" = 0 ] || renice -n "$prio" -p "$BASHPID" >/dev/null
		passed=0 failed=0 times=()
		if [ "$fn" = "${fn#phase_}" ]; then "$fn"; else timed "$name" "$fn"; fi
		echo "$passed $failed" >"$dir/$name.counts"
		printf '%s\n' "${times[@]}" >"$dir/$name.times"
	) >"$dir/$name.log" 2>&1 &
	bg_pid[$name]=$!
}

bg_collect() {
	local name=$1 dir=$base/phases p f t
	[ -n "${bg_pid[$name]:-}" ] || return 0
	wait "${bg_pid[$name]}"
	unset "bg_pid[$name]"
	cat "$dir/$name.log"
	if read -r p f <"$dir/$name.counts" 2>/dev/null; then
		pass "$p"
		failed=$((failed + f))
		while IFS= read -r t; do
			[ -z "$t" ] || times+=("$t (in the background)")
		done <"$dir/$name.times"
	else
		note_fail "$name: the background phase left no result; see $dir/$name.log"
	fi
}

start_wire() {
	bg_start wire phase_wire
}

# wire_quiet: nothing but the two-host phase runs on this machine from now on (no other VM, no
# fuzzing): its scenarios that measure time against a bound may run (phase_wire).
wire_quiet() {
	: >"$base/wire.quiet"
}

# vm_start_early: whether vm_after_scenarios may start before the scenarios are done. By
# default not; beside scenarios in a VM, once the background checks are done (see below).
vm_start_early() {
	return 1
}

# The host-only checks, one after the other: run in the background beside the RDMA scenarios
# when those run in a VM (see below). The TLS audit comes last: its servers run in a VM of
# their own (one CPU, mostly waiting for testssl.sh here), and the scenarios' VM leaves enough
# of this machine idle for it.
host_checks() {
	want install && timed install phase_install
	want package && timed package phase_package
	want fuzz && timed fuzz phase_fuzz
	want tls && timed tls phase_tls
}

# want PHASE: the phase was asked for (or none was).
want() {
	[ ${#phases[@]} = 0 ] || [[ " ${phases[*]} " == *" $1 "* ]]
}

phases=("$@")
for p in "${phases[@]}"; do
	case $p in
	build | unit | install | package | vm | wire | tls | fuzz) ;;
	*)
		echo "usage: $0 [build] [unit] [install] [package] [vm] [wire] [tls] [fuzz]" >&2
		exit 2
		;;
	esac
done
[ ${#phases[@]} = 0 ] || echo "running only: ${phases[*]}"

start=$SECONDS
rm -f "$base/wire.quiet"
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
pkg_in_vm=0
if want vm && [ -z "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
	# The scenarios run in a VM whose emulated CPUs leave about a third of this machine idle:
	# the host-only checks (install, package, fuzz, the TLS audit) use it, in the background
	# at the lowest CPU priority, so that they take next to nothing from the VM. The packages'
	# own RDMA check then runs in the scenarios' VM, after the scenarios
	# (tests/vm/phase-guest.sh).
	want package && pkg_in_vm=1
	rm -f "$base-pkg/installed" "$base-pkg/not-installed"
	bg_start host-checks host_checks 19
	# The two-host scenarios start as soon as the scenarios are done, or earlier once the
	# background checks are done and only the srdma-cp scenarios are left (after notify):
	# those leave about a third of this machine idle too, and none of them measures time
	# against a bound that the two-host phase beside them could break. (vmout: phase_vm's.)
	want wire && vm_after_scenarios=start_wire
	vm_start_early() {
		! kill -0 "${bg_pid[host-checks]}" 2>/dev/null && ! vm_side_running &&
			grep -q '^[A-Z]* vm_notify\b' "$vmout/results.txt" 2>/dev/null
	}
	timed vm phase_vm
	[ -n "${bg_pid[wire]:-}" ] || { want wire && start_wire; }
	bg_collect host-checks
	[ "$pkg_in_vm" = 1 ] && timed package-rdma package_after_vm
	wire_quiet
else
	want install && timed install phase_install
	want package && timed package phase_package
	want vm && timed vm phase_vm
	# The two-host scenarios beside the TLS audit and the fuzzing.
	want wire && bg_start wire phase_wire
	want tls && timed tls phase_tls
	want fuzz && timed fuzz phase_fuzz
	wire_quiet
fi
bg_collect wire

echo "== took $((SECONDS - start)) s: $(printf '%s, ' "${times[@]}" | sed 's/, $//')"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
