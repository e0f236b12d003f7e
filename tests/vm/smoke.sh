#!/bin/bash
#
# Smoke test of the Soft-RoCE VM: run inside it with
#   tests/vm/vm-run.sh -- tests/vm/smoke.sh
# Shows the rxe device, then runs an ibv_rc_pingpong server/client pair over
# rxe0 (RoCE v2, GID index 1) and checks that both sides succeed.
#
# Environment: SMOKE_ITERS (default 500), SMOKE_SIZE (bytes, default 64).

set -euo pipefail

if [[ ${SRDMA_VM:-} != 1 ]]; then
    echo "smoke.sh: run it inside the VM: tests/vm/vm-run.sh -- tests/vm/smoke.sh" >&2
    exit 2
fi

dev=${SRDMA_RXE_DEV:-rxe0}
addr=${SRDMA_RXE_ADDR:-192.0.2.1}
gid=${SRDMA_RXE_GID_INDEX:-1}
iters=${SMOKE_ITERS:-500}
size=${SMOKE_SIZE:-64}
port=18515
logdir=$(mktemp -d)
trap 'rm -rf -- "$logdir"' EXIT

echo "== ibv_devinfo -d $dev"
ibv_devinfo -d "$dev"

pingpong=(ibv_rc_pingpong -d "$dev" -g "$gid" -n "$iters" -s "$size" -p "$port")

echo "== ${pingpong[*]} (server) / ${pingpong[*]} $addr (client)"
timeout 120 "${pingpong[@]}" >"$logdir/server.log" 2>&1 &
server_pid=$!

# Wait for the server's TCP listener before starting the client.
for _ in $(seq 100); do
    if ss -Hltn "sport = :$port" | grep -q .; then
        break
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done

client_rc=0
timeout 120 "${pingpong[@]}" "$addr" >"$logdir/client.log" 2>&1 || client_rc=$?
server_rc=0
wait "$server_pid" || server_rc=$?

echo "-- server (exit status $server_rc):"
cat "$logdir/server.log"
echo "-- client (exit status $client_rc):"
cat "$logdir/client.log"

if (( server_rc != 0 || client_rc != 0 )); then
    echo "smoke: FAIL (server $server_rc, client $client_rc)" >&2
    exit 1
fi
line=$(grep 'usec/iter' "$logdir/client.log" || true)
if [[ -z $line ]]; then
    echo "smoke: FAIL (no usec/iter line from the client)" >&2
    exit 1
fi
echo "smoke: PASS: $line"
