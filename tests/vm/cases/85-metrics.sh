# Metrics (/metrics, Prometheus text) and statistics (/stats, JSON) of srdma-server
# (--metrics-listen): a real Prometheus server scrapes it under load and answers a PromQL query
# with the session count; promtool checks the exposition; /stats is checked field by field and
# against its totals; no secret of a live session shows in either; the HTTPS listener refuses
# clients without the right certificate.
# shellcheck shell=bash

MX_PORT=19464 # uncommon ports (metrics, and Prometheus below): a host may run its own
MX_PROM_PORT=19090
MX_SESSIONS=10 # sessions held during the scrape: MX_SESSIONS - 1 clients and one test peer
MX_MSGS=20     # DATA messages each client echoes, and RDMA writes it verifies
MX_WRITES=2
# Messages each client sends before it idles: its DATA, one REGION (asking for the write
# region) and a WRITE_DONE per write.
MX_SENT=$((MX_MSGS + 1 + MX_WRITES))

# mx_get PATH FILE [curl options...]: GET http://127.0.0.1:$MX_PORT$PATH into FILE.
mx_get() {
	local path=$1 file=$2
	shift 2
	curl -sS --max-time 20 -o "$file" "$@" "http://127.0.0.1:$MX_PORT$path"
}

# mx_secret_found FILE JSON: the forms in which the held session's secrets (PSNs, rkey, region
# address) appear in FILE as text, space-separated ("" if none). QPNs are left out: rxe numbers
# QPs from a small counter, so their decimal text is any small count.
mx_secret_found() {
	local file=$1 json=$2 name v found=''
	for name in local_psn remote_psn rkey addr; do
		v=$(jq -r ".$name" <<<"$json")
		grep -qwiE -e "$v" -e "$(printf '%x' "$v")" -e "$(printf '0x%x' "$v")" "$file" &&
			found+=" $name"
	done
	printf '%s' "$found"
}

# mx_promql QUERY: the value of the first sample of an instant query to the Prometheus server,
# or "" when it has none yet.
mx_promql() {
	curl -sS --max-time 10 -G --data-urlencode "query=$1" \
		http://127.0.0.1:$MX_PROM_PORT/api/v1/query 2>/dev/null |
		jq -r 'if .status == "success" and (.data.result | length) > 0
			then .data.result[0].value[1] else "" end' 2>/dev/null
}

t_metrics_prometheus() {
	local i prom tsdb fifo peer_json='' answer='' t0 t_ready t_answer found rc pids=()
	if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null ||
		! command -v curl >/dev/null; then
		fail "prometheus, promtool and curl are needed (scripts/install-deps.sh)"
		return
	fi
	start_server metrics --metrics-listen "127.0.0.1:$MX_PORT" -m $((MX_SESSIONS + 2)) || return
	check "the server says where metrics are served" \
		grep -q "metrics and statistics at http://127.0.0.1:$MX_PORT/metrics" "$SERVER_LOG"

	# Load: clients that echo, write, then hold their sessions; and one test peer that holds
	# its session and prints its secrets.
	for i in $(seq 1 $((MX_SESSIONS - 1))); do
		client_bg "$OUT/mx.client$i.json" "$OUT/mx.client$i.err" -n "$MX_MSGS" -s 512 \
			--writes "$MX_WRITES" --idle 120
		pids+=($!)
	done
	# Its commands go through a FIFO on the VM's own /tmp (the work directory's file system
	# has none), opened read-write so that no open blocks.
	fifo=$(mktemp -u /tmp/mx.peer.XXXXXX)
	mkfifo "$fifo" || {
		fail "cannot make a FIFO for the test peer"
		return
	}
	exec 7<>"$fifo"
	"$BIN/srdma-testpeer" --ca "$CERTS/ca.pem" --timeout-ms 30000 hold "$ADDR" \
		<"$fifo" >"$OUT/mx.peer.out" 2>"$OUT/mx.peer.err" &
	pids+=($!)
	printf 'write\necho 3\n' >&7
	for i in $(seq 1 600); do
		[ "$(grep -c '^ok' "$OUT/mx.peer.out" 2>/dev/null)" -ge 2 ] && break
		sleep 0.1
	done
	peer_json=$(head -n 1 "$OUT/mx.peer.out")
	check "the test peer holds a session (secrets known)" jq -e '.local_psn' <<<"$peer_json" >/dev/null
	check "$MX_SESSIONS sessions held" wait_clients "$MX_SESSIONS" 60
	# Until every client has echoed and written all it was asked to (they then idle).
	for i in $(seq 1 300); do
		mx_get /stats "$OUT/mx.stats.json" || break
		jq -e --argjson n "$MX_SESSIONS" --argjson m $MX_SENT \
			'[.sessions[] | select(.messages_in == $m)] | length == $n - 1' \
			"$OUT/mx.stats.json" >/dev/null 2>&1 && break
		sleep 0.2
	done

	# A real Prometheus server scrapes it every second. (Started once the sessions are up: under
	# emulation its start-up takes the CPUs for many seconds, which handshakes started at the
	# same time would have to share.)
	tsdb=$(mktemp -d /tmp/prom.XXXXXX)
	cat >"$OUT/mx.prometheus.yml" <<-EOF
		global:
		  scrape_interval: 1s
		  scrape_timeout: 1s
		scrape_configs:
		  - job_name: srdma
		    static_configs:
		      - targets: ['127.0.0.1:$MX_PORT']
	EOF
	t0=$EPOCHREALTIME
	prometheus --config.file="$OUT/mx.prometheus.yml" --storage.tsdb.path="$tsdb" \
		--web.listen-address=127.0.0.1:$MX_PROM_PORT >"$OUT/mx.prometheus.log" 2>&1 &
	prom=$!
	for i in $(seq 1 600); do
		curl -sf --max-time 2 http://127.0.0.1:$MX_PROM_PORT/-/ready >/dev/null 2>&1 && break
		kill -0 "$prom" 2>/dev/null || break
		sleep 0.1
	done
	t_ready=$EPOCHREALTIME
	# PromQL must count the sessions once they are all up.
	for i in $(seq 1 300); do
		answer=$(mx_promql srdma_sessions_active)
		[ "$answer" = "$MX_SESSIONS" ] && break
		sleep 0.2
	done
	t_answer=$EPOCHREALTIME
	echo "    prometheus ready after $(awk -v a="$t0" -v b="$t_ready" 'BEGIN { printf "%.1f", b - a }') s," \
		"answer after $(awk -v a="$t0" -v b="$t_answer" 'BEGIN { printf "%.1f", b - a }') s:" \
		"srdma_sessions_active = $answer" >&2
	check "PromQL srdma_sessions_active answers $MX_SESSIONS (got \"$answer\")" [ "$answer" = "$MX_SESSIONS" ]
	answer=$(mx_promql 'sum(srdma_sessions{state=~"active|throttled|queued"})')
	check "PromQL sum of sessions by state answers $MX_SESSIONS (got \"$answer\")" \
		[ "$answer" = "$MX_SESSIONS" ]
	answer=$(mx_promql 'up{job="srdma"}')
	check "Prometheus sees the target up (got \"$answer\")" [ "$answer" = 1 ]
	kill -TERM "$prom" 2>/dev/null
	wait "$prom" 2>/dev/null
	rm -rf "$tsdb"

	# The exposition itself, under promtool's rules.
	mx_get /metrics "$OUT/mx.metrics.txt" || fail "GET /metrics failed"
	rc=0
	promtool check metrics <"$OUT/mx.metrics.txt" >"$OUT/mx.promtool.txt" 2>&1 || rc=$?
	check "promtool check metrics passes (exit $rc: $(head -c 300 "$OUT/mx.promtool.txt"))" [ "$rc" = 0 ]
	check "/metrics counts the sessions" grep -qx "srdma_sessions_active $MX_SESSIONS" "$OUT/mx.metrics.txt"
	check "/metrics counts the connections accepted" \
		grep -qx "srdma_connections_accepted_total $MX_SESSIONS" "$OUT/mx.metrics.txt"
	check "/metrics has the set-up histogram with one observation per session" \
		grep -qx "srdma_setup_duration_seconds_count $MX_SESSIONS" "$OUT/mx.metrics.txt"
	check "/metrics has the device's port counters (rxe0 hw_counters)" \
		grep -qE "^srdma_port_(out_of_seq_request|duplicate_request|rcvd_seq_err)_total\{device=\"$SRDMA_RXE_DEV\",port=\"1\"\} [0-9]+$" \
		"$OUT/mx.metrics.txt"
	check "/metrics has per-worker busy time" grep -qE '^srdma_worker_busy_seconds_total\{worker="0"\} [0-9.]+$' \
		"$OUT/mx.metrics.txt"

	# /stats: every session with its fields; the totals agree with the sessions.
	mx_get /stats "$OUT/mx.stats.json" || fail "GET /stats failed"
	check "/stats lists $MX_SESSIONS sessions with id, peer, state, age, mode, counts" \
		jq_ok --argjson n "$MX_SESSIONS" '(.sessions | length) == $n and all(.sessions[];
			(.id | type) == "number" and (.peer | startswith("'"$ADDR"':")) and .identity == null
			and .state == "active" and .age_seconds > 0 and .dataplane == "aead"
			and (.worker | type) == "number" and .messages_in >= 1 and .messages_out > .messages_in
			and .bytes_in >= .messages_in and .bytes_out >= .bytes_in)' "$OUT/mx.stats.json"
	check "/stats: the clients' sessions show exactly the $MX_SENT messages each sent" \
		jq_ok --argjson n "$MX_SESSIONS" --argjson m $MX_SENT \
		'[.sessions[] | select(.messages_in == $m)] | length == $n - 1' "$OUT/mx.stats.json"
	check "/stats: session ids are distinct" \
		jq_ok '[.sessions[].id] | length == (unique | length)' "$OUT/mx.stats.json"
	check "/stats totals equal the sums over the sessions (none has ended)" \
		jq_ok '.totals as $t | .totals.sessions_active == (.sessions | length)
			and $t.messages_in == ([.sessions[].messages_in] | add)
			and $t.messages_out == ([.sessions[].messages_out] | add)
			and $t.bytes_in == ([.sessions[].bytes_in] | add)
			and $t.bytes_out == ([.sessions[].bytes_out] | add)
			and $t.connections_accepted == (.sessions | length)' "$OUT/mx.stats.json"

	# No secret of the held session in either output; the search itself finds them where they
	# are (the test peer's own output).
	found=$(mx_secret_found "$OUT/mx.metrics.txt" "$peer_json")
	check "no PSN, rkey or region address in /metrics:$found" [ -z "$found" ]
	found=$(mx_secret_found "$OUT/mx.stats.json" "$peer_json")
	check "no PSN, rkey or region address in /stats:$found" [ -z "$found" ]
	head -n 1 "$OUT/mx.peer.out" >"$OUT/mx.peer.secrets"
	found=$(mx_secret_found "$OUT/mx.peer.secrets" "$peer_json")
	check "positive control: the search finds the secrets in the test peer's output:$found" \
		[ "$found" = " local_psn remote_psn rkey addr" ]

	printf 'quit\n' >&7
	exec 7>&-
	rm -f "$fifo"
	kill -TERM "${pids[@]}" 2>/dev/null
	wait "${pids[@]}"
	check "every session ended" wait_clients 0 60
	# The clients quit on SIGTERM (QUIT, BYE), as the test peer did on its command.
	mx_get /metrics "$OUT/mx.metrics.end.txt" || fail "GET /metrics failed"
	check "/metrics after the end: no session" grep -qx 'srdma_sessions_active 0' "$OUT/mx.metrics.end.txt"
	check "/metrics after the end: $MX_SESSIONS sessions closed by quit" \
		grep -qxF "srdma_sessions_closed_total{reason=\"quit\"} $MX_SESSIONS" "$OUT/mx.metrics.end.txt"
	stop_server
}

t_metrics_https() {
	local code rc pid
	command -v curl >/dev/null || {
		fail "curl is needed (scripts/install-deps.sh)"
		return
	}
	# A bad address is refused at start, naming the setting.
	rc=0
	"$BIN/srdma-server" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--metrics-listen 127.0.0.1 >"$OUT/mx.bad.out" 2>&1 || rc=$?
	check "a bad --metrics-listen is refused at start (exit $rc)" [ "$rc" = 2 ]
	check "the message names metrics_listen" grep -q 'metrics_listen: "127.0.0.1" is not ADDR:PORT' "$OUT/mx.bad.out"

	start_server metrics-https --client-ca "$CERTS/ca.pem" --metrics-listen "127.0.0.1:$MX_PORT" \
		--metrics-cert "$CERTS/server.pem" --metrics-key "$CERTS/server.key" \
		--metrics-client-ca "$CERTS/ca.pem" || return
	check "the server says HTTPS with client certificates" \
		grep -q "metrics and statistics at https://127.0.0.1:$MX_PORT/metrics and /stats, client certificates required" \
		"$SERVER_LOG"
	client_bg "$OUT/mx.https.client.json" "$OUT/mx.https.client.err" \
		--cert "$CERTS/client.pem" --key "$CERTS/client.key" -n 3 --idle 120
	pid=$!
	check "one session held" wait_clients 1 60
	# A client without a certificate is refused by mutual TLS: counted as such.
	client -n 1 >"$OUT/mx.https.nocert.json" 2>&1 && fail "a client without a certificate was served"

	https() { # https PATH FILE [curl options]: the HTTP status, "000" if none
		local path=$1 file=$2
		shift 2
		curl -s --max-time 20 -o "$file" -w '%{http_code}' --cacert "$CERTS/ca.pem" "$@" \
			"https://127.0.0.1:$MX_PORT$path"
	}
	code=$(https /metrics "$OUT/mx.https.none.txt")
	check "no client certificate: refused (HTTP $code)" [ "$code" = 403 ]
	check "no client certificate: nothing served" bash -c "! grep -qs srdma_ '$OUT/mx.https.none.txt'"
	code=$(https /stats "$OUT/mx.https.other.txt" --cert "$CERTS/other-client.pem" \
		--key "$CERTS/other-client.key")
	check "a certificate from another CA: refused (HTTP $code)" [ "$code" = 403 ]
	check "another CA: nothing served" bash -c "! grep -qs sessions '$OUT/mx.https.other.txt'"
	code=$(https /metrics "$OUT/mx.https.expired.txt" --cert "$CERTS/expired-client.pem" \
		--key "$CERTS/expired-client.key")
	check "an expired certificate: refused (HTTP $code)" [ "$code" = 403 ]
	code=$(curl -s --max-time 20 -o "$OUT/mx.https.plain.txt" -w '%{http_code}' \
		"http://127.0.0.1:$MX_PORT/metrics")
	check "plain HTTP to the HTTPS listener: nothing served (HTTP $code)" \
		bash -c "[ '$code' != 200 ] && ! grep -qs srdma_ '$OUT/mx.https.plain.txt'"
	code=$(https /metrics "$OUT/mx.https.metrics.txt" --cert "$CERTS/client.pem" --key "$CERTS/client.key")
	check "the right client certificate: served (HTTP $code)" [ "$code" = 200 ]
	check "  and it counts the session" grep -qx "srdma_sessions_active 1" "$OUT/mx.https.metrics.txt"
	check "  and promtool accepts it" promtool check metrics <"$OUT/mx.https.metrics.txt"
	check "  and it counts the client refused for its missing certificate" \
		grep -qxF 'srdma_connections_refused_total{reason="certificate"} 1' "$OUT/mx.https.metrics.txt"
	code=$(https /stats "$OUT/mx.https.stats.json" --cert "$CERTS/client.pem" --key "$CERTS/client.key")
	check "/stats over HTTPS: served (HTTP $code)" [ "$code" = 200 ]
	check "/stats shows the session's verified certificate identity" \
		jq_ok '(.sessions | length) == 1 and (.sessions[0].identity | test("CN=srdma-client"))' \
		"$OUT/mx.https.stats.json"
	code=$(https /nothing "$OUT/mx.https.404.txt" --cert "$CERTS/client.pem" --key "$CERTS/client.key")
	check "an unknown path: 404 (HTTP $code)" [ "$code" = 404 ]
	check "the refusals are logged" grep -q "metrics: request from 127.0.0.1 refused: no client certificate" \
		"$SERVER_LOG"
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	wait_clients 0 60 >/dev/null
	stop_server
}

register metrics_prometheus metrics_https
