# 100 000 frames of mixed sizes go out and come back from the host intact and in
# order, waiting on interrupts; the NIC's counters agree.
# host: echo
# timeout: 400
upio-e1000-vm echo "$NIC" --count ${UPIO_E1000_VM_COUNT:-100000}
