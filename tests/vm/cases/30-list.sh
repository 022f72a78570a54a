# libpci enumeration sees the NIC, its driver, IOMMU group and BAR0.
# host: none
upio-vfio-probe list
upio-vfio-probe list | grep "^device=$NIC " | grep -q "driver=vfio-pci iommu_group=[0-9]"
upio-vfio-probe list | grep -q "^bar0="
