#!/usr/bin/env bash
# The library as an application sees it: configure and build the tree in a scratch directory,
# `cmake --install` it into a scratch prefix, then check
#   - the files: include/srdma.h alone (no private header), lib/libsrdma.so.0 with that
#     SONAME, lib/libsrdma.a, lib/pkgconfig/libsrdma.pc with the project's version, the
#     programs, and a man page for each docs/man/NAME.SECTION.md;
#   - the ABI: the dynamic symbols libsrdma.so.0 defines are exactly the functions include/srdma.h
#     declares SRDMA_API, each under a version node of src/libsrdma.map;
#   - examples/srdma-hello.c builds out of the tree with only what pkg-config says, against the
#     shared library (NEEDED libsrdma.so.0) and against libsrdma.a (pkg-config --static), and
#     each program loads with every symbol bound (it prints its usage).
# One line per check ("ok ..." or "FAIL ..."), then "N passed, N failed"; exits 1 if a check
# failed.
#
#   tests/install/check-install.sh [--from-build BUILD] [DIR]
#       DIR: scratch directory (default: a new temporary one, removed afterwards unless a check
#       failed). --from-build: install BUILD, a tree already built with warnings as errors and
#       configured with -DCMAKE_INSTALL_PREFIX=DIR/prefix -DCMAKE_INSTALL_LIBDIR=lib, instead
#       of configuring and building one (scripts/test.sh: its plain build, so the tree is not
#       compiled twice).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
keep=0
from_build=
if [ "${1:-}" = --from-build ]; then
	from_build=${2:?--from-build needs a build directory}
	shift 2
fi
if [ $# -gt 0 ]; then
	work=$1
	keep=1
	mkdir -p "$work" || exit 1
	rm -rf "$work/build" "$work/prefix" "$work/out"
elif [ -n "$from_build" ]; then
	echo "check-install.sh: --from-build needs DIR (the prefix its build was configured with)" >&2
	exit 2
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/srdma-install.XXXXXX") || exit 1
fi
build=${from_build:-$work/build}
prefix=$work/prefix
out=$work/out
mkdir -p "$out"
passed=0
failed=0

ok() {
	echo "ok $*"
	passed=$((passed + 1))
}

fail() {
	echo "FAIL $*"
	failed=$((failed + 1))
}

# check DESCRIPTION COMMAND...: one check, passed when COMMAND succeeds.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}

finish() {
	if [ "$failed" != 0 ]; then
		echo "logs, build and prefix in $work"
	elif [ "$keep" = 0 ]; then
		rm -rf "$work"
	fi
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}

# cache_var NAME: NAME's value in the build's CMakeCache.txt.
cache_var() {
	sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt" 2>/dev/null
}

# A fixed LIBDIR, so that the layout checked below does not depend on the distribution.
if [ -n "$from_build" ]; then
	if [ "$(cache_var CMAKE_INSTALL_PREFIX)" != "$prefix" ] ||
		[ "$(cache_var CMAKE_INSTALL_LIBDIR)" != lib ] || [ "$(cache_var SRDMA_WERROR)" != ON ]; then
		fail "--from-build $build: configured with prefix '$(cache_var CMAKE_INSTALL_PREFIX)'," \
			"libdir '$(cache_var CMAKE_INSTALL_LIBDIR)', SRDMA_WERROR '$(cache_var SRDMA_WERROR)';" \
			"this check needs $prefix, lib, ON"
		finish
	fi
	what="cmake --install of $build"
	configured=1
else
	what="build and cmake --install"
	configured=0
	cmake -S "$top" -B "$build" -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
		-DSRDMA_TESTS=OFF -DSRDMA_WERROR=ON >"$out/configure.log" 2>&1 && configured=1
fi
# (With --from-build the build is up to date: the build step then only checks it.)
if [ "$configured" = 1 ] &&
	cmake --build "$build" -j "$(nproc)" -- --no-print-directory >"$out/build.log" 2>&1 &&
	cmake --install "$build" >"$out/install.log" 2>&1; then
	ok "$what into $prefix"
else
	fail "$what (logs in $out):"
	tail -n 20 "$out"/*.log
	finish
fi

# ---- (a) the installed files
lib=$prefix/lib
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$build/CMakeCache.txt")
check "include/ holds srdma.h and nothing else" \
	test "$(ls -A "$prefix/include")" = srdma.h
soname=$(readelf -d "$lib/libsrdma.so.0" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
check "lib/libsrdma.so.0 (SONAME '$soname'), lib/libsrdma.so link" \
	test "$soname" = libsrdma.so.0 -a -L "$lib/libsrdma.so"
check "lib/libsrdma.a" test -f "$lib/libsrdma.a"
export PKG_CONFIG_PATH=$lib/pkgconfig
pcversion=$(pkg-config --modversion libsrdma 2>&1)
check "lib/pkgconfig/libsrdma.pc, version '$pcversion' (project $version)" \
	test -f "$lib/pkgconfig/libsrdma.pc" -a "$pcversion" = "$version"
missing=()
for p in srdma-server srdma-client srdma-bench; do
	[ -x "$prefix/bin/$p" ] || missing+=("$p")
done
[ -e "$prefix/bin/srdma-hello" ] && missing+=("(srdma-hello is installed: it should not be)")
check "programs in bin/${missing[*]:+, missing: ${missing[*]}}" test ${#missing[@]} = 0
pages=()
missing=()
for md in "$top"/docs/man/*.[1-9].md; do
	[ -e "$md" ] || continue
	page=$(basename "$md" .md)
	pages+=("man${page##*.}/$page")
	[ -s "$prefix/share/man/man${page##*.}/$page" ] || missing+=("man${page##*.}/$page")
done
check "man pages: ${pages[*]:-none in docs/man}${missing[*]:+; missing: ${missing[*]}}" \
	test ${#missing[@]} = 0

# ---- (b) the ABI: exported symbols == SRDMA_API declarations
perl -0777 -ne 's{/\*.*?\*/}{}gs; s{^[ \t]*#.*$}{}mg;
	print "$1\n" while /\bSRDMA_API\b[^;{(]*?\b(\w+)\s*\(/g' \
	"$prefix/include/srdma.h" | sort -u >"$out/api.txt"
nm -D --defined-only "$lib/libsrdma.so.0" | awk '$2 != "A" { print $3 }' |
	sort -u >"$out/dynsym.txt"
sed 's/@.*//' "$out/dynsym.txt" | sort -u >"$out/exported.txt"
extra=$(comm -13 "$out/api.txt" "$out/exported.txt" | tr '\n' ' ')
absent=$(comm -23 "$out/api.txt" "$out/exported.txt" | tr '\n' ' ')
if [ -s "$out/api.txt" ] && [ -z "$extra$absent" ]; then
	ok "libsrdma.so.0 exports exactly the $(wc -l <"$out/api.txt") SRDMA_API functions"
else
	fail "libsrdma.so.0 exports ≠ SRDMA_API in srdma.h ($(wc -l <"$out/api.txt") declared):" \
		"${extra:+exported, not declared: $extra}${absent:+declared, not exported: $absent}"
fi
# Every symbol carries a version node of the map (a release adds a node for its new calls).
nodes=$(sed -n 's/^\(LIBSRDMA_[0-9.]*\) {.*/\1/p' "$top/src/libsrdma.map" | tr '\n' ' ')
unversioned=$(grep -v -E "@@($(echo $nodes | tr ' ' '|'))\$" "$out/dynsym.txt" | tr '\n' ' ')
check "every exported symbol has a version node of src/libsrdma.map ($nodes)${unversioned:+; not: $unversioned}" \
	test -s "$out/dynsym.txt" -a -z "$unversioned"

# ---- (c) the example, out of the tree, with what pkg-config says
cc=${CC:-cc}

# program WHAT FILE shared|static: FILE needs libsrdma.so.0 (shared) or not (static), loads
# with every symbol bound at start and prints its usage (exit 2).
program() {
	local what=$1 prog=$2 needed rc
	needed=" $(readelf -d "$prog" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
	if [ "$3" = shared ] && [[ $needed != *" libsrdma.so.0 "* ]]; then
		fail "$what: NEEDED is$needed, without libsrdma.so.0"
		return
	fi
	if [ "$3" = static ] && [[ $needed == *" libsrdma.so"* ]]; then
		fail "$what: NEEDED is$needed, with the shared libsrdma"
		return
	fi
	if [ "$3" = shared ]; then
		LD_BIND_NOW=1 LD_LIBRARY_PATH=$lib "$prog" >"$prog.out" 2>&1
	else
		LD_BIND_NOW=1 "$prog" >"$prog.out" 2>&1
	fi
	rc=$?
	if [ "$rc" = 2 ] && grep -q usage "$prog.out"; then
		ok "$what"
	else
		fail "$what: does not run (exit $rc): $(head -n 3 "$prog.out")"
	fi
}

# build NAME FLAGS...: compile examples/srdma-hello.c into $out/NAME with FLAGS.
build() {
	local name=$1
	shift
	(cd "$out" && "$cc" -Wall -Wextra -Werror -o "$name" "$top/examples/srdma-hello.c" "$@") \
		>"$out/$name.log" 2>&1 && return
	sed -n 1,20p "$out/$name.log"
	return 1
}

read -r -a cflags <<<"$(pkg-config --cflags libsrdma)"
read -r -a libs <<<"$(pkg-config --libs libsrdma)"
what="srdma-hello out of tree with $cc $(pkg-config --cflags --libs libsrdma)"
if build hello "${cflags[@]}" "${libs[@]}"; then
	program "$what" "$out/hello" shared
else
	fail "$what: does not build"
fi
# libdir holds both libsrdma.a and libsrdma.so, and -lsrdma would take the .so: ask for the
# archive by name, with every other flag as pkg-config --static gives it.
read -r -a libs <<<"$(pkg-config --static --libs libsrdma)"
for i in "${!libs[@]}"; do
	[ "${libs[$i]}" = -lsrdma ] && libs[i]=-l:libsrdma.a
done
what="srdma-hello out of tree with libsrdma.a and pkg-config --static --libs"
if build hello-static "${cflags[@]}" "${libs[@]}"; then
	program "$what" "$out/hello-static" static
else
	fail "$what: does not link"
fi

finish
