# Clear errors: no-IOMMU mode where the kernel lacks it, MSI-X on a device
# without it, a second opener of a busy group, a user without rights.
# host: none
upio-vfio-probe expect-error "$NIC" --noiommu | tee /tmp/e1
grep -q 'no VFIO no-IOMMU mode' /tmp/e1
if [ "$MODEL" = e1000 ]; then
    upio-vfio-probe check "$NIC" --irq msix | tee /tmp/e2 || true
    grep -q 'has 0 MSI-X vector' /tmp/e2
fi
su upio -c "upio-vfio-probe expect-error $NIC" | tee /tmp/e3
grep -q 'no permission to open /dev/vfio/' /tmp/e3
