# The cloud kernel has no driver for the NIC: status lists it unbound.
# host: none
upio-setup status
[ "$(upio-setup status | awk -v n="$NIC" '$1 == n { print $3 }')" = - ]
