# The harness plumbing for driver cases: the host checker follows the guest
# from case to case and, in "beacon" mode, sends a broadcast test frame into
# QEMU's end of the wire every 100 ms. A legacy RX ring set up through VFIO
# must receive one (bounded wait): proves the checker is in this case's mode
# and that the device writes received frames at the IOVAs it was given. A
# driver case names its host mode the same way, e.g. "# host: echo".
# host: beacon
rc=0
upio-vfio-probe rx "$NIC" --timeout 20 > /tmp/rx.out 2>&1 || rc=$?
cat /tmp/rx.out
[ "$rc" -eq 0 ]
grep -q '^result=ok' /tmp/rx.out
