#!/bin/sh
# Driver instructions per packet (ixgbe on the 82599 model) under callgrind:
# rx, tx and rx->tx forwarding at batch 1..256. Only the driver's
# txsync/rxsync are collected (see ixgbe_bench.cpp).
#   bench/ixgbe_callgrind.sh BUILD_DIR/bench/ixgbe_bench
set -eu
bench=${1:?usage: $0 path/to/ixgbe_bench}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-5s %6s %10s %12s\n' mode batch packets instr/pkt
for mode in rx tx fwd; do
  for batch in 1 2 4 8 16 32 64 128 256; do
    pk=$(valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out/cg.$mode.$batch" \
         "$bench" "$mode" "$batch" 2>/dev/null | sed -n 's/.* packets \([0-9]*\) .*/\1/p')
    ir=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$out/cg.$mode.$batch")
    awk -v m="$mode" -v b="$batch" -v p="$pk" -v i="$ir" \
      'BEGIN { printf "%-5s %6d %10d %12.1f\n", m, b, p, i / p }'
  done
done
