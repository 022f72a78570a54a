#!/usr/bin/env bash
# vhost: upio's back end against DPDK's own (testpmd net_vhost), with the same
# front end (testpmd net_virtio_user) on the other side, side by side in one
# run. Markdown rows on stdout.
#
#   bench/vhost_testpmd.sh PKT_GEN [SECONDS]
#
# Per frame size (60, 1514 bytes) and direction:
#   guest->backend  virtio-user txonly; the back end receives: pkt-gen -f rx
#                   --busy on vhost:SOCK, or testpmd net_vhost rxonly
#   backend->guest  the back end sends: pkt-gen -f tx --busy, or testpmd
#                   net_vhost txonly; virtio-user rxonly counts
# Each side polls one of the two CPUs (testpmd -l N, pkt-gen -a N). The rate
# is the receiver's average over the run after a second of warm-up. Then the
# CPU an idle vhost: port costs: pkt-gen -f rx (sleeping) with a connected
# virtio-user that sends nothing, for SECONDS.
# Needs dpdk-testpmd and 2 MiB hugepages (about 200 MiB free).
set -euo pipefail
pktgen=$1
secs=${2:-6}
dir=$(mktemp -d /tmp/upio-vhb.XXXXXX)
sock=$dir/vh.sock
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir" /dev/hugepages/upio-vhb-* /var/run/dpdk/upio-vhb-* 2>/dev/null || true
}
trap cleanup EXIT

testpmd() { # testpmd NAME CPU VDEV MODE SIZE: non-interactive, stats every second into $dir/NAME.log
  local name=$1 cpu=$2 vdev=$3 mode=$4 size=$5
  dpdk-testpmd -l 0-1 --main-lcore $(( 1 - cpu )) --no-pci --file-prefix="upio-vhb-$name" -m 96 \
    --single-file-segments --vdev="$vdev" -- --forward-mode="$mode" --txpkts="$size" --port-topology=loop \
    --nb-cores=1 --rxd=1024 --txd=1024 --total-num-mbufs=16384 --stats-period 1 --no-flush-rx \
    > "$dir/$name.log" 2>&1 < /dev/null &
  pids+=("$!")
  last=$!
}

# Average of testpmd's per-second "Rx-pps" after the first report.
testpmd_rx_pps() {
  sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$1" | awk '/Rx-pps:/ { n++; if (n > 1) { s += $2; k++ } } END { printf "%.0f", k ? s / k : 0 }'
}
# Average of pkt-gen's per-second rates (JSON lines) after the first.
pktgen_pps() {
  awk -v d="$2" -F'[:,]' '$0 ~ "\"dir\":\"" d "\"" { for (i = 1; i < NF; i++) if ($i == "\"pps\"") { n++; if (n > 1) { s += $(i + 1); k++ } } }
       END { printf "%.0f", k ? s / k : 0 }' "$1"
}
mpps() { awk -v p="$1" 'BEGIN { printf "%.3f", p / 1e6 }'; }

run_pair() { # run_pair BACKEND DIR SIZE -> pps
  local be=$1 d=$2 size=$3
  rm -f "$sock"
  if [ "$be" = upio ]; then
    if [ "$d" = g2b ]; then
      "$pktgen" -f rx -i "vhost:$sock" --busy -a 1 --duration $(( secs + 2 )) --json --no-hugepages > "$dir/pg.log" 2>&1 &
    else
      "$pktgen" -f tx -i "vhost:$sock" --busy -a 1 -l "$size" -w 30 --duration "$secs" --json --no-hugepages \
        > "$dir/pg.log" 2>&1 &
    fi
    local pg=$!
    pids+=("$pg")
    for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
    testpmd fe 0 "net_virtio_user0,path=$sock,queue_size=1024" "$([ "$d" = g2b ] && echo txonly || echo rxonly)" "$size"
    local fe=$last
    wait "$pg" || true
    if [ "$d" = g2b ]; then pktgen_pps "$dir/pg.log" rx; else testpmd_rx_pps "$dir/fe.log"; fi
    kill -9 "$fe" 2>/dev/null || true
    wait "$fe" 2>/dev/null || true
  else
    testpmd be 1 "net_vhost0,iface=$sock,queues=1" "$([ "$d" = g2b ] && echo rxonly || echo txonly)" "$size"
    local be_pid=$last
    for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
    testpmd fe 0 "net_virtio_user0,path=$sock,queue_size=1024" "$([ "$d" = g2b ] && echo txonly || echo rxonly)" "$size"
    local fe=$last
    sleep $(( secs + 2 )) # a fixed measuring window: testpmd runs until stopped
    if [ "$d" = g2b ]; then testpmd_rx_pps "$dir/be.log"; else testpmd_rx_pps "$dir/fe.log"; fi
    kill -9 "$fe" "$be_pid" 2>/dev/null || true
    wait "$fe" "$be_pid" 2>/dev/null || true
  fi
  rm -f /dev/hugepages/upio-vhb-* 2>/dev/null || true
}

echo "| frame | direction | DPDK net_vhost (Mpps) | upio vhost: (Mpps) |"
echo "| --- | --- | ---: | ---: |"
for size in 60 1514; do
  for d in g2b b2g; do
    dpdk=$(run_pair dpdk $d $size)
    upio=$(run_pair upio $d $size)
    label=$([ "$d" = g2b ] && echo "virtio-user → back end" || echo "back end → virtio-user")
    echo "| $size | $label | $(mpps "$dpdk") | $(mpps "$upio") |"
  done
done

# Idle: a connected front end that sends nothing, a sleeping receiver.
rm -f "$sock"
"$pktgen" -f rx -i "vhost:$sock" --duration "$secs" --json --no-hugepages > "$dir/idle.log" 2>&1 &
pg=$!
pids+=("$pg")
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
testpmd fe 0 "net_virtio_user0,path=$sock,queue_size=1024" rxonly 60
wait "$pg" || true
cpu=$(sed -n 's/.*"summary":"cpu","cpu_seconds":\([0-9.]*\).*/\1/p' "$dir/idle.log")
echo
echo "idle vhost: port (pkt-gen -f rx, sleeping, front end connected and silent): ${cpu:-?} CPU seconds in $secs s"
