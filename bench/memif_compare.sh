#!/usr/bin/env bash
# memif throughput, side by side in one run: dpdk-testpmd <-> dpdk-testpmd
# (copy, and testpmd's zero-copy client where hugepages allow), pkt-gen ->
# testpmd, testpmd -> pkt-gen, and pkt-gen -> pkt-gen (two upio processes).
# One sender, one receiver, 60-byte frames, each busy side on a CPU of its
# own (CPU 0 sends, CPU 1 receives; pkt-gen busy-polls, --busy, as testpmd
# does). Prints a Markdown table of Mpps at the receiver.
#
#   bench/memif_compare.sh [BUILD_DIR] [SECONDS] [BASELINE_PKTGEN]   (default: build, 5)
#
# With BASELINE_PKTGEN (another build's pkt-gen, e.g. of the main branch),
# the rows of upio's client sending to testpmd are measured with it too, in
# the same run, for a before/after comparison.
#
# Compare rows of one run only: on a shared 2-vCPU machine the same row
# varies by up to 3x between runs.
set -euo pipefail
build=${1:-build}
secs=${2:-5}
baseline=${3:-}
pktgen=$build/tools/pkt-gen/pkt-gen
[ -z "$baseline" ] || [ -x "$baseline" ] || { echo "memif_compare: no $baseline"; exit 2; }
command -v dpdk-testpmd >/dev/null || { echo "memif_compare: dpdk-testpmd is not installed (scripts/install-deps)"; exit 77; }
[ -x "$pktgen" ] || { echo "memif_compare: no $pktgen (build pkt-gen first)"; exit 2; }
dir=$(mktemp -d /tmp/umb.XXXXXX) # short: a port name holds at most 63 characters
pids=()
# testpmd leaves its hugepage files behind when it is killed: remove this run's.
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f /dev/hugepages/upio-bench-*-$$map_* 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT

# testpmd NAME SOCK CPU ROLE MODE [EXTRA_VDEV_ARGS] [EAL_ARGS]: one memif port on $dir/SOCK.sock,
# forwarding engine MODE (txonly, rxonly) on CPU; its stdin is the fifo $dir/NAME.in.
testpmd() {
  local name=$1 sock=$2 cpu=$3 role=$4 mode=$5 extra=${6:-} eal=${7:---no-huge -m 512}
  local other=$((1 - cpu))
  mkfifo "$dir/$name.in"
  # shellcheck disable=SC2086  (stdbuf: testpmd prints its statistics through stdio, a file would buffer them)
  stdbuf -oL dpdk-testpmd $eal --no-pci --file-prefix "upio-bench-$name-$$" -l 0-1 --main-lcore "$other" \
    --vdev="net_memif0,role=$role,socket=$dir/$sock.sock,socket-abstract=no$extra" -- \
    --no-mlockall --no-flush-rx --total-num-mbufs=32768 -i < "$dir/$name.in" > "$dir/$name.log" 2>&1 &
  pids+=($!)
  exec {fd}>"$dir/$name.in"
  eval "fd_$name=$fd"
  echo "set fwd $mode" >&"$fd"
}
say() { local fd_var="fd_$1"; echo "$2" >&"${!fd_var}"; }
wait_sock() { for _ in $(seq 1 300); do [ -S "$dir/$1.sock" ] && return 0; sleep 0.1; done; return 1; }
# Mpps testpmd NAME received over $secs seconds (its own Rx-pps between two readings).
testpmd_rx_mpps() {
  say "$1" "show port stats 0"
  sleep "$secs"
  : > "$dir/$1.log.mark"
  say "$1" "show port stats 0"
  sleep 0.5
  grep -o 'Rx-pps: *[0-9]*' "$dir/$1.log" | tail -1 | awk '{printf "%.2f", $2 / 1e6}'
}
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); rm -f "$dir"/*.in "$dir"/*.sock; }

row() { printf '| %s | %s |\n' "$1" "$2"; }
# The median of pkt-gen's one-second rx rates (-T 1s --json) that saw traffic, in Mpps.
pktgen_rx_mpps() {
  grep -o '"dir":"rx","pps":[0-9]*' "$1" | grep -o '[0-9]*$' | awk '$1 > 0' | sort -n |
    awk '{v[NR] = $1} END {if (NR) printf "%.2f", v[int((NR + 1) / 2)] / 1e6; else print "none"}'
}
echo "| sender -> receiver (over memif, 60 B) | Mpps at the receiver |"
echo "| --- | --- |"

# testpmd -> testpmd, copy
testpmd tps tt 1 server rxonly
wait_sock tt
testpmd tpc tt 0 client txonly
say tps "start"; say tpc "start"
sleep 1
row "testpmd (client, txonly) -> testpmd (server, rxonly)" "$(testpmd_rx_mpps tps)"
stop_all

# testpmd -> testpmd, zero-copy client (needs hugepages and --single-file-segments)
if [ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)" -ge 128 ] 2>/dev/null; then
  testpmd zs zz 1 server rxonly "" "-m 128 --single-file-segments"
  wait_sock zz
  testpmd zc zz 0 client txonly ",zero-copy=yes" "-m 128 --single-file-segments"
  say zs "start"; say zc "start"
  sleep 1
  row "testpmd (zero-copy client, txonly) -> testpmd (server, rxonly)" "$(testpmd_rx_mpps zs)"
  stop_all
else
  row "testpmd (zero-copy client) -> testpmd" "not run: needs 128 free 2 MiB hugepages"
fi

# pkt-gen -> testpmd
"$pktgen" -f tx -i "memif:$dir/pr.sock" -a 0 --busy --no-hugepages -w 30 --duration $((secs + 4)) > "$dir/pg1.log" 2>&1 &
pids+=($!)
wait_sock pr
testpmd pr pr 1 client rxonly
say pr "start"; sleep 1
row "pkt-gen (upio server) -> testpmd (client, rxonly)" "$(testpmd_rx_mpps pr)"
stop_all

# pkt-gen as the client -> testpmd (server): copy, then zero-copy (and the
# same with the baseline's pkt-gen, if given)
for bin in "$pktgen" ${baseline:+"$baseline"}; do
  for mode in "" ",zero-copy"; do
    testpmd cs cs 1 server rxonly
    wait_sock cs
    "$bin" -f tx -i "memif:$dir/cs.sock,role=client$mode" -a 0 --busy --no-hugepages -w 30 --duration $((secs + 4)) > "$dir/pg5.log" 2>&1 &
    pids+=($!)
    say cs "start"; sleep 1
    what="upio client${mode:+, zero-copy}"
    [ "$bin" = "$pktgen" ] || what="$what; baseline: $bin"
    row "pkt-gen ($what) -> testpmd (server, rxonly)" "$(testpmd_rx_mpps cs)"
    stop_all
  done
done

# testpmd -> pkt-gen
"$pktgen" -f rx -i "memif:$dir/pt.sock" -a 1 --busy --no-hugepages -w 30 --duration $((secs + 2)) -T 1s --json > "$dir/pg2.log" 2>&1 &
pg=$!
wait_sock pt
testpmd pt pt 0 client txonly
say pt "start"
wait "$pg" || true
row "testpmd (client, txonly) -> pkt-gen (upio server)" "$(pktgen_rx_mpps "$dir/pg2.log")"
stop_all

# pkt-gen -> pkt-gen, two upio processes
"$pktgen" -f rx -i "memif:$dir/pp.sock" -a 1 --busy --no-hugepages -w 30 --duration $((secs + 1)) -T 1s --json > "$dir/pg3.log" 2>&1 &
pg=$!
wait_sock pp
"$pktgen" -f tx -i "memif:$dir/pp.sock,role=client" -a 0 --busy --no-hugepages -w 30 --duration $((secs + 2)) > "$dir/pg4.log" 2>&1 &
pids+=($!)
wait "$pg" || true
row "pkt-gen (upio client) -> pkt-gen (upio server)" "$(pktgen_rx_mpps "$dir/pg3.log")"
stop_all

# the same, upio's client in zero-copy
"$pktgen" -f rx -i "memif:$dir/pz.sock" -a 1 --busy --no-hugepages -w 30 --duration $((secs + 1)) -T 1s --json > "$dir/pg6.log" 2>&1 &
pg=$!
wait_sock pz
"$pktgen" -f tx -i "memif:$dir/pz.sock,role=client,zero-copy" -a 0 --busy --no-hugepages -w 30 --duration $((secs + 2)) > "$dir/pg7.log" 2>&1 &
pids+=($!)
wait "$pg" || true
row "pkt-gen (upio zero-copy client) -> pkt-gen (upio server)" "$(pktgen_rx_mpps "$dir/pg6.log")"
stop_all

# The CPU time upio's copying client spends per frame sent into testpmd:
# pkt-gen without --busy sleeps while the ring is full, so its CPU time is
# the work done, which others' load on the machine changes far less than it
# changes the rates above.
frames=20000000
echo
echo "| upio client (copy, not busy) -> testpmd (server, rxonly), $frames frames | sender CPU ns per frame |"
echo "| --- | --- |"
for bin in "$pktgen" ${baseline:+"$baseline"}; do
  testpmd cs cs 1 server rxonly
  wait_sock cs
  say cs "start"
  "$bin" -f tx -i "memif:$dir/cs.sock,role=client" -a 0 --no-hugepages -w 30 -n $frames > "$dir/pg8.log" 2>&1 || true
  cpu=$(grep -o 'CPU: [0-9.]* s' "$dir/pg8.log" | awk '{print $2}')
  row "pkt-gen${baseline:+ ($bin)}" "$(awk -v c="${cpu:-nan}" -v n=$frames 'BEGIN {printf "%.0f", c * 1e9 / n}')"
  stop_all
done
