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

export UPIO_SETUP_TEST_MODE=1
export UPIO_SYSFS_ROOT=$tmp/sys UPIO_DEV_ROOT=$tmp/dev UPIO_PROC_ROOT=$tmp/proc UPIO_STATE_DIR=$tmp/state
export UPIO_HUGE_MOUNT=$tmp/huge UPIO_PCI_IDS=$tmp/pci.ids UPIO_SYSFS_HOOK=$here/fake-kernel.sh
export UPIO_MODPROBE=$tmp/bin/modprobe UPIO_MOUNT=$tmp/bin/mount UPIO_UMOUNT=$tmp/bin/umount
export UPIO_IP=$here/fake-ip.sh FAKE_NET=$tmp/net UPIO_BIND_TIMEOUT=1
sys=$UPIO_SYSFS_ROOT
command -v jq >/dev/null || { echo "FAIL jq is needed to read status --json (scripts/install-deps)"; exit 1; }

# -- the fake machine -------------------------------------------------------------
# 0000:01:00.0 e1000e, interface eth1, link-local only  IOMMU group 1
# 0000:02:00.0 igb, interface eth0, address + default route   IOMMU group 2
# 0000:03:00.0 + .1 two ports of one card, igb         IOMMU group 3 (shared)
# 0000:04:00.0 virtio-net, interface eth4 (no upio driver)    IOMMU group 5
# 0000:05:00.0 82576 fiber, igb (upio: not supported yet)     IOMMU group 6
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
    if [[ -n ${7:-} ]]; then mkdir -p "$d/net/$7" "$sys/class/net/$7"; fi
}
upper() { # LOWER UPPER: UPPER (bond, bridge, VLAN, macvlan) is stacked on LOWER
    mkdir -p "$sys/class/net/$1" "$sys/class/net/$2"
    ln -s "../$2" "$sys/class/net/$1/upper_$2"
}
net() { # IFACE addr|route4|route6 LINE
    printf '%s\n' "$3" >> "$FAKE_NET/$1.$2"
}
reset_machine() {
    rm -rf "$tmp"/{sys,dev,proc,state,huge,huge-1G,bin,net} "$tmp"/*.log
    mkdir -p "$tmp"/{dev,proc/net,bin,net} "$sys/bus/pci"
    add_dev 0000:01:00.0 8086 10d3 0x020000 e1000e 1 eth1
    add_dev 0000:02:00.0 8086 10c9 0x020000 igb 2 eth0
    add_dev 0000:03:00.0 8086 10c9 0x020000 igb 3 eth2
    add_dev 0000:03:00.1 8086 10c9 0x020000 igb 3 eth3
    add_dev 0000:04:00.0 1af4 1000 0x020000 virtio-pci 5 eth4
    add_dev 0000:05:00.0 8086 10e6 0x020000 igb 6 eth5
    add_dev 0000:00:1f.0 8086 2918 0x060100 lpc_ich 4
    : > "$sys/bus/pci/drivers_probe"
    for d in "$sys"/bus/pci/drivers/*; do : > "$d/unbind"; done
    local kb n
    for kb in 2048 1048576; do
        mkdir -p "$sys/kernel/mm/hugepages/hugepages-${kb}kB"
        echo 0 > "$sys/kernel/mm/hugepages/hugepages-${kb}kB/nr_hugepages"
        echo 0 > "$sys/kernel/mm/hugepages/hugepages-${kb}kB/free_hugepages"
        for n in 0 1; do
            mkdir -p "$sys/devices/system/node/node$n/hugepages/hugepages-${kb}kB"
            echo 0 > "$sys/devices/system/node/node$n/hugepages/hugepages-${kb}kB/nr_hugepages"
            echo 0 > "$sys/devices/system/node/node$n/hugepages/hugepages-${kb}kB/free_hugepages"
        done
    done
    # eth0 carries the management address; eth1 has a link-local IPv6 address only
    net eth0 addr "2: eth0    inet 192.0.2.5/24 brd 192.0.2.255 scope global eth0\       valid_lft forever preferred_lft forever"
    net eth0 route4 "default via 192.0.2.1 proto static"
    net eth1 addr "3: eth1    inet6 fe80::1:5/64 scope link \       valid_lft forever preferred_lft forever"
    net eth1 route6 "fe80::/64 proto kernel metric 256 pref medium"
    echo "Hugepagesize:       2048 kB" > "$tmp/proc/meminfo"
    : > "$tmp/proc/mounts"
    printf '8086  Intel Corporation\n\t10c9  82576 Gigabit Network Connection\n\t10d3  82574L Gigabit Network Connection\n' > "$tmp/pci.ids"
    # modprobe vfio-pci "loads" the driver; mount and umount record their arguments
    # and edit the fake /proc/mounts as the kernel would
    printf '#!/bin/sh\necho "$@" >> %s/modprobe.log\nmkdir -p %s/bus/pci/drivers/vfio-pci\n: > %s/bus/pci/drivers/vfio-pci/unbind\n' \
        "$tmp" "$sys" "$sys" > "$tmp/bin/modprobe"
    cat > "$tmp/bin/mount" <<EOF
#!/bin/sh
echo "\$@" >> $tmp/mount.log
for dir; do :; done
echo "nodev \$dir hugetlbfs rw,\$4 0 0" >> $tmp/proc/mounts
EOF
    cat > "$tmp/bin/umount" <<EOF
#!/bin/sh
echo "\$@" >> $tmp/umount.log
awk -v d="\$1" '\$2 != d' $tmp/proc/mounts > $tmp/mounts.new && mv $tmp/mounts.new $tmp/proc/mounts
EOF
    chmod +x "$tmp/bin/modprobe" "$tmp/bin/mount" "$tmp/bin/umount"
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
check "status marks the device carrying an address" test "$(col 0000:02:00.0 6)" = eth0
check "status: a link-local IPv6 address alone is not active" test "$(col 0000:01:00.0 6)" = -
check "status shows interfaces" test "$(col 0000:01:00.0 7)" = eth1
check "status shows the pci.ids name" has "Intel Corporation 82574L Gigabit Network Connection"
check "status: upio drives the 82574L with e1000" test "$(col 0000:01:00.0 8)" = e1000
check "status: the virtio NIC has no upio driver" has "- no upio driver"
check "status: the fiber 82576 is not supported yet" has "- e1000: fiber/SerDes not supported yet"
check "status shows hugepages per node and size" bash -c '[[ $0 == *"node 1    1G    0"* && $0 == *"all       2M"* ]]' "$out"
check "status says hugetlbfs is not mounted" has "hugetlbfs: not mounted"
run -s
check "-s is status" has "0000:01:00.0  8086:10d3"
echo 2 > "$sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages"
run status --json
check "status --json succeeds" test $rc -eq 0
j() { jq -er "$1" <<< "$out" >/dev/null 2>&1; }
check "status --json is JSON with the version" j '.version | test("^[0-9]+\\.[0-9]+\\.[0-9]+$")'
check "status --json: upio driver" j '.devices[] | select(.address == "0000:01:00.0") | .upio == "e1000"'
check "status --json: reason for the virtio NIC" \
    j '.devices[] | select(.address == "0000:04:00.0") | .upio == null and .upio_reason == "no upio driver"'
check "status --json: the active interface and what it carries" \
    j '.devices[] | select(.address == "0000:02:00.0") | .active.interface == "eth0" and (.active.carries | test("192.0.2.5"))'
check "status --json: interfaces as a list" j '.devices[] | select(.address == "0000:03:00.1") | .interfaces == ["eth3"]'
check "status --json: hugepages per node and size" \
    j '.hugepages[] | select(.node == 1 and .page_size_kb == 1048576) | .total == 2'
printf '8086  Intel "Quote" \\ Corporation\n\t10d3  82574L\n' > "$tmp/pci.ids"
run status --json
check "status --json escapes quotes and backslashes" \
    j '.devices[] | select(.address == "0000:01:00.0") | .name == "Intel \"Quote\" \\ Corporation 82574L"'
run bind --json 0000:01:00.0
check "--json is refused outside status" has "--json is for status"
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
check "refusal names the interface, the address and --force" has "(eth0) is in use: eth0 has an IPv4 address 192.0.2.5/24"
check "... and --force" has "Use --force"
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
check "a routed device among several fails the bind" has "(eth0) is in use"
check "the device before it is left alone" is_driver 0000:01:00.0 e1000e

# -- the route guard: IPv6 and upper devices ------------------------------------------
reset_machine
net eth1 addr "3: eth1    inet6 2001:db8::5/64 scope global \       valid_lft forever preferred_lft forever"
run bind 0000:01:00.0
check "bind refuses a device with a global IPv6 address only" has "eth1 has an IPv6 address 2001:db8::5/64"
check "... and leaves it alone" is_driver 0000:01:00.0 e1000e
reset_machine
net eth1 route6 "default via fe80::1 proto ra metric 1024 pref medium"
run bind 0000:01:00.0
check "bind refuses a device with an IPv6 default route" has "eth1 has an IPv6 route default"
reset_machine
net eth1 route4 "198.51.100.0/24 proto kernel scope link"
run bind 0000:01:00.0
check "bind refuses a device with an IPv4 route and no address" has "eth1 has an IPv4 route 198.51.100.0/24"
reset_machine
upper eth2 bond0
net bond0 addr "9: bond0    inet 192.0.2.9/24 scope global bond0"
run bind 0000:03:00.0
check "bind refuses a bond member whose bond carries the address" has "(eth2) is in use: bond0 has an IPv4 address"
check "... and leaves it alone" is_driver 0000:03:00.0 igb
run status
check "status names the bond as the active interface" test "$(col 0000:03:00.0 6)" = bond0
reset_machine
upper eth3 eth3.100
upper eth3.100 br0
net br0 addr "11: br0    inet6 2001:db8:1::1/64 scope global"
run bind 0000:03:00.1
check "bind refuses a NIC under a VLAN under a bridge with an IPv6 address" has "br0 has an IPv6 address 2001:db8:1::1/64"
reset_machine
upper eth1 macvlan0
net macvlan0 route4 "default via 192.0.2.1"
run bind 0000:01:00.0
check "bind refuses a NIC under a macvlan carrying the default route" has "macvlan0 has an IPv4 route default"
run bind --force 0000:01:00.0
check "--force binds it anyway" is_driver 0000:01:00.0 vfio-pci
reset_machine
upper eth1 br1
run bind 0000:01:00.0
check "an upper device without address or route does not block" is_driver 0000:01:00.0 vfio-pci
reset_machine
UPIO_IP=$tmp/no-such-ip run bind 0000:01:00.0
check "without ip(8) the guard refuses rather than guessing" has "whether it carries an address or route is unknown"
check "... and leaves the device alone" is_driver 0000:01:00.0 e1000e

# -- test mode ---------------------------------------------------------------------------
# Without UPIO_SETUP_TEST_MODE=1 the overrides are ignored. status only reads (the real
# /sys and the real ip(8) here), so it is safe to run that way.
reset_machine
out=$(env -u UPIO_SETUP_TEST_MODE "$setup" status 2>&1); rc=$?
check "outside test mode the ip override is not run" test ! -e "$FAKE_NET/ip.log"
check "outside test mode the overrides are named as ignored" has "UPIO_IP is ignored outside test mode"
check "... the sysfs hook too" has "UPIO_SYSFS_HOOK is ignored outside test mode"
check "... and the fake tree is not read" bash -c '[[ $0 != *"0000:04:00.0  1af4:1000"* ]]' "$out"
run status
check "in test mode the ip override is run" test -s "$FAKE_NET/ip.log"

# -- rollback ---------------------------------------------------------------------
reset_machine
FAKE_REFUSE=0000:03:00.1 run bind 0000:01:00.0 0000:03:00.1
check "bind fails when vfio-pci does not take a device" test $rc -ne 0
check "failure is explained" has "vfio-pci did not take the device"
check "failed device is given back to its driver" is_driver 0000:03:00.1 igb
check "devices bound earlier in the run are rolled back" is_driver 0000:01:00.0 e1000e
check "rollback is reported" has "rolled back 0000:01:00.0"
check "no state left after rollback" test -z "$(ls "$tmp/state" 2>/dev/null)"

# every device bound earlier in the call goes back, a device already on vfio-pci stays
reset_machine
run bind 0000:03:00.0
FAKE_REFUSE=0000:03:00.1 run bind --force 0000:03:00.0 0000:01:00.0 0000:02:00.0 0000:03:00.1
check "bind of four fails on the last" test $rc -ne 0
check "the first bound in the call is rolled back" is_driver 0000:01:00.0 e1000e
check "the second too (--force)" is_driver 0000:02:00.0 igb
check "the failed one is back" is_driver 0000:03:00.1 igb
check "the device bound before the call stays on vfio-pci" is_driver 0000:03:00.0 vfio-pci
check "its state is kept for unbind" test "$(cat "$tmp/state/0000:03:00.0.driver")" = igb
# a failure after the device was bound (no VFIO node for --user) rolls it back too
reset_machine
FAKE_NO_NODE=0000:03:00.1 run bind --user nobody 0000:01:00.0 0000:03:00.1
check "bind --user fails when a group node is missing" has "no VFIO group node to give to nobody"
check "the device bound but not handed over is rolled back" is_driver 0000:03:00.1 igb
check "the device before it is rolled back" is_driver 0000:01:00.0 e1000e
check "rollback names both" has "rolled back 0000:01:00.0 0000:03:00.1"

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
check "hugepages on a missing node fails clearly" has "no NUMA node 7"
run hugepages many
check "hugepages wants a number or a size" has "'many' is neither a number of pages nor a size"

# sizes and page sizes
reset_machine
run hugepages 1G
check "hugepages 1G means 1 GiB of 2 MiB pages" test "$(cat "$sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")" = 512
check "... and says so" has "512 x 2M reserved (1G)"
run hugepages 512M
check "hugepages 512M" test "$(cat "$sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")" = 256
run hugepages 3m
check "a size rounds up to whole pages" test "$(cat "$sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")" = 2
run hugepages 2 --pagesize 1G
check "--pagesize 1G reserves 1 GiB pages" test "$(cat "$sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages")" = 2
check "... and mounts a hugetlbfs for them" grep -q "hugetlbfs -o pagesize=1G nodev $tmp/huge-1G" "$tmp/mount.log"
run hugepages 3G --pagesize=1G --node 1
check "a size with 1 GiB pages on a node" \
    test "$(cat "$sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages")" = 3
run hugepages 4 --pagesize 16M
check "a page size the kernel does not offer is refused" has "16M pages are not offered"
run hugepages 1X
check "a bad size is refused" has "'1X' is neither a number of pages nor a size"
run hugepages status
check "hugepages status shows the reservation per node" has "node 1    1G    3"
check "hugepages status lists the mounts" has "$tmp/huge-1G (1G pages)"

# clear: pages released, what upio-setup mounted unmounted, other mounts left alone
reset_machine
mkdir -p "$tmp/other"
echo "nodev $tmp/other hugetlbfs rw,pagesize=1G 0 0" > "$tmp/proc/mounts"
run hugepages 16
run hugepages 2 --pagesize 1G --node 0
check "an existing 1G mount is used" test "$(grep -c pagesize=1G "$tmp/mount.log")" = 0
run hugepages clear
check "clear succeeds" test $rc -eq 0
check "clear releases 2M pages" test "$(cat "$sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")" = 0
check "clear releases 1G pages" test "$(cat "$sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages")" = 0
check "clear unmounts what upio-setup mounted" grep -qx "$tmp/huge" "$tmp/umount.log"
check "... and removes the directory it made" test ! -e "$tmp/huge"
check "clear leaves other mounts alone" bash -c '! grep -q other "$0"' "$tmp/umount.log"
check "clear forgets the mounts" test ! -e "$tmp/state/mounts"
reset_machine
echo 7 > "$sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
run hugepages clear --pagesize 2M
check "clear --pagesize releases that size" test "$(cat "$sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")" = 0
rm "$sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"
mkdir "$sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"   # a write that fails
run hugepages clear
check "clear fails when a size cannot be released" test $rc -ne 0
check "... and says so" has "cannot release pages"

# --user: a mount of the user's own, the shared mount root untouched
reset_machine
mkdir -p "$tmp/huge"
chmod 0755 "$tmp/huge"
echo "nodev $tmp/huge hugetlbfs rw 0 0" > "$tmp/proc/mounts"
before=$(stat -c %u:%g:%a "$tmp/huge")
run hugepages 8 --user nobody
check "hugepages --user succeeds" test $rc -eq 0
check "hugepages --user does not touch the shared mount" test "$(stat -c %u:%g:%a "$tmp/huge")" = "$before"
check "hugepages --user mounts one of its own with uid= and gid=" \
    grep -q "hugetlbfs -o pagesize=2M,uid=$(id -u nobody),gid=$(id -g nobody),mode=0700 nodev $tmp/state/hugepages-2M-nobody" \
    "$tmp/mount.log"
check "... and says where" has "HUGETLB_PATH=$tmp/state/hugepages-2M-nobody"
run hugepages 8 --user nobody
check "hugepages --user does not mount twice" test "$(grep -c hugepages-2M-nobody "$tmp/mount.log")" = 1
run hugepages clear
check "clear unmounts the user's mount" grep -qx "$tmp/state/hugepages-2M-nobody" "$tmp/umount.log"
check "clear leaves the shared mount" bash -c '! grep -qx "$1" "$0"' "$tmp/umount.log" "$tmp/huge"

# -- dpdk-devbind.py's letters ------------------------------------------------------------
reset_machine
run -b vfio-pci 01:00.0
check "-b vfio-pci binds" is_driver 0000:01:00.0 vfio-pci
run -u 01:00.0
check "-u unbinds" is_driver 0000:01:00.0 e1000e
run --bind=vfio-pci 0000:01:00.0
check "--bind=vfio-pci binds" is_driver 0000:01:00.0 vfio-pci
run --unbind 0000:01:00.0
check "--unbind unbinds" is_driver 0000:01:00.0 e1000e
run -b igb 0000:01:00.0
check "-b with another driver is refused" has "binds to vfio-pci only ('igb')"
run -s -u 0000:01:00.0
check "two commands at once are refused" has "status and unbind cannot be combined"
run devices
check "devices lists the ids upio drives" has "8086:10fb ixgbe  yes"
check "devices lists the ones it refuses" has "8086:15aa ixgbe  no:X550EM_x"

# -- usage ------------------------------------------------------------------------
run frobnicate
check "unknown command is named" has "unknown command 'frobnicate'"
run --help
check "--help prints the usage" has "bind ADDR..."
run --version
check "--version prints the version" bash -c '[[ $0 =~ ^upio-setup\ \(upio\)\ [0-9]+\.[0-9]+\.[0-9]+$ ]]' "$out"

echo "$((checks - failures))/$checks checks passed"
((failures == 0))
