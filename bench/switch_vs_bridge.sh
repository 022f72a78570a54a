#!/bin/bash
# iperf3 between two network namespaces through upio-switch and through the
# kernel's own bridge, in one run, the hosts left with Linux's default
# offloads (checksums, TSO, GSO, GRO on their veth ends).
#
#   bench/switch_vs_bridge.sh [UPIO_SWITCH] [SECONDS] [UDP_RATE]
#
# Paths (each: iperf3 TCP for SECONDS, then UDP at UDP_RATE, 1400-byte
# datagrams; default 5 s and 200M):
#   bridge   A - veth - [bridge in S] - veth - B
#   netif    A - veth - [upio-switch: netif:va netif:vb] - veth - B
#            (AF_PACKET with virtio-net headers: GSO frames pass whole)
#   tap      S's own stack on a tap port - [upio-switch: tap:tp0 netif:vb] - veth - B
#   pipe     A - veth - [upio-switch vale0] = pipe = [upio-switch vale1] - veth - B
#            (no header on the pipe: the switches segment and checksum)
# Root only; the namespaces are deleted on exit.
set -u
SWITCH=${1:-build/tools/upio-switch/upio-switch}
SECS=${2:-5}
RATE=${3:-200M}
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, veth, bridge)"; exit 77; }
for t in ip iperf3 ss timeout; do command -v $t >/dev/null || { echo "'$t' is not installed"; exit 77; }; done
ID=$(printf '%x' $$)
NS_S=upio-bs-$ID NS_A=upio-ba-$ID NS_B=upio-bb-$ID
TMP=$(mktemp -d)
cleanup() {
    for ns in $NS_S $NS_A $NS_B; do
        for pid in $(ip netns pids $ns 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del $ns 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

for ns in $NS_S $NS_A $NS_B; do
    ip netns add $ns || exit 1
    in_ns $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    in_ns $ns ip link set lo up
done
ip link add va netns $NS_S type veth peer name eth0 netns $NS_A || exit 1
ip link add vb netns $NS_S type veth peer name eth0 netns $NS_B || exit 1
for pair in "$NS_A eth0" "$NS_B eth0" "$NS_S va" "$NS_S vb"; do set -- $pair; in_ns $1 ip link set $2 up; done
in_ns $NS_A ip addr add 10.210.0.1/24 dev eth0
in_ns $NS_B ip addr add 10.210.0.2/24 dev eth0

# iperf3 from namespace $1 to B with a server on port $2 (each path has a
# port of its own: a server of the previous path that has not exited yet
# cannot take its connections): "TCP Gbit/s  UDP Gbit/s  UDP loss %"
measure() {
    local from=$1 PORT=$2 tcp udp loss
    # 10.210.0.1 moves between A's veth and S's tap from one path to the next:
    # B must not answer the new one at the old one's MAC address
    in_ns $NS_B ip neigh flush all
    in_ns $from ip neigh flush all
    in_ns $NS_B timeout $((SECS * 2 + 30)) iperf3 -s -p $PORT >/dev/null 2>&1 &
    local srv=$!
    for _ in $(seq 50); do in_ns $NS_B ss -Hltn "sport = :$PORT" | grep -q . && break; sleep 0.1; done
    in_ns $from timeout 10 ping -c 2 -W 2 -q 10.210.0.2 >/dev/null
    in_ns $from timeout $((SECS + 15)) iperf3 -c 10.210.0.2 -p $PORT -t $SECS -f g >"$TMP/tcp" 2>&1
    tcp=$(awk '/receiver/ { print $7 }' "$TMP/tcp")
    [ -n "$tcp" ] || tail -3 "$TMP/tcp" >&2
    udp=$(in_ns $from timeout $((SECS + 15)) iperf3 -c 10.210.0.2 -p $PORT -u -b $RATE -l 1400 -t $SECS -f g 2>&1 |
          awk '/receiver/ { print $7, $(NF-1) }' | tr -d '()%')
    pkill -f "iperf3 -s -p $PORT" 2>/dev/null # the server itself, not the shell that started it
    wait $srv 2>/dev/null
    loss=${udp#* }
    echo "${tcp:--} ${udp%% *} ${loss:--}"
}
start_switch() { # name, log, args...
    local log=$2
    : >"$log" # there before the wait below reads it
    in_ns $NS_S "$SWITCH" -s "$1" "${@:3}" >"$log" 2>&1 &
    for _ in $(seq 100); do grep -q "ready with" "$log" && return 0; sleep 0.1; done
    cat "$log"
    return 1
}
stop_switches() {
    local pids pid
    pids=$(sed -n 's/.*ready with .*(pid \([0-9]*\)).*/\1/p' "$TMP"/sw*.log 2>/dev/null)
    for pid in $pids; do kill -TERM $pid 2>/dev/null; done
    for pid in $pids; do for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done; done
    rm -f "$TMP"/sw*.log
}

echo "$(nproc) CPUs, $(uname -r), ${SECS} s per test, UDP at $RATE"
printf '%-8s %14s %14s %12s\n' path "TCP Gbit/s" "UDP Gbit/s" "UDP loss %"
row() { # path, "tcp udp loss"
    local path=$1
    set -- $2
    printf '%-8s %14s %14s %12s\n' "$path" "${1:--}" "${2:--}" "${3:--}"
}

# bridge
in_ns $NS_S ip link add br0 type bridge
in_ns $NS_S ip link set va master br0
in_ns $NS_S ip link set vb master br0
in_ns $NS_S ip link set br0 up
sleep 1
row bridge "$(measure $NS_A 5201)"
in_ns $NS_S ip link del br0

# upio-switch, AF_PACKET with headers
start_switch vale0 "$TMP/sw1.log" netif:va netif:vb && row netif "$(measure $NS_A 5202)"
stop_switches

# tap: S's stack as host A
if start_switch vale0 "$TMP/sw1.log" tp0=tap:tp0 netif:vb; then
    in_ns $NS_S ip addr add 10.210.0.1/24 dev tp0
    in_ns $NS_S ip link set tp0 up
    row tap "$(measure $NS_S 5203)"
    in_ns $NS_S ip addr del 10.210.0.1/24 dev tp0 2>/dev/null
fi
stop_switches

# two switches joined by a pipe (segmentation in software)
if start_switch vale0 "$TMP/sw1.log" va=netif:va "pipe=pipe:upio-bench-$ID{0" &&
   start_switch vale1 "$TMP/sw2.log" "pipe=pipe:upio-bench-$ID}0" vb=netif:vb; then
    row pipe "$(measure $NS_A 5204)"
fi
stop_switches
