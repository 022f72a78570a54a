# Four queue pairs with RSS and one MSI-X vector each come up on the 82576;
# the exchange still works on queue 0 (its frames are not IP: RSS sends them
# all to queue 0).
# models: igb
# host: echo
# timeout: 200
rc=0
upio-e1000-vm echo "$NIC" --rings 4 --count 5000 > /tmp/mq.out 2>&1 || rc=$?
cat /tmp/mq.out
[ "$rc" -eq 0 ]
grep -q "4 queue pairs" /tmp/mq.out
