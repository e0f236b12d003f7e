#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions run by name (wire_run, on_a)
# The two-host scenarios: srdma-server on host a (192.0.2.1), clients on host b (192.0.2.2),
# across a real wire (tests/vm/vm-run.sh --pair runs this script in both VMs). b runs the
# scenarios and writes the verdicts ("PASS name (secs): figures" / "FAIL name: why") to
# $SRDMA_VM_OUT/results.txt; a serves b's requests (start and stop the server, its counts,
# netem, link cuts) given as files in the shared work directory.
#
# Usage: wire-scenarios.sh [NAME...]; default: all, in this order (flood measures set-up times,
# so it comes late, after the others, when the test command's other phases are done (see
# SRDMA_WIRE_QUIET); vanish kills host a, so it runs last):
#   concurrent  the seed's concurrent clients (5 at once), every echo and RDMA write verified
#   loss        netem loss 1%, then 5%, with 2 ms delay on both NICs: 2 clients at once, every
#               byte and write verified, the server counted exactly the messages sent, no
#               session ended early, netem really dropped packets
#   cut2        a 2 s link cut (ip link set eth0 down, then up) on a: a live session carries on
#   inject      forged RDMA WRITEs from b at a live session: raw frames with random PSNs
#               (roce-inject, as root) and an unprivileged process's ordinary RC QP aimed at the
#               session's QP with guessed PSNs (NeVerMore): nothing lands, the session carries on
#   cut60       a 60 s link cut on a: both sides end the session within the default liveness
#               bound (heartbeat_ms x heartbeat_misses = 5000 ms x 3 = 15 s) and the server
#               frees everything
#   flood       the pre-authentication flood (tests/vm/cases/45-preauth.sh) with the 2,000
#               attackers' connections from ten addresses on b and the server on a: a
#               legitimate client on b connects 20 of 20 times, at least 19 within 3x its idle
#               set-up time and none past 5x (the target, 20 within 3x in every run, is
#               measured over many runs by bench/flood.sh: see 45-preauth.sh),
#               an established session notices nothing
#   vanish      host a's QEMU killed: the clients on b fail with a clear error within the bound
# Knobs (environment): SRDMA_WIRE_MSGS (echoes per client in loss, 60), SRDMA_WIRE_GUESSES
# (RC QP attempts in inject, 300), SRDMA_WIRE_INJECT_COUNT (raw frames in inject, 10000),
# SRDMA_WIRE_TRACE=1 (each request to a, timed, on stderr), SRDMA_WIRE_SERVER_OPTS (more
# srdma-server options, e.g. "--heartbeat-ms 0" to see wire_cut60 fail on the server's side),
# SRDMA_WIRE_QUIET=NAME (flood first waits, up to SRDMA_WIRE_QUIET_WAIT seconds, 600, for the
# file NAME in the shared work directory: scripts/test.sh creates it once nothing else runs on
# the machine, since another VM's load beside the two makes set-up times say nothing about the
# server; in CI one connect's TLS step took 1.2 s while srdma-cp scenarios ran beside it).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
# The one-host cases' helpers (the held session, rxe counters, timing); their own scenarios
# are not run here.
register() { :; }
# shellcheck source=tests/vm/cases/40-faults.sh
. "$here/cases/40-faults.sh"
# shellcheck source=tests/vm/cases/60-inject.sh
. "$here/cases/60-inject.sh"
# shellcheck source=tests/vm/cases/45-preauth.sh
. "$here/cases/45-preauth.sh"

ROLE=${SRDMA_VM_ROLE:?not in a VM of vm-run.sh --pair (SRDMA_VM_ROLE not set)}
PEER_DIR=${SRDMA_VM_PEER_DIR:?SRDMA_VM_PEER_DIR not set}
# Requests and answers, per boot of the pair.
WIRE=$OUT/wire.${SRDMA_VM_PAIR_ID:?SRDMA_VM_PAIR_ID not set}
mkdir -p "$WIRE"
# The default liveness bound: heartbeat every 5000 ms, 3 missed.
WIRE_BOUND_S=15
# Slack on top of it: one heartbeat interval (the miss is noticed at the next tick) and the
# coordination between the hosts.
WIRE_SLACK_S=5
WIRE_IDLE_COUNTS="clients 0 pd 0 cq 0 qp 0 mr 0 conns 0"
A_MAC=52:54:00:12:34:0a

NAPD=$(mktemp -d /tmp/wire.XXXXXX)
mkfifo "$NAPD/nap"
exec {NAPFD}<>"$NAPD/nap"
nap() { read -r -t "$1" -u "$NAPFD" _ || :; }

# Under TCG every program started costs up to a second on a busy machine: the helpers below
# use bash alone where they can.

# now_us: microseconds on this host's clock.
now_us() { echo $((${EPOCHREALTIME/./})); }

# us_secs US: microseconds as seconds with one decimal.
us_secs() { printf '%d.%d' $(($1 / 1000000)) $(($1 / 100000 % 10)); }

# secs_since T0_US: seconds since T0_US, one decimal.
secs_since() { us_secs $((${EPOCHREALTIME/./} - $1)); }

# le SECS BOUND: SECS (one decimal, as us_secs prints) <= BOUND (whole seconds).
le() { [[ $1 =~ ^[0-9]+\.[0-9]$ ]] && [ "${1/./}" -le $(($2 * 10)) ]; }

# jf FILE NAME: field NAME of the one-line JSON object in FILE (a string without its quotes).
jf() {
	local line='' v re="\"$2\":(\"([^\"\\\\]|\\\\.)*\"|[^,}]*)"
	[ -s "$1" ] && IFS= read -r line <"$1"
	[[ $line =~ $re ]] || return 1
	v=${BASH_REMATCH[1]}
	v=${v#\"}
	printf '%s\n' "${v%\"}"
}

# cl_ok FILE MSGS WRITES: an srdma-client's JSON says ok, with exactly those counts verified.
cl_ok() {
	[ "$(jf "$1" ok)" = true ] && [ "$(jf "$1" messages_verified)" = "$2" ] &&
		[ "$(jf "$1" writes_verified)" = "$3" ]
}

# cl_failed FILE PATTERN: an srdma-client's JSON says not ok, with an error matching PATTERN
# (an extended regular expression).
cl_failed() {
	local err
	err=$(jf "$1" error) || return 1
	[ "$(jf "$1" ok)" = false ] && [[ $err =~ $2 ]]
}

# --- host a: the agent --------------------------------------------------------------------

# link_cut SECONDS: eth0 down now, up again after SECONDS (in the background); prints the
# time it went down (this host's clock, microseconds).
link_cut() {
	ip link set eth0 down || return
	now_us
	(
		sleep "$1"
		ip link set eth0 up
		now_us >"$WIRE/link-up"
	) >/dev/null 2>&1 &
}

# link_wait_up SECONDS: until eth0 is up again, with its rxe port active.
link_wait_up() {
	local i
	for i in $(seq 1 $(($1 * 10))); do
		[ -e "$WIRE/link-up" ] && grep -q ACTIVE /sys/class/infiniband/rxe0/ports/1/state &&
			rm -f "$WIRE/link-up" && return 0
		nap 0.1
	done
	return 1
}

# netem ARGS...: replace eth0's root qdisc with netem ARGS ("off": remove it).
netem() {
	tc qdisc del dev eth0 root 2>/dev/null
	[ "$1" = off ] || tc qdisc add dev eth0 root netem "$@"
}

# netem_drops: packets netem dropped on eth0.
netem_drops() {
	tc -s qdisc show dev eth0 | sed -n 's/.*dropped \([0-9]*\).*/\1/p' | head -n 1
}

# hw NAME...: rxe0's counters NAME (one value each, on one line).
hw() {
	local n v out=
	for n in "$@"; do
		read -r v <"$INJ_HW/$n"
		out+="$v "
	done
	echo "${out% }"
}

# server_detect_s T0_US: seconds from T0_US (this host's clock) to the server's first log line
# saying a session ended (its timestamp), or nothing.
server_detect_s() {
	local line
	line=$(grep -m1 "session ended\|disconnected without QUIT" "$SERVER_LOG") || return 1
	awk -v a="$1" -v b="$(faults_log_time "$line")" 'BEGIN { printf "%.1f", b - a / 1e6 }'
	echo " ${line#* }" | sed 's/^ [A-Z]* *srdma-server: / /'
}

# res_qp: QPs on a's device (the server's own and its sessions').
res_qp() {
	rdma_res_count qp
}

# quit: the last request.
quit() { :; }

agent() {
	local n=1 req rc f
	while :; do
		f=$WIRE/rpc.$n
		if [ -e "$f.req" ]; then
			IFS= read -r req <"$f.req"
			T_FAIL=
			eval "$req" >"$f.out" 2>"$f.err"
			rc=$?
			if [ -n "$T_FAIL" ]; then
				echo "$T_FAIL" >>"$f.err"
				[ "$rc" != 0 ] || rc=1
			fi
			echo "$rc" >"$f.rc.tmp"
			mv "$f.rc.tmp" "$f.rc"
			n=$((n + 1))
			[ "$req" != quit ] || return 0
			continue
		fi
		# b is done (or gone): nothing more will come.
		[ ! -e "$PEER_DIR/exit-code" ] || return 0
		nap 0.05
	done
}

# --- host b: the scenarios ----------------------------------------------------------------

# on_a COMMAND [ARGS...]: run COMMAND on host a (in its agent's shell: the server it started
# stays its own); its stdout and stderr come back here, its status is returned (125: no
# answer within 180 s). Requests are numbered in a file: on_a may run in a subshell.
on_a() {
	local f i n=0 req
	[ ! -e "$WIRE/rpc.last" ] || read -r n <"$WIRE/rpc.last"
	n=$((n + 1))
	echo "$n" >"$WIRE/rpc.last"
	f=$WIRE/rpc.$n
	printf -v req '%q ' "$@"
	[ "${SRDMA_WIRE_TRACE:-0}" = 0 ] || echo "    [$(secs_since "$WIRE_T0") s] on a: ${req% }" >&2
	if [ -e "$WIRE/a-gone" ]; then
		echo "host a is gone: $(cat "$WIRE/a-gone")" >&2
		return 125
	fi
	echo "${req% }" >"$f.req.tmp"
	mv "$f.req.tmp" "$f.req"
	for i in $(seq 1 3600); do
		[ -e "$f.rc" ] && break
		# Its command ended (or it was killed): no answer will come.
		if [ -e "$PEER_DIR/exit-code" ] || [ -e "$PEER_DIR/.vm/killed" ]; then
			echo "its command ended" >"$WIRE/a-gone"
			break
		fi
		nap 0.05
	done
	if [ ! -e "$f.rc" ]; then
		[ -e "$WIRE/a-gone" ] || echo "it did not answer '$*' within 180 s" >"$WIRE/a-gone"
		echo "host a: $(cat "$WIRE/a-gone")" >&2
		return 125
	fi
	cat "$f.out"
	cat "$f.err" >&2
	return "$(cat "$f.rc")"
}

# srv_start NAME [server options...]: srdma-server on a (with SRDMA_WIRE_SERVER_OPTS after
# the options given); its log is readable here too.
srv_start() {
	local extra=()
	read -r -a extra <<<"${SRDMA_WIRE_SERVER_OPTS:-}"
	on_a start_server "$@" "${extra[@]}" || { fail "server did not start on a"; return 1; }
	SERVER_LOG=$OUT/$1.server.log
}

# srv_stop: SIGTERM; exit 0 and nothing left in its final counts.
srv_stop() {
	on_a stop_server || fail "the server on a did not shut down cleanly"
}

# srv_counts_back SECONDS: the server's counts back to no session within SECONDS.
srv_counts_back() {
	on_a wait_counts "$WIRE_IDLE_COUNTS" "$1" >/dev/null
}

# note TEXT: figures for the PASS line.
note() {
	T_NOTE+="${T_NOTE:+; }$*"
	echo "    $*" >&2
}

# wire_run NAME FUNC: run_test with the figures, and no server left behind on a.
wire_run() {
	local t0
	t0=$(now_us)
	T_FAIL=
	T_NOTE=
	echo "=== $1" >&2
	"$2" || [ -n "$T_FAIL" ] || T_FAIL="test function returned non-zero"
	if [ -z "$T_FAIL" ]; then
		printf 'PASS %s (%ss)%s\n' "$1" "$(secs_since "$t0")" "${T_NOTE:+: $T_NOTE}" |
			tee -a "$RESULTS"
	else
		printf 'FAIL %s: %s\n' "$1" "$T_FAIL" | tee -a "$RESULTS"
	fi
	[ "$1" = wire_vanish ] || on_a stop_server_quietly
}

# clients_run PREFIX N [client options...]: N srdma-clients at once, JSON in
# $OUT/PREFIX.I.json; each must exit 0. Sets CL_PSNS to their PSNs.
clients_run() {
	local prefix=$1 n=$2 i pids=()
	shift 2
	for i in $(seq 1 "$n"); do
		client --pattern "$prefix-$i" "$@" >"$OUT/$prefix.$i.json" 2>"$OUT/$prefix.$i.err" &
		pids+=($!)
	done
	CL_PSNS=()
	for i in $(seq 1 "$n"); do
		wait "${pids[$((i - 1))]}" ||
			fail "$prefix client $i failed: $(jf "$OUT/$prefix.$i.json" error) $(tail -n 2 "$OUT/$prefix.$i.err")"
		CL_PSNS+=("$(jf "$OUT/$prefix.$i.json" local_psn)" "$(jf "$OUT/$prefix.$i.json" remote_psn)")
	done
}

# The seed's concurrent clients across the wire: 5 at once against the server on a, each with
# its own pattern, 20 echoes of 1 KiB (2 packets each on the wire's 1024-byte path MTU), 3 RDMA
# writes and a ping, all verified; all PSNs distinct; the server counted each one's messages
# and is back to no session.
t_wire_concurrent() {
	local i n=5 msgs=20 size=1024 writes=3 t0 rtt rtts=()
	srv_start wire-conc || return
	t0=$(now_us)
	clients_run wire-conc "$n" -n "$msgs" -s "$size" --writes "$writes" --ping
	note "$n clients in $(secs_since "$t0") s"
	for i in $(seq 1 "$n"); do
		check "client $i verified $msgs echoes and $writes writes" \
			cl_ok "$OUT/wire-conc.$i.json" "$msgs" "$writes"
		rtt=$(jf "$OUT/wire-conc.$i.json" ping_rtt_us) && rtts+=("${rtt%.*}")
	done
	check "PSNs distinct: ${#CL_PSNS[@]} values" all_distinct "${CL_PSNS[@]}"
	# Messages the server counts: each echo, the REGION asking for the write region, each
	# WRITE_DONE and PING, and the QUIT.
	check "the server saw $n clients quit after $((msgs + writes + 3)) messages each" \
		wait_log "quit after $((msgs + writes + 3)) messages" "$n" 10
	check "the server is back to no session" srv_counts_back 10
	note "$((n * msgs * size)) bytes echoed and $((n * writes)) writes of $size B verified" \
		"across the wire; ping round trips ${rtts[*]} us"
	srv_stop
}

# Before TLS, across the wire: the flood scenario of the one-host cases with the attackers and
# the legitimate client here on b (the attackers' addresses added to eth0) and the server on a,
# whose CPU is then its own and the kernel's work for the attackers' connections.
t_wire_flood() {
	local waited=0 limit=${SRDMA_WIRE_QUIET_WAIT:-600}
	if [ -n "${SRDMA_WIRE_QUIET:-}" ]; then
		while [ ! -e "$OUT/$SRDMA_WIRE_QUIET" ] && [ "$waited" -lt "$limit" ]; do
			sleep 1
			waited=$((waited + 1))
		done
		check "the machine is otherwise quiet (waited $waited s for $SRDMA_WIRE_QUIET)" \
			[ -e "$OUT/$SRDMA_WIRE_QUIET" ] || return
		note "waited $waited s for the other phases"
	fi
	preauth_flood_run srv_start srv_stop eth0 1
	[ -z "$FLOOD_SUMMARY" ] || note "$FLOOD_SUMMARY"
}

# netem loss 1%, then 5%, 2 ms delay, on both NICs, one server: 2 clients at once each echo
# SRDMA_WIRE_MSGS messages of 4 KiB and make 10 RDMA writes, all verified; the server counted
# exactly that many messages from each (nothing lost or duplicated) and no session ended early;
# netem really dropped packets. b's rxe retransmission counters are reported.
t_wire_loss() {
	local loss n=2 msgs=${SRDMA_WIRE_MSGS:-60} size=4096 writes=10 i t0 da db h0 h1 ended quits=0
	srv_start wire-loss || return
	for loss in 1 5; do
		check "netem loss $loss% delay 2ms on a's eth0" on_a netem loss "$loss%" delay 2ms
		check "netem loss $loss% delay 2ms on b's eth0" netem loss "$loss%" delay 2ms
		h0=$(hw completer_retry_err rcvd_seq_err duplicate_request)
		t0=$(now_us)
		clients_run "wire-loss$loss" "$n" -n "$msgs" -s "$size" --writes "$writes"
		for i in $(seq 1 "$n"); do
			check "$loss%: client $i verified $msgs echoes and $writes writes" \
				cl_ok "$OUT/wire-loss$loss.$i.json" "$msgs" "$writes"
		done
		# Each echo, the REGION, each WRITE_DONE, and the QUIT.
		quits=$((quits + n))
		check "$loss%: the server saw $n more clients quit after exactly $((msgs + writes + 2)) messages" \
			wait_log "quit after $((msgs + writes + 2)) messages" "$quits" 10
		ended=$(grep -c "session ended\|sequence error" "$SERVER_LOG")
		check "$loss%: no session ended early ($ended)" [ "$ended" = 0 ]
		h1=$(hw completer_retry_err rcvd_seq_err duplicate_request)
		da=$(on_a netem_drops)
		db=$(netem_drops)
		check "$loss%: netem dropped packets (a: ${da:-?}, b: ${db:-?})" \
			[ "$((${da:-0} + ${db:-0}))" -gt 0 ]
		read -r -a h0 <<<"$h0"
		read -r -a h1 <<<"$h1"
		note "loss $loss%: $((n * msgs * size)) bytes and $((n * writes)) writes verified in" \
			"$(secs_since "$t0") s, netem dropped $da (a) + $db (b) packets, b's rxe:" \
			"retransmit timeouts +$((h1[0] - h0[0])), sequence NAKs +$((h1[1] - h0[1])), duplicates +$((h1[2] - h0[2]))"
		check "$loss%: the server is back to no session" srv_counts_back 10
	done
	on_a netem off
	netem off
	srv_stop
}

# A 2 s link cut on a while a session is connected and idle between its work: before, it
# echoes 20 messages and writes; after the link is back, it echoes 20 more, writes, verifies
# its region and quits cleanly; the server counted all of it and ended nothing; a new client
# is served too.
t_wire_cut2() {
	local t_req t_up
	srv_start wire-cut2 || return
	inj_hold_start wire-cut2 || return
	inj_cmd "echo 20"
	check "before the cut: 20 echoes" [ "$INJ_REPLY" = ok ]
	inj_cmd write
	check "before the cut: write verified" [ "$INJ_REPLY" = ok ]
	t_req=$(now_us)
	on_a link_cut 2 >/dev/null || fail "could not cut the link on a"
	check "the link is back up on a" on_a link_wait_up 30
	t_up=$(secs_since "$t_req")
	inj_cmd "echo 20"
	check "after the cut: 20 echoes" [ "$INJ_REPLY" = ok ]
	inj_cmd write
	check "after the cut: write verified" [ "$INJ_REPLY" = ok ]
	inj_cmd verify
	check "after the cut: the region still holds the session's bytes" [ "$INJ_REPLY" = ok ]
	inj_cmd quit
	check "the session quits cleanly" [ "$INJ_REPLY" = ok ]
	note "link down 2 s, back up and seen here $t_up s after the cut request; the session" \
		"then went on: 40 echoes, 2 writes and a verify in all, $(secs_since "$t_req") s"
	inj_hold_stop
	# The set-up's REGION, 40 echoes, 2 WRITE_DONEs, 1 verify, the QUIT.
	check "the server saw it quit after 45 messages" wait_log "quit after 45 messages" 1 10
	check "no session ended early" bash -c "! grep -q 'session ended' '$SERVER_LOG'"
	client --pattern after-cut -n 5 --writes 1 >"$OUT/wire-cut2.after.json" ||
		fail "a new client after the cut failed: $(jf "$OUT/wire-cut2.after.json" error)"
	check "a new client after the cut verified 5 echoes and a write" \
		cl_ok "$OUT/wire-cut2.after.json" 5 1
	srv_stop
}

# wait_exits T0_US SECONDS PID...: until each PID (children) has exited, at most SECONDS
# after T0_US; EXIT_S[PID] gets the seconds from T0_US to its exit (as seen here, every
# 50 ms), EXIT_RC[PID] its status (both unset if it did not exit).
declare -A EXIT_S EXIT_RC
wait_exits() {
	local t0=$1 secs=$2 p left
	shift 2
	EXIT_S=()
	EXIT_RC=()
	while :; do
		left=0
		for p in "$@"; do
			[ -z "${EXIT_S[$p]:-}" ] || continue
			if kill -0 "$p" 2>/dev/null; then
				left=1
				continue
			fi
			EXIT_S[$p]=$(secs_since "$t0")
			wait "$p"
			EXIT_RC[$p]=$?
		done
		if [ "$left" = 0 ] || [ $(($(now_us) - t0)) -ge $((secs * 1000000)) ]; then
			break
		fi
		nap 0.05
	done
}

# A 60 s link cut on a, with the default heartbeat (5 s, 3 missed) on both sides: the idle
# client on b ends its session with an error, exit 1, and the server ends the session on its
# side and frees its slot, PD, CQ, QP and MR (its own counts and the device's objects back to
# where they were before the client came), each within the bound (15 s) plus WIRE_SLACK_S.
# Once the link is back, a new client is served.
t_wire_cut60() {
	local pid cut t_req t_cli det srv res0 res1 bound=$((WIRE_BOUND_S + WIRE_SLACK_S))
	srv_start wire-cut60 || return
	res0=$(on_a rdma_res)
	client_bg "$OUT/wire-cut60.json" "$OUT/wire-cut60.err" --pattern cut60 -n 5 --writes 1 --idle 300
	pid=$!
	check "the client connected" wait_log "connected (worker" 1 60
	check "server holds its session" on_a wait_clients 1 30
	t_req=$(now_us)
	cut=$(on_a link_cut 60) || { fail "could not cut the link on a"; return; }
	wait_exits "$t_req" $((bound + 10)) "$pid"
	t_cli=${EXIT_S[$pid]:-never}
	check "client: session ended $t_cli s after the cut (bound $WIRE_BOUND_S s + $WIRE_SLACK_S s)" \
		le "$t_cli" "$bound"
	check "client: exit 1 (exit ${EXIT_RC[$pid]:-none})" [ "${EXIT_RC[$pid]:-}" = 1 ]
	check "client: a clear error ($(jf "$OUT/wire-cut60.json" error))" \
		cl_failed "$OUT/wire-cut60.json" "stopped answering|timed out|unreachable"
	check "server: the session was freed" srv_counts_back "$bound"
	srv=$(on_a server_detect_s "$cut")
	det=${srv%% *}
	check "server: ended the session ${det:-never} s after the cut (bound $WIRE_BOUND_S s + $WIRE_SLACK_S s):${srv#* }" \
		le "${det:-never}" "$bound"
	res1=$(on_a rdma_res)
	check "server: device objects back to '$res0' ('$res1')" [ "$res1" = "$res0" ]
	note "time to detect: client $t_cli s (from the cut request, exit 1:" \
		"$(jf "$OUT/wire-cut60.json" error)), server ${det:-never} s (on a's clock:${srv#* });" \
		"default bound 5000 ms x 3 = $WIRE_BOUND_S s; freed: ${res1:-?}"
	check "the link is back up on a after 60 s" on_a link_wait_up 90
	client --pattern after-cut60 -n 3 --writes 1 >"$OUT/wire-cut60.after.json" ||
		fail "a new client after the cut failed: $(jf "$OUT/wire-cut60.after.json" error)"
	check "a new client after the cut is served" cl_ok "$OUT/wire-cut60.after.json" 3 1
	srv_stop
}

# Host a vanishes (its QEMU killed: no FIN, no RST, nothing more on the wire) while an idle
# client and one echoing without end are connected: each exits 1 with a clear error within
# the default bound plus WIRE_SLACK_S.
t_wire_vanish() {
	local idle busy t_idle t_busy t0 bound=$((WIRE_BOUND_S + WIRE_SLACK_S))
	srv_start wire-vanish || return
	client_bg "$OUT/wire-vanish.idle.json" "$OUT/wire-vanish.idle.err" --pattern idle -n 3 --idle 300
	idle=$!
	client_bg "$OUT/wire-vanish.busy.json" "$OUT/wire-vanish.busy.err" --pattern busy -n 1000000000 -s 256
	busy=$!
	check "both clients connected" wait_log "connected (worker" 2 60
	t0=$(now_us)
	: >"$PEER_DIR/.vm/kill"
	wait_exits "$t0" $((bound + 10)) "$busy" "$idle"
	t_busy=${EXIT_S[$busy]:-never}
	t_idle=${EXIT_S[$idle]:-never}
	check "host a was killed" test -e "$PEER_DIR/.vm/killed"
	check "echoing client: failed $t_busy s after host a vanished (bound $bound s)" \
		le "$t_busy" "$bound"
	check "echoing client: exit 1 (exit ${EXIT_RC[$busy]:-none})" [ "${EXIT_RC[$busy]:-}" = 1 ]
	check "echoing client: an error ($(jf "$OUT/wire-vanish.busy.json" error))" \
		cl_failed "$OUT/wire-vanish.busy.json" .
	check "idle client: failed $t_idle s after host a vanished (bound $bound s)" \
		le "$t_idle" "$bound"
	check "idle client: exit 1 (exit ${EXIT_RC[$idle]:-none})" [ "${EXIT_RC[$idle]:-}" = 1 ]
	check "idle client: a clear error ($(jf "$OUT/wire-vanish.idle.json" error))" \
		cl_failed "$OUT/wire-vanish.idle.json" "stopped answering|timed out|unreachable"
	note "time to detect: echoing client $t_busy s ($(jf "$OUT/wire-vanish.busy.json" error))," \
		"idle client $t_idle s ($(jf "$OUT/wire-vanish.idle.json" error));" \
		"default bound $WIRE_BOUND_S s"
}

# reached WHAT SENT RCVD DUP: the forged packets reached a's PSN check: a's rxe received RCVD
# (at least a tenth of SENT) and took DUP of them (at least 35%) for duplicates.
reached() {
	check "$1 reached a's rxe: received +$3 of $2 sent (>= 10%)" [ $(($3 * 10)) -ge "$2" ]
	check "$1 reached a's PSN check: duplicate_request +$4 of +$3 (>= 35%)" \
		[ $(($4 * 100)) -ge $(($3 * 35)) ]
}

# landed_nothing WHAT HITS: the held session verifies its region after an attack in which HITS
# forged writes carried the PSN its server QP expected. Each guess lands with odds 2^-24, so
# more than 2 is a failure; one that landed must not be silent (verify fails). Succeeds when
# none landed and the region verified.
landed_nothing() {
	inj_cmd verify
	check "$1: $2 writes carried the expected PSN (<= 2 within the 2^-24 odds)" [ "${2:-9}" -le 2 ]
	if [ "${2:-9}" != 0 ]; then
		check "$1: a landed forgery is not silent: verify fails ($INJ_REPLY)" [ "$INJ_REPLY" != ok ]
		return 1
	fi
	check "$1 landed nothing: verify ok" [ "$INJ_REPLY" = ok ]
}

# Injection from host b into a live session on the wire, at the server's QP (its number, the
# region's rkey and address as the session learnt them over TLS; plain data plane, so only
# the PSN protects it): (1) SRDMA_WIRE_INJECT_COUNT raw RDMA WRITE frames with random PSNs
# sent by root through b's eth0 (roce-inject), (2) an unprivileged process's ordinary RC QP
# aimed at the server's QP (wire-rcguess), SRDMA_WIRE_GUESSES attempts of 16 WRITEs from a
# random PSN each. Each must reach a's PSN check and land nothing: the session's region still
# verifies and it carries on. Reached: a's rxe took in at least a tenth of what was sent (a
# loaded host drops frames on the way) and took at least 35% of those for duplicates (half of
# all PSNs are behind the expected one; a duplicate is acknowledged, not executed). A guess
# that lands (odds 2^-24 per write) must not be silent: the next verify fails.
t_wire_inject() {
	local n=${SRDMA_WIRE_INJECT_COUNT:-10000} g=${SRDMA_WIRE_GUESSES:-300} burst=16 expect
	local h0 h1 dup rcvd hits j=$OUT/wire-inject
	srv_start wire-inject --dataplane plain || return
	if ! wait "$RCGUESS_BUILD"; then
		fail "could not build wire-rcguess: $(cat "$OUT/wire-rcguess.build.log")"
		return
	fi
	inj_hold_start wire-inject --dataplane plain || return
	inj_cmd write
	check "the session wrote and verified its pattern" [ "$INJ_REPLY" = ok ]
	# Only for the hit count: the PSN a's responder expects (after the set-up's REGION
	# request and write's 2 packets).
	expect=$((($(inj_psn0) + 2) & 0xffffff))

	read -r -a h0 <<<"$(on_a hw rcvd_pkts duplicate_request)"
	"$BIN/roce-inject" --iface eth0 --dst-mac "$A_MAC" --src-ip "$SRDMA_RXE_ADDR" \
		--dst-ip "$ADDR" --qpn "$(inj_field server_qpn)" --rkey "$(inj_field rkey)" \
		--addr "$(inj_field addr)" --psn-random --count "$n" --rate 2000 --len 64 \
		--pattern "FORGED-ON-THE-WIRE" --expect-psn "$expect" >"$j.raw.json" 2>"$j.raw.err"
	check "roce-inject sent $n frames: $(cat "$j.raw.json" "$j.raw.err")" \
		[ "$(jf "$j.raw.json" ok)/$(jf "$j.raw.json" sent)" = "true/$n" ]
	on_a inj_drain
	read -r -a h1 <<<"$(on_a hw rcvd_pkts duplicate_request)"
	rcvd=$((h1[0] - h0[0]))
	dup=$((h1[1] - h0[1]))
	hits=$(jf "$j.raw.json" hits)
	reached "raw frames" "$n" "$rcvd" "$dup"
	landed_nothing "raw frames" "$hits"
	note "raw frames: $n with random PSNs from b's eth0 in $(jf "$j.raw.json" seconds) s," \
		"a's rxe received +$rcvd, duplicate_request +$dup, landed $hits"

	# NeVerMore: an ordinary user's RC QP (the device open to every user, as distributions
	# set it up).
	chmod 0666 /dev/infiniband/uverbs0
	# The set-up's REGION request, then write 2 packets, verify 1.
	expect=$((($(inj_psn0) + 3) & 0xffffff))
	read -r -a h0 <<<"$(on_a hw rcvd_pkts duplicate_request)"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$RCGUESS" --qpn "$(inj_field server_qpn)" \
		--rkey "$(inj_field rkey)" --addr "$(inj_field addr)" --dgid-ip "$ADDR" \
		--attempts "$g" --burst "$burst" --expect-psn "$expect" >"$j.qp.json" 2>"$j.qp.err"
	check "an unprivileged process's RC QP ran $g attempts: $(cat "$j.qp.json" "$j.qp.err")" \
		[ "$(jf "$j.qp.json" ok)/$(jf "$j.qp.json" writes)" = "true/$((g * burst))" ]
	check "it ran as an ordinary user (uid $(jf "$j.qp.json" uid))" [ "$(jf "$j.qp.json" uid)" != 0 ]
	on_a inj_drain
	read -r -a h1 <<<"$(on_a hw rcvd_pkts duplicate_request)"
	rcvd=$((h1[0] - h0[0]))
	dup=$((h1[1] - h0[1]))
	hits=$(jf "$j.qp.json" hits)
	reached "the RC QP's writes" $((g * burst)) "$rcvd" "$dup"
	# The victim answers its own peer, never the attacker's QP.
	check "no write of the attacker's completed ($(cat "$j.qp.json"))" \
		[ "$(jf "$j.qp.json" success)" = 0 ]
	if landed_nothing "RC QP" "$hits"; then
		inj_cmd "echo 10"
		check "the session carries on: echo 10 ok" [ "$INJ_REPLY" = ok ]
		inj_cmd quit
		check "the session quits cleanly" [ "$INJ_REPLY" = ok ]
	fi
	inj_hold_stop
	note "unprivileged RC QP (uid $(jf "$j.qp.json" uid)): $g attempts, $((g * burst)) writes" \
		"in $(jf "$j.qp.json" seconds) s, $(jf "$j.qp.json" retry_exceeded) ended by the" \
		"retry limit, $(jf "$j.qp.json" success) completed; a's rxe received +$rcvd, duplicate_request +$dup, landed $hits"
	srv_stop
}

if [ "$ROLE" = a ]; then
	agent
	exit 0
fi

# Host b.
WIRE_T0=$(now_us)
ADDR=${SRDMA_PEER_ADDR:?SRDMA_PEER_ADDR not set}
# The unprivileged injector: built with the project (CMakeLists.txt), or else now, in the
# background, where it runs (a build without it; compiling under emulation takes a while).
RCGUESS=$BIN/wire-rcguess
if [ -x "$RCGUESS" ]; then
	: >"$OUT/wire-rcguess.build.log"
	true &
else
	RCGUESS=/tmp/wire-rcguess
	cc -O2 -o "$RCGUESS" "$here/wire-rcguess.c" -libverbs >"$OUT/wire-rcguess.build.log" 2>&1 &
fi
RCGUESS_BUILD=$!

: >"$RESULTS"
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(concurrent loss cut2 inject cut60 flood vanish)
for t in "${tests[@]}"; do
	if ! declare -F "t_wire_$t" >/dev/null; then
		echo "FAIL wire_$t: no such scenario" | tee -a "$RESULTS"
		continue
	fi
	wire_run "wire_$t" "t_wire_$t"
done
[ -e "$PEER_DIR/.vm/killed" ] || on_a quit
wait "$RCGUESS_BUILD" 2>/dev/null
grep -q '^FAIL' "$RESULTS" && exit 1
exit 0
