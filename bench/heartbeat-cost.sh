#!/bin/bash
#
# heartbeat-cost.sh: what the heartbeat of idle sessions costs the server. One srdma-server
# (2 workers) holds N sessions opened by one srdma-bench process, both sides with a short
# heartbeat (so the idle period is all heartbeats); while they sit idle, `perf stat` counts the
# server's CPU time, context switches and system calls (clock reads apart) for 10 s, and
# `perf record` samples where that time goes. Run it inside the Soft-RoCE VM from the
# repository's root (perf from Debian's linux-perf):
#
#   tests/vm/vm-run.sh --timeout 900 --out /var/tmp/srdma-hb -- bench/heartbeat-cost.sh
#
# Environment: SRDMA_BIN, SRDMA_BENCH_OUT, SRDMA_HB_N (sessions, 300), SRDMA_HB_MS (heartbeat_ms
# on both sides, 1000), SRDMA_HB_DATAPLANE (aead). Writes heartbeat-cost.txt (the figures and
# the CPU per PING/PONG pair), heartbeat-perf.data and heartbeat-perf-dso.txt.

set -uo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

N=${SRDMA_HB_N:-300}
HB=${SRDMA_HB_MS:-1000}
DP=${SRDMA_HB_DATAPLANE:-aead}
SECS=10

check_env
command -v perf >/dev/null || die "perf is needed (apt-get install linux-perf)"
printf 'heartbeat_ms = %s\n' "$HB" >"$OUT/heartbeat-client.conf"
start_srdma_server heartbeat --workers 2 --max-clients $((N + 10)) --dataplane "$DP" \
	--heartbeat-ms "$HB"
# Idle long enough for the two measurements and the time to settle.
bench scale "$N" --threads 4 --idle $((SECS * 2 + 20)) --server-pid "$SERVER_PID" \
	--dataplane "$DP" --timeout-ms 60000 --config "$OUT/heartbeat-client.conf" \
	--json "$OUT/heartbeat-scale.json" >"$OUT/heartbeat-scale.txt" 2>&1 &
bench_pid=$!
for _ in $(seq 1 $((N * 2 + 600))); do
	grep -q "holding them idle" "$OUT/heartbeat-scale.txt" 2>/dev/null && break
	kill -0 "$bench_pid" 2>/dev/null || die "srdma-bench ended: $(tail -n 3 "$OUT/heartbeat-scale.txt")"
	sleep 0.5
done
sleep 5
perf stat -x, -e task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_clock_gettime \
	-p "$SERVER_PID" -o "$OUT/heartbeat-perf-stat.csv" -- sleep "$SECS" ||
	die "perf stat failed: $(tail -n 3 "$OUT/heartbeat-perf-stat.csv")"
perf record -g -F 2000 -p "$SERVER_PID" -o "$OUT/heartbeat-perf.data" -- sleep "$SECS" \
	>"$OUT/heartbeat-perf-record.txt" 2>&1
perf report -i "$OUT/heartbeat-perf.data" --no-children --sort dso --stdio -g none \
	>"$OUT/heartbeat-perf-dso.txt" 2>&1
rc=0
wait "$bench_pid" || rc=$?
stop_srdma_server heartbeat || rc=1

# One PING/PONG pair per session per heartbeat_ms (the connector pings; docs/protocol.md).
awk -F, -v n="$N" -v hb="$HB" -v secs="$SECS" '
	$3 == "task-clock" { cpu = $1 } $3 == "context-switches" { cs = $1 }
	$3 == "raw_syscalls:sys_enter" { sc = $1 } $3 == "syscalls:sys_enter_clock_gettime" { ck = $1 }
	END {
		pairs = n * secs * 1000 / hb
		printf "sessions %d, heartbeat %d ms, %d s: about %d PING/PONG pairs\n", n, hb, secs, pairs
		printf "server CPU %.0f ms (%.1f%% of a core), %d context switches, %d system calls (%d clock reads)\n",
			cpu, cpu / secs / 10, cs, sc, ck
		printf "per pair: %.3f ms of server CPU, %.1f system calls, %.1f clock reads\n",
			cpu / pairs, sc / pairs, ck / pairs
	}' "$OUT/heartbeat-perf-stat.csv" | tee "$OUT/heartbeat-cost.txt"
grep -E "^ +[0-9.]+%" "$OUT/heartbeat-perf-dso.txt" | head -n 8 | tee -a "$OUT/heartbeat-cost.txt"
exit "$rc"
