#!/bin/bash
#
# side-by-side.sh: the reference tools and secure-rdma measured in one run, on one device, and
# their ratios. Run it inside the Soft-RoCE VM from the repository's root:
#
#   tests/vm/vm-run.sh --rdma-cm --timeout 1800 --out /var/tmp/srdma-bench -- bench/side-by-side.sh
#
# (or on a host with an RDMA device; set SRDMA_RXE_DEV, SRDMA_RXE_ADDR, SRDMA_RXE_GID_INDEX).
# References: ibv_rc_pingpong (64 B and 4 KiB round trip, run before and after secure-rdma's),
# ib_write_bw -F (64 KiB), ib_send_bw -F (64 B message rate), cmtime (rdma_cm connection set-up;
# needs --rdma-cm) and openssl s_time (TLS 1.3 handshakes); each followed at once by
# srdma-bench's same measurement against two servers, one per data-plane mode. Prints a table of ratios and writes everything under $OUT (default
# $SRDMA_VM_OUT/bench): ratios.json, one JSON (and CSV) per measurement, the tools' own output,
# and PNG plots (bench/plot.sh, when gnuplot is installed).
#
# Environment: SRDMA_BIN (built programs, default ./build), SRDMA_BENCH_OUT, SRDMA_BENCH_ITERS
# (round trips per latency measurement, default 1000), SRDMA_BENCH_DURATION (seconds per
# bandwidth/rate measurement, default 3), SRDMA_BENCH_SETUP (connections timed per kind, fresh
# and resumed, default 20),
# SRDMA_BENCH_CLIENTS (default "1 10 100"), SRDMA_BENCH_MODES (default "aead chacha20 plain"),
# SRDMA_BENCH_WRITE_DEPTH (RDMA writes in flight, default 64), SRDMA_BENCH_DEEP_RECV (receives
# per client of the message-rate servers, default 128),
# SRDMA_BENCH_SWEEP (1: also sweep message sizes for the plots, default 1).
#
# Exit status: 0 when every measurement ran and verified (missed targets do not fail the run:
# they are reported); 1 otherwise.

set -uo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

ITERS=${SRDMA_BENCH_ITERS:-1000}
DUR=${SRDMA_BENCH_DURATION:-3}
SETUP_K=${SRDMA_BENCH_SETUP:-20}
CLIENTS=${SRDMA_BENCH_CLIENTS:-"1 10 100"}
MODES=${SRDMA_BENCH_MODES:-"aead chacha20 plain"}
# In flight: perftest's own defaults are a tx-depth of 128 and, for ib_send_bw, an rx-depth
# of 512; secure-rdma's msg-rate runs against a server with DEEP_RECV receives per client.
WRITE_DEPTH=${SRDMA_BENCH_WRITE_DEPTH:-64}
DEEP_RECV=${SRDMA_BENCH_DEEP_RECV:-128}
SWEEP=${SRDMA_BENCH_SWEEP:-1}
REF_PORT=18515
TLS_PORT=4443
FAILED=()
T_START=$EPOCHREALTIME

failed() {
	FAILED+=("$1")
	log "FAILED: $1"
}

# --- references ----------------------------------------------------------------------------

# The reference functions leave their result in R (empty on failure): they are not run in a
# subshell, so that their failures are recorded.
R=

# pingpong SIZE TAG [OPTIONS]: ibv_rc_pingpong round trip (usec/iter, the mean). It busy-polls
# its CQ unless given -e (sleep on the completion channel, as secure-rdma does after 50 us).
pingpong() {
	local size=$1 tag=$2 sp rc=0
	shift 2
	R=
	local pp=(ibv_rc_pingpong -d "$DEV" -g "$GID" -m 4096 -n "$ITERS" -s "$size" -p "$REF_PORT" "$@")
	wait_gone "$REF_PORT"
	timeout 600 "${pp[@]}" >"$OUT/$tag.server.txt" 2>&1 &
	sp=$!
	wait_port "$REF_PORT" 60 || { failed "$tag: server did not start"; return 1; }
	timeout 600 "${pp[@]}" "$ADDR" >"$OUT/$tag.txt" 2>&1 || rc=$?
	wait "$sp" || rc=$?
	[[ $rc == 0 ]] || { failed "$tag: exit $rc"; return 1; }
	R=$(awk '/usec\/iter/ { print $(NF - 1) }' "$OUT/$tag.txt")
}

# perftest TOOL SIZE TAG: ib_write_bw/ib_send_bw -F for DUR seconds: "avg_MB/s Mpps".
# perftest's MB is 2^20 bytes (MiB).
perftest() {
	local tool=$1 size=$2 tag=$3 sp rc=0
	R=
	local pt=("$tool" -d "$DEV" -x "$GID" -F -s "$size" -D "$DUR" -p "$REF_PORT")
	wait_gone "$REF_PORT"
	timeout 300 "${pt[@]}" >"$OUT/$tag.server.txt" 2>&1 &
	sp=$!
	wait_port "$REF_PORT" 60 || { failed "$tag: server did not start"; return 1; }
	timeout 300 "${pt[@]}" "$ADDR" >"$OUT/$tag.txt" 2>&1 || rc=$?
	wait "$sp" || rc=$?
	[[ $rc == 0 ]] || { failed "$tag: exit $rc"; return 1; }
	R=$(awk -v s="$size" '$1 == s && NF >= 5 { print $4, $5 }' "$OUT/$tag.txt" | tail -n 1)
}

# cmtime_ref: rdma_cm set-up of SETUP_K connections; writes cmtime.json; the
# per-connection total (us/conn of create id, resolve addr, resolve route, create qp, connect).
cmtime_ref() {
	local sp _ rc=1
	R=
	if [[ ${SRDMA_VM:-0} == 1 && ${SRDMA_VM_RDMA_CM:-0} != 1 ]]; then
		log "cmtime skipped: rdma_cm is not loaded (vm-run.sh --rdma-cm)"
		return 1
	fi
	command -v cmtime >/dev/null || { log "cmtime skipped: not installed (rdmacm-utils)"; return 1; }
	cmtime -b "$ADDR" >"$OUT/cmtime.server.txt" 2>&1 &
	sp=$!
	# The rdma_cm listener is not a TCP socket: retry until it answers.
	for _ in 1 2 3 4 5; do
		sleep 1
		timeout 300 cmtime -s "$ADDR" -c "$SETUP_K" >"$OUT/cmtime.txt" 2>&1 && { rc=0; break; }
	done
	kill "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
	[[ $rc == 0 ]] || { failed "cmtime: $(tail -n 1 "$OUT/cmtime.txt")"; return 1; }
	awk -F: '/^[a-z ]+:/ {
			name = $1; sub(/ +$/, "", name); n = split($2, f, " ")
			printf "%s\t%s\t%s\t%s\t%s\n", name, f[1], f[2], f[3], f[4] }' "$OUT/cmtime.txt" |
		jq -R -s --argjson k "$SETUP_K" 'split("\n") | map(select(length > 0) | split("\t")) |
			{connections: $k, steps: (map({key: .[0], value: {total_ms: (.[1] | tonumber),
			 max_ms: (.[2] | tonumber), min_us: (.[3] | tonumber), us_per_conn: (.[4] | tonumber)}})
			 | from_entries)} |
			.setup_us_per_conn = ([.steps["create id", "resolve addr", "resolve route",
			 "create qp", "connect"].us_per_conn] | add)' >"$OUT/cmtime.json" ||
		{ failed "cmtime: cannot parse its output"; return 1; }
	R=$(jq -r .setup_us_per_conn "$OUT/cmtime.json" | awk '{ printf "%.1f", $1 }')
}

# tls_ref: one TLS 1.3 handshake (TCP connect included) with openssl s_time -new against
# s_server, same certificate and CA as secure-rdma; microseconds per handshake.
tls_ref() {
	local sp t0 t1 n
	R=
	openssl s_server -accept "$TLS_PORT" -cert "$CERTS/server.pem" -key "$CERTS/server.key" \
		-tls1_3 -quiet >"$OUT/s_server.txt" 2>&1 &
	sp=$!
	wait_port "$TLS_PORT" 60 || { failed "s_server did not start"; kill "$sp"; return 1; }
	t0=$EPOCHREALTIME
	timeout 120 openssl s_time -connect "$ADDR:$TLS_PORT" -new -time 5 -tls1_3 \
		-CAfile "$CERTS/ca.pem" >"$OUT/s_time.txt" 2>&1
	t1=$EPOCHREALTIME
	kill "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
	n=$(awk '/connections in .* real seconds/ { print $1 }' "$OUT/s_time.txt" | tail -n 1)
	[[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || { failed "s_time: $(tail -n 1 "$OUT/s_time.txt")"; return 1; }
	R=$(awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')
}

# --- secure-rdma ---------------------------------------------------------------------------

# sb MODE NAME ARGS...: one srdma-bench run against the MODE (aead|chacha20|plain) server;
# its table on stderr, JSON in $OUT/NAME.json. SB_DEEP=1: against the deep server of MODE.
sb() {
	local m=$1 name=$2 port
	shift 2
	port=${PORTS[$m]}
	[[ ${SB_DEEP:-0} == 1 ]] && port=${DEEP_PORTS[$m]}
	log "srdma-bench $* --dataplane $m ($name)"
	SRV_PORT=$port bench "$@" --dataplane "$m" --json "$OUT/$name.json" \
		>"$OUT/$name.txt" 2>&1 || {
		failed "$name: $(tail -n 1 "$OUT/$name.txt")"
		cat "$OUT/$name.txt" >&2
		return 1
	}
	cat "$OUT/$name.txt" >&2
}

# One srdma-server per data-plane mode, all up for the whole run (idle, they cost nothing), so
# that every secure-rdma measurement runs right after the reference it is compared with; and
# per mode a "deep" one for the message rate, with DEEP_RECV receives per client (64 KiB
# each way, too much to give the 100 clients of the main servers).
declare -A PORTS SERVERS DEEP_PORTS DEEP_SERVERS
start_servers() {
	local m port=4433 deep=4453
	for m in $MODES; do
		PORTS[$m]=$port
		SRV_PORT=$port start_srdma_server "srdma-$m" --dataplane "$m" --workers 2 \
			--max-clients 200
		SERVERS[$m]=$SERVER_PID
		DEEP_PORTS[$m]=$deep
		SRV_PORT=$deep start_srdma_server "srdma-$m-deep" --dataplane "$m" --workers 2 \
			--max-clients 4 --recv-depth "$DEEP_RECV"
		DEEP_SERVERS[$m]=$SERVER_PID
		port=$((port + 1))
		deep=$((deep + 1))
	done
}

stop_servers() {
	local m
	for m in $MODES; do
		stop_srdma_server "srdma-$m" "${SERVERS[$m]}" || failed "srdma-$m server shutdown"
		stop_srdma_server "srdma-$m-deep" "${DEEP_SERVERS[$m]}" ||
			failed "srdma-$m-deep server shutdown"
	done
}

# --- ratios --------------------------------------------------------------------------------

# jv FILE FILTER: one number from a JSON file, or nothing.
jv() { [[ -s $1 ]] && jq -r "$2 // empty" "$1" 2>/dev/null; }

# row METRIC MODE SRDMA REF KIND TARGET: KIND "le" (ratio <= target) or "ge".
ROWS=
row() { ROWS+="$1	$2	${3:-}	${4:-}	$5	$6"$'\n'; }

ratios() {
	local m n one agg lat_t own lat
	for m in $MODES; do
		if [[ $m == plain ]]; then lat_t=1.10; else lat_t=1.25; fi
		row "echo 64 B round trip p50 (us) / ibv_rc_pingpong" "$m" \
			"$(jv "$OUT/srdma-$m-lat64.json" '.results[0].t_typical_us')" "$RC64" le "$lat_t"
		if [[ $m != plain ]]; then
			# Not a target: the p50 less what sealing and opening cost on this CPU
			# (twice per round trip, measured by srdma-bench in the same run).
			lat=$(jv "$OUT/srdma-$m-lat64.json" \
				'(.results[0].t_typical_us - 2 * .results[0].dataplane_us_per_message) * 100 | round / 100')
			row "echo 64 B p50 less 2 x seal+open (us) / ibv_rc_pingpong" "$m" \
				"$lat" "$RC64" info -
		fi
		row "echo 64 B round trip mean (us) / ibv_rc_pingpong" "$m" \
			"$(jv "$OUT/srdma-$m-lat64.json" '.results[0].avg_us')" "$RC64" le "$lat_t"
		row "echo 4 KiB round trip p50 (us) / ibv_rc_pingpong" "$m" \
			"$(jv "$OUT/srdma-$m-lat4k.json" '.results[0].t_typical_us')" "$RC4K" le "$lat_t"
		row "echo 1-packet 4 KiB p50 (us) / ibv_rc_pingpong 4 KiB" "$m" \
			"$(jv "$OUT/srdma-$m-lat1pkt.json" '.results[0].t_typical_us')" "$RC4K" info -
		row "echo 4 KiB round trip mean (us) / ibv_rc_pingpong" "$m" \
			"$(jv "$OUT/srdma-$m-lat4k.json" '.results[0].avg_us')" "$RC4K" le "$lat_t"
		row "RDMA write 64 KiB (MiB/s) / ib_write_bw" "$m" \
			"$(jv "$OUT/srdma-$m-wbw.json" '.results[0].bw_avg_mib_s')" "$WBW" ge 0.95
		row "message rate 64 B (Mpps) / ib_send_bw" "$m" \
			"$(jv "$OUT/srdma-$m-msgrate.json" '.results[0].mpps')" "$SBW" ge 0.9
		# Set-up: srdma-bench setup alternates full handshakes ("fresh") with resumed ones
		# (a TLS 1.3 ticket from the connection before); each kind has its own steps.
		fresh=$(jv "$OUT/srdma-$m-setup.json" '.fresh.total.t_typical_us')
		row "fresh set-up p50 (us) / (cmtime + TLS 1.3 handshake)" "$m" \
			"$fresh" "$CMTLS" le 1.0
		# Stricter: s_time's handshakes are slower than secure-rdma's own TCP + TLS steps,
		# so the same with those in place of s_time.
		own=$(jv "$OUT/srdma-$m-setup.json" '.fresh.tcp.t_typical_us + .fresh.tls.t_typical_us')
		[[ -n ${CM:-} && -n $own ]] && own=$(awk -v a="$CM" -v b="$own" 'BEGIN { printf "%.1f", a + b }')
		row "fresh set-up p50 (us) / (cmtime + own TCP+TLS p50)" "$m" "$fresh" "$own" le 1.2
		row "resumed set-up p50 (us) / fresh set-up p50" "$m" \
			"$(jv "$OUT/srdma-$m-setup.json" '.resumed.total.t_typical_us')" "$fresh" le 0.5
		# A QP added to an established connection (srdma_conn_add_qp: no new handshake)
		# against rdma_cm's whole set-up of one connection. cmtime times each step across
		# all its connections at once and divides by their number, and its QPs are bare (no
		# memory registered): the target row does the same (one bare SRDMA_QP_RAW QP added
		# to each of SETUP_K connections at once). Messages QPs (the library registers and
		# posts their receive buffers) at once, and one at a time, are information.
		row "added bare QP, $SETUP_K at once (us per QP) / cmtime per connection" "$m" \
			"$(jv "$OUT/srdma-$m-setup.json" '.add_raw_qp_at_once.us_per_qp')" "${CM:-}" le 1.0
		row "added messages QP, $SETUP_K at once (us per QP) / cmtime per connection" "$m" \
			"$(jv "$OUT/srdma-$m-setup.json" '.add_qp_at_once.us_per_qp')" "${CM:-}" info -
		row "added messages QP one at a time p50 (us) / cmtime per connection" "$m" \
			"$(jv "$OUT/srdma-$m-setup.json" '.add_qp.t_typical_us')" "${CM:-}" info -
		one=$(jv "$OUT/srdma-$m-clients1.json" '.results[0].ops_per_s')
		for n in $CLIENTS; do
			[[ $n == 1 ]] && continue
			agg=$(jv "$OUT/srdma-$m-clients$n.json" '.results[0].ops_per_s')
			row "$n clients aggregate echo 4 KiB (ops/s) / 1 client" "$m" "$agg" "$one" ge 0.9
		done
	done
}

print_and_save_ratios() {
	local table
	table=$(printf '%s' "$ROWS" | awk -F'\t' '{
		r = ($3 != "" && $4 != "" && $4 + 0 != 0) ? $3 / $4 : ""
		met = ($5 == "info") ? "-" : (r == "") ? "n/a" : (($5 == "le") ? (r <= $6 ? "yes" : "NO") : (r >= $6 ? "yes" : "NO"))
		printf "%s\t%s\t%s\t%s\t%s\t%s %s\t%s\n", $1, $2, $3, $4, (r == "" ? "" : sprintf("%.3f", r)),
			($5 == "le" ? "<=" : $5 == "ge" ? ">=" : "info"), $6, met }')
	{
		printf '\n%-58s %-8s %14s %14s %8s %9s %4s\n' metric mode secure-rdma reference ratio target met
		printf '%s\n' "$table" | awk -F'\t' '{ printf "%-58s %-8s %14s %14s %8s %9s %4s\n", $1, $2, $3, $4, $5, $6, $7 }'
	} | tee "$OUT/ratios.txt"
	printf '%s\n' "$table" | jq -R -s \
		--argjson host "$(host_facts)" \
		--argjson refs "$(jq -n --arg rc64 "$RC64" --arg rc64a "$RC64_A" --arg rc64b "$RC64_B" \
			--arg rc4k "$RC4K" --arg rc4ka "$RC4K_A" --arg rc4kb "$RC4K_B" --arg wbw "$WBW" \
			--arg sbw "$SBW" --arg cm "$CM" --arg tls "$TLS" --arg cmtls "$CMTLS" \
			--arg rc64ev "$RC64_EV" '
			def num: if . == "" then null else tonumber end;
			{ibv_rc_pingpong_64_us: ($rc64 | num), ibv_rc_pingpong_64_us_passes: [($rc64a | num), ($rc64b | num)],
			 ibv_rc_pingpong_64_events_us: ($rc64ev | num),
			 ibv_rc_pingpong_4096_us: ($rc4k | num), ibv_rc_pingpong_4096_us_passes: [($rc4ka | num), ($rc4kb | num)],
			 ib_write_bw_65536_mib_s: ($wbw | num), ib_send_bw_64_mpps: ($sbw | num),
			 cmtime_setup_us_per_conn: ($cm | num), tls13_handshake_us: ($tls | num),
			 cmtime_plus_tls_us: ($cmtls | num)}')" \
		--arg seconds "$(elapsed "$T_START" "$EPOCHREALTIME")" \
		--argjson failed "$(printf '%s\n' "${FAILED[@]}" | jq -R -s 'split("\n") | map(select(length > 0))')" '
		def num: if . == "" then null else tonumber end;
		{host: $host, run_seconds: ($seconds | tonumber), references: $refs, failed: $failed,
		 ratios: (split("\n") | map(select(length > 0) | split("\t") |
			{metric: .[0], mode: .[1], srdma: (.[2] | num), reference: (.[3] | num),
			 ratio: (.[4] | num), target: .[5], met: (if .[6] == "yes" then true
			 elif .[6] == "NO" then false else null end)}))}' >"$OUT/ratios.json" ||
		failed "cannot write ratios.json"
}

# --- main ----------------------------------------------------------------------------------

check_env
host_facts >"$OUT/host.json"
log "results in $OUT; host: $(jq -c . "$OUT/host.json")"

start_servers

log "== round trip: ibv_rc_pingpong, secure-rdma, ibv_rc_pingpong again (64 B, 4 KiB)"
pingpong 64 rc_pingpong-64-a
RC64_A=$R
for m in $MODES; do
	sb "$m" "srdma-$m-lat64" latency -s 64 -n "$ITERS" --samples "$OUT/srdma-$m-lat64.samples.csv"
done
pingpong 64 rc_pingpong-64-b
RC64_B=$R
# Not a target anchor: the same with completion events, for the discussion of polling.
pingpong 64 rc_pingpong-64-events -e
RC64_EV=$R
pingpong 4096 rc_pingpong-4096-a
RC4K_A=$R
for m in $MODES; do
	sb "$m" "srdma-$m-lat4k" latency -s 4096 -n "$ITERS" \
		--samples "$OUT/srdma-$m-lat4k.samples.csv"
done
pingpong 4096 rc_pingpong-4096-b
RC4K_B=$R
# Not a target: a payload that fills exactly one 4096-byte packet with the 16-byte header (and,
# sealed, the 16-byte tag), as ibv_rc_pingpong's 4096 bytes do; 4 KiB of payload takes two.
for m in $MODES; do
	fit=4080
	[[ $m == plain ]] || fit=4064
	sb "$m" "srdma-$m-lat1pkt" latency -s "$fit" -n "$ITERS"
done

log "== RDMA write bandwidth, 64 KiB"
perftest ib_write_bw 65536 ib_write_bw-65536
read -r WBW _ <<<"$R"
for m in $MODES; do
	sb "$m" "srdma-$m-wbw" write-bw -s 65536 -D "$DUR" -t "$WRITE_DEPTH"
done

log "== message rate, 64 B"
perftest ib_send_bw 64 ib_send_bw-64
read -r _ SBW <<<"$R"
for m in $MODES; do
	SB_DEEP=1 sb "$m" "srdma-$m-msgrate" msg-rate -s 64 -D "$DUR" -t "$DEEP_RECV"
done

log "== connection set-up"
cmtime_ref
CM=$R
tls_ref
TLS=$R
for m in $MODES; do
	sb "$m" "srdma-$m-setup" setup "$SETUP_K" --add-qp \
		--samples "$OUT/srdma-$m-setup.samples.csv"
done

log "== clients at once: $CLIENTS"
for n in $CLIENTS; do
	for m in $MODES; do
		sb "$m" "srdma-$m-clients$n" clients "$n" --op echo -s 4096 -D "$DUR" \
			--samples "$OUT/srdma-$m-clients$n.samples.csv"
	done
done

if [[ $SWEEP == 1 ]]; then
	log "== message-size sweeps (for the plots)"
	for s in 1024 4096 16384; do
		perftest ib_write_bw "$s" "ib_write_bw-$s"
	done
	for m in $MODES; do
		sb "$m" "srdma-$m-wbw-sweep" write-bw -a -s 65536 -D 1 --verified 2 -t "$WRITE_DEPTH" \
			--csv "$OUT/srdma-$m-wbw-sweep.csv"
		sb "$m" "srdma-$m-lat-sweep" latency -a -s 65536 -n 100 --warmup 5 \
			--csv "$OUT/srdma-$m-lat-sweep.csv"
	done
fi
stop_servers

log "references: rc_pingpong 64 B ${RC64_A:-?}/${RC64_B:-?} us (-e ${RC64_EV:-?} us), 4 KiB ${RC4K_A:-?}/${RC4K_B:-?} us;" \
	"ib_write_bw ${WBW:-?} MiB/s; ib_send_bw ${SBW:-?} Mpps; cmtime ${CM:-?} us/conn;" \
	"TLS handshake ${TLS:-?} us"
mean2() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "") printf "%.2f", (a + b) / 2; else if (a != "") print a; else if (b != "") print b }'; }
RC64=$(mean2 "${RC64_A:-}" "${RC64_B:-}")
RC4K=$(mean2 "${RC4K_A:-}" "${RC4K_B:-}")
CMTLS=
[[ -n ${CM:-} && -n ${TLS:-} ]] && CMTLS=$(awk -v a="$CM" -v b="$TLS" 'BEGIN { printf "%.1f", a + b }')

ratios
print_and_save_ratios

# --- the programs against the benchmark (bench/client-cost.sh) ---------------------------
# Its own section and table: srdma-client's marginal time per echoed 64 B message against
# srdma-bench latency's mean (target <= 1.2x), and a one-message session's time outside its
# connect against the connect (target <= 0.3x), plain then aead, against servers of its own.
log "== the programs against the benchmark (bench/client-cost.sh)"
SRDMA_CERTS=$CERTS SRDMA_BENCH_OUT=$OUT/client-cost SRDMA_CC_MODES="plain aead" \
	"$BENCH_DIR/client-cost.sh" || failed "client-cost"
# --- end of the programs against the benchmark ---------------------------------------------
if command -v gnuplot >/dev/null; then
	"$BENCH_DIR/plot.sh" "$OUT" || failed "plots"
else
	log "gnuplot not installed: no plots (apt-get install gnuplot-nox; then bench/plot.sh $OUT)"
fi
log "run took $(elapsed "$T_START" "$EPOCHREALTIME") s; results in $OUT"
if ((${#FAILED[@]})); then
	log "failures: ${FAILED[*]}"
	exit 1
fi
exit 0
