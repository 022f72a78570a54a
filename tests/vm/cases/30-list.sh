# libpci enumeration sees the NIC, its driver, IOMMU group and BAR0.
# host: none
upio-vfio-probe list > /tmp/list.out
cat /tmp/list.out
grep "^device=$NIC " /tmp/list.out | grep "driver=vfio-pci iommu_group=[0-9]" > /dev/null
grep -q "^bar0=" /tmp/list.out
