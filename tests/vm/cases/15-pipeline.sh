# Pipelined operations (srdma-bench drives them through the client library): one-way PUSHes
# confirmed by PING groups, pipelined echoes and RDMA writes, with more in flight than the
# server's receives allow (the window must shrink to them) and a server that never busy-polls
# (every completion comes through the sleeping path).
# shellcheck shell=bash

bench() {
	"$BIN/srdma-bench" --ca "$CERTS/ca.pem" --timeout-ms 30000 "$@" "$ADDR"
}

t_pipeline() {
	local m mode
	for mode in aead plain; do
		start_server "pipe-$mode" --dataplane "$mode" --recv-depth 8 --busy-poll-us 0 || return
		m=$mode
		bench msg-rate --dataplane "$m" -t 32 -n 4000 --json "$OUT/pipe.$m.push.json" \
			>"$OUT/pipe.$m.push.out" 2>&1 || fail "$m: push run failed: $(tail -n 2 "$OUT/pipe.$m.push.out")"
		check "$m: 4000+ PUSHes confirmed with a window of 8 (asked for 32)" \
			jq_ok '.results[0].ok and .results[0].op == "push" and .results[0].operations >= 4000' \
			"$OUT/pipe.$m.push.json"
		bench msg-rate --op echo --dataplane "$m" -t 8 -s 1000 -n 2000 --json "$OUT/pipe.$m.echo.json" \
			>"$OUT/pipe.$m.echo.out" 2>&1 || fail "$m: pipelined echo run failed: $(tail -n 2 "$OUT/pipe.$m.echo.out")"
		check "$m: 2000+ pipelined echoes of 1000 bytes verified" \
			jq_ok '.results[0].ok and .results[0].op == "echo" and .results[0].operations >= 2000' \
			"$OUT/pipe.$m.echo.json"
		bench write-bw --dataplane "$m" -t 16 -s 4096 -n 500 --verified 5 --json "$OUT/pipe.$m.write.json" \
			>"$OUT/pipe.$m.write.out" 2>&1 || fail "$m: write run failed: $(tail -n 2 "$OUT/pipe.$m.write.out")"
		check "$m: 500+ pipelined writes, then the region and 5 more writes verified" \
			jq_ok '.results[0].ok and .results[0].operations >= 500 and .results[0].verified_writes == 5' \
			"$OUT/pipe.$m.write.json"
		check "$m: the server ended every session cleanly" wait_log "quit after" 3 10
		check "$m: no session failed on the server" bash -c "! grep -q 'ended in state' '$SERVER_LOG'"
		stop_server
	done
}

register pipeline
