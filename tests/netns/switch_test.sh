#!/bin/bash
# Real kernel traffic through a VALE switch hosted by upio-switch.
#
#   switch_test.sh UPIO_SWITCH MODE     MODE: xdp | packet | tap | segment
#
# xdp, packet: namespaces A and B, each with a veth whose other end sits in
#   namespace S, where upio-switch attaches both ends (netif:IF@MODE).
# tap: upio-switch in S attaches a tap device (S's own stack, 10.200.0.1)
#   and the veth end leading to B.
# segment: A's veth end on switch vale0, B's on vale1 (a second upio-switch),
#   the two switches joined by a pipe: a port without virtio-net headers, so
#   the switches segment the hosts' 64 KiB TCP frames and complete their
#   checksums; tshark in B checks every checksum it receives.
# Then: ping (1000 packets, 0% loss), iperf3 TCP and UDP, the MAC table
# holds both hosts, and the switch's counters match the kernel's (one switch).
# The hosts keep the offloads Linux gives them (checksums, TSO, GSO, GRO),
# except with AF_XDP, which carries no virtio-net header.
#
# Everything lives in three namespaces made here and deleted on exit (veth
# pairs and the tap go with them); every command is bounded in time.
# Exit 77 (skipped) when not root or a tool is missing; exit 1 then
# under UPIO_REQUIRE_ALL=1.
set -u
SWITCH=$1
MODE=$2
# A missing prerequisite: skipped (77), or a failure under UPIO_REQUIRE_ALL=1
# (scripts/test as root, where every prerequisite can be had).
skip() {
    if [ "${UPIO_REQUIRE_ALL:-0}" = 1 ]; then echo "FAIL: missing prerequisite (UPIO_REQUIRE_ALL=1): $*"; exit 1; fi
    echo "SKIP: $*"
    exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, veth pairs, AF_XDP / AF_PACKET / tap)"
for t in ip ping iperf3 ethtool timeout ss; do
    command -v $t >/dev/null || skip "'$t' is not installed (scripts/install-deps)"
done
if [ "$MODE" = segment ]; then command -v tshark >/dev/null || skip "'tshark' is not installed (scripts/install-deps)"; fi

ID=$(printf '%x' $$)
NS_S=upio-s-$ID NS_A=upio-a-$ID NS_B=upio-b-$ID
TMP=$(mktemp -d)
SW_PID=
SW2_PID=
FAILED=0

cleanup() {
    [ -n "$SW2_PID" ] && kill -TERM "$SW2_PID" 2>/dev/null
    [ -n "$SW_PID" ] && kill -TERM "$SW_PID" 2>/dev/null
    for _ in $(seq 50); do [ -n "$SW_PID" ] && kill -0 "$SW_PID" 2>/dev/null || break; sleep 0.1; done
    [ -n "$SW_PID" ] && kill -KILL "$SW_PID" 2>/dev/null
    for ns in $NS_S $NS_A $NS_B; do
        for pid in $(ip netns pids $ns 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del $ns 2>/dev/null
    done
    if ip netns list | grep -q -- "-$ID\b"; then echo "LEFT BEHIND: $(ip netns list | grep -- "-$ID")"; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() { echo "FAIL: $*"; FAILED=1; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# -- topology
for ns in $NS_S $NS_A $NS_B; do
    ip netns add $ns || exit 1
    # No IPv6: its router and neighbour solicitations would muddy the counters.
    in_ns $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    in_ns $ns ip link set lo up
done
ip link add va netns $NS_S type veth peer name eth0 netns $NS_A || exit 1
ip link add vb netns $NS_S type veth peer name eth0 netns $NS_B || exit 1
for pair in "$NS_A eth0" "$NS_B eth0" "$NS_S va" "$NS_S vb"; do
    set -- $pair
    # Offloads stay as Linux sets them up, except for AF_XDP (no virtio-net
    # header: a checksum or a segmentation left to a later hop would be lost).
    [ "$MODE" = xdp ] && in_ns $1 ethtool -K $2 tx off tso off gso off gro off >/dev/null 2>&1
    in_ns $1 ip link set $2 up
done
in_ns $NS_A ip addr add 10.200.0.1/24 dev eth0
in_ns $NS_B ip addr add 10.200.0.2/24 dev eth0

if [ "$MODE" = tap ]; then
    PORTS="tp0=tap:tp0 vb=netif:vb"
    HOST_A=$NS_S IF_A=tp0 # S's own stack plays host A
elif [ "$MODE" = segment ]; then
    PORTS="va=netif:va pipe=pipe:upio-seg-$ID{0"
    HOST_A=$NS_A IF_A=eth0
else
    PORTS="va=netif:va@$MODE vb=netif:vb@$MODE"
    HOST_A=$NS_A IF_A=eth0
fi

# -- the switch
in_ns $NS_S "$SWITCH" -s vale0 --duration 150 $PORTS >"$TMP/switch.log" 2>&1 &
SW_PID=$!
for _ in $(seq 100); do grep -q "ready with" "$TMP/switch.log" && break; kill -0 $SW_PID 2>/dev/null || break; sleep 0.1; done
if ! grep -q "ready with" "$TMP/switch.log"; then
    cat "$TMP/switch.log"
    echo "FAIL: upio-switch did not start"
    exit 1
fi
cat "$TMP/switch.log"
# 'ip netns exec' may stay as the parent: signal the switch itself
SW_PID=$(sed -n 's/.*ready with .*(pid \([0-9]*\)).*/\1/p' "$TMP/switch.log")
if [ "$MODE" = segment ]; then # the second switch, joined to the first by the pipe
    in_ns $NS_S "$SWITCH" -s vale1 --duration 150 "pipe=pipe:upio-seg-$ID}0" vb=netif:vb >"$TMP/switch2.log" 2>&1 &
    SW2_PID=$!
    for _ in $(seq 100); do grep -q "ready with" "$TMP/switch2.log" && break; kill -0 $SW2_PID 2>/dev/null || break; sleep 0.1; done
    cat "$TMP/switch2.log"
    grep -q "ready with" "$TMP/switch2.log" || { echo "FAIL: the second upio-switch did not start"; exit 1; }
    SW2_PID=$(sed -n 's/.*ready with .*(pid \([0-9]*\)).*/\1/p' "$TMP/switch2.log")
fi
if [ "$MODE" = tap ]; then
    in_ns $NS_S ip addr add 10.200.0.1/24 dev tp0
    in_ns $NS_S ip link set tp0 up
fi

# -- ping
in_ns $HOST_A timeout 10 ping -c 3 -W 2 -q 10.200.0.2 >/dev/null # resolve ARP first
in_ns $HOST_A timeout 30 ping -c 1000 -i 0.002 -W 1 -q 10.200.0.2 >"$TMP/ping" 2>&1
cat "$TMP/ping"
grep -q " 0% packet loss" "$TMP/ping" || fail "ping lost packets"

# -- counters, with the traffic stopped: the kernel's veth counters against
# the switch's (read the kernel before and after the dump: must not move)
kstat() { in_ns $1 cat /sys/class/net/$2/statistics/$3; }
# "port N vale0:va ... tx_packets=X ..." -> X
sw_stat() { grep "^port [0-9]* vale0:$1 " "$TMP/dump" | tail -1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }
dump_switch() {
    local n
    n=$(grep -c '^==$' "$TMP/switch.log")
    kill -USR1 $SW_PID
    for _ in $(seq 50); do [ "$(grep -c '^==$' "$TMP/switch.log")" -gt "$n" ] && break; sleep 0.1; done
    awk -v n="$n" '/^== /{k++} k>n' "$TMP/switch.log" >"$TMP/dump"
}
ok=0
[ "$MODE" = segment ] && ok=1 # two switches: frames are counted again at each (and segmented)
for attempt in 1 2 3; do
    [ $ok = 1 ] && break
    sleep 0.5
    a_tx=$(kstat $HOST_A $IF_A tx_packets) b_rx=$(kstat $NS_B eth0 rx_packets)
    b_tx=$(kstat $NS_B eth0 tx_packets) a_rx=$(kstat $HOST_A $IF_A rx_packets)
    dump_switch
    [ "$a_tx $b_rx $b_tx $a_rx" = "$(kstat $HOST_A $IF_A tx_packets) $(kstat $NS_B eth0 rx_packets) $(kstat $NS_B eth0 tx_packets) $(kstat $HOST_A $IF_A rx_packets)" ] || continue
    PA=${PORTS%%=*}
    va_in=$(( $(sw_stat $PA tx_packets) + $(sw_stat $PA drop_filtered) + $(sw_stat $PA drop_malformed) ))
    vb_in=$(( $(sw_stat vb tx_packets) + $(sw_stat vb drop_filtered) + $(sw_stat vb drop_malformed) ))
    va_out=$(sw_stat $PA rx_packets) vb_out=$(sw_stat vb rx_packets)
    echo "counters: A sent $a_tx, switch took $va_in from $PA; switch gave $vb_out to vb, B received $b_rx"
    echo "          B sent $b_tx, switch took $vb_in from vb; switch gave $va_out to $PA, A received $a_rx"
    if [ "$a_tx" = "$va_in" ] && [ "$b_rx" = "$vb_out" ] && [ "$b_tx" = "$vb_in" ] && [ "$a_rx" = "$va_out" ]; then
        ok=1
        break
    fi
done
[ $ok = 1 ] || fail "the switch's counters do not match the kernel's"
[ "$MODE" = segment ] && a_tx=$(kstat $HOST_A $IF_A tx_packets)
[ "${a_tx:-0}" -ge 1000 ] || fail "fewer than 1000 frames went through"

# -- the MAC table learned both hosts
[ "$MODE" = segment ] && dump_switch
mac_a=$(in_ns $HOST_A cat /sys/class/net/$IF_A/address)
mac_b=$(in_ns $NS_B cat /sys/class/net/eth0/address)
grep "^mac " "$TMP/dump"
grep -q "^mac $mac_a .* vale0:${PORTS%%=*} " "$TMP/dump" || fail "host A ($mac_a) not learned on ${PORTS%%=*}"
if [ "$MODE" = segment ]; then
    grep -q "^mac $mac_b .* vale0:pipe " "$TMP/dump" || fail "host B ($mac_b) not learned on the pipe"
else
    grep -q "^mac $mac_b .* vale0:vb " "$TMP/dump" || fail "host B ($mac_b) not learned on vb"
fi

# -- iperf3, TCP then UDP
iperf() { # name, client args...
    local name=$1
    shift
    in_ns $NS_B timeout 30 iperf3 -s -1 -p 5201 >"$TMP/iperf-server-$name" 2>&1 &
    for _ in $(seq 50); do in_ns $NS_B ss -Hltn 'sport = :5201' | grep -q . && break; sleep 0.1; done
    if in_ns $HOST_A timeout 25 iperf3 -c 10.200.0.2 -p 5201 -f m "$@" >"$TMP/iperf-$name" 2>&1; then
        grep -E "sender|receiver" "$TMP/iperf-$name" | sed "s/^/iperf3 $name: /"
    else
        cat "$TMP/iperf-$name"
        fail "iperf3 $name failed"
    fi
    wait $! 2>/dev/null
}
# In segment mode tshark in B records what the second switch delivered from
# A (segments it cut and checksums it completed: the first 5000 frames) while
# TCP runs. What B sends itself leaves its checksums to the veth, as any host
# with offloads on: not checked.
if [ "$MODE" = segment ]; then
    in_ns $NS_B timeout 20 tshark -q -i eth0 -f "tcp port 5201 and src host 10.200.0.1" -c 5000 -w "$TMP/b.pcapng" >"$TMP/tshark.log" 2>&1 &
    TSHARK=$!
    for _ in $(seq 100); do grep -q "Capturing on" "$TMP/tshark.log" && break; sleep 0.1; done
fi
iperf tcp -t 3
if [ "$MODE" = segment ]; then
    sleep 1
    kill -INT $TSHARK 2>/dev/null
    wait $TSHARK
    # every frame: at most the MTU (segmented), IPv4 and TCP checksums right
    tshark -r "$TMP/b.pcapng" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
        -T fields -e frame.len -e ip.checksum.status -e tcp.checksum.status >"$TMP/b.fields" 2>"$TMP/b.err"
    total=$(wc -l <"$TMP/b.fields")
    big=$(awk '$1 > 1514' "$TMP/b.fields" | wc -l)
    bad=$(awk '$2 != 1 || $3 != 1' "$TMP/b.fields" | wc -l) # 1: "Good" in tshark's status fields
    echo "tshark in B: $total frames, $big above 1514 bytes, $bad with a checksum not good"
    [ "$total" -ge 1000 ] || { cat "$TMP/tshark.log" "$TMP/b.err"; fail "tshark saw only $total frames"; }
    [ "$big" = 0 ] || fail "frames above the MTU reached B"
    [ "$bad" = 0 ] || { awk '$2 != 1 || $3 != 1' "$TMP/b.fields" | head -5; fail "checksums not good at B"; }
fi
# UDP passes (half the datagrams at least: a path that carries none fails).
# How many a loaded machine loses at a given rate is a speed figure, measured
# by bench/switch_vs_bridge.sh, not judged here.
iperf udp -u -b 20M -l 1400 -t 3
if [ -f "$TMP/iperf-udp" ]; then
    loss=$(grep receiver "$TMP/iperf-udp" | sed -n 's/.*(\([0-9.e+-]*\)%).*/\1/p')
    awk -v l="${loss:-100}" 'BEGIN { exit !(l <= 50) }' || fail "iperf3 UDP lost ${loss:-?}% (more than half)"
fi

dump_switch
grep -E "^(port|kernel) " "$TMP/dump"
if [ "$MODE" = segment ]; then
    n=$(grep -c '^==$' "$TMP/switch2.log"); kill -USR1 $SW2_PID
    for _ in $(seq 50); do [ "$(grep -c '^==$' "$TMP/switch2.log")" -gt "$n" ] && break; sleep 0.1; done
    awk -v n="$n" '/^== /{k++} k>n' "$TMP/switch2.log" | grep -E "^(port|kernel) "
fi
[ $FAILED = 0 ] && echo "PASS: $MODE"
exit $FAILED
