#!/bin/sh
# Holds the e1000 driver's instructions per packet (callgrind, txsync and
# rxsync alone: e1000-cost plays the NIC, see tests/e1000/bench/) to bounds:
# fails when a layout/direction/batch costs more than its bound. Instruction
# counts are exact for a given build, so a bound is the figure
# docs/benchmarks.md records plus a small margin for compilers that schedule
# differently.
#   bench/e1000_callgrind_check.sh path/to/e1000-cost LAYOUT:DIR:BATCH:MAX...
# LAYOUT legacy (8254x) or advanced (82576), DIR tx or rx. Exit 77 (skipped)
# without valgrind, or without AVX unless UPIO_NO_AVX asks for the SSE2 code
# (the bounds differ).
set -eu
bin=${1:?usage: $0 path/to/e1000-cost LAYOUT:DIR:BATCH:MAX...}
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
  layout=${spec%%:*}
  rest=${spec#*:}
  dir=${rest%%:*}
  rest=${rest#*:}
  batch=${rest%%:*}
  max=${rest#*:}
  case $layout in
    legacy) flag= ;;
    advanced) flag=--igb ;;
    *) echo "$spec: the layout is legacy or advanced"; exit 2 ;;
  esac
  rounds=$((20000 / batch))
  [ "$rounds" -ge 20 ] || rounds=20
  # shellcheck disable=SC2086 # $flag is empty or one word
  valgrind --tool=callgrind --collect-atstart=no \
    --toggle-collect="upio::e1000::E1000Adapter::${dir}sync*" --callgrind-out-file="$out/cg" \
    "$bin" "$dir" "$batch" $flag --rounds "$rounds" >"$out/stdout" 2>"$out/stderr" || { cat "$out/stderr"; exit 1; }
  pk=$(sed -n 's/.*: \([0-9]*\) packets$/\1/p' "$out/stdout")
  ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out/cg")
  if [ -z "$pk" ] || [ -z "$ir" ] || [ "$pk" -eq 0 ] || [ "$ir" -eq 0 ]; then
    echo "$layout $dir batch $batch: no measurement (packets '$pk', instructions '$ir')"
    cat "$out/stdout" "$out/stderr"
    fail=1
    continue
  fi
  verdict=$(awk -v p="$pk" -v i="$ir" -v m="$max" \
    'BEGIN { v = i / p; printf "%.2f instructions/packet (bound %s): %s", v, m, v <= m ? "ok" : "ABOVE" }')
  echo "$layout $dir batch $batch: $verdict"
  case $verdict in *ABOVE) fail=1 ;; esac
done
exit $fail
