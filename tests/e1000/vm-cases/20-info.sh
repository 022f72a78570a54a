# The driver resets the NIC, reads the MAC QEMU was given and brings the link up.
# host: none
upio-e1000-vm info "$NIC" --mac "$MAC"
