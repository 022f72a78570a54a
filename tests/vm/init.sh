#!/bin/busybox sh
# /init of the test VM: load VFIO, run every case under /cases, power off.
#
# Kernel command line: upio.model=MODEL upio.nic=ADDR upio.mac=MAC
# Each case is a shell file run with NIC, MAC, MODEL and PATH set, under
# "sh -e -o pipefail" (a failing command anywhere in a pipeline fails the
# case); exit 0 is a pass. Cases whose "# models:" line does not name MODEL
# are skipped. Output for the harness, one line each:
#   UPIO-CASE-BEGIN NAME HOSTMODE
#   UPIO-CASE NAME PASS|FAIL|SKIP rc=N seconds=S
#   UPIO-DONE
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/upio/bin:/bin:/sbin:/usr/bin:/usr/sbin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
echo 0 > /proc/sys/kernel/printk_ratelimit 2>/dev/null

for arg in $(cat /proc/cmdline); do
    case $arg in
    upio.model=*) MODEL=${arg#upio.model=} ;;
    upio.nic=*) NIC=${arg#upio.nic=} ;;
    upio.mac=*) MAC=${arg#upio.mac=} ;;
    esac
done
export MODEL NIC MAC

# Everything but vfio-pci, in dependency order; upio-setup loads vfio-pci.
for m in $(cat /modules.order); do
    case $m in */vfio-pci.ko) continue ;; esac
    insmod "/lib/modules/$(uname -r)/$m" || echo "UPIO-INIT insmod $m failed"
done

echo "UPIO-INIT model=$MODEL nic=$NIC mac=$MAC kernel=$(uname -r)"
for c in /cases/*.sh; do
    name=$(basename "$c" .sh)
    models=$(sed -n 's/^# models: *//p' "$c")
    host=$(sed -n 's/^# host: *//p' "$c")
    limit=$(sed -n 's/^# timeout: *//p' "$c")
    if [ -n "$models" ] && ! echo " $models " | grep -q " $MODEL "; then
        echo "UPIO-CASE $name SKIP rc=0 seconds=0"
        continue
    fi
    echo "UPIO-CASE-BEGIN $name ${host:-none}"
    start=$(cut -d. -f1 /proc/uptime)
    timeout "${limit:-120}" sh -e -o pipefail "$c" > /tmp/case.out 2>&1
    rc=$?
    end=$(cut -d. -f1 /proc/uptime)
    sed "s/^/  [$name] /" /tmp/case.out
    if [ $rc -eq 0 ]; then verdict=PASS; else verdict=FAIL; fi
    echo "UPIO-CASE $name $verdict rc=$rc seconds=$((end - start))"
done
echo UPIO-DONE
sync
poweroff -f
