# Before TLS: a flood of silent and slowloris connections from ten attacker addresses (2,000
# held, and renewed up to 100 a second each when the server closes them, for as long as the
# legitimate client takes to connect 20 times) must not lock a legitimate client out, nor
# disturb an established session.
# The test command runs it on the two-host bed (wire_flood in tests/vm/wire-scenarios.sh: the
# attackers and the client on one host, the server on the other). `scenarios.sh preauth_flood`
# runs it on one host, the attackers sharing the server's CPUs; it is not in the default list.
# The listener's pre-authentication pool (max_pending, max_pending_per_addr, early_drop_pct in
# srdma(3)) is what holds; the server runs with its defaults. srdma-flood is
# tests/tools/srdma-flood.c.
# shellcheck shell=bash

# preauth_connect_us FILE: the client's connect time from its JSON, or nothing.
preauth_connect_us() {
	jq -r 'select(.ok) | .connect_us // empty' "$1" 2>/dev/null
}

# preauth_flood_run START STOP DEV SLOW: the scenario, its server started by `START NAME
# [options...]` and stopped by STOP, here or on another host (tests/vm/wire-scenarios.sh); the
# attackers' ten addresses are added to this host's interface DEV; SLOW connects of the 20 may
# take more than 3x the idle set-up time (none more than 5x). Sets FLOOD_SUMMARY.
preauth_flood_run() {
	local start=$1 stop=$2 dev=$3 slow=$4
	local i f us idle=() busy=() busy_at=() median limit served=0 p_sess p_silent p_slow rc=0
	local silent_from=() slow_from=()
	FLOOD_SUMMARY=
	"$start" preauth --max-clients 50 || return
	# Idle server: the reference set-up time.
	for i in 1 2 3 4 5; do
		f=$OUT/preauth.idle.$i.json
		client -n 1 >"$f" || true
		us=$(preauth_connect_us "$f")
		[ -n "$us" ] && idle+=("$us")
	done
	check "idle server: 5 of 5 clients connected" [ "${#idle[@]}" = 5 ] || return
	median=$(printf '%s\n' "${idle[@]}" | sort -n | sed -n 3p)
	limit=$((median * 3))
	# The attackers' addresses.
	for i in $(seq 10 19); do
		ip addr add "192.0.2.$i/32" dev "$dev" 2>/dev/null || true
		if [ "$i" -lt 15 ]; then
			silent_from+=(--source "192.0.2.$i")
		else
			slow_from+=(--source "192.0.2.$i")
		fi
	done
	# An established session that lives through the flood (it echoes, then stays connected
	# while the flood runs, then quits).
	client_bg "$OUT/preauth.session.json" "$OUT/preauth.session.err" --pattern through-flood \
		-n 20 --idle 30
	p_sess=$!
	check "the session is established before the flood" wait_log "connected (worker" 6 60
	# The attackers run at the lowest CPU priority: on a network they are other hosts, and
	# here their own CPU would otherwise be taken from the server and the client under test,
	# which is not what this measures. The flood they make is checked below (refused at
	# accept many times over).
	nice -n 19 "$LOAD_BIN/srdma-flood" --conns 1000 --mode silent --seconds 45 --renew-rate 100 \
		"${silent_from[@]}" "$ADDR" \
		>"$OUT/preauth.silent.json" 2>&1 &
	p_silent=$!
	nice -n 19 "$LOAD_BIN/srdma-flood" --conns 1000 --mode slowloris --seconds 45 --renew-rate 100 \
		"${slow_from[@]}" "$ADDR" \
		>"$OUT/preauth.slowloris.json" 2>&1 &
	p_slow=$!
	sleep 5
	# The kernel's TCP counters around the legitimate connects: a SYN or handshake ACK the
	# listener's queues dropped shows here (a connect then waits for a retransmission, 1 s).
	nstat -n 2>/dev/null
	for i in $(seq 1 20); do
		f=$OUT/preauth.busy.$i.json
		client -n 1 >"$f" || true
		us=$(preauth_connect_us "$f")
		if [ -n "$us" ]; then
			busy+=("$us")
			busy_at[i]=$us
			[ "$us" -le "$limit" ] && served=$((served + 1))
		fi
	done
	echo "    TCP during the 20 connects: $(nstat -z 2>/dev/null | awk '$1 ~ /^(TcpExtListenOverflows|TcpExtListenDrops|TcpExtTCPReqQFullDrop|TcpExtSyncookiesSent|TcpExtTCPSynRetrans|TcpRetransSegs|TcpExtTCPTimeouts|TcpExtTCPLossProbes|TcpExtTCPFastRetrans|TcpExtTCPSlowStartRetrans|TcpExtTCPBacklogDrop)$/ { printf "%s %s, ", substr($1, 1), $2 }' | sed 's/, $//')"
	# The flood ends once the 20 connects are made (SIGTERM; --seconds is only its bound).
	kill -TERM "$p_silent" "$p_slow" 2>/dev/null
	wait "$p_silent" "$p_slow"
	echo "    idle set-up median ${median} us; under the flood: ${busy[*]:-none} us"
	echo "    flood: silent $(cat "$OUT/preauth.silent.json"); slowloris $(cat "$OUT/preauth.slowloris.json")"
	check "legitimate client connected 20 of 20 times under the flood (${#busy[@]})" \
		[ "${#busy[@]}" = 20 ]
	# The target is 20 of 20 within 3x. What held legitimate handshakes back was the listener
	# taking whole bursts of newcomers at once (160 to 400 ms of accepts and closes in one
	# call); it now takes 16 per call. What is left, in most runs on the two-host bed, is one
	# connect about 8 s into the flood (the fourth) whose TLS step takes 100 to 200 ms more
	# than the others' on both sides (the steps printed below), up to 3.3x the idle median,
	# with no TCP segment retransmitted on either side. It is spent on the client's host, not
	# the server's: a diagnostic build that sampled CPU time at both ends of each side's TLS
	# step showed, for that connect, the server's host idle for 170 to 190 ms of it (the
	# listener thread 20 to 42 ms of CPU, as in the others), and the client's TLS step taking
	# 219 to 227 ms of the client's own CPU against 80 to 98 ms in the others, on the host
	# that also carries the attackers' 2,000 connections on one emulated CPU. Why that one
	# costs the client twice the CPU is not found (nothing else differs in the client). The
	# bed has no third host for the attackers, so the callers allow one connect past 3x
	# (none past 5x). In the test command the bed runs this once the machine runs nothing
	# else (wire-scenarios.sh, SRDMA_WIRE_QUIET): beside the srdma-cp scenarios' VM one
	# connect took 1.3 s. Since the listener resets refused connections (one RST instead of
	# the FIN exchange), host b handles about a third fewer segments a second at the same
	# attack rate, and in 32 runs alone every connect was within 3x (the slowest of a run
	# 1.35x to 2.56x; bench/flood.sh measures the target over many runs, BENCHMARKS.md). The
	# check stays as it is: it guards the test command against a noisy machine. Giving b a
	# second CPU for the attackers made it worse (5.6x in one of three runs: three emulated
	# CPUs on two cores).
	local slowest
	slowest=$(printf '%s\n' "${busy[@]}" | sort -n | tail -n 1)
	echo "    $served of 20 within 3x the idle set-up median ($limit us); the slowest $slowest us"
	# Where a slow connect spent its time, as the client and the server saw it.
	for i in "${!busy_at[@]}"; do
		f=$OUT/preauth.busy.$i.json
		us=${busy_at[i]}
		[ "$us" -gt "$limit" ] || [ "$us" = "$slowest" ] || continue
		echo "    connect $i ($us us): client steps $(jq -c '.setup_us' "$f")," \
			"TCP retransmitted $(jq -r '.setup_tcp_retrans' "$f"); server:" \
			"$(grep -F "$(jq -r '.welcome | sub(".*(?<c>client #[0-9]+)$"; "\(.c) (")' "$f")" \
				"$SERVER_LOG" | grep -o 'set-up .*' | head -n 1)"
	done
	check "at least $((20 - slow)) of 20 within 3x the idle set-up time ($served of 20 within $limit us)" \
		[ "$served" -ge $((20 - slow)) ]
	check "none slower than 5x the idle set-up time (the slowest $slowest us)" \
		[ "${slowest:-0}" -le $((median * 5)) ]
	check "the attackers were refused at accept, many times over" \
		jq_ok '.closed_by_server > 1000' "$OUT/preauth.silent.json"
	check "slowloris attackers were refused too" \
		jq_ok '.closed_by_server > 1000' "$OUT/preauth.slowloris.json"
	wait "$p_sess" || rc=$?
	check "the established session noticed nothing (exit $rc)" json_ok "$OUT/preauth.session.json" 20 0
	for i in $(seq 10 19); do
		ip addr del "192.0.2.$i/32" dev "$dev" 2>/dev/null || true
	done
	"$stop"
	# The drops are summed up in the log (one line per 5 s at most, and the last at
	# shutdown), not logged one by one: a flood must not become a flood of log lines.
	local lines logged
	lines=$(grep -c "dropped" "$SERVER_LOG")
	logged=$(awk '/connection from .* dropped: / { n++ }
		/more connections dropped by the pre-authentication pool/ {
			for (i = 1; i <= NF; i++) if ($i == "more") n += $(i - 1) }
		END { print n + 0 }' "$SERVER_LOG")
	echo "    server log: $lines lines about $logged connections dropped before TLS"
	local summed=0
	[ "$logged" -gt 1000 ] && [ "$lines" -le 30 ] && summed=1
	check "the log sums the drops up: $lines lines for $logged drops" [ "$summed" = 1 ]
	FLOOD_SUMMARY="legitimate client: $served of 20 connects within 3x the idle set-up median"
	FLOOD_SUMMARY+=" (${median} us), the slowest $slowest us ($(awk -v a="$slowest" -v b="$median" 'BEGIN { printf "%.2f", a / b }')x);"
	FLOOD_SUMMARY+=" attackers refused at accept: silent $(jq -r .closed_by_server "$OUT/preauth.silent.json"),"
	FLOOD_SUMMARY+=" slowloris $(jq -r .closed_by_server "$OUT/preauth.slowloris.json");"
	FLOOD_SUMMARY+=" the established session: $(jq -r .messages_verified "$OUT/preauth.session.json") echoes verified"
}

t_preauth_flood() {
	# Clients here are load (tests/vm/lib.sh), and so is the server: this scenario measures
	# set-up times against a target, which is met or missed by the build users run, not by one
	# whose every memory access is checked (two to three times the CPU, on a VM the flood
	# already keeps busy). The sanitizers see the same pool code (per-address limit, early
	# drop, eviction) in tests/host/test_preauth.c. Both are read by client and start_server.
	# shellcheck disable=SC2034
	local CLIENT_BIN=$LOAD_BIN BIN=$LOAD_BIN
	# The attackers' addresses go on the interface that carries the server's.
	preauth_flood_run start_server stop_server \
		"$(ip -o -4 addr show | awk -v a="$ADDR" '$4 ~ "^"a"/" { print $2; exit }')" 1
	echo "    $FLOOD_SUMMARY"
}

# srdma-client --retry: a full server refuses a client without it at once ("server full"); with
# it the client waits and gets in once the holder quits. The holder idles until it is told to
# quit (SIGINT), once the retrying client has been refused, so no load can make it leave first.
t_client_retry() {
	local p_hold p_retry rc=0
	start_server retry --max-clients 1 || return
	client_bg "$OUT/retry.hold.json" "$OUT/retry.hold.err" --pattern holder -n 1 --idle 300
	p_hold=$!
	check "the holder is connected" wait_log "connected (worker" 1 60 || return
	check "the holder has echoed and idles" wait_idle "$OUT/retry.hold.err" 60
	client -n 1 >"$OUT/retry.none.json" 2>"$OUT/retry.none.err" || rc=$?
	check "without --retry: refused at once, server full (exit $rc)" \
		jq_ok '.ok == false and (.error | test("server full"))' "$OUT/retry.none.json"
	client --retry 8 -n 3 >"$OUT/retry.json" 2>"$OUT/retry.err" &
	p_retry=$!
	check "with --retry: refused, it said why and when it tries again" \
		faults_wait_file "$OUT/retry.err" "server full; trying again in" 60
	kill -INT "$p_hold"
	rc=0
	wait "$p_hold" || rc=$?
	check "the holder quit cleanly when told (exit $rc)" json_ok "$OUT/retry.hold.json" 1 0
	rc=0
	wait "$p_retry" || rc=$?
	check "with --retry 8: in after $(jq -r .retries "$OUT/retry.json") retries, 3 echoes verified (exit $rc)" \
		jq_ok '.ok and .retries >= 1 and .messages_verified == 3' "$OUT/retry.json"
	stop_server
}

register client_retry
