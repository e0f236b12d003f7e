#!/usr/bin/env bash
# An outside TLS audit of srdma-server with testssl.sh (Debian package testssl.sh).
#
# The server runs where RDMA is (the Soft-RoCE VM when this machine has no device; vm-run.sh
# --hostfwd forwards a port on 127.0.0.1 here to it) and testssl.sh runs on this machine
# against it, twice:
#   - default settings (TLS 1.3 only): no finding of severity MEDIUM or above;
#   - --tls-min 1.2: TLS 1.2 offers only forward-secret AEAD suites (no CBC, no suite without
#     ECDHE), and negotiates Extended Master Secret (the server refuses a 1.2 client without it:
#     tests/host/test_tls_loopback.c).
# Prints one "PASS name" / "FAIL name: why" line per check and ends with "N passed, N failed".
#
#   tests/tls/audit.sh BIN CERTS OUT    BIN: the srdma-server's directory; CERTS: gen-certs.sh's
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=$1 certs=$2 out=$3
passed=0 failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}
command -v testssl >/dev/null || { fail "tls_audit: testssl (Debian package testssl.sh) is not installed"; finish; }
mkdir -p "$out"
rm -f "$out"/{up,done,*.json,*.log}

# Two free ports here, forwarded to 4433 (defaults) and 4434 (--tls-min 1.2) in the VM.
free_port() {
	local p
	for p in $(shuf -i 20000-60000 -n 50); do
		ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}
p13=$(free_port)
p12=$(free_port)
while [ "$p12" = "$p13" ]; do p12=$(free_port); done

guest=$out/guest.sh
cat >"$guest" <<GUEST
#!/usr/bin/env bash
# Inside the VM: two servers, then wait until the host's audit is done.
"$bin/srdma-server" --cert "$certs/server.pem" --key "$certs/server.key" --bind 0.0.0.0 \
	--port 4433 >/tmp/vmwork/server13.log 2>&1 &
s13=\$!
"$bin/srdma-server" --cert "$certs/server.pem" --key "$certs/server.key" --bind 0.0.0.0 \
	--port 4434 --tls-min 1.2 >/tmp/vmwork/server12.log 2>&1 &
s12=\$!
for i in \$(seq 1 300); do
	grep -q "listening on" /tmp/vmwork/server13.log && grep -q "listening on" /tmp/vmwork/server12.log && break
	sleep 0.1
done
touch /tmp/vmwork/up
# Wait for the host's audit to end with builtins only: under TCG a sleep process ten times a
# second would take much of this VM's one CPU from the servers. (A read with a timeout on a
# FIFO that never has data.)
mkfifo /tmp/nap && exec {nap}<>/tmp/nap
for i in \$(seq 1 1800); do [ -e /tmp/vmwork/done ] && break; read -r -t 0.5 -u \$nap _; done
kill -TERM \$s13 \$s12
wait \$s13; r13=\$?
wait \$s12; r12=\$?
echo "servers exited \$r13 \$r12"
[ \$r13 = 0 ] && [ \$r12 = 0 ]
GUEST
chmod +x "$guest"
if [ -d /sys/class/infiniband ] && [ -n "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
	fail "tls_audit: this machine has an RDMA device; run the servers here by hand (not automated)"
	finish
fi
# One CPU: the servers mostly wait for testssl, and the two-host phase runs beside this one.
"$top/tests/vm/vm-run.sh" --timeout 1000 --smp 1 --hostfwd "$p13:4433" --hostfwd "$p12:4434" \
	--out "$out" -- "$guest" >"$out/vm.log" 2>&1 &
vm=$!
for i in $(seq 1 1800); do
	[ -e "$out/up" ] && break
	kill -0 "$vm" 2>/dev/null || break
	sleep 0.1
done
if [ ! -e "$out/up" ]; then
	fail "tls_audit: the servers did not come up in the VM: $(tail -n 5 "$out/vm.log")"
	finish
fi

# testssl.sh: protocols, cipher categories, forward secrecy, server preferences, server
# defaults (certificate) and vulnerabilities; our test CA is trusted for the chain check.
audit() {
	local name=$1 port=$2
	shift 2
	timeout 900 testssl --quiet --color 0 --warnings off --add-ca "$certs/ca.pem" \
		--connect-timeout 10 --openssl-timeout 10 "$@" \
		--jsonfile "$out/$name.json" "127.0.0.1:$port" >"$out/$name.log" 2>&1
	echo "    testssl ($name): exit $?, $(jq length "$out/$name.json" 2>/dev/null || echo 0) findings recorded"
}
# Both at once: testssl mostly waits on the server in the VM.
audit tls13 "$p13" -p -s -f -P -S -U &
a13=$!
# The 1.2 server differs only in its floor: its suites, forward secrecy and extensions.
audit tls12 "$p12" -p -s -f -S &
a12=$!
wait "$a13" "$a12"
# A suite without forward secrecy must not be negotiable with TLS 1.2 at all.
if echo | timeout 60 openssl s_client -connect "127.0.0.1:$p12" -tls1_2 \
	-cipher 'AESGCM:CHACHA20:!ECDHE:!DHE' -CAfile "$certs/ca.pem" >"$out/nofs.log" 2>&1; then
	nofs=accepted
else
	nofs=refused
fi
touch "$out/done"
wait "$vm"
vmrc=$?

# Findings of MEDIUM and above (testssl's own severities), for the default server. One is not
# the server's: cert_revocation says that the test certificate (scripts/gen-certs.sh) names no
# CRL or OCSP responder; an operator's certificate from a real CA does.
bad=$(jq -r '.[] | select(.severity == "MEDIUM" or .severity == "HIGH" or .severity == "CRITICAL")
	| select(.id != "cert_revocation") | "\(.severity) \(.id): \(.finding)"' \
	"$out/tls13.json" 2>/dev/null)
if [ ! -s "$out/tls13.json" ]; then
	fail "tls_audit_default: testssl produced no findings file; see $out/tls13.log"
elif [ -n "$bad" ]; then
	fail "tls_audit_default: findings of severity MEDIUM or above: $(echo "$bad" | head -n 5 | tr '\n' ';')"
else
	pass "tls_audit_default ($(jq length "$out/tls13.json") findings, none MEDIUM or above)"
fi
# --tls-min 1.2: which cipher categories are offered, and Extended Master Secret.
finding() { jq -r --arg id "$2" '.[] | select(.id == $id) | .finding' "$out/$1.json" 2>/dev/null | head -n 1; }
if [ ! -s "$out/tls12.json" ]; then
	fail "tls_audit_tls12: testssl produced no findings file; see $out/tls12.log"
else
	ok=1
	# testssl 3.0's categories: AVERAGE is the obsolete CBC suites, STRONG the AEAD ones.
	for id in cipherlist_NULL cipherlist_aNULL cipherlist_EXPORT cipherlist_LOW cipherlist_3DES_IDEA \
		cipherlist_AVERAGE; do
		f=$(finding tls12 "$id")
		case $f in
		"not offered"*) ;;
		*) ok=0; fail "tls_audit_tls12: $id is \"${f:-missing}\", expected not offered" ;;
		esac
	done
	for id in cipherlist_STRONG PFS; do
		f=$(finding tls12 "$id")
		case $f in
		offered*) ;;
		*) ok=0; fail "tls_audit_tls12: $id is \"${f:-missing}\", expected offered" ;;
		esac
	done
	suites=$(finding tls12 PFS_ciphers)
	for c in $suites; do
		case $c in
		TLS_*|ECDHE-*-GCM-*|ECDHE-*-CHACHA20-POLY1305) ;;
		*) ok=0; fail "tls_audit_tls12: $c is offered (not a forward-secret AEAD suite)" ;;
		esac
	done
	if [ "$nofs" != refused ]; then
		ok=0
		fail "tls_audit_tls12: a TLS 1.2 suite without ECDHE was negotiated; see $out/nofs.log"
	fi
	f=$(finding tls12 TLS1_2)
	case $f in
	offered*) ;;
	*) ok=0; fail "tls_audit_tls12: TLS 1.2 is \"${f:-missing}\" with --tls-min 1.2" ;;
	esac
	f=$(finding tls12 TLS_extensions)
	case $f in
	*"extended master secret"*) ;;
	*) ok=0; fail "tls_audit_tls12: no Extended Master Secret among the extensions: ${f:-missing}" ;;
	esac
	[ "$ok" = 1 ] && pass "tls_audit_tls12 (only forward-secret AEAD suites: $suites; Extended Master Secret)"
fi
if [ "$vmrc" = 0 ]; then
	pass "tls_audit_servers (both servers exited 0 after the audit)"
else
	fail "tls_audit_servers: the VM run exited $vmrc: $(tail -n 3 "$out/vm.log")"
fi
finish
