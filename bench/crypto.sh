#!/bin/bash
#
# crypto.sh: the data plane's seal and open per message (srdma-crypto-bench) against
# `openssl speed -evp CIPHER -aead` for the same cipher and size, in the same run, on this host
# (no RDMA device needed). Prints one table with per-message microseconds, MB/s and the ratios.
#
#   bench/crypto.sh            the full run (about 2 minutes of CPU time with the defaults)
#   bench/crypto.sh --smoke    a few ms per mode and size, srdma-crypto-bench only: fails only if
#                              a message does not come back intact (the ctest bench_crypto_smoke)
#   bench/crypto.sh --cp       srdma-cp's chunk protection instead (srdma-crypto-bench --cp): per
#                              chunk, the writer's one-pass seal (srdma_tag_seal) and the
#                              reader's one-pass open (srdma_tag_open), against `openssl speed
#                              -evp CIPHER -aead -bytes CHUNK` encrypt + decrypt of the AEAD the
#                              mode names
#                              (aes-256-gcm, chacha20-poly1305), the same chunk size, same run;
#                              sizes from SRDMA_CRYPTO_CP_SIZES ("65536 1048576 16777216"; srdma-cp's
#                              default chunk is 1 MiB), target SRDMA_CRYPTO_CP_TARGET (1.20)
#
# What is compared with what: `openssl speed -aead` times one AEAD operation per message in a
# TLS-like sequence (set the nonce, 13 bytes of additional data, the payload, the tag), encrypt
# by default and decrypt with -decrypt: ONE direction each. Ours: seal = srdma_dp_put (encode
# the 16-byte header, copy the payload into the send slot, seal with the header as additional
# data, append the tag), open = srdma_dp_get (open in place, decode, sequence check). So seal is
# compared with openssl's encrypt, open with its decrypt, and seal+open with encrypt + decrypt.
# Each figure is the median of SRDMA_CRYPTO_PASSES passes; within a pass, ours and openssl's run
# back to back for each mode and size.
#
# Environment:
#   SRDMA_BIN             build directory holding srdma-crypto-bench (default: build)
#   SRDMA_CERTS           certificates (scripts/gen-certs.sh makes them there when missing;
#                         default: a scratch directory)
#   SRDMA_CRYPTO_SIZES    payload sizes ("64 4096 65536 1048576")
#   SRDMA_CRYPTO_MODES    "aead chacha20"
#   SRDMA_CRYPTO_SECONDS  whole seconds per figure, ours and openssl's alike (1)
#   SRDMA_CRYPTO_PASSES   passes, the median of (3)
#   SRDMA_CRYPTO_CLOCK    cpu: CPU time on both sides (openssl's default, user time), the
#                         default, robust on a shared host; wall: elapsed time (openssl -elapsed)
#   SRDMA_CRYPTO_TARGET   the ratio seal+open / (encrypt + decrypt) to meet (1.10)

set -euo pipefail

top=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
bin=${SRDMA_BIN:-$top/build}/srdma-crypto-bench
sizes=${SRDMA_CRYPTO_SIZES:-64 4096 65536 1048576}
modes=${SRDMA_CRYPTO_MODES:-aead chacha20}
secs=${SRDMA_CRYPTO_SECONDS:-1}
passes=${SRDMA_CRYPTO_PASSES:-3}
clock=${SRDMA_CRYPTO_CLOCK:-cpu}
target=${SRDMA_CRYPTO_TARGET:-1.10}
smoke=0
cp=0

case ${1:-} in
--smoke) smoke=1 ;;
--cp)
	cp=1
	sizes=${SRDMA_CRYPTO_CP_SIZES:-65536 1048576 16777216}
	target=${SRDMA_CRYPTO_CP_TARGET:-1.20}
	;;
"") ;;
*)
	echo "usage: bench/crypto.sh [--smoke | --cp]" >&2
	exit 2
	;;
esac
[[ -x $bin ]] || { echo "crypto.sh: $bin not built (cmake --build BUILD --target srdma-crypto-bench)" >&2; exit 2; }
[[ $clock == cpu || $clock == wall ]] || { echo "crypto.sh: SRDMA_CRYPTO_CLOCK is cpu or wall" >&2; exit 2; }

scratch=$(mktemp -d)
trap 'rm -rf -- "$scratch"' EXIT
certs=${SRDMA_CERTS:-$scratch/certs}
if [[ ! -s $certs/server.pem ]]; then
	"$top/scripts/gen-certs.sh" "$certs" >/dev/null
fi

if [[ $smoke == 1 ]]; then
	"$bin" --certs "$certs" --quick --modes aead,chacha20,plain
	exec "$bin" --certs "$certs" --quick --cp --sizes 4096,65536 --modes aead,chacha20
fi

command -v openssl >/dev/null || { echo "crypto.sh: openssl not found" >&2; exit 2; }
osl_clock=()
[[ $clock == wall ]] && osl_clock=(-elapsed)

cipher() {
	case $1 in
	aead) echo aes-256-gcm ;;
	chacha20) echo chacha20-poly1305 ;;
	*)
		echo "crypto.sh: no openssl cipher for mode $1" >&2
		exit 2
		;;
	esac
}

# openssl_us CIPHER SIZE [-decrypt]: microseconds per AEAD operation on SIZE bytes.
openssl_us() {
	local bps
	bps=$(openssl speed -mr "${osl_clock[@]}" -seconds "$secs" -evp "$1" -aead "${@:3}" \
		-bytes "$2" 2>/dev/null | awk -F: '$1 == "+F" { print $4 }')
	[[ -n $bps ]] || { echo "crypto.sh: openssl speed -evp $1 -bytes $2 ${3:-} gave nothing" >&2; exit 1; }
	awk -v b="$bps" -v n="$2" 'BEGIN { printf "%.4f\n", n / b * 1e6 }'
}

# median X...: the median of the numbers given.
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# openssl_speed_us ALG SIZE [options]: microseconds per operation on SIZE bytes (any -evp ALG).
openssl_speed_us() {
	local bps
	bps=$(openssl speed -mr "${osl_clock[@]}" -seconds "$secs" -evp "$1" "${@:3}" \
		-bytes "$2" 2>/dev/null | awk -F: '$1 == "+F" { print $4 }')
	[[ -n $bps ]] || { echo "crypto.sh: openssl speed -evp $1 -bytes $2 ${*:3} gave nothing" >&2; exit 1; }
	awk -v b="$bps" -v n="$2" 'BEGIN { printf "%.4f\n", n / b * 1e6 }'
}

if [[ $cp == 1 ]]; then
	# The stream cipher of each mode alone, for information (the encryption half of the AEAD).
	stream() { case $1 in aead) echo aes-256-ctr ;; chacha20) echo chacha20 ;; esac; }
	declare -A w r a h enc dec str sha
	for ((pass = 1; pass <= passes; pass++)); do
		for m in $modes; do
			c=$(cipher "$m")
			for n in $sizes; do
				# ours: mode bytes chunks seconds write_us read_us wr+rd_us MBps auth_us sha256_us
				read -r ws rs as hs < <("$bin" --certs "$certs" --cp --seconds "$secs" \
					--clock "$clock" --modes "$m" --sizes "$n" |
					awk '$1 !~ /^#/ && $1 != "mode" { print $5, $6, $9, $10 }')
				[[ -n ${hs:-} ]] || { echo "crypto.sh: srdma-crypto-bench --cp failed ($m, $n bytes)" >&2; exit 1; }
				w[$m.$n]+=" $ws" r[$m.$n]+=" $rs" a[$m.$n]+=" $as" h[$m.$n]+=" $hs"
				enc[$m.$n]+=" $(openssl_speed_us "$c" "$n" -aead)"
				dec[$m.$n]+=" $(openssl_speed_us "$c" "$n" -aead -decrypt)"
				str[$m.$n]+=" $(openssl_speed_us "$(stream "$m")" "$n")"
				sha[$m.$n]+=" $(openssl_speed_us sha256 "$n")"
			done
		done
	done
	for k in "${!w[@]}"; do
		# shellcheck disable=SC2086 # the lists are numbers separated by spaces
		{
			w[$k]=$(median ${w[$k]}) r[$k]=$(median ${r[$k]}) a[$k]=$(median ${a[$k]})
			h[$k]=$(median ${h[$k]}) enc[$k]=$(median ${enc[$k]}) dec[$k]=$(median ${dec[$k]})
			str[$k]=$(median ${str[$k]}) sha[$k]=$(median ${sha[$k]})
		}
	done
	echo "# bench/crypto.sh --cp, $(date -u '+%Y-%m-%d %H:%M UTC'); $(openssl version | cut -d' ' -f1-2);" \
		"$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs," \
		"flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
			grep -E '^(aes|pclmulqdq|avx2|avx512f|vaes|vpclmulqdq|sha_ni|hypervisor)$' | tr '\n' ' ')"
	echo "# load average before the run's end: $(cut -d' ' -f1-3 /proc/loadavg); clock: $clock;" \
		"${secs} s per figure, median of $passes passes"
	echo "# srdma-cp's chunk protection, us per chunk: write = one-pass seal in place (srdma_tag_seal,"
	echo "# the chunk's writer), read = one-pass open in place (srdma_tag_open, its reader); against"
	echo "# openssl speed -evp CIPHER -aead -bytes CHUNK: enc (encrypt) + dec (-decrypt) of the AEAD the"
	echo "# mode names; ratio = (write + read) / (enc + dec); info: auth = write + read with --no-encrypt"
	echo "# (the two region tags), stream = openssl speed -evp of the stream cipher alone (one direction),"
	echo "# sha256 = the chunk's SHA-256 (ours / openssl speed -evp sha256), computed at both ends"
	printf '%-9s %9s %10s %10s %10s %8s | %10s %10s %10s %8s | %7s %8s %4s | %10s %10s | %10s %10s\n' \
		mode bytes write_us read_us wr+rd_us MB/s enc_us dec_us enc+dec_us MB/s \
		ratio target met auth_us stream_us sha_us osl_sha_us
	for m in $modes; do
		for n in $sizes; do
			awk -v m="$m" -v n="$n" -v W="${w[$m.$n]}" -v R="${r[$m.$n]}" -v A="${a[$m.$n]}" \
				-v H="${h[$m.$n]}" -v e="${enc[$m.$n]}" -v d="${dec[$m.$n]}" \
				-v S="${str[$m.$n]}" -v O="${sha[$m.$n]}" -v t="$target" 'BEGIN {
				x = (W + R) / (e + d)
				printf "%-9s %9d %10.1f %10.1f %10.1f %8.1f | %10.1f %10.1f %10.1f %8.1f | %7.3f %8s %4s | %10.1f %10.1f | %10.1f %10.1f\n",
					m, n, W, R, W + R, n / (W + R), e, d, e + d, n / (e + d),
					x, "<= " t, x <= t ? "yes" : "NO", A, S, H, O
			}'
		done
	done
	exit 0
fi

declare -A seal open enc dec evp
for ((pass = 1; pass <= passes; pass++)); do
	for m in $modes; do
		c=$(cipher "$m")
		for n in $sizes; do
			# ours: columns mode bytes messages seconds seal_us open_us sealopen_us
			# sealopen_MBps evp_seal_us evp_open_us
			read -r s o es eo < <("$bin" --certs "$certs" --seconds "$secs" --clock "$clock" \
				--modes "$m" --sizes "$n" |
				awk '$1 !~ /^#/ && $1 != "mode" { print $5, $6, $9, $10 }')
			[[ -n ${eo:-} ]] || { echo "crypto.sh: srdma-crypto-bench failed ($m, $n bytes)" >&2; exit 1; }
			seal[$m.$n]+=" $s"
			open[$m.$n]+=" $o"
			evp[$m.$n]+=" $(awk -v a="$es" -v b="$eo" 'BEGIN { print a + b }')"
			enc[$m.$n]+=" $(openssl_us "$c" "$n")"
			dec[$m.$n]+=" $(openssl_us "$c" "$n" -decrypt)"
		done
	done
done
for k in "${!seal[@]}"; do
	# shellcheck disable=SC2086 # the lists are numbers separated by spaces
	{
		seal[$k]=$(median ${seal[$k]})
		open[$k]=$(median ${open[$k]})
		evp[$k]=$(median ${evp[$k]})
		enc[$k]=$(median ${enc[$k]})
		dec[$k]=$(median ${dec[$k]})
	}
done

echo "# bench/crypto.sh, $(date -u '+%Y-%m-%d %H:%M UTC'); $(openssl version | cut -d' ' -f1-2);" \
	"$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs," \
	"flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
		grep -E '^(aes|pclmulqdq|avx2|avx512f|vaes|vpclmulqdq|hypervisor)$' | tr '\n' ' ')"
echo "# load average before the run's end: $(cut -d' ' -f1-3 /proc/loadavg); clock: $clock;" \
	"${secs} s per figure, median of $passes passes"
echo "# us: microseconds per message; MB/s: 10^6 payload bytes per second through seal and open"
echo "# (ours) or encrypt and decrypt (openssl speed -evp CIPHER -aead [-decrypt] -bytes N);"
echo "# ratio = (seal + open) / (encrypt + decrypt); evp_us: seal + open on bare EVP (the floor);"
echo "# ours/evp = (seal + open) / evp_us"
printf '%-9s %8s %9s %9s %11s %9s | %9s %9s %11s %9s | %8s %8s %7s %8s %4s | %9s %8s\n' \
	mode bytes seal_us open_us sealopen_us MB/s enc_us dec_us enc+dec_us MB/s \
	seal/enc open/dec ratio target met evp_us ours/evp
for m in $modes; do
	for n in $sizes; do
		awk -v m="$m" -v n="$n" -v s="${seal[$m.$n]}" -v o="${open[$m.$n]}" \
			-v e="${enc[$m.$n]}" -v d="${dec[$m.$n]}" -v f="${evp[$m.$n]}" -v t="$target" 'BEGIN {
			r = (s + o) / (e + d)
			printf "%-9s %8d %9.3f %9.3f %11.3f %9.1f | %9.3f %9.3f %11.3f %9.1f | %8.3f %8.3f %7.3f %8s %4s | %9.3f %8.3f\n",
				m, n, s, o, s + o, n / (s + o), e, d, e + d, n / (e + d),
				s / e, o / d, r, "<= " t, r <= t ? "yes" : "NO", f, (s + o) / f
		}'
	done
done
