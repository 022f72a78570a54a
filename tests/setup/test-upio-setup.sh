#!/usr/bin/env bash
# Tests scripts/upio-setup against a fake sysfs tree, with fake-kernel.sh
# playing the kernel (binding on drivers_probe, unbinding on unbind).
#
#   test-upio-setup.sh PATH/TO/upio-setup
set -u
setup=$(realpath "$1")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d /tmp/upio-setup-test-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0 checks=0

export UPIO_SYSFS_ROOT=$tmp/sys UPIO_DEV_ROOT=$tmp/dev UPIO_PROC_ROOT=$tmp/proc UPIO_STATE_DIR=$tmp/state
export UPIO_HUGE_MOUNT=$tmp/huge UPIO_PCI_IDS=$tmp/pci.ids UPIO_SYSFS_HOOK=$here/fake-kernel.sh
export UPIO_MODPROBE=$tmp/bin/modprobe UPIO_MOUNT=$tmp/bin/mount UPIO_BIND_TIMEOUT=1
sys=$UPIO_SYSFS_ROOT

# -- the fake machine -------------------------------------------------------------
# 0000:01:00.0 e1000e, interface eth1, no route        IOMMU group 1
# 0000:02:00.0 igb, interface eth0, default route      IOMMU group 2
# 0000:03:00.0 + .1 two ports of one card, igb         IOMMU group 3 (shared)
# 0000:00:1f.0 an ISA bridge (not a network device)
add_dev() { # ADDR VENDOR DEVICE CLASS DRIVER GROUP [IFACE]
    local d=$sys/devices/pci0000:00/$1
    mkdir -p "$d" "$sys/bus/pci/devices" "$sys/bus/pci/drivers/$5"
    echo "0x$2" > "$d/vendor"; echo "0x$3" > "$d/device"; echo "$4" > "$d/class"
    echo 0 > "$d/numa_node"; : > "$d/driver_override"; echo "$5" > "$d/fake_native_driver"
    ln -s "../../../devices/pci0000:00/$1" "$sys/bus/pci/devices/$1"
    ln -s "../../../bus/pci/drivers/$5" "$d/driver"
    mkdir -p "$sys/kernel/iommu_groups/$6/devices"
    ln -s "../../../../devices/pci0000:00/$1" "$sys/kernel/iommu_groups/$6/devices/$1"
    ln -s "../../../kernel/iommu_groups/$6" "$d/iommu_group"
    if [[ -n ${7:-} ]]; then mkdir -p "$d/net/$7"; fi
}
reset_machine() {
    rm -rf "$tmp"/{sys,dev,proc,state,huge,bin}
    mkdir -p "$tmp"/{dev,proc/net,bin} "$sys/bus/pci" "$sys/kernel/mm/hugepages/hugepages-2048kB"
    add_dev 0000:01:00.0 8086 10d3 0x020000 e1000e 1 eth1
    add_dev 0000:02:00.0 8086 10c9 0x020000 igb 2 eth0
    add_dev 0000:03:00.0 8086 10c9 0x020000 igb 3 eth2
    add_dev 0000:03:00.1 8086 10c9 0x020000 igb 3 eth3
    add_dev 0000:00:1f.0 8086 2918 0x060100 lpc_ich 4
    : > "$sys/bus/pci/drivers_probe"
    for d in "$sys"/bus/pci/drivers/*; do : > "$d/unbind"; done
    echo 0 > "$sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
    mkdir -p "$sys/devices/system/node/node0/hugepages/hugepages-2048kB"
    echo 0 > "$sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"
    printf 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n' > "$tmp/proc/net/route"
    printf 'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n' >> "$tmp/proc/net/route"
    : > "$tmp/proc/mounts"
    printf '8086  Intel Corporation\n\t10c9  82576 Gigabit Network Connection\n\t10d3  82574L Gigabit Network Connection\n' > "$tmp/pci.ids"
    # modprobe vfio-pci "loads" the driver; mount just records its arguments
    printf '#!/bin/sh\necho "$@" >> %s/modprobe.log\nmkdir -p %s/bus/pci/drivers/vfio-pci\n: > %s/bus/pci/drivers/vfio-pci/unbind\n' \
        "$tmp" "$sys" "$sys" > "$tmp/bin/modprobe"
    printf '#!/bin/sh\necho "$@" >> %s/mount.log\n' "$tmp" > "$tmp/bin/mount"
    chmod +x "$tmp/bin/modprobe" "$tmp/bin/mount"
}

# -- assertions -------------------------------------------------------------------
run() { out=$("$setup" "$@" 2>&1); rc=$?; }
check() { # DESCRIPTION COMMAND...
    checks=$((checks + 1))
    if "${@:2}"; then echo "ok   $1"; else echo "FAIL $1"; echo "     output: $out" | head -5; failures=$((failures + 1)); fi
}
has() { [[ $out == *"$1"* ]]; }
driver() { basename "$(readlink "$sys/bus/pci/devices/$1/driver")" 2>/dev/null; }
is_driver() { [[ $(driver "$1") == "$2" ]]; }
no_driver() { [[ ! -e $sys/bus/pci/devices/$1/driver ]]; }
col() { awk -v a="$1" -v c="$2" '$1 == a { print $c }' <<< "$out"; }

# -- status -----------------------------------------------------------------------
reset_machine
run status
check "status succeeds" test $rc -eq 0
check "status lists network devices only" bash -c '[[ $0 != *0000:00:1f.0* ]]' "$out"
check "status shows ids" test "$(col 0000:01:00.0 2)" = 8086:10d3
check "status shows the driver" test "$(col 0000:01:00.0 3)" = e1000e
check "status shows the IOMMU group" test "$(col 0000:02:00.0 4)" = 2
check "status shows the NUMA node" test "$(col 0000:02:00.0 5)" = 0
check "status marks the routed device" test "$(col 0000:02:00.0 6)" = yes
check "status: no route on eth1" test "$(col 0000:01:00.0 6)" = -
check "status shows interfaces" test "$(col 0000:01:00.0 7)" = eth1
check "status shows the pci.ids name" has "Intel Corporation 82574L Gigabit Network Connection"
UPIO_SYSFS_ROOT=$tmp/nowhere run status
check "status without sysfs fails clearly" has "does not exist: is sysfs mounted"

# -- bind -------------------------------------------------------------------------
reset_machine
run bind 01:00.0
check "bind succeeds (short address)" test $rc -eq 0
check "bind loaded vfio-pci" grep -q vfio-pci "$tmp/modprobe.log"
check "bind: device on vfio-pci" is_driver 0000:01:00.0 vfio-pci
check "bind: driver_override cleared afterwards" test -z "$(cat "$sys/bus/pci/devices/0000:01:00.0/driver_override")"
check "bind remembers the previous driver" test "$(cat "$tmp/state/0000:01:00.0.driver")" = e1000e
check "bind reports the group" has "bound to vfio-pci (was e1000e), IOMMU group 1"
run status
check "status shows vfio-pci after bind" test "$(col 0000:01:00.0 3)" = vfio-pci
run bind 0000:01:00.0
check "binding again is a no-op" has "already bound to vfio-pci"
check "binding again keeps the first previous driver" test "$(cat "$tmp/state/0000:01:00.0.driver")" = e1000e

run bind 0000:02:00.0
check "bind refuses the device with the active route" test $rc -ne 0
check "refusal names the interface and --force" has "(eth0) carries an active route"
check "refused device keeps its driver" is_driver 0000:02:00.0 igb
check "refused device has no state" test ! -e "$tmp/state/0000:02:00.0.driver"
run bind --force 0000:02:00.0
check "bind --force takes the routed device" is_driver 0000:02:00.0 vfio-pci

run bind 0000:09:00.0
check "bind of a missing device fails" has "no PCI device 0000:09:00.0"
run bind nonsense
check "bind rejects a malformed address" has "'nonsense' is not a PCI address"

run bind 0000:03:00.0
check "bind warns about the rest of the IOMMU group" has "IOMMU group 3 also holds 0000:03:00.1 (bound to igb)"

# a bad address is reported before vfio-pci is loaded or any device changes
reset_machine
rm -f "$tmp/modprobe.log"
run bind 0000:01:00.0 0000:09:00.0
check "a missing device among several fails the bind" has "no PCI device 0000:09:00.0"
check "it fails before vfio-pci is loaded" test ! -e "$tmp/modprobe.log"
check "the good address is left alone" is_driver 0000:01:00.0 e1000e
run bind 0000:01:00.0 0000:02:00.0
check "a routed device among several fails the bind" has "(eth0) carries an active route"
check "the device before it is left alone" is_driver 0000:01:00.0 e1000e

# -- rollback ---------------------------------------------------------------------
reset_machine
FAKE_REFUSE=0000:03:00.1 run bind 0000:01:00.0 0000:03:00.1
check "bind fails when vfio-pci does not take a device" test $rc -ne 0
check "failure is explained" has "vfio-pci did not take the device"
check "failed device is given back to its driver" is_driver 0000:03:00.1 igb
check "devices bound earlier in the run are rolled back" is_driver 0000:01:00.0 e1000e
check "rollback is reported" has "rolled back 0000:01:00.0"
check "no state left after rollback" test -z "$(ls "$tmp/state" 2>/dev/null)"

# -- unbind -----------------------------------------------------------------------
reset_machine
run bind 0000:01:00.0
run unbind 0000:01:00.0
check "unbind succeeds" test $rc -eq 0
check "unbind restores the previous driver" is_driver 0000:01:00.0 e1000e
check "unbind forgets the state" test ! -e "$tmp/state/0000:01:00.0.driver"
check "unbind clears driver_override" test -z "$(cat "$sys/bus/pci/devices/0000:01:00.0/driver_override")"
run unbind 0000:01:00.0
check "unbind of an unbound device is a no-op" has "nothing to do"
# A device that had no driver before stays without one.
rm "$sys/devices/pci0000:00/0000:01:00.0/driver" "$sys/devices/pci0000:00/0000:01:00.0/fake_native_driver"
run bind 0000:01:00.0
run unbind 0000:01:00.0
check "unbind of a formerly driverless device leaves it driverless" no_driver 0000:01:00.0
check "... and says so" has "restored to no driver"

# -- --user -----------------------------------------------------------------------
reset_machine
run bind --user nobody 0000:01:00.0
check "bind --user succeeds" test $rc -eq 0
check "bind --user chowns /dev/vfio/GROUP" test "$(stat -c %U "$tmp/dev/vfio/1")" = nobody
run bind --user no-such-user-here 0000:01:00.0
check "bind --user with an unknown user fails" has "no user 'no-such-user-here'"

# -- no IOMMU ---------------------------------------------------------------------
reset_machine
rm "$sys/devices/pci0000:00/0000:01:00.0/iommu_group"
run bind 0000:01:00.0
check "bind refuses a device without IOMMU group" has "has no IOMMU group: the IOMMU is off"
check "... and leaves it alone" is_driver 0000:01:00.0 e1000e

# -- hugepages --------------------------------------------------------------------
reset_machine
run hugepages 16
check "hugepages succeeds" test $rc -eq 0
check "hugepages reserves" test "$(cat "$sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")" = 16
check "hugepages mounts hugetlbfs" grep -q "hugetlbfs -o pagesize=2M nodev $tmp/huge" "$tmp/mount.log"
run hugepages 8 --node 0
check "hugepages --node writes the node's counter" \
    test "$(cat "$sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages")" = 8
echo "nodev $tmp/huge hugetlbfs rw 0 0" > "$tmp/proc/mounts"
rm -f "$tmp/mount.log"
run hugepages 4
check "hugepages does not mount twice" test ! -e "$tmp/mount.log"
run hugepages 4 --node 7
check "hugepages on a missing node fails clearly" has "(no NUMA node 7?)"
run hugepages many
check "hugepages wants a number" has "give the number of 2 MiB pages"

# -- usage ------------------------------------------------------------------------
run frobnicate
check "unknown command is named" has "unknown command 'frobnicate'"
run --help
check "--help prints the usage" has "upio-setup bind ADDR..."

echo "$((checks - failures))/$checks checks passed"
((failures == 0))
