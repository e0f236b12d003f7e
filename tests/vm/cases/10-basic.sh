# Basic scenarios: sequential and concurrent clients, the client limit, SIGTERM.
# shellcheck shell=bash

# 3 clients one after another, each with its own pattern: data and writes verified, every
# PSN (both sides of all three sessions) distinct.
t_sequential() {
	local i psns=()
	start_server seq || return
	for i in 1 2 3; do
		client --pattern "sequential-$i" -n 5 -s 256 --writes 2 --ping >"$OUT/seq.$i.json" ||
			fail "client $i failed: $(jq -r .error "$OUT/seq.$i.json")"
		check "client $i verified 5 messages and 2 writes" json_ok "$OUT/seq.$i.json" 5 2
		psns+=("$(jq -r .local_psn "$OUT/seq.$i.json")" "$(jq -r .remote_psn "$OUT/seq.$i.json")")
	done
	check "PSNs distinct: ${#psns[@]} values" all_distinct "${psns[@]}"
	check "server saw 3 quits" wait_log "quit after" 3 5
	stop_server
}

# 5 clients started at the same instant.
t_concurrent() {
	local i pids=() psns=()
	start_server conc || return
	for i in 1 2 3 4 5; do
		client --pattern "concurrent-$i" -n 20 -s 1024 --writes 3 >"$OUT/conc.$i.json" &
		pids+=($!)
	done
	for i in 1 2 3 4 5; do
		wait "${pids[$((i - 1))]}" || fail "client $i failed: $(jq -r .error "$OUT/conc.$i.json")"
		check "client $i verified 20 messages and 3 writes" json_ok "$OUT/conc.$i.json" 20 3
		psns+=("$(jq -r .local_psn "$OUT/conc.$i.json")" "$(jq -r .remote_psn "$OUT/conc.$i.json")")
	done
	check "PSNs distinct: ${#psns[@]} values" all_distinct "${psns[@]}"
	stop_server
}

# 10 clients connected and sending, then idle; the 11th is refused with "server full"; once one
# quits (SIGINT makes a client end its idle time and quit cleanly), a new client gets in while
# the other 9 stay connected.
t_max_clients() {
	local CLIENT_BIN=$LOAD_BIN # clients here are load (tests/vm/lib.sh)
	local i pids=() rc=0
	start_server max --max-clients 10 || return
	for i in $(seq 1 10); do
		client_bg "$OUT/max.$i.json" "$OUT/max.$i.err" --pattern "max-$i" -n 200 --idle 120
		pids+=($!)
	done
	check "10 clients connected" wait_log "connected (worker" 10 90
	client --pattern extra -n 1 >"$OUT/max.11.json" 2>"$OUT/max.11.err" || rc=$?
	check "11th client exits non-zero" [ "$rc" != 0 ]
	check "11th client says server full" grep -q "server full" "$OUT/max.11.err"
	check "11th client JSON says not ok" jq_ok '.ok == false' "$OUT/max.11.json" >/dev/null
	check "server logged the refusal" grep -q "refused, server full" "$SERVER_LOG"
	check "client 1 is idling, its echoes done" wait_idle "$OUT/max.1.err" 60
	kill -INT "${pids[0]}"
	rc=0
	wait "${pids[0]}" || rc=$?
	check "client 1 quit cleanly on SIGINT (exit $rc)" [ "$rc" = 0 ]
	check "client 1 verified its 200 messages" json_ok "$OUT/max.1.json" 200 0
	client --pattern after -n 5 >"$OUT/max.after.json" || fail "the client after one quit failed"
	check "a new client gets in once one quit" json_ok "$OUT/max.after.json" 5 0
	check "the other 9 are still connected" wait_clients 9 10
	for i in $(seq 2 10); do
		wait_idle "$OUT/max.$i.err" 60 || fail "client $i never started idling"
		kill -INT "${pids[$((i - 1))]}"
		wait "${pids[$((i - 1))]}" || fail "client $i failed: $(jq -r .error "$OUT/max.$i.json")"
		check "client $i verified" json_ok "$OUT/max.$i.json" 200 0
	done
	stop_server
}

# SIGTERM with 10 clients connected: the server exits 0 having freed everything, and each
# client exits non-zero saying the server shut down.
t_sigterm() {
	local i pids=() rc
	start_server term --max-clients 10 || return
	for i in $(seq 1 10); do
		client_bg "$OUT/term.$i.json" "$OUT/term.$i.err" --pattern "term-$i" -n 1 --idle 120
		pids+=($!)
	done
	check "10 clients connected" wait_log "connected (worker" 10 90
	stop_server
	for i in $(seq 1 10); do
		rc=0
		wait "${pids[$((i - 1))]}" || rc=$?
		check "client $i exits non-zero" [ "$rc" != 0 ]
		check "client $i says the server shut down" grep -q "server shutting down" "$OUT/term.$i.err"
	done
}

# srdma-client --idle keeps its session on its own heartbeat: against a server that pings only
# after 90 s of silence (--heartbeat-ms 60000), a client with a 1 s heartbeat (silence bound
# 3 s) idles 6 s and quits cleanly, its PINGs answered. (A client that slept through its idle
# time failed here with "the peer stopped answering".)
t_client_idle() {
	local conf=$OUT/idle.client.conf rc=0
	start_server idle --heartbeat-ms 60000 || return
	printf 'heartbeat_ms = 1000\n' >"$conf"
	client --config "$conf" -n 1 --idle 6 >"$OUT/idle.json" 2>"$OUT/idle.err" || rc=$?
	check "the client idled 6 s, past its 3 s silence bound, and quit cleanly (exit $rc)" \
		json_ok "$OUT/idle.json" 1 0
	check "the server saw it quit" wait_log "quit after" 1 10
	stop_server
}

register sequential concurrent max_clients sigterm client_idle
