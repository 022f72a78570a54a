# The NIC leaves vfio-pci with the setup script.
# host: none
upio-setup unbind "$NIC"
[ ! -e "/sys/bus/pci/devices/$NIC/driver" ]
