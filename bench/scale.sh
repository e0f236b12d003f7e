#!/bin/bash
#
# scale.sh: one srdma-server with 2 workers holding N concurrent clients (default 1000) opened
# by one srdma-bench process; every session verified with an echo before and after an idle
# period; the server's memory per connection and its CPU while idle. Run it inside the
# Soft-RoCE VM from the repository's root:
#
#   tests/vm/vm-run.sh --timeout 1800 --out /var/tmp/srdma-scale -- bench/scale.sh
#
# Environment: SRDMA_BIN, SRDMA_BENCH_OUT (default $SRDMA_VM_OUT/bench), SRDMA_SCALE_N (1000),
# SRDMA_SCALE_IDLE (seconds, 10), SRDMA_SCALE_THREADS (connecting threads, 4),
# SRDMA_SCALE_DATAPLANE (aead), SRDMA_SCALE_SERVER_OPTS (extra srdma-server options, e.g.
# "--heartbeat-ms 60000"), SRDMA_SCALE_CLIENT_OPTS
# (extra srdma-bench options, e.g. "--config FILE" with a heartbeat_ms matching the server's).
# Writes scale.json (srdma-bench's), scale-resources.txt (device and server counts while all
# sessions are connected) and scale.server.log. Exit status 0 only if every session was
# verified twice and quit cleanly and the server freed everything.

set -uo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

N=${SRDMA_SCALE_N:-1000}
IDLE=${SRDMA_SCALE_IDLE:-10}
THREADS=${SRDMA_SCALE_THREADS:-4}
DP=${SRDMA_SCALE_DATAPLANE:-aead}
T_START=$EPOCHREALTIME
rc=0

check_env
host_facts >"$OUT/scale-host.json"
log "scale: $N sessions, $THREADS connecting threads, idle $IDLE s, data plane $DP"
# shellcheck disable=SC2086  # extra options are meant to be split
start_srdma_server scale --workers 2 --max-clients $((N + 10)) --dataplane "$DP" \
	${SRDMA_SCALE_SERVER_OPTS:-}

# shellcheck disable=SC2086  # extra options are meant to be split
bench scale "$N" --threads "$THREADS" --idle "$IDLE" --server-pid "$SERVER_PID" \
	--dataplane "$DP" --timeout-ms 60000 --json "$OUT/scale.json" --csv "$OUT/scale.csv" \
	${SRDMA_SCALE_CLIENT_OPTS:-} >"$OUT/scale.txt" 2>&1 &
bench_pid=$!

# While every session sits idle: the device's live objects and the server's own counts.
for _ in $(seq 1 $((N * 2 + 600))); do
	grep -q "holding them idle" "$OUT/scale.txt" 2>/dev/null && break
	kill -0 "$bench_pid" 2>/dev/null || break
	sleep 0.5
done
{
	echo "# rdma res (whole device: server and clients)"
	rdma res show 2>&1
	echo "# srdma-server, SIGUSR1 counts"
	kill -USR1 "$SERVER_PID"
	sleep 1
	echo "# /proc/$SERVER_PID/status"
	grep -E '^(VmRSS|VmHWM|VmLck|VmPin|Threads)' "/proc/$SERVER_PID/status"
	echo "# descriptors: $(find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)"
	echo "# memory: $(grep -E '^(MemTotal|MemAvailable)' /proc/meminfo | tr -s ' ' | paste -sd' ')"
} >"$OUT/scale-resources.txt" 2>&1

wait "$bench_pid" || rc=$?
cat "$OUT/scale.txt"
grep " stats: " "$OUT/scale.server.log" | tail -n 1 >>"$OUT/scale-resources.txt"
stop_srdma_server scale || rc=1
grep "shutdown complete" "$OUT/scale.server.log" >>"$OUT/scale-resources.txt"
cat "$OUT/scale-resources.txt"

# The reference for the set-up rate: TLS 1.3 handshakes a second in this VM, as many at once as
# the bench had connecting threads (one `openssl s_time -new` each, 10 s) against one `openssl
# s_server` (one thread, as the server's listener is), same certificate and CA.
TLS_PORT=${SRDMA_SCALE_TLS_PORT:-4499}
openssl s_server -accept "$TLS_PORT" -cert "$CERTS/server.pem" -key "$CERTS/server.key" \
	-tls1_3 -quiet >"$OUT/scale.s_server.txt" 2>&1 &
sp=$!
if wait_port "$TLS_PORT" 60; then
	pids=()
	for ((t = 0; t < THREADS; t++)); do
		timeout 60 openssl s_time -connect "$ADDR:$TLS_PORT" -new -time 10 -tls1_3 \
			-CAfile "$CERTS/ca.pem" >"$OUT/scale.s_time.$t.txt" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
	# Handshakes of all of them over the longest one's real seconds.
	hs=$(cat "$OUT"/scale.s_time.*.txt | awk '/connections in .* real seconds/ {
		n += $1; if ($4 > s) s = $4 } END { if (s > 0) printf "%.2f", n / s; else print 0 }')
	setup_rate=$(jq -r 'if .open_seconds > 0 then .verified / .open_seconds else 0 end' "$OUT/scale.json" 2>/dev/null)
	awk -v tls="$hs" -v r="${setup_rate:-0}" -v t="$THREADS" 'BEGIN {
		printf " set-up rate %.1f sessions/s (%d threads) / TLS 1.3 full handshakes %.1f/s (%d s_time -new at once) = %.2f (target >= 0.7)\n",
			r, t, tls, t, (tls > 0 ? r / tls : 0) }' | tee -a "$OUT/scale-resources.txt"
else
	log "s_server did not start: no TLS handshake rate"
fi
kill "$sp" 2>/dev/null
wait "$sp" 2>/dev/null
log "scale run took $(elapsed "$T_START" "$EPOCHREALTIME") s, exit status $rc"
exit "$rc"
