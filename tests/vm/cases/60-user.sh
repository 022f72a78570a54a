# bind --user hands /dev/vfio/GROUP to a user, who can then open the device.
# host: none
upio-setup bind --user upio "$NIC"
group=$(basename "$(readlink /sys/bus/pci/devices/$NIC/iommu_group)")
[ "$(stat -c %U "/dev/vfio/$group")" = upio ]
su upio -c "upio-vfio-probe check $NIC --mac $MAC"
chown root "/dev/vfio/$group"
