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
upio-vfio-probe check "$NIC" --mac "$MAC" --irq "$irq" --no-mmap | tee /tmp/nommap.out
grep -q 'bar0_fully_mapped=0' /tmp/nommap.out
