#!/bin/bash
#
# aggregate.sh RATIOS.JSON...: the ratios of several bench/side-by-side.sh runs side by side,
# with their median (a single run on a loaded, emulated host is noisy). Prints a table and
# writes the aggregate as JSON on stdout with --json.

set -euo pipefail

json=0
if [[ ${1:-} == --json ]]; then
	json=1
	shift
fi
(($# > 0)) || { echo "usage: bench/aggregate.sh [--json] RATIOS.JSON..." >&2; exit 2; }

agg=$(jq -s '
	def median: sort | if length == 0 then null
		elif length % 2 == 1 then .[(length - 1) / 2]
		else (.[length / 2 - 1] + .[length / 2]) / 2 end;
	(map(.ratios) | add | map(select(.ratio != null))) as $all
	| {runs: length, dates: map(.host.date), run_seconds: map(.run_seconds),
	   ratios: ($all | group_by([.metric, .mode]) | map({
		metric: .[0].metric, mode: .[0].mode, target: .[0].target,
		values: map(.ratio), median: (map(.ratio) | median),
		min: (map(.ratio) | min), max: (map(.ratio) | max),
		met_runs: (map(select(.met == true)) | length), runs: length}))}' "$@")
if ((json)); then
	printf '%s\n' "$agg"
	exit 0
fi
printf '%s\n' "$agg" | jq -r '
	"runs: \(.runs) (\(.dates | join(", ")))",
	(.ratios | sort_by(.mode, .metric)[] |
	 [.metric, .mode, (.median * 1000 | round / 1000 | tostring),
	  "\(.min * 1000 | round / 1000)..\(.max * 1000 | round / 1000)", .target,
	  "\(.met_runs)/\(.runs)"] | @tsv)' |
	awk -F'\t' 'NR == 1 { print; printf "%-56s %-6s %8s %16s %9s %6s\n", "metric", "mode", "median", "range", "target", "met"; next }
		{ printf "%-56s %-6s %8s %16s %9s %6s\n", $1, $2, $3, $4, $5, $6 }'
