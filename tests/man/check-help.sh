#!/usr/bin/env bash
# Each program's --help against its man page: the options one lists must be exactly the options
# the other documents.
#
#   tests/man/check-help.sh BINDIR [MANDIR]
#
# For each of srdma-server(8), srdma-client(1), srdma-bench(1) and srdma-cp(1), the long
# options (and the short letter each one has) are taken from `BINDIR/PROG --help` (the lines
# "  -x, --name ARG  text" or "      --name ARG  text" of its "Options:" list) and from
# MANDIR/PROG.SECTION.md (default MANDIR: docs/man of this tree): the option terms of its
# OPTIONS section, i.e. lines that start with "**", such as "**-p**, **\--port** *PORT*" (one
# term may hold several options: "**\--cert** *FILE*, **\--key** *FILE*"). Options named in
# running text do not count. Every option present in one but not the other, or whose short
# letter differs, is named on a FAIL line.
# Prints "ok PROG: ..." or FAIL lines per program, then "N passed, N failed" (and the same in
# cmocka's summary format, which the unit phase of scripts/test.sh counts); exits 1 if anything
# failed, 2 on a usage error. Needs no RDMA device: --help opens nothing.
set -uo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -d "$1" ]; then
	echo "usage: $0 BINDIR [MANDIR]" >&2
	exit 2
fi
bindir=$1
mandir=${2:-$here/../../docs/man}
programs=(srdma-server.8 srdma-client.1 srdma-bench.1 srdma-cp.1)
passed=0
failed=0
work=$(mktemp -d "${TMPDIR:-/tmp}/srdma-man.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

# help_opts < HELP: "--name -x" (or "--name -") per line of the "Options:" list of a --help
# text, sorted.
help_opts() {
	awk '/^Options:$/ { on = 1; next } on && /^$/ { exit } on' |
		sed -nE 's/^  (-([A-Za-z0-9]), |    )--([A-Za-z0-9][A-Za-z0-9-]*).*/--\3 \2/p' |
		awk '{ print $1, ($2 == "" ? "-" : "-" $2) }' | sort -u
}

# man_opts FILE: the same from the option terms of FILE's OPTIONS section (the lines that start
# with "**" between "# OPTIONS" and the next top-level heading), sorted.
man_opts() {
	awk '
		/^# / { in_opts = ($0 ~ /^# OPTIONS[ \t]*$/); next }
		in_opts && /^\*\*/ { print }
	' "$1" |
		# every option of a term, a short one paired with the long one after it:
		# **-p**, **\--port** *PORT*; **\--cert** *FILE*, **\--key** *FILE*
		perl -ne '
			my $short = "-";
			while (/\*\*(\\?-\\?-|-)([A-Za-z0-9][A-Za-z0-9-]*)\*\*/g) {
				my ($dash, $name) = ($1, $2);
				if ($dash eq "-") { $short = "-$name"; next; }
				print "--$name $short\n";
				$short = "-";
			}
		' | sort -u
}

for page in "${programs[@]}"; do
	prog=${page%.*}
	md=$mandir/$page.md
	if [ ! -x "$bindir/$prog" ]; then
		echo "FAIL $prog: $bindir/$prog is missing or not executable"
		failed=$((failed + 1))
		continue
	fi
	if [ ! -f "$md" ]; then
		echo "FAIL $prog: no man page source $md"
		failed=$((failed + 1))
		continue
	fi
	if ! "$bindir/$prog" --help >"$work/$prog.help" 2>&1; then
		echo "FAIL $prog: '$prog --help' exited non-zero:"
		sed -n 1,10p "$work/$prog.help"
		failed=$((failed + 1))
		continue
	fi
	help_opts <"$work/$prog.help" >"$work/$prog.h"
	man_opts "$md" >"$work/$prog.m"
	if [ ! -s "$work/$prog.h" ] || [ ! -s "$work/$prog.m" ]; then
		echo "FAIL $prog: no options found in --help ($(wc -l <"$work/$prog.h")) or in" \
			"the OPTIONS section of $page.md ($(wc -l <"$work/$prog.m"))"
		failed=$((failed + 1))
		continue
	fi
	bad=0
	cut -d' ' -f1 "$work/$prog.h" | sort -u >"$work/$prog.hl"
	cut -d' ' -f1 "$work/$prog.m" | sort -u >"$work/$prog.ml"
	for o in $(comm -23 "$work/$prog.hl" "$work/$prog.ml"); do
		echo "FAIL $prog: $o is in '$prog --help' but not in $page.md"
		bad=1
	done
	for o in $(comm -13 "$work/$prog.hl" "$work/$prog.ml"); do
		echo "FAIL $prog: $o is in $page.md but not in '$prog --help'"
		bad=1
	done
	# Options in both, with a different short letter (or one has a letter, the other none).
	while read -r long hs ms; do
		[ "$hs" = "$ms" ] && continue
		echo "FAIL $prog: $long has short option '${hs#-}' in --help but '${ms#-}' in" \
			"$page.md (- means none)"
		bad=1
	done < <(join "$work/$prog.h" "$work/$prog.m")
	if [ "$bad" = 0 ]; then
		echo "ok $prog: the $(wc -l <"$work/$prog.hl") options of --help are those of $page"
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
echo "[  PASSED  ] $passed test(s)."
[ "$failed" = 0 ] || echo "[  FAILED  ] $failed test(s)."
[ "$failed" = 0 ]
