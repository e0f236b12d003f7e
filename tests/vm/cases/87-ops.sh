# Operating srdma-server: reload (SIGHUP and srdma-server --reload) while sessions run, and the
# systemd notifications (READY, RELOADING, WATCHDOG, STOPPING) seen on a NOTIFY_SOCKET.
# shellcheck shell=bash

OPS_SESSIONS=10 # sessions running through the certificate rotation
OPS_MSGS=50 # messages each of them echoes after the rotation, and RDMA writes it verifies
OPS_WRITES=5
# Emulated CPUs shared with other work can take tens of seconds per set-up: generous deadlines
# (the test is about what a reload changes, not about speed).
OPS_DEADLINE_MS=120000

# The sessions that live through the reloads are srdma-testpeer "hold" sessions, each reading its
# commands from a FIFO: they answer the heartbeat while they wait, and do their work (echoes,
# RDMA writes, a verify) only after the rotation, on keys and QPs made under the old
# certificate. OPS_PIDS[i], OPS_FDS[i]: the i-th one's process and the write end of its FIFO.
OPS_PIDS=()
OPS_FDS=()

# ops_hold_start DIR FIFODIR I: start held session I and wait for its secrets line (it is then
# established); 1 if it did not come. FIFODIR is not on the work directory's 9p share, which
# has no FIFOs.
ops_hold_start() {
	local d=$1 fifo=$2/in.$3 i=$3 fd _
	mkfifo "$fifo" || return 1
	"$BIN/srdma-testpeer" --ca "$CERTS/ca.pem" --timeout-ms "$OPS_DEADLINE_MS" hold "$ADDR" \
		<"$fifo" >"$d/hold.$i.out" 2>"$d/hold.$i.err" &
	OPS_PIDS+=($!)
	exec {fd}>"$fifo"
	OPS_FDS+=("$fd")
	for _ in $(seq 1 1200); do
		[ -s "$d/hold.$i.out" ] && return 0
		kill -0 "${OPS_PIDS[-1]}" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# ops_hold_go I: send held session I its work (echoes, RDMA writes, a verify) and "quit", and
# close its FIFO.
ops_hold_go() {
	local fd=${OPS_FDS[$(($1 - 1))]} _
	{
		printf 'echo %s\n' "$OPS_MSGS"
		for _ in $(seq 1 "$OPS_WRITES"); do
			printf 'write\n'
		done
		printf 'verify\nquit\n'
	} >&"$fd"
	exec {fd}>&-
}

# ops_hold_done DIR I: wait for held session I; 0 when every command answered "ok" (its output
# is the secrets line, then one answer per command).
ops_hold_done() {
	local d=$1 i=$2
	wait "${OPS_PIDS[$((i - 1))]}" 2>/dev/null
	[ "$(tail -n +2 "$d/hold.$i.out" | grep -c '^ok$')" = $((OPS_WRITES + 3)) ]
}

# ops_start NAME CONFIG [server options...]: srdma-server with CONFIG alone (no --cert/--key
# flags, which would override the file and pin the files a reload reads); sets SERVER_PID and
# SERVER_LOG as start_server does, so stop_server applies.
ops_start() {
	local name=$1 conf=$2
	shift 2
	SERVER_LOG=$OUT/$name.server.log
	"$BIN/srdma-server" --config "$conf" --handshake-timeout-ms 30000 "$@" >"$SERVER_LOG" 2>&1 &
	SERVER_PID=$!
	wait_listening
}

# ops_conf FILE CERT KEY [more "key = value" lines...]
ops_conf() {
	local file=$1 cert=$2 key=$3
	shift 3
	printf '[server]\ncert = %s\nkey = %s\n' "$cert" "$key" >"$file"
	[ $# -eq 0 ] || printf '%s\n' "$@" >>"$file"
}

# ops_new_pki DIR: a second CA (new-ca.pem) and a server certificate it signed
# (new-server.pem/.key) for the same names as the demo one; a PEM file that is not one
# (garbage.pem).
ops_new_pki() {
	local d=$1
	(
		cd "$d" || exit 1
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out new-ca.key &&
			openssl req -x509 -new -key new-ca.key -sha256 -days 30 \
				-subj "/CN=secure-rdma rotated CA" \
				-addext "basicConstraints=critical,CA:TRUE" \
				-addext "keyUsage=critical,keyCertSign,cRLSign" -out new-ca.pem &&
			openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
				-out new-server.key &&
			openssl req -new -key new-server.key -subj "/CN=localhost" -out new-server.csr &&
			printf '%s\n' "basicConstraints=CA:FALSE" \
				"keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
				"subjectAltName=DNS:localhost,IP:127.0.0.1,IP:$ADDR" >new-server.ext &&
			openssl x509 -req -in new-server.csr -CA new-ca.pem -CAkey new-ca.key \
				-CAcreateserial -days 30 -sha256 -extfile new-server.ext \
				-out new-server.pem &&
			printf -- '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n' \
				>garbage.pem
	) >"$d/pki.log" 2>&1
}

# ops_reload_cli WANT_EXIT LOG_PATTERN WHAT: srdma-server --reload against the server; its exit
# status must be WANT_EXIT and the server log must gain a line matching LOG_PATTERN.
ops_reload_cli() {
	local want=$1 pat=$2 what=$3 before rc=0
	before=$(grep -c -- "$pat" "$SERVER_LOG")
	"$BIN/srdma-server" --reload "$SERVER_PID" 2>>"$OUT/ops.reload.err" || rc=$?
	check "$what: srdma-server --reload exit $rc, expected $want" [ "$rc" = "$want" ]
	check "$what: the server logged /$pat/" wait_log "$pat" $((before + 1)) 10
}

# ops_tls_refused FILE: a client's JSON says it failed on the server's certificate.
ops_tls_refused() {
	jq_ok '.ok == false and (.error | test("certificate|verif"; "i"))' "$1"
}

# Rotate the server certificate to one from a new CA while OPS_SESSIONS sessions run: bad files
# (missing, not PEM, a key of another certificate, a bad config value) are refused with a line
# naming the file and change nothing; a setting that needs a restart is logged and kept; then
# the rotation: a new client that trusts only the old CA is refused, one that trusts the new CA
# is served, and the sessions set up before all this then echo, RDMA-write and verify on what
# they made under the old certificate, every byte checked.
t_reload() {
	local d=$OUT/ops-reload conf i rc got fifos
	mkdir -p "$d"
	conf=$d/server.conf
	cp "$CERTS/server.pem" "$CERTS/server.key" "$d/"
	ops_new_pki "$d" || {
		fail "cannot make the second CA: $(tail -n 3 "$d/pki.log")"
		return
	}
	ops_conf "$conf" "$d/server.pem" "$d/server.key" "max_clients = 20"
	ops_start ops-reload "$conf" --handshake-timeout-ms "$OPS_DEADLINE_MS" || return

	# One after another: set-ups at once share the emulated CPUs and each takes as much longer.
	OPS_PIDS=() OPS_FDS=()
	fifos=$(mktemp -d /tmp/srdma-reload.XXXXXX)
	for i in $(seq 1 "$OPS_SESSIONS"); do
		ops_hold_start "$d" "$fifos" "$i" || break
	done
	check "$OPS_SESSIONS sessions running before the reloads" wait_clients "$OPS_SESSIONS" 30

	# Bad files and values: each refused, naming the file, nothing changed.
	ops_conf "$conf" "$d/missing.pem" "$d/server.key" "max_clients = 20"
	ops_reload_cli 1 "reload refused.*$d/missing.pem" "missing certificate"
	ops_conf "$conf" "$d/garbage.pem" "$d/server.key" "max_clients = 20"
	ops_reload_cli 1 "reload refused.*$d/garbage.pem" "certificate that is not PEM"
	ops_conf "$conf" "$d/new-server.pem" "$d/server.key" "max_clients = 20"
	ops_reload_cli 1 "reload refused.*$d/server.key does not match certificate $d/new-server.pem" \
		"key of another certificate"
	ops_conf "$conf" "$d/new-server.pem" "$d/new-server.key" "max_clients = 0"
	ops_reload_cli 1 "reload refused.*$conf:4: max_clients" "max_clients = 0"
	ops_conf "$conf" "$d/new-server.pem" "$d/new-server.key" "max_clients = 20" \
		"not a config line"
	ops_reload_cli 1 "reload refused.*$conf:5: syntax error" "a line that is not key = value"
	# A restart-only change is logged and kept; the rest of that reload applies (the same files).
	ops_conf "$conf" "$d/server.pem" "$d/server.key" "max_clients = 20" "workers = 1" \
		"port = 4999"
	ops_reload_cli 0 "port changed from 4433 to 4999, which needs a restart; keeping 4433" \
		"port changed"
	check "workers change logged as needing a restart" \
		grep -q "reload: workers changed from [0-9]* to 1, which needs a restart" "$SERVER_LOG"
	check "a client that trusts the old CA is still served after the refused reloads" \
		client --timeout-ms "$OPS_DEADLINE_MS" --pattern after-refusals -n 1 >"$d/after-refusals.json" 2>"$d/after-refusals.err"
	check "... and its message verified" json_ok "$d/after-refusals.json" 1 0
	check "still $OPS_SESSIONS sessions (after the refusals)" wait_clients "$OPS_SESSIONS" 30

	# The rotation, by a plain SIGHUP.
	ops_conf "$conf" "$d/new-server.pem" "$d/new-server.key" "max_clients = 20"
	kill -HUP "$SERVER_PID"
	check "the server logged the rotation" wait_log "reloaded: certificate $d/new-server.pem" 1 30
	check "all $OPS_SESSIONS sessions alive after the rotation" wait_clients "$OPS_SESSIONS" 10

	rc=0
	client --timeout-ms "$OPS_DEADLINE_MS" --pattern old-ca -n 1 >"$d/old-ca.json" 2>"$d/old-ca.err" || rc=$?
	check "a new client trusting only the old CA fails (exit $rc)" [ "$rc" != 0 ]
	check "... on the server's certificate: $(jq -c .error "$d/old-ca.json" 2>/dev/null)" \
		ops_tls_refused "$d/old-ca.json"
	rc=0
	"$CLIENT_BIN/srdma-client" --ca "$d/new-ca.pem" --json --timeout-ms "$OPS_DEADLINE_MS" \
		--pattern new-ca -n 3 \
		--writes 2 "$ADDR" >"$d/new-ca.json" 2>"$d/new-ca.err" || rc=$?
	check "a new client trusting the new CA is served (exit $rc: $(jq -c .error "$d/new-ca.json" 2>/dev/null))" \
		json_ok "$d/new-ca.json" 3 2

	for i in $(seq 1 ${#OPS_PIDS[@]}); do
		ops_hold_go "$i"
	done
	for i in $(seq 1 ${#OPS_PIDS[@]}); do
		check "session $i (set up under the old certificate): $OPS_MSGS echoes, $OPS_WRITES writes and a verify after the rotation" \
			ops_hold_done "$d" "$i" ||
			echo "    session $i answered: $(tail -n +2 "$d/hold.$i.out" | tr '\n' ' ')" >&2
	done
	rm -rf "$fifos"
	got=$(grep -c "reload refused" "$SERVER_LOG")
	check "five reloads refused, $got logged" [ "$got" = 5 ]
	stop_server
}

# The systemd protocol, against notify-listen on a NOTIFY_SOCKET: READY=1 once the server
# accepts connections, WATCHDOG=1 at the period WATCHDOG_USEC asks for, RELOADING=1 then
# READY=1 around a reload (good or refused), STOPPING=1 on SIGTERM. The log is JSON lines.
t_notify() {
	local d=$OUT/ops-notify sock log conf wd_us=400000 n i rc avg got
	mkdir -p "$d"
	# Not in the work directory: a 9p share has no unix sockets.
	sock=$(mktemp -d /tmp/srdma-notify.XXXXXX)/notify.sock
	log=$d/notify.log
	conf=$d/server.conf
	: >"$log"
	ops_conf "$conf" "$CERTS/server.pem" "$CERTS/server.key"
	"$BIN/notify-listen" "$sock" "$log" 2>"$d/notify.err" &
	local listener=$!
	for i in $(seq 1 50); do
		[ -S "$sock" ] && break
		sleep 0.1
	done
	check "notify-listen bound $sock" [ -S "$sock" ]

	NOTIFY_SOCKET=$sock WATCHDOG_USEC=$wd_us ops_start ops-notify "$conf" --log-format json ||
		{ kill "$listener"; wait "$listener"; return; }
	for i in $(seq 1 100); do
		grep -q " READY=1$" "$log" && break
		sleep 0.1
	done
	check "READY=1 received" grep -q " READY=1$" "$log"
	check "READY=1 came with a STATUS" grep -q " STATUS=listening on port 4433" "$log"
	check "a client is served right after READY=1" \
		client --pattern notify -n 1 >"$d/client.json" 2>"$d/client.err"
	check "... its message verified" json_ok "$d/client.json" 1 0

	sleep 3
	n=$(grep -c " WATCHDOG=1$" "$log")
	check "WATCHDOG=1 repeated: $n pings in over 3 s at WATCHDOG_USEC=$wd_us" [ "$n" -ge 6 ]
	# On average within the period systemd would enforce (the server aims at half of it). Single
	# gaps are not checked: the emulated VM itself stalls for a second at times.
	avg=$(awk '$2 == "WATCHDOG=1" { if (!f) f = $1; l = $1; n++ } END { print (n > 1 ? int((l - f) / (n - 1)) : 99999) }' "$log")
	check "mean watchdog interval $avg ms, at most $((wd_us / 1000)) ms" [ "$avg" -le $((wd_us / 1000)) ]

	kill -HUP "$SERVER_PID"
	check "the reload was logged" wait_log '"event":"reload","result":"ok"' 1 20
	ops_conf "$conf" "$CERTS/server.pem" "$CERTS/missing.key"
	rc=0
	"$BIN/srdma-server" --reload "$SERVER_PID" 2>"$d/reload.err" || rc=$?
	check "a refused reload: --reload exits 1 (got $rc)" [ "$rc" = 1 ]
	sleep 0.5
	# The non-watchdog states in order: READY, RELOADING, READY, RELOADING, READY.
	got=$(awk '$2 ~ /^(READY|RELOADING|STOPPING)=1$/ { printf "%s ", $2 }' "$log")
	check "READY, then RELOADING/READY around each of the two reloads: $got" \
		[ "$got" = "READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 " ]
	check "RELOADING=1 carries MONOTONIC_USEC" grep -q " MONOTONIC_USEC=[0-9]*$" "$log"

	stop_server
	got=$(awk '$2 ~ /^(READY|RELOADING|STOPPING)=1$/ { s = $2 } END { print s }' "$log")
	check "STOPPING=1 last after SIGTERM (got $got)" [ "$got" = "STOPPING=1" ]
	# Every line of the log is one JSON object with the fixed members.
	n=$(jq -c 'select(.time and .level and .message and .program == "srdma-server")' \
		"$SERVER_LOG" 2>/dev/null | wc -l)
	check "every server log line is JSON: $n of $(wc -l <"$SERVER_LOG")" \
		[ "$n" -gt 0 -a "$n" = "$(wc -l <"$SERVER_LOG")" ]
	check "the refused reload logged its error as a field" \
		jq_ok -s 'any(.[]; .event == "reload" and .result == "refused" and (.error | test("missing.key")))' \
		"$SERVER_LOG"

	# Without WATCHDOG_USEC: READY=1, and no ping at all.
	: >"$log"
	ops_conf "$conf" "$CERTS/server.pem" "$CERTS/server.key"
	NOTIFY_SOCKET=$sock ops_start ops-notify-nowd "$conf" || { kill "$listener"; wait "$listener"; return; }
	for i in $(seq 1 100); do
		grep -q " READY=1$" "$log" && break
		sleep 0.1
	done
	check "READY=1 without a watchdog" grep -q " READY=1$" "$log"
	sleep 2
	check "no WATCHDOG=1 without WATCHDOG_USEC" [ "$(grep -c " WATCHDOG=1$" "$log")" = 0 ]
	stop_server
	kill "$listener" 2>/dev/null
	wait "$listener" 2>/dev/null
	rm -rf "$(dirname "$sock")"
}

register reload notify
