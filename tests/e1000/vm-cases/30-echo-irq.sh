# 100 000 frames of mixed sizes go out and come back from the host intact and in
# order, waiting on interrupts; the NIC's counters agree. The 82574L (e1000e)
# and the 82576 (igb) must run on MSI-X, and interrupts must have woken the
# waits.
# host: echo
# timeout: 400
case "$MODEL" in
e1000e | igb) irq="--irq msix" ;;
*) irq= ;;
esac
upio-e1000-vm echo "$NIC" --count ${UPIO_E1000_VM_COUNT:-100000} $irq
