# The NIC goes to vfio-pci with the setup script.
# host: none
upio-setup bind "$NIC"
[ "$(basename "$(readlink /sys/bus/pci/devices/$NIC/driver)")" = vfio-pci ]
