# Connection cycling: many whole sessions against one server, and nothing left behind.
# shellcheck shell=bash

# cycle_config N: a client config file that runs N whole sessions one after another (the
# client's "repeat" key), for --config.
cycle_config() {
	local file=$OUT/cycle.repeat-$1.ini

	printf '[client]\nrepeat = %s\n' "$1" >"$file"
	echo "$file"
}

# cycle_json_ok FILE N: the client ran N sessions, each echoing one verified message.
cycle_json_ok() {
	jq_ok --argjson n "$2" '.ok == true and .sessions_requested == $n and .sessions_ok == $n
		and .messages_requested == $n and .messages_verified == $n
		and .writes_verified == .writes_requested' "$1" >/dev/null
}

# wait_equal WANT SECONDS CMD...: until CMD prints WANT; prints what it printed last.
wait_equal() {
	local want=$1 secs=$2 got i
	shift 2
	for i in $(seq 1 $((secs * 5))); do
		got=$("$@")
		[ "$got" = "$want" ] && break
		sleep 0.2
	done
	echo "$got"
}

# cycle_snapshot LABEL: the server's open fds, its own counts and the device's, on stderr.
cycle_snapshot() {
	echo "    $1: fds $(server_fds); server: $(server_counts); device: $(rdma_res)" >&2
}

# 500 connect/disconnect cycles, each a whole session with one echo: 4 clients at once running
# 100 sessions each, then one client running 100 in a row. Afterwards the server's open file
# descriptors, its own resource counts and the device's live objects are exactly what they were
# once the server had started.
t_cycling() {
	local CLIENT_BIN=$LOAD_BIN # clients here are load (tests/vm/lib.sh)
	local procs=4 per_proc=100 seq=100 total i pids=() fds0 counts0 res0 got quits drops
	total=$((procs * per_proc + seq))
	start_server cycle --max-clients 10 || return
	fds0=$(server_fds)
	counts0=$(server_counts)
	res0=$(rdma_res)
	if [ -z "$fds0" ] || [ -z "$counts0" ] || [ -z "$res0" ]; then
		fail "no baseline: fds '$fds0', server '$counts0', device '$res0'"
		stop_server
		return
	fi
	cycle_snapshot "before"

	for i in $(seq 1 "$procs"); do
		client --config "$(cycle_config "$per_proc")" --pattern "cycle-$i" -n 1 \
			>"$OUT/cycle.$i.json" 2>"$OUT/cycle.$i.err" &
		pids+=($!)
	done
	for i in $(seq 1 "$procs"); do
		wait "${pids[$((i - 1))]}" ||
			fail "concurrent client $i failed: $(jq -r .error "$OUT/cycle.$i.json")"
		check "concurrent client $i: $per_proc sessions ok, each message verified" \
			cycle_json_ok "$OUT/cycle.$i.json" "$per_proc"
	done
	cycle_snapshot "after $((procs * per_proc)) concurrent sessions"

	client --config "$(cycle_config "$seq")" --pattern "cycle-seq" -n 1 \
		>"$OUT/cycle.seq.json" 2>"$OUT/cycle.seq.err" ||
		fail "sequential client failed: $(jq -r .error "$OUT/cycle.seq.json")"
	check "sequential client: $seq sessions ok, each message verified" \
		cycle_json_ok "$OUT/cycle.seq.json" "$seq"

	check "server logged $total sessions connected" wait_log "connected (worker" "$total" 30
	# Every session's end is logged; each one must be a clean QUIT (the clients saw BYE).
	wait_log 'quit after\|disconnected' "$total" 30
	quits=$(grep -c "quit after" "$SERVER_LOG")
	drops=$(grep -c "disconnected" "$SERVER_LOG")
	check "server logged $total clean quits: $quits, and $drops disconnects" [ "$quits" = "$total" ]
	check "server counts back to the baseline ($counts0)" wait_counts "$counts0" 30
	got=$(wait_equal "$fds0" 10 server_fds)
	check "server fds back to the baseline: $got, was $fds0" [ "$got" = "$fds0" ]
	got=$(wait_equal "$res0" 10 rdma_res)
	check "device resources back to the baseline: $got, was $res0" [ "$got" = "$res0" ]
	cycle_snapshot "after $total sessions"
	stop_server
}

register cycling
