#!/bin/bash
#
# plot.sh DIR: PNG plots from a bench/side-by-side.sh result directory (needs gnuplot and jq):
#   latency-cdf.png         distribution of echo round trips (64 B and 4 KiB; aead, chacha20
#                           and plain),
#                           with the ibv_rc_pingpong means of the same run
#   throughput-vs-size.png  raw RDMA-write bandwidth and echo payload throughput against the
#                           message size, with ib_write_bw
#   setup-breakdown.png     median time of each connection set-up step, aead and plain, with
#                           cmtime (per connection) + one TLS 1.3 handshake

set -euo pipefail

dir=${1:?usage: bench/plot.sh DIR}
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
cd -- "$dir"

ref() {
	if [[ -s ratios.json ]]; then jq -r ".references.$1 // empty" ratios.json; fi
}

# ib_write_bw averages per size, from the tools' own output.
: >ib_write_bw-sweep.dat
for f in ib_write_bw-*.txt; do
	[[ $f == *server* || ! -s $f ]] && continue
	awk '$1 ~ /^[0-9]+$/ && NF >= 5 { print $1 "," $4 }' "$f" | tail -n 1 >>ib_write_bw-sweep.dat
done
sort -t, -n -o ib_write_bw-sweep.dat ib_write_bw-sweep.dat

# Set-up steps: median per step, one column per data-plane mode.
{
	echo "# step aead plain (median us)"
	for s in ctx tcp tls open qp ready welcome; do
		printf '%s %s %s\n' "$s" \
			"$(jq -r "(.fresh.$s // .steps.$s).t_typical_us // 0" srdma-aead-setup.json 2>/dev/null || echo 0)" \
			"$(jq -r "(.fresh.$s // .steps.$s).t_typical_us // 0" srdma-plain-setup.json 2>/dev/null || echo 0)"
	done
} >setup-breakdown.dat

gnuplot \
	-e "rc64='$(ref ibv_rc_pingpong_64_us)'; rc4k='$(ref ibv_rc_pingpong_4096_us)'" \
	-e "cmtls='$(ref cmtime_plus_tls_us)'" \
	"$here/plots.gp"
ls -1 ./*.png
