#!/bin/bash
#
# client-cost.sh: the programs against the benchmark. Run it inside the
# Soft-RoCE VM from the repository's root:
#
#   tests/vm/vm-run.sh --timeout 900 --out build/client-cost -- bench/client-cost.sh
#
# (or on a host with an RDMA device; SRDMA_RXE_DEV, SRDMA_RXE_ADDR, SRDMA_RXE_GID_INDEX as in
# bench/lib.sh). Per data-plane mode, against one srdma-server of that mode:
#  (a) srdma-client's marginal time per echoed message: RUNS rounds, each one run of
#      `srdma-bench latency -n ITERS`, then `srdma-client -n N1` and `-n N2`, each client timed
#      from process start to exit; per round the difference divided by N2 - N1; the median over
#      the rounds against the median of the bench's means for the same size. Target: <= 1.2x.
#      N2 by default makes the extra messages last about SECONDS s at the first bench mean.
#  (b) the one-message session (the -n N1 runs, N1 = 1 by default): its wall time, its connect
#      (srdma-client's connect_us: TCP connect to READY, the library's own set-up time), and
#      the rest, with srdma-client's own phases (--json timing_us). Target: rest <= 0.3x connect.
#      For where the rest goes, per round also the process floor (srdma-client --version) and
#      OpenSSL's first use in a fresh process (srdma-tls-first-use): the rest less both is the
#      programs' and the library's own part (an information row).
# Prints both rows per mode and writes $OUT/client-cost.json (and every run's JSON).
#
# Environment: SRDMA_BIN, SRDMA_CERTS, SRDMA_BENCH_OUT (default $SRDMA_VM_OUT/bench) as in
# bench/lib.sh; SRDMA_CC_MODES (default "plain aead"), SRDMA_CC_SIZE (default 64),
# SRDMA_CC_N1 (default 1), SRDMA_CC_N2 (default: from SRDMA_CC_SECONDS, default 4),
# SRDMA_CC_RUNS (rounds, default 7), SRDMA_CC_ITERS (srdma-bench latency round trips per round,
# default 1000), SRDMA_CC_PORT (first server port, default 4473).
#
# Exit status: 0 when every run verified everything (a missed target does not fail the run: it
# is reported); 1 otherwise.

set -uo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

MODES=${SRDMA_CC_MODES:-"plain aead"}
SIZE=${SRDMA_CC_SIZE:-64}
N1=${SRDMA_CC_N1:-1}
N2=${SRDMA_CC_N2:-}
SECONDS_N2=${SRDMA_CC_SECONDS:-4}
RUNS=${SRDMA_CC_RUNS:-7}
ITERS=${SRDMA_CC_ITERS:-1000}
PORT0=${SRDMA_CC_PORT:-4473}
FAILED=0
[[ -z $N2 ]] || ((N2 > N1)) || die "SRDMA_CC_N2 must be larger than SRDMA_CC_N1"

# median: of the numbers on stdin, one a line.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# client MODE N TAG: one srdma-client session of N echoes; its JSON plus "wall_us" (process
# start to exit, as seen from here) in $DIR/TAG.json.
client() {
	local m=$1 n=$2 tag=$3 t0 t1 rc=0
	t0=$EPOCHREALTIME
	"$BIN/srdma-client" --ca "$CERTS/ca.pem" -d "$DEV" -x "$GID" -p "$SRV_PORT" \
		--dataplane "$m" -s "$SIZE" -n "$n" --json "$ADDR" >"$DIR/$tag.raw" 2>"$DIR/$tag.err" || rc=$?
	t1=$EPOCHREALTIME
	if [[ $rc != 0 ]] || ! jq -e .ok "$DIR/$tag.raw" >/dev/null 2>&1; then
		log "FAILED: srdma-client -n $n ($m): exit $rc: $(tail -n 1 "$DIR/$tag.err")"
		FAILED=1
		return 1
	fi
	jq --argjson w "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1e6 }')" \
		'. + {wall_us: $w}' "$DIR/$tag.raw" >"$DIR/$tag.json"
	rm -f "$DIR/$tag.raw"
}

# bench_mean MODE TAG: srdma-bench latency's mean round trip (us), or nothing.
bench_mean() {
	local m=$1 tag=$2
	bench latency -s "$SIZE" -n "$ITERS" --dataplane "$m" --json "$DIR/$tag.json" \
		>"$DIR/$tag.txt" 2>&1 || {
		log "FAILED: srdma-bench latency ($m): $(tail -n 1 "$DIR/$tag.txt")"
		FAILED=1
		return 1
	}
	jq -r '.results[0].avg_us' "$DIR/$tag.json"
}

# field TAGPREFIX FILTER: the median of FILTER over the runs $DIR/TAGPREFIX-*.json.
field() {
	local f
	for f in "$DIR/$1"-*.json; do
		[[ -s $f ]] && jq -r "$2" "$f"
	done | median
}

# round_marginal TAG: one round's marginal us per message from $DIR/n1-TAG and n2-TAG.
round_marginal() {
	local a b
	a=$(jq -r "$2" "$DIR/n1-$1.json" 2>/dev/null) b=$(jq -r "$2" "$DIR/n2-$1.json" 2>/dev/null)
	[[ -n $a && -n $b ]] && awk -v a="$a" -v b="$b" -v n="$((n2 - N1))" 'BEGIN { printf "%.3f\n", (b - a) / n }'
}

measure() {
	local m=$1 port=$2 n2=$N2 i t0 t1 v bmean marg marg_nc ratio_a c1 o1 ratio_b phases floor fu fu_ctx ours ratio_c
	DIR=$OUT/client-cost-$m
	mkdir -p "$DIR" && rm -f "$DIR"/*.json "$DIR"/*.txt
	SRV_PORT=$port
	start_srdma_server "client-cost-$m" --dataplane "$m" --workers 2
	# Rounds, each a bench run and the two client runs right after one another, so that each
	# round's figures share the VM's load of the moment; medians over the rounds. The larger
	# count (unless given) makes its extra messages last about SECONDS_N2 s at the first
	# bench run's mean, so that the spread of the fixed costs (process start, connect, exit:
	# a tenth of a second and more in the VM) stays small against them.
	for ((i = 1; i <= RUNS; i++)); do
		v=$(bench_mean "$m" "bench-$i") && printf '%s\n' "$v" >>"$DIR/bench-means.txt"
		if [[ -z $n2 ]]; then
			n2=$(awk -v s="$SECONDS_N2" -v b="$v" -v n1="$N1" \
				'BEGIN { n = (b > 0) ? int(s * 1e6 / b) : 2000; if (n < 1000) n = 1000; print n1 + n }')
			log "$m: srdma-client -n $N1 and -n $n2, $RUNS rounds"
		fi
		client "$m" "$N1" "n1-$i"
		client "$m" "$n2" "n2-$i"
		round_marginal "$i" .wall_us >>"$DIR/marginal.txt"
		round_marginal "$i" '.wall_us - .connect_us' >>"$DIR/marginal-less-connect.txt"
		# The process floor: start, dynamic linking and exit of the same program, no work.
		t0=$EPOCHREALTIME
		"$BIN/srdma-client" --version >/dev/null 2>&1
		t1=$EPOCHREALTIME
		awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f\n", (b - a) * 1e6 }' >>"$DIR/floor.txt"
		# OpenSSL's first use in a fresh process (configuration, providers, the first
		# SSL_CTX's algorithm fetches, the CA file): what any TLS client pays once.
		if [[ -x $BIN/srdma-tls-first-use ]]; then
			"$BIN/srdma-tls-first-use" "$CERTS/ca.pem" >"$DIR/first-use-$i.json" 2>>"$DIR/first-use.err" ||
				log "srdma-tls-first-use failed: $(tail -n 1 "$DIR/first-use.err")"
		fi
	done
	stop_srdma_server "client-cost-$m" || { log "FAILED: client-cost-$m server shutdown"; FAILED=1; }
	bmean=$(median <"$DIR/bench-means.txt")
	marg=$(median <"$DIR/marginal.txt")
	marg_nc=$(median <"$DIR/marginal-less-connect.txt")
	floor=$(median <"$DIR/floor.txt")
	ratio_a=$(awk -v a="$marg" -v b="$bmean" 'BEGIN { if (a != "" && b > 0) printf "%.3f", a / b }')
	# (b) the one-message session.
	c1=$(field n1 .connect_us)
	o1=$(field n1 '.wall_us - .connect_us')
	ratio_b=$(awk -v a="$o1" -v b="$c1" 'BEGIN { if (a != "" && b > 0) printf "%.3f", a / b }')
	phases=$(for k in ctx connect echo quit close ctx_destroy main; do
		v=$(field n1 ".timing_us.$k")
		printf '"%s": %s, ' "$k" "${v:-null}"
	done)
	v=$(field n1 '.wall_us - .timing_us.main')
	phases="{${phases}\"outside_main\": ${v:-null}}"
	# What is left of the time outside the connect once the process floor and OpenSSL's
	# first use are taken out: the program's and the library's own part.
	fu=$(field first-use .first_use_us)
	fu_ctx=$(field first-use .srdma_ctx_create_us)
	ours=$(awk -v o="$o1" -v f="$floor" -v u="$fu" 'BEGIN { if (o != "" && f != "" && u != "") printf "%.0f", o - f - u }')
	ratio_c=$(awk -v a="$ours" -v b="$c1" 'BEGIN { if (a != "" && b > 0) printf "%.3f", a / b }')
	jq -n --arg mode "$m" --argjson size "$SIZE" --argjson n1 "$N1" --argjson n2 "${n2:-0}" \
		--argjson runs "$RUNS" --arg bmean "$bmean" --arg marg "$marg" --arg marg_nc "$marg_nc" \
		--arg ratio_a "$ratio_a" --arg c1 "$c1" --arg o1 "$o1" --arg ratio_b "$ratio_b" \
		--arg w1 "$(field n1 .wall_us)" --arg w2 "$(field n2 .wall_us)" --arg floor "$floor" \
		--argjson phases "$phases" --arg fu "$fu" --arg fu_ctx "$fu_ctx" --arg ours "$ours" \
		--arg ratio_c "$ratio_c" '
		def num: if . == "" then null else tonumber end;
		{mode: $mode, size: $size, n1: $n1, n2: $n2, rounds: $runs,
		 bench_mean_us: ($bmean | num), client_wall_us_median: {n1: ($w1 | num), n2: ($w2 | num)},
		 client_marginal_us: ($marg | num), client_marginal_less_connect_us: ($marg_nc | num),
		 marginal_ratio: ($ratio_a | num), marginal_target: 1.2,
		 marginal_met: (if ($ratio_a | num) == null then null else ($ratio_a | num) <= 1.2 end),
		 one_message: {wall_us: ($w1 | num), connect_us: ($c1 | num),
			outside_connect_us: ($o1 | num), phases_us_median: $phases,
			process_floor_us: ($floor | num), openssl_first_use_us: ($fu | num),
			srdma_ctx_create_warm_us: ($fu_ctx | num),
			outside_less_floor_and_openssl_us: ($ours | num)},
		 outside_ours_ratio: ($ratio_c | num),
		 outside_ratio: ($ratio_b | num), outside_target: 0.3,
		 outside_met: (if ($ratio_b | num) == null then null else ($ratio_b | num) <= 0.3 end)}' \
		>"$OUT/client-cost-$m.json" || { log "FAILED: cannot write client-cost-$m.json"; FAILED=1; }
}

command -v jq >/dev/null || die "jq is needed"
[[ -x $BIN/srdma-client ]] || die "no srdma-client in $BIN"
check_env
port=$PORT0
for m in $MODES; do
	measure "$m" "$port"
	port=$((port + 1))
done
files=()
for m in $MODES; do
	[[ -s $OUT/client-cost-$m.json ]] && files+=("$OUT/client-cost-$m.json")
done
jq -s --argjson host "$(host_facts)" '{host: $host, modes: .}' "${files[@]}" \
	>"$OUT/client-cost.json" || FAILED=1

{
	printf '\n%-62s %-6s %10s %10s %7s %7s %4s\n' metric mode programs reference ratio target met
	jq -r '.modes[] |
		def f: if . == null then "" else tostring end;
		def met: if . == null then "n/a" elif . then "yes" else "NO" end;
		"srdma-client us per extra \(.size) B echo / srdma-bench mean\t\(.mode)\t\(.client_marginal_us | f)\t\(.bench_mean_us | f)\t\(.marginal_ratio | f)\t<= 1.2\t\(.marginal_met | met)",
		"one-message session outside connect (us) / connect (us)\t\(.mode)\t\(.one_message.outside_connect_us | f)\t\(.one_message.connect_us | f)\t\(.outside_ratio | f)\t<= 0.3\t\(.outside_met | met)",
		"  the same less process floor and OpenSSL first use (info)\t\(.mode)\t\(.one_message.outside_less_floor_and_openssl_us | f)\t\(.one_message.connect_us | f)\t\(.outside_ours_ratio | f)\t(0.3)\t-"' \
		"$OUT/client-cost.json" | awk -F'\t' '{ printf "%-62s %-6s %10s %10s %7s %7s %4s\n", $1, $2, $3, $4, $5, $6, $7 }'
	printf '\nOne-message session, medians of %s runs (us):\n' "$RUNS"
	jq -r '.modes[] | "  \(.mode): wall \(.one_message.wall_us), connect \(.one_message.connect_us), outside \(.one_message.outside_connect_us);" +
		" in main(): ctx \(.one_message.phases_us_median.ctx), echo_client_connect \(.one_message.phases_us_median.connect)," +
		" echo \(.one_message.phases_us_median.echo), quit \(.one_message.phases_us_median.quit), close \(.one_message.phases_us_median.close)," +
		" ctx_destroy \(.one_message.phases_us_median.ctx_destroy), main \(.one_message.phases_us_median.main);" +
		" before and after main() \(.one_message.phases_us_median.outside_main)" +
		"\n  \(.mode): process floor (srdma-client --version: start, linking, exit) \(.one_message.process_floor_us);" +
		" OpenSSL first use in a fresh process (srdma-tls-first-use: init, first SSL_CTX, CA file) \(.one_message.openssl_first_use_us)," +
		" srdma_ctx_create once OpenSSL is warm \(.one_message.srdma_ctx_create_warm_us);" +
		" marginal with each run'"'"'s connect taken out \(.client_marginal_less_connect_us) us"' \
		"$OUT/client-cost.json"
} | tee "$OUT/client-cost.txt"
exit "$FAILED"
