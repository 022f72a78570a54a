#!/bin/sh
# Holds the ixgbe driver's instructions per packet (callgrind, 82599 model
# excluded, see ixgbe_bench.cpp) to bounds: fails when a mode/batch costs
# more than its bound (bench/callgrind_bound.sh).
#   bench/ixgbe_callgrind_check.sh path/to/ixgbe_bench MODE:BATCH:MAX...
# Exit 77 (skipped) without valgrind, or without AVX unless UPIO_NO_AVX
# asks for the SSE2 code (the bounds differ).
set -eu
bench=${1:?usage: $0 path/to/ixgbe_bench MODE:BATCH:MAX...}
shift
# shellcheck source=bench/callgrind_bound.sh
. "$(dirname "$0")/callgrind_bound.sh"
cg_init avx
for spec in "$@"; do
  IFS=: read -r mode batch max <<SPEC
$spec
SPEC
  if cg_measure 's/.* packets \([0-9]*\) .*/\1/p' totals -- "$bench" "$mode" "$batch"; then
    cg_verdict "$mode batch $batch" packet "$max"
  else
    cg_fail=1
  fi
done
exit "$cg_fail"
