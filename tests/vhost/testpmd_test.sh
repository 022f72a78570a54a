#!/usr/bin/env bash
# vhost: ports against DPDK's virtio-user front end (dpdk-testpmd in another
# process, forwarding with macswap and retries, so it drops nothing).
#
#   testpmd_test.sh PKT_GEN CASE
#
# CASE: seq      pkt-gen txrxseq, 10^6 frames of 60..1514 bytes, through testpmd:
#                none missing, duplicated or reordered (mergeable rx buffers on)
#       nomrg    the same with mrg_rxbuf=0 on the virtio-user side
#       mq       two queue pairs, a pkt-gen thread per ring pair
#       jumbo    9000-byte frames (chains on the netmap side, several buffers
#                on the virtio side), with the roles of the socket swapped:
#                testpmd listens (server=1), the port connects (,client)
#       restart  testpmd killed mid-run: the link goes down, pkt-gen keeps
#                running, a new testpmd connects and frames flow again
#
# Needs dpdk-testpmd (Debian's dpdk package) and 2 MiB hugepages mounted at
# /dev/hugepages with 48 free (virtio-user shares its memory as hugepage
# files); exits 77 (skipped) without them.
set -euo pipefail
# A missing prerequisite: skipped (77), or a failure under UPIO_REQUIRE_ALL=1
# (scripts/test as root, after scripts/install-deps).
skip() {
  if [ "${UPIO_REQUIRE_ALL:-0}" = 1 ]; then echo "FAIL: missing prerequisite (UPIO_REQUIRE_ALL=1): $*"; exit 1; fi
  echo "skip: $*"
  exit 77
}
pktgen=$1
case_=$2
command -v dpdk-testpmd >/dev/null || skip "dpdk-testpmd not installed (Debian package dpdk)"
mount | grep -q ' /dev/hugepages type hugetlbfs' || skip "no hugetlbfs at /dev/hugepages"
free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
if [ "${free:-0}" -lt 48 ] && [ "$(id -u)" -eq 0 ]; then
  echo $(( $(awk '/HugePages_Total/ {print $2}' /proc/meminfo) + 48 - free )) > /proc/sys/vm/nr_hugepages || true
  free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
fi
[ "${free:-0}" -ge 48 ] || skip "$free free 2 MiB hugepages, 48 needed"

dir=$(mktemp -d /tmp/upio-vhost.XXXXXX)
sock=$dir/vh.sock
prefix=upio-vh-$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir" /dev/hugepages/${prefix}* /var/run/dpdk/${prefix}* 2>/dev/null || true
}
trap cleanup EXIT

queues=1; mrg=1; sizes=60-1514; count=1000000; server=0
case $case_ in
  seq) ;;
  nomrg) mrg=0 ;;
  mq) queues=2; count=500000 ;;
  jumbo) sizes=9000; count=100000; server=1 ;;
  restart) ;;
  *) echo "unknown case $case_"; exit 2 ;;
esac
# The sanitizer runs scale the frame counts down (UPIO_TEST_SCALE=0.2).
count=$(awk -v c=$count -v s="${UPIO_TEST_SCALE:-1}" 'BEGIN { n = int(c * s); print n < 1000 ? 1000 : n }')

# testpmd reads its commands from a fifo that stays open until we close it.
start_testpmd() { # start_testpmd N: the Nth instance (its own file prefix)
  local n=$1
  mkfifo "$dir/cmd$n"
  dpdk-testpmd -l 0-1 --no-pci --file-prefix="$prefix-$n" -m 96 --single-file-segments \
    --vdev="net_virtio_user0,path=$sock,queues=$queues,queue_size=1024,mrg_rxbuf=$mrg,server=$server" -- \
    -i --port-topology=loop --rxq=$queues --txq=$queues --nb-cores=1 --rxd=1024 --txd=1024 \
    --total-num-mbufs=16384 --no-flush-rx < "$dir/cmd$n" > "$dir/testpmd$n.log" 2>&1 &
  tp_pid=$!
  pids+=("$tp_pid")
  exec {tp_fd}>"$dir/cmd$n"
  # macswap with retries: testpmd waits for room in the virtio tx queue
  # instead of dropping (retry 100000 times, 100 us apart).
  printf 'set fwd macswap retry\nset burst tx delay 100 retry 100000\nstart\n' >&$tp_fd
}

# The pkt-gen JSON line of the sequence check on the rx port(s): none
# missing, duplicated or reordered, and every frame counted.
check_seq() { # check_seq LOG EXPECTED
  local log=$1 want=$2 got=0 line
  while IFS= read -r line; do
    [[ $line == *'"seq"'* ]] || continue
    echo "$line"
    [[ $line == *'"missing":0,"duplicates":0,"reordered":0'* ]] || { echo "FAIL: frames lost or out of order"; return 1; }
    got=$(( got + $(sed -E 's/.*"received":([0-9]+).*/\1/' <<<"$line") ))
  done < "$log"
  [ "$got" -eq "$want" ] || { echo "FAIL: received $got of $want"; return 1; }
}

rx=("vhost:$sock,rx"); tx=("vhost:$sock,tx"); threads=1
[ "$server" -eq 1 ] && rx=("vhost:$sock,client,rx") && tx=("vhost:$sock,client,tx")
[ "$queues" -eq 2 ] && threads=2

if [ "$case_" != restart ]; then
  # pkt-gen serves the socket and testpmd connects once it exists, or
  # (server=1) testpmd listens and waits for pkt-gen to connect.
  [ "$server" -eq 1 ] && start_testpmd 1
  [ "$server" -eq 1 ] && for _ in $(seq 600); do [ -S "$sock" ] && break; sleep 0.1; done
  "$pktgen" -f txrxseq -i "${tx[0]}" -i "${rx[0]}" -p $threads -n $count -l $sizes -w 60 --timeout 30 \
    --no-hugepages --json > "$dir/pktgen.log" 2>&1 &
  pg=$!
  pids+=("$pg")
  if [ "$server" -eq 0 ]; then
    for _ in $(seq 600); do [ -S "$sock" ] && break; sleep 0.1; done
    start_testpmd 1
  fi
  rc=0
  wait "$pg" || rc=$?
  grep -v '"dir"' "$dir/pktgen.log" || true
  [ "$rc" -eq 0 ] || { echo "FAIL: pkt-gen exited with $rc"; tail -30 "$dir/testpmd1.log"; exit 1; }
  check_seq "$dir/pktgen.log" $(( count * threads )) || { tail -30 "$dir/testpmd1.log"; exit 1; }
  printf 'stop\nquit\n' >&$tp_fd
  exec {tp_fd}>&-
  wait "$tp_pid" || true
  grep -A3 'Accumulated forward statistics' "$dir/testpmd1.log" || true
  echo "PASS: $case_"
  exit 0
fi

# restart: pkt-gen runs for a fixed time at a modest rate; the first
# testpmd is killed once frames flow, a second one connects.
"$pktgen" -f txrxseq -i "${tx[0]}" -i "${rx[0]}" --duration 40 -R 20000 -w 60 --timeout 0 --no-hugepages \
  --json > "$dir/pktgen.log" 2>&1 &
pg=$!
pids+=("$pg")
for _ in $(seq 600); do [ -S "$sock" ] && break; sleep 0.1; done
rx_packets() { grep '"dir":"rx"' "$dir/pktgen.log" | tail -1 | sed -E 's/.*"packets":([0-9]+).*/\1/'; }
wait_rx_above() { # wait_rx_above N: until pkt-gen has received more than N frames (60 s at most)
  for _ in $(seq 600); do
    local n; n=$(rx_packets); [ -n "$n" ] && [ "$n" -gt "$1" ] && return 0
    kill -0 "$pg" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
start_testpmd 1
wait_rx_above 1000 || { echo "FAIL: no frames through the first testpmd"; tail -30 "$dir/testpmd1.log"; exit 1; }
kill -9 "$tp_pid"
exec {tp_fd}>&-
wait "$tp_pid" 2>/dev/null || true
rm -f /dev/hugepages/${prefix}-1* 2>/dev/null || true
at_kill=$(rx_packets)
echo "testpmd killed after $at_kill frames"
start_testpmd 2
wait_rx_above $(( at_kill + 1000 )) || { echo "FAIL: no frames after the new testpmd connected"; tail -30 "$dir/testpmd2.log"; exit 1; }
echo "frames flow again: $(rx_packets)"
rc=0
wait "$pg" || rc=$?
grep -v '"dir"' "$dir/pktgen.log" || true
[ "$rc" -eq 0 ] || { echo "FAIL: pkt-gen exited with $rc"; exit 1; }
printf 'stop\nquit\n' >&$tp_fd
exec {tp_fd}>&-
echo "PASS: restart"
