#!/bin/sh
# Holds the e1000 driver's instructions per packet (callgrind, txsync and
# rxsync alone: e1000-cost plays the NIC, see tests/e1000/bench/) to bounds:
# fails when a layout/direction/batch costs more than its bound
# (bench/callgrind_bound.sh).
#   bench/e1000_callgrind_check.sh path/to/e1000-cost LAYOUT:DIR:BATCH:MAX...
# LAYOUT legacy (8254x) or advanced (82576), DIR tx or rx. Exit 77 (skipped)
# without valgrind, or without AVX unless UPIO_NO_AVX asks for the SSE2 code
# (the bounds differ).
set -eu
bin=${1:?usage: $0 path/to/e1000-cost LAYOUT:DIR:BATCH:MAX...}
shift
# shellcheck source=bench/callgrind_bound.sh
. "$(dirname "$0")/callgrind_bound.sh"
cg_init avx
for spec in "$@"; do
  IFS=: read -r layout dir batch max <<SPEC
$spec
SPEC
  case $layout in
    legacy) flag= ;;
    advanced) flag=--igb ;;
    *) echo "$spec: the layout is legacy or advanced"; exit 2 ;;
  esac
  rounds=$((20000 / batch))
  [ "$rounds" -ge 20 ] || rounds=20
  # shellcheck disable=SC2086 # $flag is empty or one word
  if cg_measure 's/.*: \([0-9]*\) packets$/\1/p' summary "--toggle-collect=upio::e1000::E1000Adapter::${dir}sync*" \
    -- "$bin" "$dir" "$batch" $flag --rounds "$rounds"; then
    cg_verdict "$layout $dir batch $batch" packet "$max"
  else
    cg_fail=1
  fi
done
exit "$cg_fail"
