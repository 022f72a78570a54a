# bind loads vfio-pci (modprobe) and hands the NIC to it via driver_override.
# host: none
lsmod > /tmp/lsmod.out
if grep -q '^vfio_pci ' /tmp/lsmod.out; then echo "vfio-pci already loaded"; exit 1; fi
upio-setup bind "$NIC"
[ "$(basename "$(readlink /sys/bus/pci/devices/$NIC/driver)")" = vfio-pci ]
group=$(basename "$(readlink /sys/bus/pci/devices/$NIC/iommu_group)")
[ -c "/dev/vfio/$group" ]
[ "$(cat /sys/bus/pci/devices/$NIC/driver_override)" = "(null)" ]
[ "$(upio-setup status | awk -v n="$NIC" '$1 == n { print $3 }')" = vfio-pci ]
upio-setup bind "$NIC" > /tmp/bind.out
cat /tmp/bind.out
grep -q "already bound" /tmp/bind.out
