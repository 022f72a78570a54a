#!/bin/bash
# pkt-gen through a veth pair, received by an AF_XDP port and by an AF_PACKET
# port, side by side in one run (timings on shared vCPUs vary between runs).
#
#   bench/netif_bench.sh [PKT_GEN] [SECONDS]
#
# One network namespace holds the pair v0 <-> v1; pkt-gen sends on
# netif:v0@B and receives on netif:v1@B for each back end B and frame size.
# Root only; the namespace is deleted on exit.
set -u
PKTGEN=${1:-build/tools/pkt-gen/pkt-gen}
SECS=${2:-5}
[ "$(id -u)" = 0 ] || { echo "needs root (network namespace, veth, AF_XDP)"; exit 77; }
NS=upio-bench-$(printf '%x' $$)
cleanup() {
    for pid in $(ip netns pids $NS 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del $NS 2>/dev/null
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ip netns add $NS || exit 1
ip link add v0 netns $NS type veth peer name v1 netns $NS || exit 1
ip netns exec $NS sysctl -qw net.ipv6.conf.all.disable_ipv6=1
for i in v0 v1; do ip netns exec $NS ip link set $i up; done

printf '%-8s %-6s %12s %12s %10s\n' backend size "tx Mpps" "rx Mpps" "rx Gbit/s"
for size in 60 1514; do
    for b in xdp packet; do
        out=$(ip netns exec $NS timeout $((SECS + 20)) "$PKTGEN" -f txrx -i netif:v0@$b -i netif:v1@$b -l $size \
              --duration $SECS --json 2>&1)
        tx=$(echo "$out" | sed -n 's/.*"summary":"tx".*"pps":\([0-9.]*\).*/\1/p')
        rx=$(echo "$out" | sed -n 's/.*"summary":"rx".*"pps":\([0-9.]*\).*/\1/p')
        bps=$(echo "$out" | sed -n 's/.*"summary":"rx".*"bps":\([0-9.]*\).*/\1/p')
        if [ -z "$rx" ]; then
            echo "$b $size: pkt-gen failed:"
            echo "$out" | tail -5
            continue
        fi
        awk -v b=$b -v s=$size -v t="$tx" -v r="$rx" -v g="$bps" \
            'BEGIN { printf "%-8s %-6s %12.3f %12.3f %10.2f\n", b, s, t / 1e6, r / 1e6, g / 1e9 }'
    done
done
