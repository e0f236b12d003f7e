#!/usr/bin/env bash
# srdma-cp beside rcopy (librdmacm's rsocket file copy), with ib_write_bw / ib_read_bw as the
# device's ceiling, on the same rxe device in one VM run:
#
#   tests/vm/vm-run.sh --rdma-cm --mem 6144 --timeout 3600 --out /var/tmp/cp-bench -- \
#       bench/cp-bench.sh
#
# First the paired ratio runs (below); then for each size (SRDMA_CP_BENCH_SIZES, MiB, default
# "1 64 1024", in that order): rcopy upload; srdma-cp upload
# and download in each mode (SRDMA_CP_BENCH_MODES, default "plain aead chacha20"), plus the
# sealed modes with --no-encrypt (authentication only), every copy checked with cmp; and
# ib_write_bw / ib_read_bw moving the same number of MiB (-s 1 MiB -n SIZE), timed the same
# way: the ceiling for that size. Times are wall clock around the whole client process
# (connection set-up included), as for rcopy and perftest. The authentication-only runs are made
# for sizes up to SRDMA_CP_BENCH_NOENC_MAX MiB (64).
#
# The ratios the targets name (plain / ib_write_bw, / rcopy and / ib_read_bw at 64 MiB) are
# taken first, in SRDMA_CP_BENCH_PAIRS (3) back-to-back rounds (perftest, srdma-cp, rcopy), and
# the median of each ratio is reported: on a shared host one pass of any of them moves by 2x
# from one minute to the next.
# results.jsonl grows copy by copy, so a run cut short still has every figure made so far.
# Then `openssl speed` of the primitives on the same emulated CPU, to show where the sealed
# modes' time goes. Results: OUT/cp-bench/results.txt and results.json.
set -uo pipefail

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd -- "$BENCH_DIR/.." && pwd -P)
BIN=${SRDMA_BIN:-$REPO/build}
DEV=${SRDMA_RXE_DEV:-rxe0}
ADDR=${SRDMA_RXE_ADDR:-192.0.2.1}
GID=${SRDMA_RXE_GID_INDEX:-1}
OUT=${SRDMA_BENCH_OUT:-${SRDMA_VM_OUT:-/tmp}/cp-bench}
SIZES=${SRDMA_CP_BENCH_SIZES:-1 64 1024}
MODES=${SRDMA_CP_BENCH_MODES:-plain aead chacha20}
DUR=${SRDMA_BENCH_DURATION:-5}
DATA=${SRDMA_CP_BENCH_DATA:-/tmp/cp-bench-data}
PORT=4460
RC_PORT=7471
PT_PORT=18515
SERVER_PID=

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
# wait_port PORT [PID]: until something listens on TCP PORT (60 s at most), or PID has exited.
wait_port() {
	local t0=$SECONDS
	while ((SECONDS - t0 < 60)); do
		ss -Hltn "sport = :$1" | grep -q . && return 0
		[[ -n ${2:-} ]] && ! kill -0 "$2" 2>/dev/null && return 1
		sleep 0.1
	done
	return 1
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
mibs() { awk -v m="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.2f", m / s; else print "null" }'; }

[[ -x $BIN/srdma-cp ]] || die "no srdma-cp in $BIN (build it, or set SRDMA_BIN)"
command -v jq >/dev/null || die "jq is needed"
ulimit -l unlimited 2>/dev/null
mkdir -p "$OUT" "$DATA" || die "cannot create $OUT or $DATA"
# The VM's /tmp is a tmpfs of half its memory: a 1 GiB file and its copy need more.
[[ ${SRDMA_VM:-0} == 1 ]] && mount -o remount,size=90% /tmp 2>/dev/null

if [[ -n ${SRDMA_CERTS:-} ]]; then
	CERTS=$SRDMA_CERTS
else
	[[ -e /dev/fd || ${SRDMA_VM:-0} != 1 ]] || ln -s /proc/self/fd /dev/fd
	CERTS=$(mktemp -d "${TMPDIR:-/tmp}/cp-bench-certs.XXXXXX") || die "mktemp failed"
	SRDMA_DEMO_ADDR=$ADDR "$REPO/scripts/gen-certs.sh" "$CERTS" >"$OUT/gen-certs.log" 2>&1 ||
		die "scripts/gen-certs.sh failed"
fi

cleanup() {
	[[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	rm -rf "$DATA"
}
trap cleanup EXIT

RESULTS=$OUT/results.jsonl
: >"$RESULTS"
record() { # TOOL MODE DIR SIZE_MIB SECONDS [extra json]
	jq -nc --arg tool "$1" --arg mode "$2" --arg dir "$3" --argjson mib "$4" \
		--argjson s "$5" --argjson x "${6:-{\}}" \
		'{tool: $tool, mode: $mode, dir: $dir, mib: $mib, seconds: $s,
		  mib_s: (if $s > 0 then $mib / $s else null end)} + $x' >>"$RESULTS"
	log "$1 $2 $3 ${4} MiB: $5 s ($(mibs "$4" "$5") MiB/s)"
}

# perftest_avg TOOL: TOOL -F with 64 KiB messages for DUR seconds, its own average (MiB/s:
# perftest's MB is MiB); set-up not included.
perftest_avg() {
	local tool=$1 sp r
	timeout 300 "$tool" -d "$DEV" -x "$GID" -F -s 65536 -D "$DUR" -p "$PT_PORT" \
		>"$OUT/$tool.server.txt" 2>&1 &
	sp=$!
	wait_port "$PT_PORT" "$sp"
	timeout 300 "$tool" -d "$DEV" -x "$GID" -F -s 65536 -D "$DUR" -p "$PT_PORT" "$ADDR" \
		>"$OUT/$tool.txt" 2>&1
	wait "$sp"
	r=$(awk '$1 == 65536 && NF >= 5 { print $4 }' "$OUT/$tool.txt" | tail -n 1)
	jq -nc --arg tool "$tool" --argjson m "${r:-null}" '{tool: $tool, ceiling_mib_s: $m}' >>"$RESULTS"
	log "$tool: 64 KiB for ${DUR}s: ${r:-?} MiB/s (perftest's average)"
}

# perftest_wall TOOL MIB [PAIR]: MIB messages of 1 MiB (perftest wants at least 5: below 8 MiB,
# 8 messages of MIB/8), timed by the wall clock around the client, set-up included, as the
# copies are (perftest's own figure for a count-bounded run is not trustworthy under TCG).
perftest_wall() {
	local tool=$1 mib=$2 pair=${3:-0} sp t0 t1 rc=0 sz=1048576 n=$2
	if ((mib < 8)); then
		sz=$((mib << 17)) n=8
	fi
	timeout 1200 "$tool" -d "$DEV" -x "$GID" -F -s "$sz" -n "$n" -p "$PT_PORT" \
		>"$OUT/$tool.$mib.$pair.server.txt" 2>&1 &
	sp=$!
	if ! wait_port "$PT_PORT" "$sp"; then
		log "$tool $mib MiB: its server did not start: $(tail -n 2 "$OUT/$tool.$mib.$pair.server.txt")"
		wait "$sp"
		return
	fi
	t0=$EPOCHREALTIME
	timeout 1200 "$tool" -d "$DEV" -x "$GID" -F -s "$sz" -n "$n" -p "$PT_PORT" "$ADDR" \
		>"$OUT/$tool.$mib.$pair.txt" 2>&1 || rc=$?
	t1=$EPOCHREALTIME
	wait "$sp"
	if [[ $rc != 0 ]]; then
		log "$tool $mib x 1 MiB failed (exit $rc)"
		return
	fi
	record "$tool" - wall "$mib" "$(elapsed "$t0" "$t1")" "{\"pair\": $pair}"
}

# rcopy_run SIZE [PAIR]: upload with rcopy (its server stays up between files).
rcopy_run() {
	local mib=$1 pair=${2:-0} t0 t1 rc=0
	rm -f "$DATA/rcopy/f$mib"
	t0=$EPOCHREALTIME
	timeout 1200 rcopy "$DATA/f$mib" "$ADDR:$DATA/rcopy/f$mib" -p "$RC_PORT" \
		>"$OUT/rcopy.$mib.txt" 2>&1 || rc=$?
	t1=$EPOCHREALTIME
	if [[ $rc != 0 ]] || ! cmp -s "$DATA/f$mib" "$DATA/rcopy/f$mib"; then
		log "rcopy $mib MiB failed (exit $rc): $(tail -n 2 "$OUT/rcopy.$mib.txt")"
		return
	fi
	record rcopy - up "$mib" "$(elapsed "$t0" "$t1")" "{\"pair\": $pair}"
	rm -f "$DATA/rcopy/f$mib"
}

cp_server() { # MODE
	"$BIN/srdma-cp" --serve "$DATA/export" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--client-ca "$CERTS/ca.pem" --allow srdma-client:rw --dataplane "$1" -p "$PORT" \
		--timeout-ms 60000 --depth 32 --chunk-size 16m >"$OUT/cp-server.$1.log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 1 300); do
		grep -q "listening on" "$OUT/cp-server.$1.log" && return 0
		sleep 0.1
	done
	die "srdma-cp server ($1) did not start"
}

cp_stop() {
	kill "$SERVER_PID"
	wait "$SERVER_PID"
	SERVER_PID=
}

# cp_run MODE LABEL DIR SIZE [client options]: one timed copy, checked with cmp (PAIR, when
# set, marks the copies of the paired ratio runs).
cp_run() {
	local mode=$1 label=$2 dir=$3 mib=$4 t0 t1 rc=0 src dst j=$OUT/cp.$2.$3.$4.${PAIR:-0}.json
	shift 4
	if [[ $dir == up ]]; then
		src=$DATA/f$mib dst=$ADDR:f$mib
		rm -f "$DATA/export/f$mib"
	else
		src=$ADDR:f$mib dst=$DATA/down.f$mib
		rm -f "$DATA/down.f$mib"
	fi
	t0=$EPOCHREALTIME
	"$BIN/srdma-cp" --ca "$CERTS/ca.pem" --cert "$CERTS/client.pem" --key "$CERTS/client.key" \
		--dataplane "$mode" -p "$PORT" --timeout-ms 60000 --json "$@" "$src" "$dst" \
		>"$j" 2>"$OUT/cp.$label.$dir.$mib.${PAIR:-0}.err" || rc=$?
	t1=$EPOCHREALTIME
	if [[ $rc != 0 ]] || ! cmp -s "$DATA/f$mib" "${dst/#$ADDR:/$DATA/export/}"; then
		log "srdma-cp $label $dir $mib MiB failed (exit $rc): $(jq -r .error "$j" 2>/dev/null)"
		return
	fi
	record srdma-cp "$label" "$dir" "$mib" "$(elapsed "$t0" "$t1")" \
		"$(jq -c --argjson p "${PAIR:-0}" '{in_process_seconds: .seconds,
			connect_seconds: .connect_seconds, chunk_size, depth, encrypted, pair: $p}' "$j")"
}

log "sizes: $SIZES MiB; modes: $MODES; host load: $(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p "$DATA/rcopy" "$DATA/export"
for mib in $SIZES; do
	head -c $((mib << 20)) /dev/urandom >"$DATA/f$mib" || die "no room for $mib MiB"
done

perftest_avg ib_write_bw
perftest_avg ib_read_bw

rcs=
if command -v rcopy >/dev/null && { [[ ${SRDMA_VM:-0} != 1 ]] || [[ ${SRDMA_VM_RDMA_CM:-0} == 1 ]]; }; then
	(cd "$DATA/rcopy" && exec rcopy -p "$RC_PORT") >"$OUT/rcopy.server.txt" 2>&1 &
	rcs=$!
	sleep 3
else
	log "rcopy skipped (needs rdmacm-utils and, in the VM, vm-run.sh --rdma-cm)"
fi

# The paired ratio runs first (the targets' ratios, at PAIR_MIB, 64): ib_write_bw, a plain
# upload and an rcopy upload, then ib_read_bw and a plain download, SRDMA_CP_BENCH_PAIRS times.
PAIR_MIB=${SRDMA_CP_BENCH_PAIR_MIB:-64}
if [[ " $MODES " == *" plain "* && ${SRDMA_CP_BENCH_PAIRS:-3} -gt 0 ]]; then
	[[ -e $DATA/f$PAIR_MIB ]] || head -c $((PAIR_MIB << 20)) /dev/urandom >"$DATA/f$PAIR_MIB"
	cp_server plain
	for ((p = 1; p <= ${SRDMA_CP_BENCH_PAIRS:-3}; p++)); do
		perftest_wall ib_write_bw "$PAIR_MIB" "$p"
		PAIR=$p cp_run plain plain up "$PAIR_MIB"
		[[ -n $rcs ]] && rcopy_run "$PAIR_MIB" "$p"
		perftest_wall ib_read_bw "$PAIR_MIB" "$p"
		PAIR=$p cp_run plain plain down "$PAIR_MIB"
		rm -f "$DATA/export/f$PAIR_MIB" "$DATA/down.f$PAIR_MIB"
	done
	cp_stop
fi

# Then size by size (the largest last): the perftest ceilings, rcopy, each srdma-cp mode.
for mib in $SIZES; do
	perftest_wall ib_write_bw "$mib"
	perftest_wall ib_read_bw "$mib"
	[[ -n $rcs ]] && rcopy_run "$mib"
	for mode in $MODES; do
		cp_server "$mode"
		cp_run "$mode" "$mode" up "$mib"
		cp_run "$mode" "$mode" down "$mib"
		if [[ $mode != plain && $mib -le ${SRDMA_CP_BENCH_NOENC_MAX:-64} ]]; then
			cp_run "$mode" "$mode-noenc" up "$mib" --no-encrypt
			cp_run "$mode" "$mode-noenc" down "$mib" --no-encrypt
		fi
		rm -f "$DATA/export/f$mib" "$DATA/down.f$mib"
		cp_stop
	done
done
if [[ -n $rcs ]]; then
	kill "$rcs" 2>/dev/null
	wait "$rcs" 2>/dev/null
fi

# The primitives on this CPU: SHA-256 (every mode), AES-256-CTR + GMAC (aead), ChaCha20 +
# Poly1305 (chacha20), over 1 MiB buffers.
for alg in sha256 aes-256-ctr aes-256-gcm chacha20 chacha20-poly1305; do
	r=$(openssl speed -seconds 2 -bytes 1048576 -evp "$alg" 2>/dev/null |
		awk -v a="$alg" 'tolower($1) ~ a || $0 ~ a { v = $NF } END { sub(/k$/, "", v); print v }')
	[[ -n $r ]] && jq -nc --arg a "$alg" --argjson k "$r" \
		'{primitive: $a, mib_s: ($k * 1000 / 1048576)}' >>"$RESULTS" &&
		log "openssl speed $alg: $(awk -v k="$r" 'BEGIN { printf "%.1f", k * 1000 / 1048576 }') MiB/s"
done

# The table: per size, MiB/s of each tool and mode, and the ratios the targets name.
jq -rs --arg sizes "$SIZES" --argjson pm "$PAIR_MIB" '
	def bw(t; m; d; s): (map(select(.tool == t and .mode == m and .dir == d and .mib == s
		and (.pair // 0) == 0)) | .[0].mib_s) // null;
	def f: if . == null then "-" else (. * 100 | round / 100 | tostring) end;
	def ratio(a; b): if (a // 0) > 0 and (b // 0) > 0 then a / b else null end;
	def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
		else (.[length / 2 - 1] + .[length / 2]) / 2 end;
	def pairs(t; d): [ range(1; 100) as $p |
		(map(select(.tool == t and .pair == $p))[0].mib_s) as $c |
		(map(select(.tool == "srdma-cp" and .mode == "plain" and .dir == d and .pair == $p))[0].mib_s) as $s |
		select($c != null and $s != null) | $s / $c ];
	(map(select(.tool == "ib_write_bw" and .ceiling_mib_s))[0]) as $w |
	(map(select(.tool == "ib_read_bw" and .ceiling_mib_s))[0]) as $r |
	"ceiling: ib_write_bw \($w.ceiling_mib_s | f) MiB/s, ib_read_bw \($r.ceiling_mib_s | f) MiB/s (64 KiB, perftest average, no set-up)",
	"",
	"| MiB | ib_write_bw | ib_read_bw | rcopy up | plain up | plain down | aead up | aead down | aead auth-only up | chacha20 up | chacha20 down | chacha20 auth-only up | plain up / rcopy | plain up / ib_write_bw | plain down / ib_read_bw | aead / plain (up) | chacha20 / plain (up) |",
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
	(( $sizes | split(" ") | map(select(. != "")) | .[] | tonumber) as $s |
	[ bw("ib_write_bw"; "-"; "wall"; $s), bw("ib_read_bw"; "-"; "wall"; $s),
	  bw("rcopy"; "-"; "up"; $s), bw("srdma-cp"; "plain"; "up"; $s),
	  bw("srdma-cp"; "plain"; "down"; $s), bw("srdma-cp"; "aead"; "up"; $s),
	  bw("srdma-cp"; "aead"; "down"; $s), bw("srdma-cp"; "aead-noenc"; "up"; $s),
	  bw("srdma-cp"; "chacha20"; "up"; $s), bw("srdma-cp"; "chacha20"; "down"; $s),
	  bw("srdma-cp"; "chacha20-noenc"; "up"; $s) ] as $b |
	"| \($s) | " + ([ ($b | .[] | f), (ratio($b[3]; $b[2]) | f),
	  (ratio($b[3]; $b[0]) | f), (ratio($b[4]; $b[1]) | f),
	  (ratio($b[5]; $b[3]) | f), (ratio($b[8]; $b[3]) | f) ] | join(" | ")) + " |"),
	"",
	(pairs("ib_write_bw"; "up")) as $pu | (pairs("ib_read_bw"; "down")) as $pd |
	(pairs("rcopy"; "up")) as $pr |
	"paired runs at \($pm) MiB (perftest or rcopy, and srdma-cp plain, back to back):",
	"  plain up / ib_write_bw:  median \($pu | median | f) of [\($pu | map(f) | join(", "))]",
	"  plain up / rcopy up:     median \($pr | median | f) of [\($pr | map(f) | join(", "))]",
	"  plain down / ib_read_bw: median \($pd | median | f) of [\($pd | map(f) | join(", "))]"
' "$RESULTS" | tee "$OUT/results.txt"
jq -s . "$RESULTS" >"$OUT/results.json"
