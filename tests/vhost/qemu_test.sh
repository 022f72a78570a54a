#!/usr/bin/env bash
# vhost: QEMU guests (TCG) with virtio-net on vhost-user netdevs, each served
# by a vhost: port on a VALE switch in upio-switch, with a tap: port on the
# same switch (the stack of a network namespace of our own, 10.77.0.1).
#
#   qemu_test.sh UPIO_SWITCH KERNEL_CACHE_DIR [GUESTS|restart|reboot]
#   qemu_test.sh UPIO_SWITCH KERNEL_CACHE_DIR pktgen PKT_GEN UPIO_VALE VALE_CTL
#
# One guest (default) pings the tap's address; with two, each also pings the
# other guest. "restart": once the guest's pings pass, upio-switch is killed
# (SIGKILL: its socket file stays behind) and started again while QEMU waits
# in reconnect mode; the guest's pings must fail, then pass again. "reboot":
# once the guest's pings pass it reboots (reboot -f: QEMU resets the device,
# stopping its queues with GET_VRING_BASE, and the new kernel sets them up
# again); the pings of its second boot must pass through the same upio-switch,
# which must still run and exit cleanly.
# "pktgen": no upio-switch; upio-vale serves vale0 with the guest's vhost:
# port attached (vale-ctl -a), and a pkt-gen inside the guest (its libraries
# copied into the initramfs) sends 10^4 sequenced frames on netif:eth0@packet
# (AF_PACKET) to pkt-gen -f rxseq --lossless on vale0:h, which must receive
# every one, none missing, duplicated or reordered (the guest's qdisc is
# pfifo_fast, long enough for the whole run: nothing on the path drops).
#
# KERNEL_CACHE_DIR holds Debian's cloud kernel as the VM tests keep it
# (kernel/ unpacked, or a linux-image-*-cloud-amd64 .deb, else downloaded).
# Exit 77 (skipped) when not root or QEMU, busybox-static or the kernel is
# missing. TCG guests prove correctness only: their timing means nothing.
set -uo pipefail
# A missing prerequisite: skipped (77), or a failure under UPIO_REQUIRE_ALL=1
# (scripts/test as root, after scripts/install-deps).
skip() {
  if [ "${UPIO_REQUIRE_ALL:-0}" = 1 ]; then echo "FAIL: missing prerequisite (UPIO_REQUIRE_ALL=1): $*"; exit 1; fi
  echo "skip: $*"
  exit 77
}
switch=$1 cache=$2 guests=${3:-1} mode=ping count=10000
case $guests in
  restart|reboot) mode=$guests guests=1 ;;
  pktgen)
    mode=pktgen guests=1
    [ $# -eq 6 ] || { echo "usage: $0 UPIO_SWITCH KERNEL_CACHE_DIR pktgen PKT_GEN UPIO_VALE VALE_CTL"; exit 2; }
    pktgen=$4 upio_vale=$5 vale_ctl=$6 ;;
esac
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespace, tap)"
qemu=${UPIO_QEMU:-qemu-system-x86_64}
for t in "$qemu" busybox cpio ip ping; do
  command -v "$t" >/dev/null || skip "$t missing (scripts/install-deps)"
done
ldd "$(command -v busybox)" >/dev/null 2>&1 && skip "busybox is not static (busybox-static)"

# -- the kernel (shared with the VM tests' cache)
mkdir -p "$cache"
exec 9> "$cache/.lock"
flock -w 600 9
if ! ls "$cache"/kernel/boot/vmlinuz-* >/dev/null 2>&1; then
  deb=$(ls -t "$cache"/linux-image-*-cloud-amd64_*.deb /var/cache/apt/archives/linux-image-*-cloud-amd64_*.deb 2>/dev/null | head -1)
  if [ -z "$deb" ]; then
    pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    [ -n "$pkg" ] && (cd "$cache" && apt-get download "$pkg" >/dev/null 2>&1)
    deb=$(ls -t "$cache"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | head -1)
  fi
  [ -n "$deb" ] || skip "no cloud kernel package (apt-get update; or run the VM tests once)"
  rm -rf "$cache/kernel.tmp" && dpkg-deb -x "$deb" "$cache/kernel.tmp" && mv "$cache/kernel.tmp" "$cache/kernel"
fi
flock -u 9
kver=$(ls "$cache"/kernel/lib/modules | head -1)

id=$(printf '%x' $$)
work=$(mktemp -d /tmp/upio-vhq.XXXXXX)
ns=upio-vh-$id
sw_pid= qemu_pids=() pg_pid=
cleanup() {
  for p in "${qemu_pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  [ -n "$pg_pid" ] && kill -9 "$pg_pid" 2>/dev/null
  [ -n "$sw_pid" ] && kill -TERM "$sw_pid" 2>/dev/null
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# -- the guest's initramfs: virtio-net modules, an address, a ping (or
# pkt-gen, with its shared libraries and their loader, as tests/vm packs its
# programs)
root=$work/root
mkdir -p "$root"/{bin,proc,sys,dev,tmp,lib/modules}
cp "$(command -v busybox)" "$root/bin/busybox"
if [ "$mode" = pktgen ]; then
  # without its debug information: the guest unpacks the initramfs into its
  # RAM, and a sanitizer build's pkt-gen is 80 MB with it
  strip --strip-debug -o "$root/bin/pkt-gen" "$pktgen"
  for lib in $(ldd "$pktgen" | awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
fi
mods="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net"
for m in $mods; do
  f=$(find "$cache/kernel/lib/modules/$kver" -name "$m.ko*" | head -1)
  [ -n "$f" ] || { echo "FAIL: module $m not in the kernel package"; exit 1; }
  case $f in
    *.xz) xz -dc "$f" > "$root/lib/modules/$m.ko" ;;
    *.zst) zstd -qdc "$f" > "$root/lib/modules/$m.ko" ;;
    *) cp "$f" "$root/lib/modules/$m.ko" ;;
  esac
done
cat > "$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for a in \$(cat /proc/cmdline); do case \$a in upio.ip=*) ip=\${a#upio.ip=} ;; upio.ping=*) targets=\${a#upio.ping=} ;; upio.mode=*) mode=\${a#upio.mode=} ;; esac; done
if [ \$mode = pktgen ]; then
  # pkt-gen's frames alone on the link: no IPv6 (router solicitations, MLD).
  # A qdisc that drops nothing (fq_codel, the kernel's default, drops what
  # waits too long): the frames wait for room in the virtqueue
  echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6
  echo pfifo_fast > /proc/sys/net/core/default_qdisc
fi
for m in $mods; do insmod /lib/modules/\$m.ko || echo "UPIO-VHOST insmod \$m failed"; done
ip link set lo up
if [ \$mode = pktgen ]; then
  # sequenced frames at 2000 a second; the qdisc holds them all if it must
  ip link set eth0 txqueuelen $((count * 2))
  ip link set eth0 up
  if /bin/pkt-gen -f txseq -i netif:eth0@packet -n $count -R 2000 -w 60 --timeout 60 --no-hugepages > /tmp/pg 2>&1; then r=PASS; else r=FAIL; fi
  tail -8 /tmp/pg | sed 's/^/  guest: /'
  echo "UPIO-VHOST-DONE pktgen \$r"
  poweroff -f
fi
ip addr add \$ip/24 dev eth0 && ip link set eth0 up
for i in \$(seq 100); do [ "\$(cat /sys/class/net/eth0/carrier 2>/dev/null)" = 1 ] && break; sleep 0.2; done
r=PASS
for t in \$(echo \$targets | tr , ' '); do
  # the first replies may wait for the other guest to boot: up to 60 tries
  for i in \$(seq 60); do ping -c 1 -W 2 \$t > /dev/null 2>&1 && break; done
  if ping -c 20 -i 0.2 -W 5 \$t > /tmp/ping 2>&1; then v=PASS; else v=FAIL r=FAIL; fi
  sed "s/^/  guest \$ip: /" /tmp/ping | tail -2
  echo "UPIO-VHOST-PING \$ip -> \$t \$v \$(grep -o '[0-9]* packets received' /tmp/ping)"
done
if [ \$mode = restart ] && [ \$r = PASS ]; then
  echo "UPIO-VHOST-RESTART-NOW"
  failed=0 ok=0 r=FAIL
  for i in \$(seq 240); do
    if ping -c 1 -W 1 10.77.0.1 > /dev/null 2>&1; then
      [ \$failed = 1 ] && ok=\$((ok + 1))
    else
      failed=1
    fi
    [ \$ok -ge 5 ] && r=PASS && break
  done
  echo "UPIO-VHOST-RESTART \$r failed=\$failed replies-after=\$ok"
fi
echo "UPIO-VHOST-DONE \$ip \$r"
# the host counts the boots and ends QEMU after the second
[ \$mode = reboot ] && reboot -f
# the other guest may still ping this one
sleep \$(( \$(echo \$targets | tr , ' ' | wc -w) * 10 ))
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initramfs.gz"

# -- the switch, in a namespace with a tap port as the host the guests ping
ip netns add "$ns" || exit 1
ip netns exec "$ns" ip link set lo up
ports=()
for g in $(seq "$guests"); do ports+=("vm$g=vhost:$work/vm$g.sock"); done
starts=0
start_switch() { # each start logs to a file of its own: no stale "ready" line
  starts=$((starts + 1))
  log=$work/switch$starts.log
  ip netns exec "$ns" "$switch" -s vale0 --duration 280 "${ports[@]}" tp0=tap:tp0 > "$log" 2>&1 &
  for _ in $(seq 100); do grep -q "ready with" "$log" && break; sleep 0.1; done
  grep -q "ready with" "$log" || { cat "$log"; echo "FAIL: upio-switch did not start"; exit 1; }
  sw_pid=$(sed -n 's/.*ready with .*(pid \([0-9]*\)).*/\1/p' "$log")
  ip netns exec "$ns" ip addr add 10.77.0.1/24 dev tp0
  ip netns exec "$ns" ip link set tp0 up
}
# pktgen: upio-vale serves vale0 (its socket is the namespace's), the guest's
# port attached to it, and pkt-gen receives on vale0:h, holding the switch
# back (--lossless) rather than losing frames when it falls behind
start_daemon() {
  log=$work/vale.log
  ip netns exec "$ns" "$upio_vale" -s vale0 > "$log" 2>&1 &
  for _ in $(seq 100); do grep -q "ready" "$log" && break; sleep 0.1; done
  grep -q "ready" "$log" || { cat "$log"; echo "FAIL: upio-vale did not start"; exit 1; }
  sw_pid=$(sed -n 's/.*ready (pid \([0-9]*\)).*/\1/p' "$log")
  ip netns exec "$ns" "$vale_ctl" -a "vale0:vm1=vhost:$work/vm1.sock" || { cat "$log"; echo "FAIL: vale-ctl -a"; exit 1; }
  ip netns exec "$ns" "$pktgen" -f rxseq -i vale0:h -n $count --lossless --duration 280 --no-hugepages --json \
    > "$work/pktgen.log" 2>&1 &
  pg_pid=$!
  for _ in $(seq 100); do
    ip netns exec "$ns" "$vale_ctl" -l vale0 2>/dev/null | grep -q "vale0:h" && break
    kill -0 "$pg_pid" 2>/dev/null || break
    sleep 0.1
  done
  ip netns exec "$ns" "$vale_ctl" -l vale0 | grep -q "vale0:h" || { cat "$work/pktgen.log"; echo "FAIL: pkt-gen did not join vale0"; exit 1; }
  ip netns exec "$ns" "$vale_ctl" -l vale0
}
if [ "$mode" = pktgen ]; then start_daemon; else start_switch; fi

# -- the guests: memory shared (memfd, share=on), or QEMU falls back to its
# own virtio and the port sees nothing. A rebooting guest may reset (no
# -no-reboot): it boots again.
qemu_pids=()
noreboot=-no-reboot
[ "$mode" = reboot ] && noreboot=
mem=256M
[ "$mode" = pktgen ] && mem=512M # pkt-gen and its libraries, an AddressSanitizer build's too
for g in $(seq "$guests"); do
  targets=10.77.0.1
  for o in $(seq "$guests"); do [ "$o" != "$g" ] && targets="$targets,10.77.0.$((o + 1))"; done
  timeout --kill-after=10 250 "$qemu" -accel tcg -machine q35,memory-backend=mem -cpu max -m "$mem" -smp 1 \
    -object memory-backend-memfd,id=mem,size="$mem",share=on \
    -chardev "socket,id=c0,path=$work/vm$g.sock,reconnect-ms=1000" -netdev vhost-user,id=n0,chardev=c0 \
    -device virtio-net-pci,netdev=n0,mac=52:54:00:77:00:0$((g + 1)) \
    -kernel "$cache/kernel/boot/vmlinuz-$kver" -initrd "$work/initramfs.gz" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1 upio.ip=10.77.0.$((g + 1)) upio.ping=$targets upio.mode=$mode" \
    -nographic $noreboot -vga none < /dev/null > "$work/console$g.log" 2>&1 &
  qemu_pids+=("$!")
done
if [ "$mode" = restart ]; then
  for _ in $(seq 2000); do grep -q UPIO-VHOST-RESTART-NOW "$work/console1.log" && break; sleep 0.1; done
  if grep -q UPIO-VHOST-RESTART-NOW "$work/console1.log"; then
    kill -9 "$sw_pid"
    for _ in $(seq 100); do kill -0 "$sw_pid" 2>/dev/null || break; sleep 0.1; done
    echo "upio-switch killed; its socket file stays: $(ls "$work"/vm1.sock)"
    cat "$log"
    start_switch
    echo "upio-switch started again"
  fi
fi
if [ "$mode" = reboot ]; then
  # the guest reboots after each boot's pings: the second boot's verdict ends it
  for _ in $(seq 2400); do
    [ "$(grep -c UPIO-VHOST-DONE "$work/console1.log")" -ge 2 ] && break
    kill -0 "${qemu_pids[0]}" 2>/dev/null || break
    sleep 0.1
  done
  kill -TERM "${qemu_pids[0]}" 2>/dev/null
fi
fail=0
for g in $(seq "$guests"); do
  wait "${qemu_pids[$((g - 1))]}"
  rc=$?
  grep -E "UPIO-VHOST|guest[ :]|falling back" "$work/console$g.log"
  if ! grep -q "UPIO-VHOST-DONE .* PASS" "$work/console$g.log"; then
    echo "FAIL: guest $g (qemu exit $rc); last console lines:"
    tail -20 "$work/console$g.log"
    fail=1
  fi
done
qemu_pids=()
if [ "$mode" = reboot ]; then
  boots=$(grep UPIO-VHOST-DONE "$work/console1.log" | head -2 | grep -c PASS)
  [ "$boots" -eq 2 ] || { echo "FAIL: the guest's pings passed on $boots of its first two boots"; fail=1; }
  if kill -0 "$sw_pid" 2>/dev/null && [ "$starts" -eq 1 ]; then
    echo "upio-switch (pid $sw_pid) still runs after the guest's reboot and QEMU's exit"
  else
    echo "FAIL: upio-switch (pid $sw_pid) did not survive the guest's reboot"
    fail=1
  fi
fi
if [ "$mode" = pktgen ]; then
  # every frame the guest sent has arrived once QEMU is gone, or never will
  for _ in $(seq 300); do kill -0 "$pg_pid" 2>/dev/null || break; sleep 0.1; done
  kill -INT "$pg_pid" 2>/dev/null
  wait "$pg_pid"
  rc=$?
  pg_pid=
  grep -v '"dir"' "$work/pktgen.log"
  seq=$(grep '"seq"' "$work/pktgen.log")
  [ "$rc" -eq 0 ] || { echo "FAIL: pkt-gen on vale0:h exited with $rc"; fail=1; }
  if [[ $seq != *"\"received\":$count,\"missing\":0,\"duplicates\":0,\"reordered\":0"* ]]; then
    echo "FAIL: vale0:h did not receive the guest's $count frames in sequence: ${seq:-no sequence line}"
    fail=1
  fi
  ip netns exec "$ns" "$vale_ctl" -l vale0
fi
kill -TERM "$sw_pid" 2>/dev/null
for _ in $(seq 100); do kill -0 "$sw_pid" 2>/dev/null || break; sleep 0.1; done
swrc=0
wait "$sw_pid" 2>/dev/null || swrc=$?
cat "$log"
if [ "$mode" = reboot ] && [ "$swrc" -ne 0 ]; then echo "FAIL: upio-switch exited with $swrc"; fail=1; fi
[ "$fail" -eq 0 ] || exit 1
case $mode in
  pktgen) echo "PASS: pkt-gen in the guest sent $count sequenced frames through a vhost: port to vale0:h" ;;
  reboot) echo "PASS: the guest's pings passed before and after its reboot through one upio-switch" ;;
  *) echo "PASS: $guests guest(s) pinged through vhost: ports and VALE" ;;
esac
