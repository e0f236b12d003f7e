# Blind packet injection against a live session (ReDMArk, USENIX Security 2021, attack A1): forged
# RC RDMA WRITEs sent into veth1 with tests/tools/roce-inject, spoofing the client, aimed at the
# server's QP with the right QPN, rkey and address (the worst case: the attacker lacks only the
# PSN). A guessed PSN lands with probability 2^-24 per frame; a leaked one lands for sure, and
# then the victim's own request with that PSN is dropped as a duplicate.
#
# The session is an srdma-testpeer "hold" coprocess, an echo-protocol client on the library's API:
# it prints the session's secrets as JSON (QP 0's numbers and PSNs from srdma_conn_qp_secrets,
# the server's write region ECHO_WRITE_REGION as advertised over TLS) and obeys "write",
# "verify", "echo N", "quit". The PSN the server's responder expects next is the client's
# local_psn plus the request packets it has sent: requests_sent before its JSON line (the REGION
# request that made the server's write region: one packet, one message), then 2 per "write"
# (RDMA WRITE, WRITE_DONE), 1 per "verify", N per "echo N" (messages of 64 bytes: one packet
# each); lock-step requests never make the library send a CREDIT message of its own. Figures (rxe hw counters
# before and after, frames sent, time, hits) go to stderr and to $OUT/inject.report.txt.
#
# Knobs (environment): SRDMA_INJECT_COUNT (100000) and SRDMA_INJECT_RATE (frames/s, 0: flat out)
# for inject_blind; SRDMA_INJECT_DEMO shows that its checks can fail: "hit" sweeps the PSNs up to
# the expected one instead of guessing (the last frame lands, as a lucky guess would), "bad-icrc"
# sends every frame with a wrong ICRC (rxe drops them all).
# shellcheck shell=bash

INJ_HW=/sys/class/infiniband/${SRDMA_RXE_DEV:-rxe0}/ports/1/hw_counters
INJ_REPORT=$OUT/inject.report.txt
INJ_PID=
INJ_IN=
INJ_OUT=
INJ_JSON=
INJ_REPLY=

inj_say() {
	echo "    $*" | tee -a "$INJ_REPORT" >&2
}

# inj_field NAME: an integer field of the held session's JSON (read as text: jq would turn a
# 64-bit address into a double).
inj_field() {
	sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$INJ_JSON"
}

# inj_psn0: the PSN the server's responder expects once the held session is set up (local_psn
# plus the requests it made before its JSON line).
inj_psn0() {
	echo $((($(inj_field local_psn) + $(inj_field requests_sent)) & 0xffffff))
}

# inj_hold_start NAME [testpeer options...]: connect a held session; its JSON goes to INJ_JSON.
inj_hold_start() {
	local name=$1 line='' fin fout
	shift
	INJ_JSON=$OUT/$name.hold.json
	coproc INJ_HOLD {
		exec "$BIN/srdma-testpeer" --ca "$CERTS/ca.pem" "$@" hold "$ADDR" 2>"$OUT/$name.hold.err"
	}
	INJ_PID=$INJ_HOLD_PID
	fin=${INJ_HOLD[1]:-}
	fout=${INJ_HOLD[0]:-}
	if [ -z "$fin" ] || [ -z "$fout" ]; then
		fail "srdma-testpeer hold exited at once: $(cat "$OUT/$name.hold.err")"
		return 1
	fi
	# Own copies: bash drops a coprocess's descriptors as soon as it exits, and its last
	# answers must still be readable then.
	exec {INJ_IN}>&"$fin" {INJ_OUT}<&"$fout"
	# ... and only those: with the coprocess's own write end still open in this shell, closing
	# INJ_IN would never give it end-of-file (inj_hold_stop would wait and kill it).
	eval "exec $fin>&- $fout<&-"
	IFS= read -r -t 90 line <&"$INJ_OUT"
	printf '%s\n' "$line" >"$INJ_JSON"
	if [ -z "$(inj_field server_qpn)" ]; then
		fail "held session did not connect: ${line:-no output} $(cat "$OUT/$name.hold.err")"
		return 1
	fi
}

# inj_cmd COMMAND [SECONDS]: one command to the held session; INJ_REPLY gets the answer.
# Succeeds when the answer is "ok".
inj_cmd() {
	local cmd=$1 secs=${2:-90} rc=0
	INJ_REPLY=
	# A subshell takes the SIGPIPE if the session is gone.
	if (printf '%s\n' "$cmd" >&"$INJ_IN") 2>/dev/null; then
		IFS= read -r -t "$secs" INJ_REPLY <&"$INJ_OUT" || rc=$?
		[ "$rc" = 0 ] || INJ_REPLY="(no answer: $([ "$rc" -gt 128 ] && echo "none in ${secs}s" || echo "session ended"))"
	else
		INJ_REPLY="(session gone)"
	fi
	inj_say "session> $cmd: $INJ_REPLY"
	[ "$INJ_REPLY" = ok ]
}

# inj_hold_stop: close its stdin, give it 30 s to exit, then kill it.
inj_hold_stop() {
	local _
	[ -n "$INJ_PID" ] || return 0
	[ -z "$INJ_IN" ] || exec {INJ_IN}>&-
	for _ in $(seq 1 300); do
		kill -0 "$INJ_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$INJ_PID" 2>/dev/null
	wait "$INJ_PID" 2>/dev/null
	[ -z "$INJ_OUT" ] || exec {INJ_OUT}<&-
	INJ_PID='' INJ_IN='' INJ_OUT=''
}

# inj_snap FILE: every rxe hw counter, "name value" per line. Builtins only: under TCG every
# process started from the 9p root costs a good fraction of a second.
inj_snap() {
	local f v
	for f in "$INJ_HW"/*; do
		read -r v <"$f"
		printf '%s %s\n' "${f##*/}" "$v"
	done >"$1"
}

# inj_delta NAME BEFORE AFTER: how much one counter grew.
inj_delta() {
	local a b
	a=$(awk -v k="$1" '$1 == k { print $2 }' "$2")
	b=$(awk -v k="$1" '$1 == k { print $2 }' "$3")
	echo $((${b:-0} - ${a:-0}))
}

# inj_table LABEL BEFORE AFTER: the counters that moved, and the main ones.
inj_table() {
	inj_say "rxe counters, $1 (before -> after, delta):"
	# Files, not <(...): the VM has no /dev/fd.
	sort "$2" >"$2.sorted"
	sort "$3" >"$3.sorted"
	join "$2.sorted" "$3.sorted" | awk '
		$3 != $2 || $1 ~ /^(rcvd_pkts|duplicate_request|out_of_seq_request|rcvd_seq_err)$/ {
			printf "      %-24s %10d -> %10d  (%+d)\n", $1, $2, $3, $3 - $2 }' |
		tee -a "$INJ_REPORT" >&2
}

# inj_drain: wait (at most 120 s) until rxe has worked through what was injected: its packet
# counters stop moving.
inj_drain() {
	local _ last='' now r t
	for _ in $(seq 1 240); do
		read -r r <"$INJ_HW/rcvd_pkts"
		read -r t <"$INJ_HW/sent_pkts"
		now="$r $t"
		[ "$now" = "$last" ] && return 0
		last=$now
		sleep 0.5
	done
	return 1
}

# inj_inject NAME [roce-inject options...]: forge frames at the held session's server QP, with
# its rkey and address; the tool's JSON goes to $OUT/NAME.json.
inj_inject() {
	local name=$1 rc=0
	shift
	"$BIN/roce-inject" --iface veth1 --qpn "$(inj_field server_qpn)" --rkey "$(inj_field rkey)" \
		--addr "$(inj_field addr)" --src-ip "$ADDR" --dst-ip "$ADDR" "$@" \
		>"$OUT/$name.json" 2>"$OUT/$name.err" || rc=$?
	inj_say "roce-inject $*: $(cat "$OUT/$name.json")"
	check "roce-inject ($name) sent every frame (exit $rc): $(cat "$OUT/$name.err")" \
		jq_ok '.ok == true and .sent == .count' "$OUT/$name.json" >/dev/null
	check "rxe worked through the injected frames" inj_drain
}

# inj_veth_drops: frames dropped on the way from veth1 to veth0, in all.
inj_veth_drops() {
	local tx rx
	read -r tx </sys/class/net/veth1/statistics/tx_dropped
	read -r rx </sys/class/net/veth0/statistics/rx_dropped
	echo $((tx + rx))
}

# inj_error_says TEXT: the last answer was an error that contains TEXT.
inj_error_says() {
	case $INJ_REPLY in
	error:*"$1"*) return 0 ;;
	*) return 1 ;;
	esac
}

# inj_error_says_any TEXT...: the last answer was an error that contains one of the TEXTs.
inj_error_says_any() {
	local t
	for t in "$@"; do
		inj_error_says "$t" && return 0
	done
	return 1
}

# inj_in_sequence RCVD DUP OOS: rxe counted the packet and took it as neither a duplicate nor
# out of sequence, i.e. executed it.
inj_in_sequence() {
	[ "$1" -ge 1 ] && [ "$2" = 0 ] && [ "$3" = 0 ]
}

# A live session that has written and verified its pattern takes 100,000 forged RDMA WRITEs
# with random PSNs (right QPN, rkey, address): none may land. The region must still hold the
# session's bytes and the session must carry on. A hit (about 0.6% of runs: 100,000 / 2^24) is
# a real success of the attack in plain mode, and fails the test loudly with its figures.
t_inject_blind() {
	local n=${SRDMA_INJECT_COUNT:-100000} rate=${SRDMA_INJECT_RATE:-0} expect hits dup drops0 passed
	local drops psn_args
	local t0 t1 b=$OUT/inj-blind
	: >>"$INJ_REPORT"
	inj_say "--- inject_blind: $n forged RDMA WRITEs, PSNs: ${SRDMA_INJECT_DEMO:-random} (rate ${rate:-0}/s, 0: flat out)"
	start_server inj-blind --dataplane plain || return
	if inj_hold_start inj-blind --dataplane plain; then
		inj_cmd write
		check "the session wrote and verified its pattern" [ "$INJ_REPLY" = ok ]
		# Only for the hit count: the PSN the responder expects (after write's 2 packets).
		expect=$((($(inj_psn0) + 2) & 0xffffff))
		inj_drain
		drops0=$(inj_veth_drops)
		inj_snap "$b.before"
		t0=$EPOCHREALTIME
		case ${SRDMA_INJECT_DEMO:-} in
		hit) psn_args=(--psn-range "$(((expect - n + 1) & 0xffffff)):$expect") ;;
		bad-icrc) psn_args=(--psn-random --corrupt-icrc) ;;
		*) psn_args=(--psn-random) ;;
		esac
		inj_inject inj-blind.inject "${psn_args[@]}" --count "$n" --rate "$rate" --len 64 \
			--pattern "FORGED-BLIND-GUESS!" --expect-psn "$expect"
		t1=$EPOCHREALTIME
		inj_snap "$b.after"
		inj_table "blind injection of $n frames" "$b.before" "$b.after"
		hits=$(jq -r '.hits' "$OUT/inj-blind.inject.json")
		dup=$(inj_delta duplicate_request "$b.before" "$b.after")
		inj_say "$(jq -r '"sent \(.sent) frames of \(.frame_bytes) B in \(.seconds) s (\(.pps) frames/s), \(.retries) resends; frames carrying the expected PSN: \(.hits)"' "$OUT/inj-blind.inject.json")"
		drops=$(($(inj_veth_drops) - drops0))
		inj_say "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "send + drain wall time %.1f s", b - a }'); veth drops +$drops"
		# rxe counts a received packet only once its ICRC checked out, and every packet rxe
		# sends here (ACKs, NAKs, the session's own) loops back and is counted on both sides.
		passed=$(($(inj_delta rcvd_pkts "$b.before" "$b.after") - $(inj_delta sent_pkts "$b.before" "$b.after")))
		check "at most 1% of the frames lost between veth1 and rxe (veth drops +$drops)" \
			[ $((drops * 100)) -le "$n" ]
		check "every frame that reached rxe passed its ICRC check (rcvd_pkts - sent_pkts: +$passed of $n - $drops)" \
			[ "$passed" = $((n - drops)) ]
		check "frames reached the QP's PSN check (duplicate_request +$dup >= 45% of $n)" \
			[ $((dup * 100)) -ge $((n * 45)) ]
		inj_cmd verify
		inj_say "forged packets landed: $hits (predicted $(awk -v n="$n" 'BEGIN { printf "%.4f", n / 16777216 }')); verify after the attack: $INJ_REPLY"
		# A guess hits the expected PSN with probability 2^-24 each: with 10^5 guesses, one
		# lands in about 0.6% of runs and two in 2 of 10^5. That is the odds playing out,
		# not a defect, so the check is that any landing is bounded and never silent: the
		# victim's next request then carries the PSN the forgery used, is dropped as a
		# duplicate, and its verify cannot succeed.
		check "forged writes landed: $hits, within the 2^-24 odds (<= 2)" [ "${hits:-0}" -le 2 ]
		if [ "${hits:-0}" = 0 ]; then
			check "target bytes unchanged: verify ok after $n forged writes" [ "$INJ_REPLY" = ok ]
			inj_cmd "echo 10"
			check "the session carries on: echo 10 ok" [ "$INJ_REPLY" = ok ]
			inj_cmd quit
			check "the session quits cleanly" [ "$INJ_REPLY" = ok ]
		else
			inj_say "LANDED: $hits blind guess(es) carried the expected PSN (a 2^-24 event per frame)"
			check "a landed forgery is not silent: verify fails ($INJ_REPLY)" [ "$INJ_REPLY" != ok ]
		fi
	fi
	inj_hold_stop
	stop_server
}

# The PSN leaks (simulated: the test hands the real next PSN to the tool): one forged RDMA WRITE
# lands. Controls first: the right PSN with a wrong ICRC, and PSNs one behind and one ahead, land
# nothing. Then the consequences: the victim's next RDMA WRITE carries the PSN the forgery used,
# is taken as a duplicate (acknowledged, not executed), and its WRITE_DONE finds the forged bytes;
# verify fails likewise. A second leak makes the victim's next message vanish the same way: the
# echo gets no answer, and the server sees the gap in the message sequence numbers.
t_inject_leaked_psn() {
	local p0 next dup oos rcvd b=$OUT/inj-leak
	: >>"$INJ_REPORT"
	inj_say "--- inject_leaked_psn"
	start_server inj-leak --dataplane plain || return
	if inj_hold_start inj-leak --dataplane plain --timeout-ms 10000; then
		p0=$(inj_psn0)
		inj_cmd write
		check "the session wrote and verified its pattern" [ "$INJ_REPLY" = ok ]
		inj_cmd verify
		check "verify ok before any injection" [ "$INJ_REPLY" = ok ]
		next=$(((p0 + 3) & 0xffffff))

		inj_drain
		inj_snap "$b.c0"
		inj_inject inj-leak.badicrc --psn "$next" --corrupt-icrc --pattern "FORGED-BAD-ICRC!"
		inj_snap "$b.c1"
		inj_table "right PSN, wrong ICRC" "$b.c0" "$b.c1"
		check "rxe dropped the frame with a wrong ICRC before counting it (rcvd_pkts +$(inj_delta rcvd_pkts "$b.c0" "$b.c1"))" \
			[ "$(inj_delta rcvd_pkts "$b.c0" "$b.c1")" = 0 ]
		inj_inject inj-leak.behind --psn $(((next - 1) & 0xffffff)) --pattern "FORGED-PSN-BEHIND"
		inj_inject inj-leak.ahead --psn $(((next + 1) & 0xffffff)) --pattern "FORGED-PSN-AHEAD!"
		inj_snap "$b.c2"
		inj_table "PSN one behind, then one ahead" "$b.c1" "$b.c2"
		dup=$(inj_delta duplicate_request "$b.c1" "$b.c2")
		oos=$(inj_delta out_of_seq_request "$b.c1" "$b.c2")
		check "PSN one behind taken as a duplicate (duplicate_request +$dup)" [ "$dup" -ge 1 ]
		check "PSN one ahead refused as out of sequence (out_of_seq_request +$oos)" [ "$oos" -ge 1 ]
		inj_cmd verify
		check "controls landed nothing: verify ok" [ "$INJ_REPLY" = ok ]
		next=$(((next + 1) & 0xffffff))

		inj_drain
		inj_snap "$b.a0"
		inj_inject inj-leak.attack --psn "$next" --pattern "FORGED-LEAKED-PSN!" \
			--expect-psn "$next"
		inj_snap "$b.a1"
		inj_table "one forged WRITE with the leaked PSN" "$b.a0" "$b.a1"
		rcvd=$(inj_delta rcvd_pkts "$b.a0" "$b.a1")
		dup=$(inj_delta duplicate_request "$b.a0" "$b.a1")
		oos=$(inj_delta out_of_seq_request "$b.a0" "$b.a1")
		check "rxe took the forged WRITE in sequence (rcvd_pkts +$rcvd, duplicate +$dup, out of sequence +$oos)" \
			inj_in_sequence "$rcvd" "$dup" "$oos"

		inj_snap "$b.v0"
		inj_cmd write
		inj_snap "$b.v1"
		inj_table "the victim's next write" "$b.v0" "$b.v1"
		dup=$(inj_delta duplicate_request "$b.v0" "$b.v1")
		inj_say "the victim's RDMA WRITE (PSN of the forgery) was taken as a duplicate: duplicate_request +$dup"
		check "the victim's RDMA WRITE was dropped as a duplicate (duplicate_request +$dup)" [ "$dup" -ge 1 ]
		check "the victim's write was replaced: its WRITE_DONE found the forged bytes" \
			inj_error_says "other bytes than written"
		inj_cmd verify
		check "verify fails: the server's region no longer holds the client's bytes" \
			inj_error_says "other bytes than written"
		inj_cmd "echo 10"
		check "transport and message sequence still in step: echo 10 ok" [ "$INJ_REPLY" = ok ]
		# The forgery took the PSN of the write's first packet: write 2 packets, verify 1,
		# echo 10 10.
		next=$(((next + 2 + 1 + 10) & 0xffffff))

		inj_drain
		inj_inject inj-leak.attack2 --psn "$next" --pattern "FORGED-LEAKED-PSN-2"
		inj_snap "$b.e0"
		inj_cmd "echo 1" 60
		inj_snap "$b.e1"
		inj_table "the victim's next message after a second forged WRITE" "$b.e0" "$b.e1"
		dup=$(inj_delta duplicate_request "$b.e0" "$b.e1")
		check "the victim's DATA was dropped as a duplicate (duplicate_request +$dup)" [ "$dup" -ge 1 ]
		check "the victim's echo got no answer" inj_error_says "no answer from the server"
		inj_cmd quit 60
		check "quit fails after the lost message" [ "$INJ_REPLY" != ok ]
		check "the server saw the gap in the message sequence" \
			wait_log "message sequence error" 1 30
		inj_say "server: $(grep -m1 "message sequence error" "$SERVER_LOG" | sed 's/.*: session/session/')"
	fi
	inj_hold_stop
	stop_server
}

# The PSN leaks and the attacker forges a whole message (RDMA SEND) at it: a library APP message
# carrying an echo-protocol DATA, with the next message sequence number, which plain mode exposes
# on the wire. In plain mode the server takes it as the client's and answers it. The answer
# reaches the victim before its own message goes out (which rxe then drops as a duplicate), and
# returns a send credit for a message the victim never sent: the victim's library refuses it
# ("returned 1 credits, more than we used") before the application sees it; had the victim's
# message been counted first, the echo of the forged bytes would have been delivered and found
# to differ. Either way the server answered a forgery. In aead mode the forgery carries the
# sealed flag and a made-up tag: the server refuses it before decoding it, ends the session and
# tells the victim why over TLS, and nothing forged is delivered or answered.
t_inject_forged_message() {
	local mode psn msgseq hex b
	for mode in plain aead; do
		b=$OUT/inj-msg-$mode
		start_server "inj-msg-$mode" --dataplane "$mode" || return
		if inj_hold_start "inj-msg-$mode" --dataplane "$mode" --timeout-ms 4000; then
			# Only the REGION request sent: the server expects PSN local_psn + requests_sent and
			# message number requests_sent.
			psn=$(inj_psn0)
			msgseq=$(inj_field requests_sent)
			# The library's header ("SM", APP, flags, seq, length 20, ack 0), then the echo
			# protocol's (DATA, flags 0, reserved 0) and 16 bytes to echo; sealed: flag 1 and
			# a made-up 16-byte tag after the payload.
			hex=534d0b00$(printf '%08x' "$msgseq")0000001400000000
			[ "$mode" = plain ] || hex=534d0b01$(printf '%08x' "$msgseq")0000001400000000
			hex+=02000000464f524745442d4d4553534147452121
			[ "$mode" = plain ] || hex+=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
			inj_snap "$b.0"
			inj_inject "inj-msg-$mode.attack" --opcode send --psn "$psn" --payload-hex "$hex" \
				--expect-psn "$psn"
			inj_snap "$b.1"
			inj_table "one forged $mode message with the leaked PSN" "$b.0" "$b.1"
			# The victim's own next message now carries a PSN rxe has already seen.
			inj_cmd "echo 1" 8
			if [ "$mode" = plain ]; then
				check "plain: the server took the forged message and answered it (victim: $INJ_REPLY)" \
					inj_error_says_any "differs from what was sent" "more than we used"
				check "plain: the server did not refuse the forged message" \
					bash -c "! grep -q 'message from the peer refused' '$SERVER_LOG'"
			else
				check "aead: the victim is told the session ended on a forged message ($INJ_REPLY)" \
					inj_error_says "failed authentication"
				check "aead: the server refused the forgery before decoding it" \
					grep -q "message $msgseq failed authentication (forged" "$SERVER_LOG"
			fi
		fi
		inj_hold_stop
		stop_server
	done
}

register inject_blind inject_leaked_psn inject_forged_message
