# unbind gives the NIC back to its previous driver (none here) and forgets it.
# host: none
upio-setup unbind "$NIC"
[ ! -e "/sys/bus/pci/devices/$NIC/driver" ]
[ ! -e "/run/upio/$NIC.driver" ]
[ "$(upio-setup status | awk -v n="$NIC" '$1 == n { print $3 }')" = - ]
upio-setup unbind "$NIC" > /tmp/unbind.out
cat /tmp/unbind.out
grep -q "nothing to do" /tmp/unbind.out
