# A hostile peer: RDMA writes the server did not grant (past the end of the client's own
# region, with a wrong rkey, into another client's region). Each attacker's own session ends
# with an error it can read; the server, the victim and every other client carry on.
# shellcheck shell=bash

testpeer() {
	"$BIN/srdma-testpeer" --ca "$CERTS/ca.pem" "$@" "$ADDR"
}

t_hostile_writes() {
	local mode bg rc counts0
	start_server hostile || return
	counts0=$(server_counts)
	client --pattern bystander -n 3000 -s 512 >"$OUT/hostile.bystander.json" &
	bg=$!
	check "bystander connected" wait_log "connected (worker" 1 60
	for mode in outside badrkey; do
		rc=0
		testpeer "$mode" >"$OUT/hostile.$mode.json" || rc=$?
		check "$mode: the write was refused (exit $rc)" [ "$rc" = 0 ]
		check "$mode: attacker reads a remote access error" \
			jq_ok '.attack_refused == true and (.error | test("remote access"))' \
			"$OUT/hostile.$mode.json" >/dev/null
	done
	check "server ended the attackers' sessions for a QP error" \
		wait_log "session ended in state established: RDMA completion failed" 2 10
	rc=0
	wait "$bg" || rc=$?
	check "bystander verified all 3000 messages (exit $rc)" json_ok "$OUT/hostile.bystander.json" 3000 0
	check "server is back to its start counts" wait_counts "$counts0" 5
	client --pattern after -n 5 --writes 2 >"$OUT/hostile.after.json" || fail "a later client failed"
	check "a later client works" json_ok "$OUT/hostile.after.json" 5 2
	stop_server
}

# Client A is handed client B's region address and rkey and writes with them over its own QP:
# one PD per client makes B's rkey worthless there.
t_isolation() {
	local rc=0
	start_server isolation || return
	testpeer steal >"$OUT/isolation.json" || rc=$?
	check "attack refused, victim untouched and carrying on (exit $rc)" [ "$rc" = 0 ]
	check "attacker got a remote access error" \
		jq_ok '.attack_refused == true and (.attacker_error | test("remote access"))' \
		"$OUT/isolation.json" >/dev/null
	check "victim's region unchanged" jq_ok '.victim_region_unchanged == true' "$OUT/isolation.json" >/dev/null
	check "victim echoed and quit after the attack" jq_ok '.victim_carried_on == true' "$OUT/isolation.json" >/dev/null
	stop_server
}

register hostile_writes isolation
