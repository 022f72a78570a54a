#!/usr/bin/env bash
# run-vm.sh -- boot a TCG guest with one Intel NIC model and run the VM cases.
#
#   run-vm.sh --model e1000|e1000e|igb --work DIR --cache DIR --cases DIR
#             --checker PATH [--timeout SECONDS] FILE...
#
# FILE... (the project's programs and scripts/upio-setup) go into the guest's
# PATH. The guest has q35 + intel-iommu (interrupt remapping on, VFIO needs
# it), the NIC at 0000:00:03.0 with a fixed MAC, and its wire connected by
# "-netdev dgram" over unix sockets to upio-vm-checker on the host. Each case
# prints a verdict; a case with a "# host:" mode also needs the checker's.
# Exit status: 0 all cases passed, 77 prerequisites missing (ctest: skipped;
# 1 under UPIO_REQUIRE_ALL=1, as scripts/test sets when run as root), 1
# otherwise. The whole run is bounded by --timeout (default 600 s).
set -uo pipefail

model= work= cache= cases= checker= limit=600
while (($#)); do
    case $1 in
    --model) model=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --cases) cases=$2; shift 2 ;;
    --checker) checker=$2; shift 2 ;;
    --timeout) limit=$2; shift 2 ;;
    *) break ;;
    esac
done
[[ -n $model && -n $work && -n $cache && -n $cases && -n $checker ]] || { sed -n '2,14p' "$0"; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
skip() { # a missing prerequisite: skipped, or a failure where all are required
    if [[ ${UPIO_REQUIRE_ALL:-0} == 1 ]]; then echo "run-vm: missing prerequisite (UPIO_REQUIRE_ALL=1): $*"; exit 1; fi
    echo "run-vm: $*"
    exit 77
}
qemu=${UPIO_QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null || skip "$qemu missing (scripts/install-deps installs qemu-system-x86)"
# (read whole, not piped into grep -q: under pipefail an early exit of grep
# would make QEMU's SIGPIPE look like a missing model)
devices=$("$qemu" -device help 2>/dev/null || true)
grep -q "name \"$model\"" <<< "$devices" ||
    skip "this QEMU ($("$qemu" --version | head -1)) has no $model model; igb needs QEMU >= 8 (bookworm-backports)"

nic_addr=0000:00:03.0
mac=52:54:00:12:34:56
rm -rf "$work" && mkdir -p "$work"
t0=$(date +%s.%N)
"$here/build-initramfs.sh" "$cache" "$work" "$cases" "$@"
rc=$?
((rc == 77)) && skip "build-initramfs.sh: a prerequisite is missing (see above)"
((rc == 0)) || exit 1
t1=$(date +%s.%N)

qsock=$work/qemu.sock hsock=$work/host.sock
mkfifo "$work/control"
# The checker's socket queues net.unix.max_dgram_qlen frames (10 by default);
# beyond that QEMU queues and, once its own queue is full, drops the guest's
# frames -- a loaded host can lose a sequence that way. As root the checker
# runs in a network namespace of its own (unix sockets on paths still reach
# it) whose queue is longer; the host's setting is left as it is.
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
  unshare --net sh -c 'echo 1024 > /proc/sys/net/unix/max_dgram_qlen && exec "$0" "$@"' \
    "$checker" --socket "$hsock" --peer "$qsock" < "$work/control" > "$work/checker.log" 2>&1 &
else
  "$checker" --socket "$hsock" --peer "$qsock" < "$work/control" > "$work/checker.log" 2>&1 &
fi
checker_pid=$!
exec 3> "$work/control"

# The console is read line by line: a case's start is forwarded to the checker.
timeout --kill-after=10 "$limit" "$qemu" -accel tcg -machine q35 -cpu max -m 512M -smp 1 \
    -device intel-iommu,intremap=on -nographic -no-reboot -vga none \
    -kernel "$work/vmlinuz" -initrd "$work/initramfs.gz" \
    -append "console=ttyS0 intel_iommu=on no_timer_check panic=-1 quiet loglevel=4 upio.model=$model upio.nic=$nic_addr upio.mac=$mac" \
    -netdev "dgram,id=n0,local.type=unix,local.path=$qsock,remote.type=unix,remote.path=$hsock" \
    -device "$model,netdev=n0,mac=$mac,bus=pcie.0,addr=03.0,romfile=" < /dev/null 2>&1 |
    while IFS= read -r line; do
        line=${line%$'\r'}
        printf '%s\n' "$line" >> "$work/console.log"
        case $line in UPIO-CASE-BEGIN\ *)
            set -- $line
            echo "case $2 ${3:-none}" >&3 ;;
        esac
    done
qemu_rc=${PIPESTATUS[0]}
t2=$(date +%s.%N)
echo end >&3
exec 3>&-
for _ in $(seq 50); do kill -0 $checker_pid 2>/dev/null || break; sleep 0.1; done
kill $checker_pid 2>/dev/null
wait $checker_pid 2>/dev/null

# -- verdicts
fail=0 count=0
printf 'vm[%s] %-24s %-5s %s\n' "$model" CASE GUEST HOST
while read -r _ name verdict rest; do
    host=$(awk -v n="$name" '$1 == "HOST" && $2 == n { print $3 }' "$work/checker.log")
    hostmode=$(awk -v n="$name" '$1 == "UPIO-CASE-BEGIN" && $2 == n { print $3 }' "$work/console.log")
    [[ ${hostmode:-none} != none && -z $host ]] && host=MISSING
    printf 'vm[%s] %-24s %-5s %s %s\n' "$model" "$name" "$verdict" "${host:--}" "$rest"
    [[ $verdict == SKIP ]] && continue
    count=$((count + 1))
    [[ $verdict == PASS && ( -z $host || $host == PASS ) ]] || fail=1
done < <(grep '^UPIO-CASE ' "$work/console.log" 2>/dev/null)
if ! grep -q '^UPIO-DONE' "$work/console.log" 2>/dev/null; then
    ((qemu_rc == 124)) && echo "vm[$model] TIMEOUT: the VM did not finish within ${limit}s"
    echo "vm[$model] the guest did not finish (qemu exit $qemu_rc); last console lines:"
    tail -n 30 "$work/console.log" 2>/dev/null | sed 's/^/    /'
    fail=1
fi
((count > 0)) || { echo "vm[$model] no case ran"; fail=1; }
# Every case that began has a verdict, and every case file ran (or was
# skipped for its model): a guest that dies or hangs part-way cannot pass.
while read -r name; do
    grep -qE "^UPIO-CASE $name (PASS|FAIL) " "$work/console.log" ||
        { echo "vm[$model] case $name began but gave no verdict"; fail=1; }
done < <(awk '$1 == "UPIO-CASE-BEGIN" { print $2 }' "$work/console.log" 2>/dev/null)
for c in "$cases"/*.sh; do
    name=$(basename "$c" .sh)
    grep -qE "^UPIO-CASE $name (PASS|FAIL|SKIP) " "$work/console.log" 2>/dev/null ||
        { echo "vm[$model] case $name never ran"; fail=1; }
done
if ((fail)); then
    echo "vm[$model] failed; console: $work/console.log, checker: $work/checker.log"
    grep -E '^  \[' "$work/console.log" | tail -n 40
fi
awk -v m="$model" -v n="$count" -v a="$t0" -v b="$t1" -v c="$t2" \
    'BEGIN { printf "vm[%s] %d cases, initramfs %.1f s, VM boot-to-poweroff %.1f s\n", m, n, b - a, c - b }'
exit $fail
