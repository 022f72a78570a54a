# The harness plumbing for driver cases: the host checker follows the guest
# from case to case and sends beacon frames into QEMU's end of the wire (no
# driver runs here, so the NIC drops them). A driver case names its host mode
# the same way, e.g. "# host: echo" or "# host: sink".
# host: beacon
sleep 1
