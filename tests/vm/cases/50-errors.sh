# Clear errors: no-IOMMU mode where the kernel lacks it, MSI-X on a device
# without it, a second opener of a busy group, a user without rights.
# host: none
rc=0
upio-vfio-probe expect-error "$NIC" --noiommu > /tmp/e1 2>&1 || rc=$?
cat /tmp/e1
[ "$rc" -eq 0 ]
grep -q 'no VFIO no-IOMMU mode' /tmp/e1
if [ "$MODEL" = e1000 ]; then
    # must fail, saying why
    rc=0
    upio-vfio-probe check "$NIC" --irq msix > /tmp/e2 2>&1 || rc=$?
    cat /tmp/e2
    [ "$rc" -ne 0 ]
    grep -q 'has 0 MSI-X vector' /tmp/e2
fi
rc=0
su upio -c "upio-vfio-probe expect-error $NIC" > /tmp/e3 2>&1 || rc=$?
cat /tmp/e3
[ "$rc" -eq 0 ]
grep -q 'no permission to open /dev/vfio/' /tmp/e3
