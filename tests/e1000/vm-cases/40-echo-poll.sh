# The same exchange with busy polling.
# host: echo
# timeout: 400
upio-e1000-vm echo "$NIC" --count 20000 --poll
