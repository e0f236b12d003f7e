#!/usr/bin/env bash
# The demo, run where an RDMA device exists (inside the Soft-RoCE VM, or on RDMA hardware):
# one srdma-server and 10 srdma-clients at once, each with its own pattern; prints what each
# client verified and the server's final resource count. Exit 0 only if every client verified
# everything and the server freed everything.
set -u
BIN=${SRDMA_BIN:?}
CERTS=${SRDMA_CERTS:?}
ADDR=${SRDMA_RXE_ADDR:-127.0.0.1}
OUT=${SRDMA_VM_OUT:-$(mktemp -d)}
N=${SRDMA_DEMO_CLIENTS:-10}
patterns=(alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike
	november oscar papa quebec romeo sierra tango)

"$BIN/srdma-server" --cert "$CERTS/server.pem" --key "$CERTS/server.key" --max-clients "$N" \
	>"$OUT/demo-server.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
	grep -q "listening on" "$OUT/demo-server.log" && break
	sleep 0.1
done
sed -n 's/^[^ ]* INFO srdma-server: //p' "$OUT/demo-server.log" | head -n 1

pids=()
for i in $(seq 1 "$N"); do
	p=${patterns[$(((i - 1) % ${#patterns[@]}))]}-$i
	"$BIN/srdma-client" --ca "$CERTS/ca.pem" --json --pattern "$p" -n 100 -s 4096 --writes 10 \
		--ping "$ADDR" >"$OUT/demo-client-$i.json" 2>"$OUT/demo-client-$i.err" &
	pids+=($!)
done
bad=0
for i in $(seq 1 "$N"); do
	wait "${pids[$((i - 1))]}" || bad=$((bad + 1))
done
printf '%-7s %-12s %-9s %-9s %-10s %-10s %s\n' client pattern messages writes connect rtt result
for i in $(seq 1 "$N"); do
	jq -r '[.pattern, "\(.messages_verified)/\(.messages_requested)",
		"\(.writes_verified)/\(.writes_requested)",
		(if .connect_us then "\(.connect_us / 1000 | floor) ms" else "-" end),
		(if .ping_rtt_us then "\(.ping_rtt_us | floor) us" else "-" end),
		(if .ok then "verified" else "FAILED: \(.error)" end)] | @tsv' \
		"$OUT/demo-client-$i.json" |
		awk -F'\t' -v i="$i" '{ printf "%-7s %-12s %-9s %-9s %-10s %-10s %s\n", "#" i, $1, $2, $3, $4, $5, $6 }'
done
kill -TERM "$server"
wait "$server"
rc=$?
sed -n 's/^[^ ]* INFO srdma-server: \(shutdown complete.*\)/server: \1/p' "$OUT/demo-server.log"
echo "server exit status $rc; clients failed: $bad of $N"
[ "$bad" = 0 ] && [ "$rc" = 0 ] &&
	grep -q "live PD 0, CQ 0, QP 0, MR 0; connections 0" "$OUT/demo-server.log"
