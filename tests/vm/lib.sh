# Helpers for the scenarios that run inside the Soft-RoCE VM (sourced, bash).
# Needs: SRDMA_BIN (built programs), SRDMA_CERTS (scripts/gen-certs.sh output), and the VM's
# SRDMA_RXE_ADDR / SRDMA_VM_OUT. Results: one "PASS name" / "FAIL name: why" line per test in
# $SRDMA_VM_OUT/results.txt, and on stdout.

BIN=${SRDMA_BIN:?SRDMA_BIN not set}
CERTS=${SRDMA_CERTS:?SRDMA_CERTS not set}
ADDR=${SRDMA_RXE_ADDR:-192.0.2.1}
OUT=${SRDMA_VM_OUT:-/tmp}
RESULTS=$OUT/results.txt
SERVER_PID=
SERVER_LOG=
T_FAIL=

# A test is a function; `run_test NAME FUNC` records its verdict. Inside, `check COND MSG`
# records the first failed condition (the test goes on, so cleanup still happens).
check() {
	local msg=$1
	shift
	if ! "$@"; then
		[ -n "$T_FAIL" ] || T_FAIL=$msg
		echo "    check failed: $msg" >&2
		return 1
	fi
}

fail() {
	[ -n "$T_FAIL" ] || T_FAIL=$1
	echo "    $1" >&2
}

# cpu_ticks: "busy total" clock ticks of all CPUs so far (/proc/stat; idle and iowait are not
# busy). Builtins only.
cpu_ticks() {
	local _cpu user nice sys idle iowait irq softirq steal
	read -r _cpu user nice sys idle iowait irq softirq steal _ </proc/stat
	echo "$((user + nice + sys + irq + softirq + steal)) $((user + nice + sys + idle + iowait + irq + softirq + steal))"
}

# The PASS line gives the wall time and how busy the CPUs were meanwhile (what it would gain
# from running beside other work).
run_test() {
	local name=$1 fn=$2 t0 t1 c0 c1
	T_FAIL=
	t0=$EPOCHREALTIME
	c0=$(cpu_ticks)
	echo "=== $name" >&2
	"$fn" || [ -n "$T_FAIL" ] || T_FAIL="test function returned non-zero"
	t1=$EPOCHREALTIME
	c1=$(cpu_ticks)
	if [ -z "$T_FAIL" ]; then
		printf 'PASS %s (%.1fs, CPUs %s%% busy)\n' "$name" \
			"$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
			"$(echo "$c0 $c1" | awk '{ d = $4 - $2; print (d > 0 ? int(100 * ($3 - $1) / d + 0.5) : 0) }')" |
			tee -a "$RESULTS"
	else
		printf 'FAIL %s: %s\n' "$name" "$T_FAIL" | tee -a "$RESULTS"
	fi
	stop_server_quietly
}

# start_server NAME [server options...]: start srdma-server and wait until it listens. The
# set-up deadline is raised to 30 s (emulated CPUs under load can take seconds to open a device);
# a test of the deadline passes its own --handshake-timeout-ms, which comes later and wins.
start_server() {
	local name=$1
	shift
	SERVER_LOG=$OUT/$name.server.log
	"$BIN/srdma-server" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--handshake-timeout-ms 30000 "$@" \
		>"$SERVER_LOG" 2>&1 &
	SERVER_PID=$!
	wait_listening
}

# wait_listening [WHAT]: until the server started as SERVER_PID logs "listening on" in
# SERVER_LOG (30 s); WHAT names it in the failure (default "server").
wait_listening() {
	local i
	for i in $(seq 1 300); do
		grep -q "listening on" "$SERVER_LOG" 2>/dev/null && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "${1:-server} did not start: $(tail -n 3 "$SERVER_LOG")"
	return 1
}

# stop_server: SIGTERM, expect exit 0 and no live RDMA resource in the final count.
stop_server() {
	local rc=0
	[ -n "$SERVER_PID" ] || return 0
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || rc=$?
	SERVER_PID=
	check "server exit status $rc after SIGTERM" [ "$rc" = 0 ]
	check "server freed every PD, CQ, QP and MR" \
		grep -q "shutdown complete: clients 0/[0-9]*, .*live PD 0, CQ 0, QP 0, MR 0; connections 0" \
		"$SERVER_LOG"
}

stop_server_quietly() {
	[ -n "$SERVER_PID" ] || return 0
	kill -KILL "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID" 2>/dev/null
	SERVER_PID=
}

# client [options...]: run srdma-client against the VM's server, JSON on stdout. Each step may
# take 30 s (emulated CPUs under load); a test may pass its own --timeout-ms.
client() {
	"$BIN/srdma-client" --ca "$CERTS/ca.pem" --json --timeout-ms 30000 "$@" "$ADDR"
}

# client_bg OUT ERR [options...]: the same in the background; $! is the client's own PID (so
# signals reach it, not a subshell).
client_bg() {
	local out=$1 err=$2
	shift 2
	"$BIN/srdma-client" --ca "$CERTS/ca.pem" --json --timeout-ms 30000 "$@" "$ADDR" \
		>"$out" 2>"$err" &
}

# wait_log PATTERN COUNT [SECONDS]: until the server log has COUNT lines matching PATTERN.
wait_log() {
	local pat=$1 want=$2 secs=${3:-60} i
	for i in $(seq 1 $((secs * 10))); do
		[ "$(grep -c -- "$pat" "$SERVER_LOG")" -ge "$want" ] && return 0
		sleep 0.1
	done
	return 1
}

# jq_ok [jq options...] FILTER FILE: FILE holds JSON for which FILTER is true. (jq -e alone
# exits 0 on an empty file, so a client that printed nothing would pass.)
jq_ok() {
	local file=${!#}
	[ -s "$file" ] && jq -e "$@" >/dev/null
}

# json_ok FILE N_MSGS N_WRITES: the client's JSON says ok with exactly those counts verified.
json_ok() {
	jq_ok --argjson m "$2" --argjson w "$3" \
		'.ok == true and .messages_verified == $m and .writes_verified == $w' "$1" >/dev/null
}

# all_distinct VALUES...: no value repeats.
all_distinct() {
	[ "$(printf '%s\n' "$@" | sort | uniq -d | wc -l)" = 0 ]
}

# --- resource measurements -------------------------------------------------------------

# rdma_res: the device's live object counts, e.g. "pd 1 cq 3 qp 1 cm_id 0 mr 0 ctx 1 srq 0".
rdma_res() {
	rdma res show | sed -n '1s/^[0-9]*: [^ ]* //p' | sed 's/ *$//'
}

# rdma_res_count KIND: one count from rdma_res (pd, cq, qp, mr, ctx).
rdma_res_count() {
	rdma_res | awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'
}

server_fds() {
	ls "/proc/$SERVER_PID/fd" | wc -l
}

server_rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"
}

# server_counts: the server's own counts, asked for with SIGUSR1, as
# "clients N pd N cq N qp N mr N conns N" (cq counts the workers' CQs, one per worker).
server_counts() {
	local before i
	before=$(grep -c " stats: " "$SERVER_LOG")
	kill -USR1 "$SERVER_PID"
	for i in $(seq 1 100); do
		[ "$(grep -c " stats: " "$SERVER_LOG")" -gt "$before" ] && break
		sleep 0.05
	done
	grep " stats: " "$SERVER_LOG" | tail -n 1 | sed -E \
		's/.*clients ([0-9]+)\/[0-9]+.*PD ([0-9-]+), CQ ([0-9-]+), QP ([0-9-]+), MR ([0-9-]+); connections ([0-9]+).*/clients \1 pd \2 cq \3 qp \4 mr \5 conns \6/'
}

# wait_clients N SECONDS: until the server counts exactly N clients.
wait_clients() {
	local want=$1 secs=$2 i
	for i in $(seq 1 $((secs * 5))); do
		[ "$(server_counts | awk '{ print $2 }')" = "$want" ] && return 0
		sleep 0.2
	done
	return 1
}

# wait_counts WANT SECONDS: until server_counts prints WANT.
wait_counts() {
	local want=$1 secs=$2 i
	for i in $(seq 1 $((secs * 5))); do
		[ "$(server_counts)" = "$want" ] && return 0
		sleep 0.2
	done
	echo "    server counts: $(server_counts), wanted: $want" >&2
	return 1
}
