# RSS on the 82576 with IP flows: 4000 IPv4/UDP frames of 16 flows go out and
# come back through the host's echo; each arrives intact on the queue the
# Toeplitz hash of its flow selects (computed independently of the driver
# from its key and redirection table), each flow in order, and frames arrive
# on at least two of the four queues.
# models: igb
# host: echo
# timeout: 300
rc=0
upio-e1000-vm rss "$NIC" --rings 4 --count 4000 --flows 16 > /tmp/rss.out 2>&1 || rc=$?
cat /tmp/rss.out
[ "$rc" -eq 0 ]
grep -q "4 queue pairs" /tmp/rss.out
