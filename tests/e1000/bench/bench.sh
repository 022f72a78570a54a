#!/usr/bin/env bash
# bench.sh -- instructions per packet in the e1000 driver's txsync/rxsync,
# legacy (8254x) and advanced (82576) descriptors, batch 1..256 (callgrind).
#   tests/e1000/bench/bench.sh BUILD_DIR
set -euo pipefail
bin=${1:?usage: bench.sh BUILD_DIR}/tests/e1000/e1000-cost
command -v valgrind >/dev/null || { echo "valgrind is missing (apt-get install valgrind)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%-8s %-4s %6s %14s\n' descr dir batch instr/packet
for kind in legacy advanced; do
    flag=; [[ $kind == advanced ]] && flag=--igb
    for dir in tx rx; do
        for b in 1 4 32 256; do
            rounds=$((20000 / b)); ((rounds < 20)) && rounds=20
            valgrind --tool=callgrind --collect-atstart=no \
                --toggle-collect="upio::e1000::E1000Adapter::${dir}sync*" \
                --callgrind-out-file="$tmp/out" "$bin" "$dir" "$b" $flag --rounds "$rounds" >/dev/null 2>"$tmp/err" ||
                { cat "$tmp/err"; exit 1; }
            ir=$(awk '/^summary:/ { print $2 }' "$tmp/out")
            awk -v k=$kind -v d=$dir -v b=$b -v ir="$ir" -v n=$((rounds * b)) \
                'BEGIN { printf "%-8s %-4s %6d %14.1f\n", k, d, b, ir / n }'
        done
    done
done
