#!/usr/bin/env bash
# netmap's own pkt-gen under libupio-netmap.so against upio's pkt-gen, on a
# pipe across two processes, alternately in one run: a pair of upio's
# (receiver, then sender), a pair of netmap's, and a pair of netmap's whose
# sender does not rebuild its frames (-r), PAIRS times.
#
#   bench/netmap_preload_compare.sh BUILD_DIR NETMAP_PKTGEN [PAIRS]   (default PAIRS: 5)
#
# NETMAP_PKTGEN is netmap's apps/pkt-gen built outside this tree (see
# docs/netmap-compat.md, "Building netmap's applications against the
# preload"). COUNT (environment, default 10000000) frames per run.
#
# The pairs do the same: COUNT frames of 60 bytes, at most 512 per sync,
# the receiver on CPU 1, the sender on CPU 0, each sleeping on its port
# (after the port's 50 us spin) when its ring is full or empty:
#   upio's:   pkt-gen -f rx|tx -i pipe:NAME}0|{0 -n COUNT -l 60 -b 512 -a CPU -w 10 --json
#             (-w: the sender waits for the receiver's end; a Port::wait
#             before each batch of the receiver, a txsync after each of the
#             sender's)
#   netmap's: pkt-gen -f rx|tx -i netmap:NAME}0|{0 -n COUNT -l 60 -b 512 -a CPU -c 2 -N -w 0 [-r]
#             (-b 512: netmap's default burst; a poll() before each batch,
#             NIOCTXSYNC at the end; the receiver syncs its tx rings on each
#             poll, as netmap's poll does without NR_NO_TX_POLL. -c 2: -a
#             pins to CPU (-a + thread) modulo -c, which is 1 by default,
#             so without it both would run on CPU 0. -w 0: no wait for a
#             PHY. -r, the third pair's sender: frames as the buffers hold
#             them, where netmap's pkt-gen otherwise writes a whole frame and
#             its addresses and checksums again into every buffer that
#             comes back changed (NS_BUF_CHANGED), which on upio's pipes is
#             every buffer)
# The rate of a pair is its sender's: frames sent over the time from its
# first batch to its last frame taken (the receiver is ready before the
# sender starts, so neither counts the other's start-up). A program that
# fails ends the script with its status; one that runs longer than LIMIT
# seconds (environment, default 120: a sender whose receiver has gone
# waits for it) is stopped, status 124.
#
# Compare pairs of one run only: on a shared 2-vCPU machine the same pair
# varies by tens of percent between runs.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 BUILD_DIR NETMAP_PKTGEN [PAIRS]" >&2; exit 2; }
build=$1
netmap_pktgen=$2
pairs=${3:-5}
count=${COUNT:-10000000}
limit=${LIMIT:-120}
upio_pktgen=$build/tools/pkt-gen/pkt-gen
preload=$(cd "$build" && pwd)/tools/netmap-preload/libupio-netmap.so
[ -x "$upio_pktgen" ] || { echo "netmap_preload_compare: no $upio_pktgen (ninja -C $build pkt-gen)" >&2; exit 2; }
[ -f "$preload" ] || { echo "netmap_preload_compare: no $preload (ninja -C $build upio-netmap)" >&2; exit 2; }
[ -x "$netmap_pktgen" ] || { echo "netmap_preload_compare: no $netmap_pktgen (netmap's pkt-gen)" >&2; exit 2; }
dir=$(mktemp -d /tmp/unpc.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT

# fail WHY LOG [STATUS]: says why, shows the log, ends the pair's receiver
# (pids) and the script.
fail() {
  echo "netmap_preload_compare: $1" >&2
  cat "$2" >&2
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  exit "${3:-1}"
}

# wait_ready PID LOG CMD...: until CMD says the receiver PID is ready (or it ends).
wait_ready() {
  local pid=$1 log=$2
  shift 2
  for _ in $(seq 1 200); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || return 0 # ended: its status tells why
    sleep 0.05
  done
  fail "the receiver did not get ready in 10 s" "$log"
}
# upio's pipe end listens on the abstract socket upio/UID/pipe/NAME/ID
pipe_listens() { grep -q "@upio/$(id -u)/pipe/$1/0\$" /proc/net/unix; }

# run_pair KIND N: a receiver and a sender of KIND (upio, netmap, netmap-r)
# on a pipe of their own; prints the sender's Mpps.
run_pair() {
  local kind=$1 name="u$$${1:0:1}${1: -1}$2" rx rlog=$dir/$1-$2-rx.log tlog=$dir/$1-$2-tx.log
  if [ "$kind" = upio ]; then
    timeout "$limit" "$upio_pktgen" -f rx -i "pipe:$name}0" -n "$count" -l 60 -b 512 -a 1 --json > "$rlog" 2>&1 &
    rx=$!
    pids+=("$rx")
    wait_ready "$rx" "$rlog" pipe_listens "$name"
    timeout "$limit" "$upio_pktgen" -f tx -i "pipe:$name{0" -n "$count" -l 60 -b 512 -a 0 -w 10 --json > "$tlog" 2>&1 ||
      { st=$?; fail "upio's sender failed with status $st" "$tlog" "$st"; }
  else
    local nm=(-n "$count" -l 60 -b 512 -c 2 -N -w 0)
    timeout "$limit" env LD_PRELOAD="$preload" "$netmap_pktgen" -f rx -i "netmap:$name}0" "${nm[@]}" -a 1 > "$rlog" 2>&1 &
    rx=$!
    pids+=("$rx")
    wait_ready "$rx" "$rlog" grep -q 'reading from' "$rlog"
    [ "$kind" = netmap ] || nm+=(-r)
    timeout "$limit" env LD_PRELOAD="$preload" "$netmap_pktgen" -f tx -i "netmap:$name{0" "${nm[@]}" -a 0 > "$tlog" 2>&1 ||
      { st=$?; fail "netmap's sender failed with status $st" "$tlog" "$st"; }
  fi
  local st=0
  wait "$rx" || st=$?
  [ "$st" = 0 ] || fail "$kind's receiver failed with status $st" "$rlog" "$st"
  pids=()
  local pps
  if [ "$kind" = upio ]; then
    # {"summary":"tx","packets":N,...,"pps":P,...}
    grep -q "\"summary\":\"rx\",\"packets\":$count," "$rlog" || fail "upio's receiver did not get $count frames" "$rlog"
    pps=$(sed -n 's/.*"summary":"tx","packets":'"$count"',.*"pps":\([0-9]*\).*/\1/p' "$tlog")
  else
    # "Received N packets ...", "Sent N packets ..." and then "Speed: P pps ..." (-N: no units)
    grep -q "^Received $count packets" "$rlog" || fail "netmap's receiver did not get $count frames" "$rlog"
    grep -q "^Sent $count packets" "$tlog" || fail "netmap's sender did not send $count frames" "$tlog"
    pps=$(sed -n 's/^Speed: \([0-9.]*\) pps.*/\1/p' "$tlog" | head -1)
  fi
  [ -n "$pps" ] || fail "no rate in $kind's sender's output" "$tlog"
  awk -v p="$pps" 'BEGIN {printf "%.2f", p / 1e6}'
}

median() { sort -n | awk '{v[NR] = $1} END {if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "netmap_preload_compare: $pairs pairs of $count frames of 60 bytes on a pipe, two processes each; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| pair | upio's pkt-gen (Mpps) | netmap's pkt-gen under the preload (Mpps) | ratio | netmap's, sender -r (Mpps) | ratio |"
echo "| --- | --- | --- | --- | --- | --- |"
ups=()
nms=()
nrs=()
ratio() { awk -v u="$1" -v m="$2" 'BEGIN {printf "%.2f", m / u}'; }
for i in $(seq 1 "$pairs"); do
  u=$(run_pair upio "$i")
  m=$(run_pair netmap "$i")
  r=$(run_pair netmap-r "$i")
  ups+=("$u")
  nms+=("$m")
  nrs+=("$r")
  printf '| %d | %s | %s | %s | %s | %s |\n' "$i" "$u" "$m" "$(ratio "$u" "$m")" "$r" "$(ratio "$u" "$r")"
done
um=$(printf '%s\n' "${ups[@]}" | median)
nmm=$(printf '%s\n' "${nms[@]}" | median)
nrm=$(printf '%s\n' "${nrs[@]}" | median)
at=$(paste <(printf '%s\n' "${ups[@]}") <(printf '%s\n' "${nms[@]}") | awk '$2 >= 0.9 * $1' | wc -l)
atr=$(paste <(printf '%s\n' "${ups[@]}") <(printf '%s\n' "${nrs[@]}") | awk '$2 >= 0.9 * $1' | wc -l)
echo
echo "Medians: upio's $um, netmap's $nmm (ratio $(ratio "$um" "$nmm")), netmap's with -r $nrm Mpps (ratio $(ratio "$um" "$nrm"))."
echo "netmap's pkt-gen reached at least 0.9 times upio's in $at of the $pairs pairs, with -r in $atr. Load after: $(cut -d' ' -f1-3 /proc/loadavg)"
