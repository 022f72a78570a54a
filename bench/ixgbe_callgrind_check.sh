#!/bin/sh
# Holds the ixgbe driver's instructions per packet (callgrind, 82599 model
# excluded, see ixgbe_bench.cpp) to bounds: fails when a mode/batch costs
# more than its bound. Instruction counts are exact for a given build, so a
# bound is the figure docs/benchmarks.md records plus a small margin for
# compilers that schedule differently.
#   bench/ixgbe_callgrind_check.sh path/to/ixgbe_bench MODE:BATCH:MAX...
# Exit 77 (skipped) without valgrind, or without AVX unless UPIO_NO_AVX
# asks for the SSE2 code (the bounds differ).
set -eu
bench=${1:?usage: $0 path/to/ixgbe_bench MODE:BATCH:MAX...}
shift
command -v valgrind >/dev/null || { echo "valgrind is missing"; exit 77; }
if [ -z "${UPIO_NO_AVX:-}" ] && ! grep -qw avx /proc/cpuinfo; then
  echo "no AVX here: the SSE2 check (UPIO_NO_AVX=1) holds this build"
  exit 77
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0
for spec in "$@"; do
  mode=${spec%%:*}
  rest=${spec#*:}
  batch=${rest%%:*}
  max=${rest#*:}
  valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out/cg" \
    "$bench" "$mode" "$batch" >"$out/stdout" 2>"$out/stderr" || { cat "$out/stderr"; exit 1; }
  pk=$(sed -n 's/.* packets \([0-9]*\) .*/\1/p' "$out/stdout")
  ir=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$out/cg")
  if [ -z "$pk" ] || [ -z "$ir" ] || [ "$pk" -eq 0 ] || [ "$ir" -eq 0 ]; then
    echo "$mode batch $batch: no measurement (packets '$pk', instructions '$ir')"
    cat "$out/stdout" "$out/stderr"
    fail=1
    continue
  fi
  verdict=$(awk -v p="$pk" -v i="$ir" -v m="$max" \
    'BEGIN { v = i / p; printf "%.2f instructions/packet (bound %s): %s", v, m, v <= m ? "ok" : "ABOVE" }')
  echo "$mode batch $batch: $verdict"
  case $verdict in *ABOVE) fail=1 ;; esac
done
exit $fail
