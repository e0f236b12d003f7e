#!/usr/bin/env bash
# Create a demo PKI for secure-rdma in DIR (default ./demo-certs):
#   ca.pem / ca.key            demo certificate authority
#   server.pem / server.key    server certificate, valid for localhost, 127.0.0.1 and the
#                              demo address (SRDMA_DEMO_ADDR, default 192.0.2.1)
#   client.pem / client.key    client certificate for mutual TLS (CN=srdma-client)
#   other-ca.pem, other-client.pem/.key   a second CA and a client it signed (must be refused)
#   expired-client.pem/.key    a client certificate from the demo CA that has expired
# Keys are EC P-256. Existing files are kept unless --force is given. Demo use only.
set -euo pipefail

usage() {
	echo "Usage: $0 [--force] [DIR]"
	echo "Create a demo CA, a server certificate (localhost, 127.0.0.1, \$SRDMA_DEMO_ADDR)"
	echo "and client certificates for secure-rdma in DIR (default ./demo-certs)."
}

force=0
dir=demo-certs
while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help) usage; exit 0 ;;
	--force) force=1 ;;
	-*) echo "$0: unknown option $1" >&2; usage >&2; exit 2 ;;
	*) dir=$1 ;;
	esac
	shift
done
addr=${SRDMA_DEMO_ADDR:-192.0.2.1}
command -v openssl >/dev/null || { echo "$0: openssl not found (apt-get install openssl)" >&2; exit 1; }

if [ -f "$dir/server.pem" ] && [ "$force" = 0 ]; then
	echo "certificates already in $dir (use --force to recreate)"
	exit 0
fi
mkdir -p "$dir"
cd "$dir"
umask 077

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# make_ca NAME CN
make_ca() {
	newkey "$1.key"
	openssl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.pem"
}

# sign CA NAME CN EXT [DAYS|expired]
sign() {
	local ca=$1 name=$2 cn=$3 ext=$4 days=${5:-825}
	newkey "$name.key"
	openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
	printf '%s\n' "$ext" >"$name.ext"
	if [ "$days" = expired ]; then
		# A validity window wholly in the past, through a throwaway CA database.
		mkdir -p ca-db
		: >ca-db/index.txt
		openssl ca -batch -config <(printf '%s\n' '[ca]' 'default_ca=d' '[d]' \
			'database=ca-db/index.txt' 'new_certs_dir=ca-db' 'default_md=sha256' \
			'policy=p' 'serial=ca-db/serial' '[p]' 'commonName=supplied') \
			-rand_serial -cert "$ca.pem" -keyfile "$ca.key" -in "$name.csr" \
			-startdate 20200101000000Z -enddate 20200201000000Z \
			-extfile "$name.ext" -out "$name.pem" 2>/dev/null
		rm -rf ca-db
	else
		openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
			-days "$days" -sha256 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
	fi
	rm -f "$name.csr" "$name.ext"
}

client_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"

make_ca ca "secure-rdma demo CA"
sign ca server localhost "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:$addr"
sign ca client srdma-client "$client_ext"
sign ca expired-client srdma-expired-client "$client_ext" expired
make_ca other-ca "unrelated CA"
sign other-ca other-client srdma-other-client "$client_ext"
rm -f ./*.srl
chmod 644 ./*.pem
echo "created demo CA and certificates in $(pwd) (server valid for localhost, 127.0.0.1, $addr)"
