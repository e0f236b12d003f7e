# The public API (<srdma.h>) end to end with srdma-apitest: many QPs on one connection, memory
# regions and their tags, revocation, refusal from the request callback, set-up times.
# shellcheck shell=bash

# api_serve NAME [options...]: start `srdma-apitest serve` (it exits by itself after its
# --sessions); its JSON lines go to $SERVER_LOG.
api_serve() {
	local name=$1 i
	shift
	SERVER_LOG=$OUT/$name.api-server.jsonl
	"$BIN/srdma-apitest" serve --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--timeout-s 300 "$@" >"$SERVER_LOG" 2>"$OUT/$name.api-server.err" &
	SERVER_PID=$!
	for i in $(seq 1 300); do
		grep -q '"event":"listening"' "$SERVER_LOG" 2>/dev/null && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "apitest server did not start: $(tail -n 3 "$OUT/$name.api-server.err")"
	return 1
}

# api_server_done [FAILURES]: wait (at most 120 s) for the server to exit after its sessions; it
# must exit 0 having counted no failure (every session's own checks passed, every object
# closed), and have seen exactly FAILURES (default 0) failed handshakes (on_failure).
api_server_done() {
	local rc=0 i want=${1:-0}
	for i in $(seq 1 1200); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	# shellcheck disable=SC2016 # $n is jq's
	check "server saw $want failed handshakes" \
		jq_ok -s --argjson n "$want" 'map(select(.event == "failure")) | length == $n' "$SERVER_LOG"
	if kill -0 "$SERVER_PID" 2>/dev/null; then
		fail "apitest server still running after its sessions"
		return 1
	fi
	wait "$SERVER_PID" || rc=$?
	SERVER_PID=
	check "apitest server exit status $rc" [ "$rc" = 0 ]
	check "apitest server counted no failure" \
		jq_ok -s 'map(select(.event == "done")) | length == 1 and .[0].failures == 0' "$SERVER_LOG"
}

# api_session N: the server's result line of session N.
api_session() {
	jq -c --argjson n "$1" 'select(.event == null and .session == $n)' "$SERVER_LOG"
}

# api_session_ok N FILTER: FILTER is true of the server's result line of session N. The server
# prints that line once it has seen the peer's close and closed too: wait for it (60 s).
api_session_ok() {
	local f=$OUT/api.session.$1.json i
	for i in $(seq 1 600); do
		api_session "$1" >"$f"
		[ -s "$f" ] && break
		sleep 0.1
	done
	jq_ok "$2" "$f"
}

apic() {
	"$BIN/srdma-apitest" connect --ca "$CERTS/ca.pem" --timeout-ms 30000 "$@" "$ADDR"
}

# api_psns FILE: the 2 x nqp PSNs (local and remote of every QP) of a connector's JSON.
api_psns() {
	jq -r '.qps[] | .local_psn, .remote_psn' "$1"
}

# 8 QPs on one connection (QP 0 messages, 1..7 raw), every one carrying traffic both ways; the
# 16 PSNs of a session are distinct, and distinct from a second session's; the server's view
# of each QP mirrors the connector's.
t_api_multi_qp() {
	local i f psns=() all=()
	api_serve mq --sessions 2 || return
	for i in 1 2; do
		f=$OUT/api.mq.$i.json
		apic --scenario multi-qp --nqp 8 >"$f" || fail "session $i failed: $(jq -r .error "$f")"
		check "session $i: 8 QPs, 7 raw SEND/RECV pairs and 2 sealed messages verified" \
			jq_ok '.ok and .nqp == 8 and (.qps | length) == 8 and .raw_verified == 7 and
				.messages_verified == 2' "$f"
		api_psns "$f" >"$OUT/api.mq.$i.psns"
		mapfile -t psns <"$OUT/api.mq.$i.psns"
		check "session $i: 16 PSNs (got ${#psns[@]})" [ "${#psns[@]}" = 16 ]
		check "session $i: its 16 PSNs are distinct" all_distinct "${psns[@]}"
		check "session $i: 8 distinct local QPNs" \
			jq_ok '[.qps[].local_qpn] | unique | length == 8' "$f"
		check "session $i: the server's local PSNs and QPNs are the connector's remote ones" \
			[ "$(jq -c '[.qps[] | .remote_psn, .remote_qpn]' "$f")" = \
			"$(api_session "$i" | jq -c '[.qps[] | .local_psn, .local_qpn]')" ]
		check "session $i: the server verified its side" \
			api_session_ok "$i" '.ok and .scenario == "multi-qp" and .raw_verified == 7'
		all+=("${psns[@]}")
	done
	check "the 32 PSNs of both sessions are distinct" all_distinct "${all[@]}"
	api_server_done
}

# One session of 8 QPs against 8 sessions of 1 QP, one after another: informational times.
t_api_timing() {
	local f=$OUT/api.timing.json
	api_serve timing --sessions 9 || return
	apic --scenario timing --qps 8 >"$f" || fail "timing failed: $(jq -r .error "$f")"
	check "both set-ups ran: 1 session of 8 QPs and 8 of 1" \
		jq_ok '.ok and .sessions_timed == 9 and (.separate_each_us | length) == 8 and
			.one_session_us > 0 and .separate_sessions_us > 0' "$f"
	echo "    set-up: one session with 8 QPs $(jq -r .one_session_us "$f") us," \
		"8 sessions of 1 QP $(jq -r .separate_sessions_us "$f") us in all," \
		"ratio $(jq -r '.ratio * 100 | round / 100' "$f")" >&2
	api_server_done
	check "the server saw 9 sessions" jq_ok -s '.[-1].sessions == 9' "$SERVER_LOG"
}

# A write+read region: written, its tag checked by the server, read back; a write-only region
# refuses an RDMA READ with a remote access error.
t_api_regions() {
	local f=$OUT/api.regions.json
	api_serve regions || return
	apic --scenario regions >"$f" || fail "regions failed: $(jq -r .error "$f")"
	check "tag verified by the server and the RDMA READ equals the write" \
		jq_ok '.ok and .tag_verified and .read_verified' "$f"
	check "READ of the write-only region failed with a remote access error" \
		jq_ok '.read_denied and .read_denied_status == "remote access error"' "$f"
	check "server: tag matched, and is bound to the sequence number and the bytes" \
		api_session_ok 1 '.tag_matched and .tag_bound_to_seq and .tag_bound_to_bytes'
	check "server: srdma_advertise refused an id in use (-EEXIST) and access the MR lacks (-EINVAL)" \
		api_session_ok 1 '.advertise_id_in_use == -17 and .advertise_access_unknown == -22'
	check "server: its session ended ok" api_session_ok 1 '.ok'
	api_server_done
}

# Revocation with dereg: the old rkey fails on QP 1 only; QP 0 messages and the control
# channel carry on; a second session on the same server runs through it untouched.
t_api_revoke() {
	local f=$OUT/api.revoke.json by=$OUT/api.bystander.json bg rc=0 alive=0
	api_serve revoke --sessions 2 || return
	apic --scenario echo --count 200 --pause-ms 50 >"$by" &
	bg=$!
	check "bystander session accepted" wait_log '"event":"accepted"' 1 60
	apic --scenario revoke >"$f" || fail "revoke failed: $(jq -r .error "$f")"
	kill -0 "$bg" 2>/dev/null && alive=1
	check "region gone after the revocation, old rkey refused with a remote access error" \
		jq_ok '.ok and .remote_region_after_revoke == -2 and
			.old_rkey_status == "remote access error"' "$f"
	check "QP 0 messages and a control round trip still work after it" \
		jq_ok '.messages_after_revoke and .ctrl_after_revoke' "$f"
	check "server: the buffer kept the first write and not the one after the revocation" \
		api_session_ok 2 '.ok and .scenario == "revoke" and .region_untouched_after_revoke'
	check "bystander was still running when the revocation was over" [ "$alive" = 1 ]
	wait "$bg" || rc=$?
	check "bystander verified all 200 echoes (exit $rc)" \
		jq_ok '.ok and .messages_verified == 200' "$by"
	check "server: the bystander session ended ok" \
		api_session_ok 1 '.ok and .scenario == "echo" and .echoed == 200'
	api_server_done
}

# The library's RDMA WRITE on a messages QP, proved by a tag in the message after it; the TLS
# exporter gives both sides the same application key; the set-up steps add up to setup_us.
t_api_msg_write() {
	local f=$OUT/api.msg-write.json
	api_serve msg-write || return
	apic --scenario msg-write >"$f" || fail "msg-write failed: $(jq -r .error "$f")"
	check "refusals: unknown region -ENOENT, past the region -ERANGE, library label -EINVAL" \
		jq_ok '.write_unknown_region == -2 and .write_out_of_range == -34 and
			.export_library_label == -22' "$f"
	check "connector: write, flush and exporter round trip passed" \
		jq_ok '.ok and .bytes_written_verified == 4096' "$f"
	check "set-up steps reported (TLS and QP steps non-zero)" jq_ok '.tls_us > 0 and .qp_us > 0' "$f"
	check "server: the region holds the bytes the tag names, and the exported keys match" \
		api_session_ok 1 '.ok and .scenario == "msg-write" and .bytes_written_verified == 4096'
	api_server_done
}

# Liveness: a connector frozen with SIGSTOP in the middle of a session. The server's heartbeat
# (500 ms, 3 missed: a 1.5 s bound) ends the session with -ETIMEDOUT and frees it; the connector,
# let go again, finds its connection gone and says why.
t_api_heartbeat() {
	local f=$OUT/api.hold.json pid rc=0 stopped ended
	api_serve heartbeat --heartbeat-ms 500 || return
	# Not through apic: $! must be the test program itself, not a subshell, for SIGSTOP.
	"$BIN/srdma-apitest" connect --ca "$CERTS/ca.pem" --timeout-ms 30000 --heartbeat-ms 500 \
		--scenario hold "$ADDR" >"$f" &
	pid=$!
	check "held session accepted" wait_log '"event":"accepted"' 1 60
	sleep 1
	kill -STOP "$pid"
	stopped=$(date +%s%3N)
	check "server: the heartbeat ended the frozen peer's session" \
		wait_log '"hold_error"' 1 30
	ended=$(api_session 1 | jq -r .ended_at_ms)
	echo "    heartbeat: session ended $((ended - stopped)) ms after the peer froze (bound 1500 ms)"
	check "detected within the bound plus 1.5 s of slack ($((ended - stopped)) ms)" \
		[ "$((ended - stopped))" -le 3000 ]
	check "server: -ETIMEDOUT, 'the peer stopped answering'" \
		api_session_ok 1 '.ok and .hold_ret == -110 and (.hold_error | test("stopped answering"))'
	kill -CONT "$pid"
	wait "$pid" || rc=$?
	check "the connector, let go, fails with a reason (exit $rc)" \
		jq_ok '.ok == false and .hold_ret < 0 and (.hold_error | length > 0)' "$f"
	echo "    connector's error: $(jq -r .hold_error "$f")"
	api_server_done
}

# A peer busy on the data plane does not read its control channel: the connector echoes for
# 4 x the silence bound (heartbeat 200 ms x 3) with the non-blocking calls only, never
# answering the server's PINGs, and the server must still count it alive, since it hears its
# messages (src/cm_msg.c, reap). Before, it ended the session after 600 ms of control-channel
# silence ("the peer stopped answering").
t_api_busy() {
	local f=$OUT/api.busy.json n
	api_serve busy --heartbeat-ms 200 || return
	apic --heartbeat-ms 200 --scenario busy >"$f" || fail "busy failed: $(jq -r .error "$f")"
	check "connector: $(jq -r .messages_verified "$f") echoes in $(jq -r .busy_ms "$f") ms without reading its control channel (silence bound $(jq -r .silence_bound_ms "$f") ms)" \
		jq_ok '.ok and .messages_verified > 0 and .busy_ms >= 4 * .silence_bound_ms' "$f"
	n=$(jq -r '.messages_verified // 0' "$f")
	check "server: the session stayed up and echoed all $n" \
		api_session_ok 1 ".ok and .echoed == $n"
	api_server_done
}

# Key update: with a key change every 4 messages per direction, 100 sealed echoes cross about
# 25 epochs each way, every byte verified on both sides.
t_api_rekey() {
	local f=$OUT/api.rekey.json mode
	for mode in aead chacha20; do
		api_serve "rekey-$mode" --dataplane "$mode" --rekey-messages 4 || return
		apic --dataplane "$mode" --rekey-messages 4 --scenario echo --count 100 >"$f" ||
			fail "$mode echo failed: $(jq -r .error "$f")"
		check "$mode: 100 echoes verified across key updates ($(jq -r .key_updates "$f") updates)" \
			jq_ok '.ok and .messages_verified == 100 and .key_updates >= 40' "$f"
		check "$mode: server echoed 100 across key updates" \
			api_session_ok 1 '.ok and .echoed == 100 and .key_updates >= 40'
		api_server_done
	done
}

# Send slots that grow: a messages QP's send slots start at one page and grow to the largest
# message sent so far, once no send is in flight (src/cm_msg.c). Rounds of three short messages
# and one large one (4,065 bytes to 64 KiB, then smaller), sent back to back so the large one
# waits for the short ones in flight; the server echoes each as it comes, so its slots grow the
# same way. Every byte of the 32 echoes checked, in each data-plane mode.
t_api_sizes() {
	local f=$OUT/api.sizes.json mode
	for mode in aead plain; do
		api_serve "sizes-$mode" --dataplane "$mode" || return
		apic --dataplane "$mode" --scenario sizes >"$f" ||
			fail "$mode: sizes failed: $(jq -r .error "$f")"
		check "$mode: 32 echoes of 24 bytes to 64 KiB verified ($(jq -r .bytes_verified "$f") bytes)" \
			jq_ok '.ok and .messages_verified == 32 and .bytes_verified == 201113' "$f"
		check "$mode: the server echoed 32, its receives sized for its max_msg" \
			api_session_ok 1 '.ok and .echoed == 32 and .recv_max == 65536'
		# 16 send slots (the library's default depth) of one page, then of 64 KiB + 32.
		check "$mode: the connector's send slots grew: pinned $(jq -r .vm_pin_kib_before "$f") KiB, then $(jq -r .vm_pin_kib_after "$f") KiB" \
			jq_ok '.vm_pin_kib_before > 0 and .vm_pin_kib_after - .vm_pin_kib_before >= 900' "$f"
		api_server_done
	done
}

# A declared send limit (srdma_qp_opts.max_send, 1,000 bytes on the connector's QP 0): both
# sides' srdma_msg_limits agree, the listener's receives are sized for it (its recv_max), a
# message one byte longer is refused at the sender, and messages up to the limit are echoed.
# The server's receives in the sizes scenario (no max_send) stay at its max_msg.
t_api_limits() {
	local f=$OUT/api.limits.json
	api_serve limits || return
	apic --scenario limits >"$f" || fail "limits failed: $(jq -r .error "$f")"
	check "connector: send_max $(jq -r .send_max "$f") (declared 1000), recv_max $(jq -r .recv_max "$f"), 1001 bytes refused ($(jq -r .over_limit_ret "$f")), 4 echoes verified" \
		jq_ok '.ok and .send_max == 1000 and .recv_max == 65536 and .over_limit_ret == -90 and .messages_verified == 4' "$f"
	check "listener: receives sized for 1000 bytes, sends up to 65536" \
		api_session_ok 1 '.ok and .recv_max == 1000 and .send_max == 65536 and .echoed == 4'
	api_server_done
}

# The request callback refuses one verified identity: that connector gets ECONNREFUSED and the
# reason; another certificate of the same CA gets in.
t_api_refuse() {
	local dir=$OUT/api-certs rc=0
	mkdir -p "$dir"
	# A second client identity from the demo CA (gen-certs.sh makes one good client only).
	if ! {
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
			-out "$dir/other.key" 2>/dev/null &&
			openssl req -new -key "$dir/other.key" -subj "/CN=srdma-api-other" \
				-out "$dir/other.csr" &&
			printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
				"extendedKeyUsage=clientAuth" >"$dir/other.ext" &&
			openssl x509 -req -in "$dir/other.csr" -CA "$CERTS/ca.pem" \
				-CAkey "$CERTS/ca.key" -CAcreateserial -CAserial "$dir/ca.srl" -days 2 \
				-sha256 -extfile "$dir/other.ext" -out "$dir/other.pem" 2>/dev/null
	}; then
		fail "could not make a second client certificate"
		return
	fi
	api_serve refuse --ca "$CERTS/ca.pem" --refuse-cn srdma-client || return
	apic --cert "$CERTS/client.pem" --key "$CERTS/client.key" --scenario echo --count 1 \
		>"$OUT/api.refused.json" || rc=$?
	check "refused connector exits non-zero (exit $rc)" [ "$rc" != 0 ]
	check "it gets ECONNREFUSED and the callback's reason" \
		jq_ok '.ok == false and .ret == -111 and
			(.error | test("certificate identity srdma-client is not allowed"))' \
		"$OUT/api.refused.json"
	apic --cert "$dir/other.pem" --key "$dir/other.key" --scenario echo --count 3 \
		>"$OUT/api.accepted.json" || fail "the other identity failed: $(jq -r .error "$OUT/api.accepted.json")"
	check "another certificate of the CA is accepted and verified 3 echoes" \
		jq_ok '.ok and .messages_verified == 3' "$OUT/api.accepted.json"
	check "the callback saw srdma-client verified and refused it" \
		jq_ok -s 'map(select(.event == "request" and .peer_cn == "srdma-client" and .verified
			and .refused)) | length == 1' "$SERVER_LOG"
	check "the callback saw srdma-api-other verified and accepted it" \
		jq_ok -s 'map(select(.event == "request" and .peer_cn == "srdma-api-other" and .verified
			and (.refused | not))) | length == 1' "$SERVER_LOG"
	check "the accepted session ended ok" \
		api_session_ok 1 '.ok and .peer_cn == "srdma-api-other"'
	api_server_done 1
	check "server counted 1 refusal" jq_ok -s '.[-1].refused == 1' "$SERVER_LOG"
}

# Device events reach the application: the rxe device's network link goes down and comes back;
# a context that polls srdma_ctx_async_fd() reads "port error" then "port active" for its own
# port from srdma_ctx_async_event(), and srdma-server (which does the same) logs both. Then a
# session works again.
t_api_async() {
	local f=$OUT/api.async.jsonl nd w i
	nd=$(rdma link show "$SRDMA_RXE_DEV/1" | sed -n 's/.* netdev \([^ ]*\).*/\1/p')
	[ -n "$nd" ] || { fail "no network device under $SRDMA_RXE_DEV"; return; }
	start_server async || return
	# Up to 20 events in 5 s (a GID table change may come with the port's).
	"$BIN/srdma-asyncwatch" --ca "$CERTS/ca.pem" -d "$SRDMA_RXE_DEV" --count 20 --seconds 5 >"$f" &
	w=$!
	for i in $(seq 1 300); do
		grep -q '"ready"' "$f" 2>/dev/null && break
		sleep 0.1
	done
	ip link set "$nd" down
	sleep 1
	ip link set "$nd" up
	wait "$w"
	cat "$f"
	check "the context read the port going down, then coming up, on its own port" \
		jq_ok -s '[.[] | select(.event) | select(.own_port and .port == 1)] as $e |
			($e | map(.event) | index("port error")) as $d |
			($e | map(.event) | rindex("port active")) as $u |
			$d != null and $u != null and $d < $u' "$f"
	check "the server logged both device events" \
		bash -c "grep -q 'device event: port error on port 1\$' '$SERVER_LOG' &&
			grep -q 'device event: port active on port 1\$' '$SERVER_LOG'"
	for i in $(seq 1 100); do
		rdma link show "$SRDMA_RXE_DEV/1" | grep -q "state ACTIVE" && break
		sleep 0.1
	done
	client -n 5 --writes 1 >"$OUT/api.async.client.json" || true
	check "a session works after the port came back" json_ok "$OUT/api.async.client.json" 5 1
	stop_server
}

register api_multi_qp api_timing api_regions api_revoke api_msg_write api_heartbeat api_busy api_rekey api_sizes api_limits api_refuse api_async

# --- api_resume: TLS 1.3 session resumption over real RDMA set-ups -------------------------
# srdma-bench setup alternates full handshakes (a context with resumption off) with resumed
# ones (a context with resumption on: each uses the ticket the one before got); every session
# echoes once. The server logs each session's TLS as "resumed" or not, with the verified client
# identity under mutual TLS. Then a server with --resumption off: every handshake is full.
# api_resume_bench NAME K [bench options...]: srdma-bench setup K against the running server.
api_resume_bench() {
	local name=$1 k=$2
	shift 2
	"$BIN/srdma-bench" --ca "$CERTS/ca.pem" --timeout-ms 30000 "$@" --json "$OUT/$name.json" \
		setup "$k" "$ADDR" >"$OUT/$name.txt" 2>&1 || fail "$name: $(tail -n 2 "$OUT/$name.txt")"
	cat "$OUT/$name.txt"
}

t_api_resume() {
	local k=6 n
	start_server resume-on --max-clients 4 || return
	api_resume_bench api-resume-on "$k"
	# The first session has no ticket yet: K fresh (resumption off) + 1, K - 1 resumed.
	check "2K sessions set up and echoed: K + 1 fresh, K - 1 resumed" \
		jq_ok --argjson k "$k" '.ok and .connections_ok == 2 * $k and
			.connections_fresh == $k + 1 and .connections_resumed == $k - 1' \
		"$OUT/api-resume-on.json"
	n=$(grep -c ': connected (.*TLSv1.3 [A-Z0-9_]* resumed, set-up' "$SERVER_LOG")
	check "the server saw $((k - 1)) resumed sessions (saw $n)" [ "$n" = $((k - 1)) ]
	check "resumed set-up p50 and fresh set-up p50 both measured" \
		jq_ok '.fresh.total.t_typical_us > 0 and .resumed.total.t_typical_us > 0' \
		"$OUT/api-resume-on.json"
	echo "    api_resume: set-up p50 fresh $(jq .fresh.total.t_typical_us "$OUT/api-resume-on.json") us," \
		"resumed $(jq .resumed.total.t_typical_us "$OUT/api-resume-on.json") us;" \
		"TLS step fresh $(jq .fresh.tls.t_typical_us "$OUT/api-resume-on.json") us," \
		"resumed $(jq .resumed.tls.t_typical_us "$OUT/api-resume-on.json") us"
	stop_server

	# Mutual TLS: a resumed session carries the client identity the full handshake verified.
	start_server resume-mtls --max-clients 4 --client-ca "$CERTS/ca.pem" || return
	api_resume_bench api-resume-mtls 3 --cert "$CERTS/client.pem" --key "$CERTS/client.key"
	check "mutual TLS: 6 sessions, 2 resumed" \
		jq_ok '.ok and .connections_ok == 6 and .connections_resumed == 2' \
		"$OUT/api-resume-mtls.json"
	n=$(grep -c ': connected (.* resumed, client .*CN=srdma-client.*, set-up' "$SERVER_LOG")
	check "the server saw the verified client identity on every resumed session ($n)" [ "$n" = 2 ]
	stop_server

	# The server's off switch: every handshake full, though the client offers tickets.
	start_server resume-off --max-clients 4 --resumption off || return
	api_resume_bench api-resume-off 3
	check "server --resumption off: 6 fresh sessions, none resumed" \
		jq_ok '.ok and .connections_ok == 6 and .connections_resumed == 0' \
		"$OUT/api-resume-off.json"
	check "the server logged none resumed" \
		bash -c "! grep -q ' resumed, ' '$SERVER_LOG'"
	stop_server
}

register api_resume

# --- api_add_qp: QPs added to an established connection, with no new handshake -------------
# In plain, aead and chacha20 modes, a connector with 1 QP adds 2 messages QPs
# (srdma_conn_add_qp: the first without blocking, -EBUSY for a second add while it is in flight,
# the QP absent until SRDMA_EV_QP_ADDED; the second with srdma_conn_add_qp_wait) to a listener
# that allows 3 QPs per connection (srdma_listener_set_max_qps): a third add is refused with
# -ECONNREFUSED and a reason naming the bound, the session going on. Then a message each way on
# every QP and a srdma_msg_write through QP 2, proved by its tag. The listener's side cannot add
# (-EPERM) and sees SRDMA_EV_QP_ADDED for QPs 1 and 2. The PSNs of all QPs (fresh, from the
# CSPRNG) are distinct and not 0, and each side's view mirrors the other's. Then 10 adds in one
# aead session (a listener allowing 11), timed: their p50 goes to api_add_qp.timing.json.
# api_add_qp_psns FILE: the local and remote PSNs of every QP after the adds.
api_add_qp_psns() {
	jq -r '.qps_after[] | .local_psn, .remote_psn' "$1"
}

# fresh_psns N PSN...: exactly N PSNs, distinct, none 0.
fresh_psns() {
	local want=$1
	shift
	[ "$#" = "$want" ] && all_distinct "$@" && ! printf '%s\n' "$@" | grep -qx 0
}

t_api_add_qp() {
	local m f n psns=()
	for m in plain aead chacha20; do
		api_serve "addqp-$m" --dataplane "$m" --max-qps 3 || return
		f=$OUT/api.add-qp.$m.json
		apic --dataplane "$m" --scenario add-qp --count 2 >"$f" ||
			fail "$m: add-qp failed: $(jq -r .error "$f")"
		# shellcheck disable=SC2016 # $m is jq's
		check "$m: QPs 1 and 2 added (the first at once, -EBUSY meanwhile, no QP before its event)" \
			jq_ok --arg m "$m" '.ok and .dataplane == $m and .nqp == 1 and .nqp_after == 3 and
				.qp_added_events == 2 and .add_in_flight_ret == -16 and
				.qp_null_before_event and (.add_us | length) == 2' "$f"
		check "$m: the add past the listener's bound: -ECONNREFUSED, the reason in errmsg and event" \
			jq_ok '.over_limit_ret == -111 and
				(.over_limit_error | test("refused QP 3.*at most 3 QPs per connection")) and
				(.over_limit_event | test("at most 3 QPs"))' "$f"
		check "$m: after the refusal, a message each way on QPs 0..2 and a write through QP 2" \
			jq_ok '.echoed_qps == 3 and .bytes_written_verified == 4096' "$f"
		api_add_qp_psns "$f" >"$OUT/api.add-qp.$m.psns"
		mapfile -t psns <"$OUT/api.add-qp.$m.psns"
		check "$m: 6 PSNs after the adds (got ${#psns[@]}), distinct, none 0" \
			fresh_psns 6 "${psns[@]}"
		check "$m: the server's local PSNs and QPNs of all 3 QPs are the connector's remote ones" \
			[ "$(jq -c '[.qps_after[] | .remote_psn, .remote_qpn]' "$f")" = \
			"$(api_session 1 | jq -c '[.qps_after[] | .local_psn, .local_qpn]')" ]
		check "$m: server: -EPERM adding on its side, 2 QP_ADDED events, echoes and the write" \
			api_session_ok 1 '.ok and .scenario == "add-qp" and .listener_add_ret == -1 and
				.qp_added_events == 2 and .nqp_after == 3 and .echoed_qps == 3 and
				.bytes_written_verified == 4096'
		api_server_done
	done
	# Adds up to the listener's bound in one session; the add's time against rdma_cm's set-up
	# is measured by bench/side-by-side.sh (srdma-bench setup --add-qp).
	n=4
	api_serve addqp-timing --max-qps $((n + 1)) || return
	f=$OUT/api.add-qp.timing.json
	apic --scenario add-qp --count "$n" >"$f" || fail "timing: add-qp failed: $(jq -r .error "$f")"
	# shellcheck disable=SC2016 # $n is jq's
	check "timing: $n adds timed, the next refused, a message each way on all $((n + 1)) QPs" \
		jq_ok --argjson n "$n" '.ok and .adds == $n and (.add_us | length) == $n and
			.add_p50_us > 0 and .nqp_after == $n + 1 and .over_limit_ret == -111 and
			.echoed_qps == $n + 1' "$f"
	api_add_qp_psns "$f" >"$OUT/api.add-qp.timing.psns"
	mapfile -t psns <"$OUT/api.add-qp.timing.psns"
	check "timing: $((2 * n + 2)) PSNs (got ${#psns[@]}), distinct, none 0" \
		fresh_psns $((2 * n + 2)) "${psns[@]}"
	check "timing: the server saw $n QP_ADDED events" \
		api_session_ok 1 ".ok and .qp_added_events == $n and .nqp_after == $((n + 1))"
	api_server_done
	jq -c '{scenario: "api_add_qp", dataplane, adds, add_p50_us, add_us, connect_us, setup_us}' \
		"$f" >"$OUT/api_add_qp.timing.json"
	echo "    add QP: p50 $(jq -r .add_p50_us "$f") us over $n adds (1-QP connection set-up" \
		"$(jq -r .setup_us "$f") us): $(cat "$OUT/api_add_qp.timing.json")" >&2

	# Bad add steps from a peer that speaks the frames by hand (srdma-badpeer badadd): each
	# ends its connection with ERROR PROTOCOL; srdma-server serves a client afterwards and
	# frees every PD, CQ, QP and MR at shutdown (the QPs of answered adds included).
	local rc=0 out=$OUT/api.add-qp.badadd.out what
	start_server addqp-bad
	"$BIN/srdma-badpeer" --ca "$CERTS/ca.pem" --count 25 --seed 13 -v badadd "$ADDR" \
		>"$out" 2>&1 || rc=$?
	sed 's/^/    /' "$out" | tail -n 6 >&2
	check "badadd: 25 bad add steps, each answered with ERROR PROTOCOL and a close (exit $rc)" \
		[ "$rc" = 0 ]
	for what in "an add of QP" "READY with no add" "QP_REFUSED with no add" \
		"a second QP frame" "abandoned (QP_REFUSED), then READY"; do
		check "badadd: \"$what\" was among them" grep -q "sent [^;]*$what.*as expected" "$out"
	done
	client -n 3 --writes 1 >"$OUT/api.add-qp.after-bad.json" || true
	check "a client is served after the bad adds" json_ok "$OUT/api.add-qp.after-bad.json" 3 1
	stop_server
}

register api_add_qp
