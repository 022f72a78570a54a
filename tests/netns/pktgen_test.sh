#!/bin/bash
# pkt-gen as two processes over a veth pair, on netif: ports.
#
#   pktgen_test.sh PKTGEN [MODE]     MODE: xdp | packet (default: netif's own choice)
#
# Namespaces A and B, joined by a veth pair (eth0 in each):
#   - pong in B, ping in A: every ping answered (RTT line, 0 lost);
#   - rxseq in B, txseq in A: what arrives is in order and unduplicated,
#     and every frame sent is received or counted as missing.
# Everything lives in two namespaces made here and deleted on exit; every
# command is bounded in time. Exit 77 (skipped) when not root or a tool is
# missing; exit 1 then under UPIO_REQUIRE_ALL=1.
set -u
PKTGEN=$1
MODE=${2:-}
# A missing prerequisite: skipped (77), or a failure under UPIO_REQUIRE_ALL=1
# (scripts/test as root, where every prerequisite can be had).
skip() {
    if [ "${UPIO_REQUIRE_ALL:-0}" = 1 ]; then echo "FAIL: missing prerequisite (UPIO_REQUIRE_ALL=1): $*"; exit 1; fi
    echo "SKIP: $*"
    exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, veth pairs, AF_XDP / AF_PACKET)"
for t in ip ethtool timeout; do
    command -v $t >/dev/null || skip "'$t' is not installed (scripts/install-deps)"
done

ID=$(printf '%x' $$)
NS_A=upio-pa-$ID NS_B=upio-pb-$ID
TMP=$(mktemp -d)
FAILED=0
PORT=netif:eth0${MODE:+@$MODE}

cleanup() {
    for ns in $NS_A $NS_B; do
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

for ns in $NS_A $NS_B; do
    ip netns add $ns || exit 1
    # No IPv6: its router and neighbour solicitations would be extra frames.
    in_ns $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    in_ns $ns ip link set lo up
done
ip link add eth0 netns $NS_A type veth peer name eth0 netns $NS_B || exit 1
for ns in $NS_A $NS_B; do
    in_ns $ns ethtool -K eth0 tx off tso off gso off gro off >/dev/null 2>&1
    in_ns $ns ip link set eth0 up
done
# both ends up (carrier) before any frame is sent
for _ in $(seq 50); do
    [ "$(in_ns $NS_A cat /sys/class/net/eth0/operstate)" = up ] && [ "$(in_ns $NS_B cat /sys/class/net/eth0/operstate)" = up ] && break
    sleep 0.1
done

# Starts pkt-gen in B in the background (log: $TMP/$1) and waits until it
# reports, i.e. its port is open and its worker runs. 'ip netns exec' may
# stay as the parent: stop_b signals the process that runs pkt-gen.
start_b() {
    local log=$TMP/$1
    shift
    rm -f "$TMP/b.pid"
    in_ns $NS_B bash -c 'echo $$ >"$0"; exec timeout 20 "$@"' "$TMP/b.pid" "$PKTGEN" -T 100ms "$@" >"$log" 2>&1 &
    B_PID=$!
    for _ in $(seq 100); do
        grep -qE '^ +[0-9.]+ (rx|pong) |"dir":"(rx|pong)"' "$log" && return 0
        kill -0 $B_PID 2>/dev/null || break
        sleep 0.05
    done
    stop_b
    cat "$log"
    fail "pkt-gen $* did not start in B"
    return 1
}
# Ends B's pkt-gen (SIGTERM: it stops and prints its summary) and waits for it.
stop_b() {
    [ -s "$TMP/b.pid" ] && kill -TERM "$(cat "$TMP/b.pid")" 2>/dev/null
    wait $B_PID
}

# -- ping / pong
if start_b pong -f pong -i $PORT --duration 10; then
    in_ns $NS_A timeout 20 "$PKTGEN" -f ping -i $PORT -n 500 --timeout 3 >"$TMP/ping" 2>&1
    rc=$?
    stop_b
    grep -E "^(Pinged|Ponged|RTT|pkt-gen|upio: netif)" "$TMP/ping" "$TMP/pong"
    [ $rc = 0 ] || fail "ping exited with $rc"
    grep -q "^RTT on $PORT: 500 replies, 0 lost; min " "$TMP/ping" || fail "ping: not 500 replies with 0 lost"
    grep -q "^Ponged [0-9]* packets" "$TMP/pong" || fail "pong printed no summary"
fi

# -- txseq / rxseq
N=20000
if start_b rxseq -f rxseq -i $PORT -n $N --duration 10 --json; then
    in_ns $NS_A timeout 20 "$PKTGEN" -f txseq -i $PORT -n $N -R 20000 -l 60-1514 --json >"$TMP/txseq" 2>&1
    rc=$?
    # the receiver ends at N frames; if some went missing, at its --duration
    for _ in $(seq 40); do kill -0 $B_PID 2>/dev/null || break; sleep 0.1; done
    stop_b
    grep -E '"summary"|"seq"|pkt-gen' "$TMP/txseq" "$TMP/rxseq"
    [ $rc = 0 ] || fail "txseq exited with $rc"
    grep -q "{\"summary\":\"tx\",\"packets\":$N," "$TMP/txseq" || fail "txseq did not send $N frames"
    line=$(grep "^{\"seq\":\"$PORT\",\"stream\":0," "$TMP/rxseq")
    received=$(sed -n 's/.*"received":\([0-9]*\).*/\1/p' <<<"$line")
    missing=$(sed -n 's/.*"missing":\([0-9]*\).*/\1/p' <<<"$line")
    grep -q '"duplicates":0,"reordered":0' <<<"$line" || fail "rxseq saw duplicates or reordering: $line"
    if [ -z "$received" ] || [ "$received" -eq 0 ]; then
        fail "rxseq received nothing"
    elif [ "$received" -ne $N ]; then
        # frames lost on the way are gaps before a later frame; only a lost
        # tail goes uncounted
        [ $((received + missing)) -le $N ] || fail "received $received + missing $missing is more than $N sent"
        echo "note: $received of $N received, $missing counted missing"
    fi
    [ "$(grep -c '^{"seq"' "$TMP/rxseq")" = 1 ] || fail "rxseq saw more than the one stream sent"
fi

[ $FAILED = 0 ] && echo "PASS: pkt-gen over a veth pair${MODE:+ ($MODE)}"
exit $FAILED
