# Mixed operations at the same time on one server: a send/receive loop, an RDMA-write loop,
# a connect/disconnect loop, and two idle connections; all verified at the end.
# shellcheck shell=bash

t_mixed() {
	local p_echo p_write p_cycle p_idle1 p_idle2 rc counts0
	start_server mixed || return
	counts0=$(server_counts)
	client_bg "$OUT/mixed.idle1.json" "$OUT/mixed.idle1.err" --pattern idle-one -n 1 --idle 300
	p_idle1=$!
	client_bg "$OUT/mixed.idle2.json" "$OUT/mixed.idle2.err" --pattern idle-two -n 1 --idle 300
	p_idle2=$!
	client --pattern echo-loop -n 3000 -s 2048 >"$OUT/mixed.echo.json" &
	p_echo=$!
	client --pattern write-loop -n 1 -s 8192 --writes 300 >"$OUT/mixed.write.json" &
	p_write=$!
	client --pattern cycle-loop -n 2 --repeat 40 >"$OUT/mixed.cycle.json" &
	p_cycle=$!
	rc=0
	wait "$p_echo" || rc=$?
	check "echo loop verified 3000 messages (exit $rc)" json_ok "$OUT/mixed.echo.json" 3000 0
	rc=0
	wait "$p_write" || rc=$?
	check "write loop verified 300 RDMA writes (exit $rc)" json_ok "$OUT/mixed.write.json" 1 300
	rc=0
	wait "$p_cycle" || rc=$?
	check "cycle loop completed 40 sessions (exit $rc)" \
		jq_ok '.ok and .sessions_ok == 40 and .messages_verified == 80' "$OUT/mixed.cycle.json" >/dev/null
	check "two idle clients still connected" wait_clients 2 10
	check "both idle clients are idling" wait_idle "$OUT/mixed.idle1.err" 30
	wait_idle "$OUT/mixed.idle2.err" 30 || fail "idle client 2 never started idling"
	kill -INT "$p_idle1" "$p_idle2"
	rc=0
	wait "$p_idle1" || rc=$?
	check "idle client 1 quit verified (exit $rc)" json_ok "$OUT/mixed.idle1.json" 1 0
	rc=0
	wait "$p_idle2" || rc=$?
	check "idle client 2 quit verified (exit $rc)" json_ok "$OUT/mixed.idle2.json" 1 0
	check "server is back to its start counts" wait_counts "$counts0" 5
	stop_server
}

register mixed
