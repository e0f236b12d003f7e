# gnuplot script for bench/plot.sh (run in a result directory). Variables from the caller:
# rc64, rc4k (ibv_rc_pingpong means, us) and cmtls (cmtime + TLS handshake, us); "" if unknown.
#
# Layout: every key sits outside the plotting area (below it), so that no label can land on a
# line or a bar whatever the data; the reference lines have a style of their own (dash-dot,
# thinner) named in the key with their values.

set terminal pngcairo size 1000,720 font "DejaVu Sans,11"
set datafile separator ","
set grid
set key outside below center horizontal maxrows 3 width 1 samplen 3 spacing 1.2 nobox
set rmargin 6

# --- echo round-trip distribution -----------------------------------------------------------
set output "latency-cdf.png"
set title "Echo round trip (secure-rdma) vs ibv\\_rc\\_pingpong, same run (Soft-RoCE under TCG)"
set xlabel "round trip [us] (log scale)"
set ylabel "fraction of round trips <= x"
set logscale x
set yrange [0:1]
# The references: dash-dot (dt 4), thinner than the measured curves.
if (rc64 ne "") { set arrow 1 from real(rc64), 0 to real(rc64), 1 nohead dt 4 lw 1.5 lc rgb "#1f77b4" }
if (rc4k ne "") { set arrow 2 from real(rc4k), 0 to real(rc4k), 1 nohead dt 4 lw 1.5 lc rgb "#d62728" }
ref64 = (rc64 ne "") ? sprintf("ibv\\_rc\\_pingpong mean 64 B: %.1f us", real(rc64)) : "ibv\\_rc\\_pingpong 64 B: not measured"
ref4k = (rc4k ne "") ? sprintf("ibv\\_rc\\_pingpong mean 4 KiB: %.1f us", real(rc4k)) : "ibv\\_rc\\_pingpong 4 KiB: not measured"
plot \
  "srdma-aead-lat64.samples.csv" every ::1 using 3:(1) smooth cnormal lw 2 lc rgb "#1f77b4" title "64 B aead", \
  "srdma-chacha20-lat64.samples.csv" every ::1 using 3:(1) smooth cnormal lw 2 dt 2 lc rgb "#1f77b4" title "64 B chacha20", \
  "srdma-plain-lat64.samples.csv" every ::1 using 3:(1) smooth cnormal lw 2 dt 3 lc rgb "#1f77b4" title "64 B plain", \
  "srdma-aead-lat4k.samples.csv" every ::1 using 3:(1) smooth cnormal lw 2 lc rgb "#d62728" title "4 KiB aead", \
  "srdma-chacha20-lat4k.samples.csv" every ::1 using 3:(1) smooth cnormal lw 2 dt 2 lc rgb "#d62728" title "4 KiB chacha20", \
  "srdma-plain-lat4k.samples.csv" every ::1 using 3:(1) smooth cnormal lw 2 dt 3 lc rgb "#d62728" title "4 KiB plain", \
  NaN dt 4 lw 1.5 lc rgb "#1f77b4" title ref64, \
  NaN dt 4 lw 1.5 lc rgb "#d62728" title ref4k
unset arrow
unset logscale

# --- throughput against message size -------------------------------------------------------
set output "throughput-vs-size.png"
set title "Throughput against message size, one session, one request in flight (Soft-RoCE under TCG)"
set xlabel "message size [bytes]"
set ylabel "MiB/s (log scale)"
set logscale x 2
set logscale y
set yrange [*:*]
set format x "%.0f"
set key maxrows 3
# Room around the data: the end points (and ib_write_bw's markers near the top) stay clear of the
# border instead of being cut by it.
set autoscale fix
set offsets graph 0.03, graph 0.03, graph 0.08, graph 0.04
plot \
  "srdma-aead-wbw-sweep.csv" every ::1 using 2:7 with linespoints lw 2 pt 7 lc rgb "#2ca02c" title "RDMA write, raw (aead session)", \
  "srdma-plain-wbw-sweep.csv" every ::1 using 2:7 with linespoints lw 2 pt 6 dt 3 lc rgb "#2ca02c" title "RDMA write, raw (plain session)", \
  "ib_write_bw-sweep.dat" using 1:2 with points pt 9 ps 2 lc rgb "#ff7f0e" title "ib\\_write\\_bw -F (128 in flight)", \
  "srdma-aead-lat-sweep.csv" every ::1 using 1:($1 * 1e6 / $4 / 1048576) with linespoints lw 2 pt 5 lc rgb "#9467bd" title "echo payload, aead (size / median round trip)", \
  "srdma-chacha20-lat-sweep.csv" every ::1 using 1:($1 * 1e6 / $4 / 1048576) with linespoints lw 2 pt 8 dt 2 lc rgb "#9467bd" title "echo payload, chacha20", \
  "srdma-plain-lat-sweep.csv" every ::1 using 1:($1 * 1e6 / $4 / 1048576) with linespoints lw 2 pt 4 dt 3 lc rgb "#9467bd" title "echo payload, plain"
unset logscale
set format x "%g"
set offsets 0, 0, 0, 0
set autoscale

# --- set-up breakdown ---------------------------------------------------------------------
set output "setup-breakdown.png"
set datafile separator whitespace
set termoption noenhanced
# The reference is a whole set-up, not a step: it goes under the title, where no bar reaches.
if (cmtls ne "") {
  set title sprintf("Connection set-up, median per step (secure-rdma client side)\nreference for the whole set-up: cmtime + one TLS 1.3 handshake = %.0f us per connection", real(cmtls))
} else {
  set title "Connection set-up, median per step (secure-rdma client side)"
}
set xlabel ""
set ylabel "median [us]"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key maxrows 1
set xtics rotate by -30 nomirror
set yrange [0:*]
plot "setup-breakdown.dat" using 2:xtic(1) title "aead" lc rgb "#1f77b4", \
     "" using 3 title "plain" lc rgb "#aec7e8"
