#!/usr/bin/env bash
# fake-kernel.sh PATH VALUE -- plays the kernel's part after upio-setup writes
# a file in a fake sysfs tree (UPIO_SYSFS_HOOK). Understands:
#   .../drivers/D/unbind <- ADDR    the device loses its driver
#   .../bus/pci/drivers_probe <- ADDR
#                                   driver_override wins, else the driver named
#                                   in the device's fake_native_driver file;
#                                   binding vfio-pci creates /dev/vfio/GROUP
# FAKE_REFUSE="ADDR..." makes vfio-pci refuse those devices; FAKE_NO_NODE="ADDR..."
# binds them without creating their /dev/vfio/GROUP node.
set -eu
path=$1 value=$2
sys=$UPIO_SYSFS_ROOT dev=$UPIO_DEV_ROOT
case $path in
*/unbind)
    rm -f "$sys/bus/pci/devices/$value/driver" ;;
*/bus/pci/drivers_probe)
    d=$sys/bus/pci/devices/$value
    [[ -e $d/driver ]] && exit 0
    drv=$(cat "$d/driver_override" 2>/dev/null || true)
    [[ -n $drv ]] || drv=$(cat "$d/fake_native_driver" 2>/dev/null || true)
    [[ -n $drv && -d $sys/bus/pci/drivers/$drv ]] || exit 0
    [[ $drv == vfio-pci && " ${FAKE_REFUSE:-} " == *" $value "* ]] && exit 0
    ln -s "../../../bus/pci/drivers/$drv" "$d/driver"
    if [[ $drv == vfio-pci && -e $d/iommu_group && " ${FAKE_NO_NODE:-} " != *" $value "* ]]; then
        mkdir -p "$dev/vfio"
        : > "$dev/vfio/$(basename "$(readlink "$d/iommu_group")")"
    fi ;;
esac
