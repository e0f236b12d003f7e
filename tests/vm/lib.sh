# Helpers for the scenarios that run inside the Soft-RoCE VM (sourced, bash).
# Needs: SRDMA_BIN (built programs), SRDMA_CERTS (scripts/gen-certs.sh output), and the VM's
# SRDMA_RXE_ADDR / SRDMA_VM_OUT. Results: one "PASS name" / "FAIL name: why" line per test in
# $SRDMA_VM_OUT/results.txt, and on stdout.

BIN=${SRDMA_BIN:?SRDMA_BIN not set}
# Programs that are only load in a scenario may come from another build (scripts/test.sh: the
# plain one, while BIN is the sanitized one; each costs about half as much CPU): LOAD_BIN has
# the attack tools (srdma-badpeer, srdma-flood), and srdma-client where a scenario runs it by
# the hundred (it sets `local CLIENT_BIN=$LOAD_BIN`). Everywhere else srdma-client is BIN's.
LOAD_BIN=${SRDMA_LOAD_BIN:-$BIN}
CLIENT_BIN=$BIN
CERTS=${SRDMA_CERTS:?SRDMA_CERTS not set}
ADDR=${SRDMA_RXE_ADDR:-192.0.2.1}
OUT=${SRDMA_VM_OUT:-/tmp}
RESULTS=$OUT/results.txt
SERVER_PID=
SERVER_LOG=
T_FAIL=

# Under TCG every process started costs a good fraction of a second (fork, exec and the dynamic
# loader, all emulated; 0.1 to 0.3 s measured), so the polling below uses bash builtins only,
# and `sleep` is a function for every script that sources this file: a read with a timeout on a
# FIFO that never has data (NAP_FD, opened for reading and writing so that it never ends; closed
# for the servers started here).
nap_fifo=$(mktemp -u "${TMPDIR:-/tmp}/srdma-nap.XXXXXX")
mkfifo -m 600 "$nap_fifo" && exec {NAP_FD}<>"$nap_fifo"
rm -f "$nap_fifo"
unset nap_fifo
sleep() {
	read -r -t "$1" -u "$NAP_FD" _ 2>/dev/null
	return 0
}

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

# forks_now: processes created since boot (/proc/stat), into FORKS. Builtins only.
forks_now() {
	local k v
	while read -r k v _; do
		[ "$k" = processes ] && FORKS=$v && return 0
	done </proc/stat
	FORKS=0
}

# The PASS line gives the wall time, how busy the CPUs were meanwhile (what it would gain from
# running beside other work) and how many processes it started (each costs 0.1 s or more under
# TCG).
run_test() {
	local name=$1 fn=$2 t0 t1 c0 c1 f0
	T_FAIL=
	t0=$EPOCHREALTIME
	c0=$(cpu_ticks)
	forks_now
	f0=$FORKS
	echo "=== $name" >&2
	"$fn" || [ -n "$T_FAIL" ] || T_FAIL="test function returned non-zero"
	t1=$EPOCHREALTIME
	forks_now
	c1=$(cpu_ticks)
	if [ -z "$T_FAIL" ]; then
		printf 'PASS %s (%.1fs, CPUs %s%% busy, %d processes)\n' "$name" \
			"$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
			"$(echo "$c0 $c1" | awk '{ d = $4 - $2; print (d > 0 ? int(100 * ($3 - $1) / d + 0.5) : 0) }')" \
			$((FORKS - f0)) | tee -a "$RESULTS"
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
	slog_close
	"$BIN/srdma-server" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--handshake-timeout-ms 30000 "$@" \
		>"$SERVER_LOG" 2>&1 {NAP_FD}>&- &
	SERVER_PID=$!
	wait_listening
}

# wait_listening [WHAT]: until the server started as SERVER_PID logs "listening on" in
# SERVER_LOG (30 s); WHAT names it in the failure (default "server").
wait_listening() {
	local end=$((SECONDS + 30))
	while [ "$SECONDS" -le "$end" ]; do
		slog_scan
		[ "$SLOG_LISTENING" = 1 ] && return 0
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
	"$CLIENT_BIN/srdma-client" --ca "$CERTS/ca.pem" --json --timeout-ms 30000 "$@" "$ADDR"
}

# client_bg OUT ERR [options...]: the same in the background; $! is the client's own PID (so
# signals reach it, not a subshell).
client_bg() {
	local out=$1 err=$2
	shift 2
	"$CLIENT_BIN/srdma-client" --ca "$CERTS/ca.pem" --json --timeout-ms 30000 "$@" "$ADDR" \
		>"$out" 2>"$err" &
}

# wait_log PATTERN COUNT [SECONDS]: until the server log has COUNT lines matching PATTERN.
wait_log() {
	local pat=$1 want=$2 end=$((SECONDS + ${3:-60}))
	while :; do
		[ "$(grep -c -- "$pat" "$SERVER_LOG")" -ge "$want" ] && return 0
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# wait_idle ERRFILE [SECONDS]: a background srdma-client --idle has done its work and is idling
# (it says so on stderr), so a SIGINT now cuts only its idle time short.
wait_idle() {
	local err=$1 end=$((SECONDS + ${2:-60}))
	until grep -q "srdma-client: idling" "$err" 2>/dev/null; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
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

# The server log, read as it grows, in this shell: SLOG_STATS is the last " stats: " line,
# SLOG_NSTATS how many there were, SLOG_LISTENING 1 once "listening on" was logged. Reopened
# when SERVER_LOG or SERVER_PID changes. (A call in a subshell, such as $(server_counts), reads
# on the same descriptor: this shell's variables then miss those lines, which only matters for
# lines already asked for.)
SLOG_KEY='' SLOG_FD='' SLOG_PART='' SLOG_STATS='' SLOG_NSTATS=0 SLOG_LISTENING=0
slog_close() {
	[ -z "$SLOG_FD" ] || exec {SLOG_FD}<&-
	SLOG_KEY='' SLOG_FD=''
}
slog_scan() {
	local line
	if [ "$SLOG_KEY" != "$SERVER_PID:$SERVER_LOG" ]; then
		slog_close
		SLOG_KEY=$SERVER_PID:$SERVER_LOG SLOG_PART='' SLOG_STATS='' SLOG_NSTATS=0
		SLOG_LISTENING=0
		{ exec {SLOG_FD}<"$SERVER_LOG"; } 2>/dev/null || {
			SLOG_KEY='' SLOG_FD=''
			return 1
		}
	fi
	while IFS= read -r -u "$SLOG_FD" line; do
		line=$SLOG_PART$line SLOG_PART=
		case $line in
		*" stats: "*) SLOG_STATS=$line SLOG_NSTATS=$((SLOG_NSTATS + 1)) ;;
		*"listening on"*) SLOG_LISTENING=1 ;;
		esac
	done
	SLOG_PART+=$line # a line still being written
}

# counts_now: ask the server for its counts (SIGUSR1) and set SERVER_COUNTS to them, as
# "clients N pd N cq N qp N mr N conns N" (cq counts the workers' CQs, one per worker); empty
# when no answer came within 5 s.
SERVER_COUNTS=
counts_now() {
	local n i re='clients ([0-9]+)/[0-9]+.*PD ([0-9-]+), CQ ([0-9-]+), QP ([0-9-]+), MR ([0-9-]+); connections ([0-9]+)'
	SERVER_COUNTS=
	slog_scan
	n=$SLOG_NSTATS
	kill -USR1 "$SERVER_PID" 2>/dev/null || return 1
	for ((i = 0; i < 100; i++)); do
		slog_scan
		[ "$SLOG_NSTATS" -gt "$n" ] && break
		sleep 0.05
	done
	[ "$SLOG_NSTATS" -gt "$n" ] && [[ $SLOG_STATS =~ $re ]] || return 1
	SERVER_COUNTS="clients ${BASH_REMATCH[1]} pd ${BASH_REMATCH[2]} cq ${BASH_REMATCH[3]} qp ${BASH_REMATCH[4]} mr ${BASH_REMATCH[5]} conns ${BASH_REMATCH[6]}"
}

# server_counts: counts_now, printed.
server_counts() {
	counts_now
	echo "$SERVER_COUNTS"
}

# wait_clients N SECONDS: until the server counts exactly N clients.
wait_clients() {
	local want=$1 end=$((SECONDS + $2)) n
	while :; do
		counts_now && n=${SERVER_COUNTS#clients } && [ "${n%% *}" = "$want" ] && return 0
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# wait_counts WANT SECONDS: until server_counts prints WANT.
wait_counts() {
	local want=$1 end=$((SECONDS + $2))
	while :; do
		counts_now && [ "$SERVER_COUNTS" = "$want" ] && return 0
		if [ "$SECONDS" -ge "$end" ]; then
			echo "    server counts: ${SERVER_COUNTS:-no answer}, wanted: $want" >&2
			return 1
		fi
		sleep 0.2
	done
}
