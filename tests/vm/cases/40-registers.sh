# Open through VFIO, DMA-map a region (IOVA != VA), read STATUS and the MAC
# from RAL0/RAH0, raise an interrupt into its eventfd (INTx on e1000,
# MSI-X on e1000e and igb).
# host: none
case $MODEL in e1000 | e1000-82545em) irq=intx ;; *) irq=msix ;; esac
upio-vfio-probe check "$NIC" --mac "$MAC" --irq "$irq"
# The 82574 also has plain MSI.
if [ "$MODEL" = e1000e ]; then upio-vfio-probe check "$NIC" --irq msi; fi
# The same through pread/pwrite on the device fd (the path of BAR areas a
# sparse mmap leaves out).
rc=0
upio-vfio-probe check "$NIC" --mac "$MAC" --irq "$irq" --no-mmap > /tmp/nommap.out 2>&1 || rc=$?
cat /tmp/nommap.out
[ "$rc" -eq 0 ]
grep -q 'bar0_fully_mapped=0' /tmp/nommap.out
