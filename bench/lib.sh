# shellcheck shell=bash
# Helpers shared by bench/side-by-side.sh and bench/scale.sh (sourced, bash). They run inside
# the Soft-RoCE VM (tests/vm/vm-run.sh) or on a host with an RDMA device.

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd -- "$BENCH_DIR/.." && pwd -P)
BIN=${SRDMA_BIN:-$REPO/build}
DEV=${SRDMA_RXE_DEV:-rxe0}
ADDR=${SRDMA_RXE_ADDR:-192.0.2.1}
GID=${SRDMA_RXE_GID_INDEX:-1}
OUT=${SRDMA_BENCH_OUT:-${SRDMA_VM_OUT:-/tmp}/bench}
SRV_PORT=4433
SERVER_PID=

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# wait_port PORT [SECONDS]: until something listens on TCP PORT.
wait_port() {
	local port=$1 secs=${2:-60} _
	for _ in $(seq 1 $((secs * 10))); do
		ss -Hltn "sport = :$port" | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

# wait_gone PORT: until nothing listens on TCP PORT (a reference server has exited).
wait_gone() {
	local _
	for _ in $(seq 1 100); do
		ss -Hltn "sport = :$1" | grep -q . || return 0
		sleep 0.1
	done
	return 1
}

# elapsed T0 T1: seconds between two $EPOCHREALTIME values.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

check_env() {
	[[ -x $BIN/srdma-server && -x $BIN/srdma-bench ]] ||
		die "no srdma-server/srdma-bench in $BIN (build them, or set SRDMA_BIN)"
	command -v jq >/dev/null || die "jq is needed (apt-get install jq)"
	ulimit -l unlimited 2>/dev/null || log "cannot lift the memlock limit: $(ulimit -l) KiB"
	ulimit -n 65536 2>/dev/null || log "cannot raise the descriptor limit: $(ulimit -n)"
	mkdir -p "$OUT" || die "cannot create $OUT"
	# Certificates: SRDMA_CERTS (scripts/gen-certs.sh output, as the tests use) or fresh demo
	# ones in a private temporary directory, removed at exit.
	if [[ -n ${SRDMA_CERTS:-} ]]; then
		CERTS=$SRDMA_CERTS
		[[ -s $CERTS/ca.pem && -s $CERTS/server.pem ]] || die "no certificates in $CERTS"
		return 0
	fi
	# gen-certs.sh uses process substitution (/dev/fd), which the VM's bare devtmpfs lacks.
	[[ -e /dev/fd || ${SRDMA_VM:-0} != 1 ]] || ln -s /proc/self/fd /dev/fd
	CERTS=$(mktemp -d "${TMPDIR:-/tmp}/srdma-bench-certs.XXXXXX") || die "mktemp failed"
	trap 'rm -rf -- "$CERTS"' EXIT
	SRDMA_DEMO_ADDR=$ADDR "$REPO/scripts/gen-certs.sh" "$CERTS" >"$OUT/gen-certs.log" 2>&1 ||
		die "scripts/gen-certs.sh failed: $(tail -n 1 "$OUT/gen-certs.log")"
}

# start_srdma_server NAME [options...]: srdma-server on $SRV_PORT with the demo certificates
# (log in $OUT/NAME.server.log); its PID in SERVER_PID.
start_srdma_server() {
	local name=$1
	shift
	"$BIN/srdma-server" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		-d "$DEV" -x "$GID" -p "$SRV_PORT" "$@" >"$OUT/$name.server.log" 2>&1 &
	SERVER_PID=$!
	wait_port "$SRV_PORT" 60 || die "srdma-server did not start: $(tail -n 3 "$OUT/$name.server.log")"
}

# stop_srdma_server NAME [PID]: SIGTERM; the server must exit 0 having freed every PD, CQ, QP
# and MR (its last log line says so).
stop_srdma_server() {
	local name=$1 pid=${2:-$SERVER_PID} rc=0
	[[ -n $pid ]] || return 0
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	[[ $pid != "$SERVER_PID" ]] || SERVER_PID=
	if [[ $rc != 0 ]]; then
		log "$name: srdma-server exited with status $rc"
		return 1
	fi
	if ! grep -q "shutdown complete: .*live PD 0, CQ 0, QP 0, MR 0" "$OUT/$name.server.log"; then
		log "$name: the server's final count is not all zero"
		return 1
	fi
}

# bench ARGS...: srdma-bench against the server on $SRV_PORT with the demo CA.
bench() {
	"$BIN/srdma-bench" --ca "$CERTS/ca.pem" -d "$DEV" -x "$GID" -p "$SRV_PORT" "$@" "$ADDR"
}

# rxe_caps: the device limits that matter for many connections, as JSON.
rxe_caps() {
	ibv_devinfo -v -d "$DEV" 2>/dev/null | awk '
		/max_qp:/ { q = $2 } /max_cqe:/ { c = $2 } /max_mr:/ { m = $2 } /max_pd:/ { p = $2 }
		/max_qp_wr:/ { w = $2 } /active_mtu:/ { mtu = $2 }
		END { printf "{\"max_qp\":%s,\"max_qp_wr\":%s,\"max_cqe\":%s,\"max_mr\":%s,\"max_pd\":%s,\"active_mtu\":%s}\n",
			q + 0, w + 0, c + 0, m + 0, p + 0, mtu + 0 }'
}

# host_facts: what the numbers were measured on, as JSON.
host_facts() {
	jq -n --arg kernel "$(uname -r)" --arg cpus "$(nproc)" \
		--arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --arg date "$(date -u +%FT%TZ)" \
		--arg vm "${SRDMA_VM:-0}" --argjson caps "$(rxe_caps)" \
		--arg nofile "$(ulimit -n)" --arg memlock "$(ulimit -l)" \
		'{date: $date, kernel: $kernel, cpus: ($cpus | tonumber), loadavg: $load,
		  in_vm: ($vm == "1"), device: $caps, ulimit_nofile: $nofile, ulimit_memlock: $memlock}'
}
