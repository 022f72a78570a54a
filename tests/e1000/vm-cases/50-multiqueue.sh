# Four queue pairs with RSS and one MSI-X vector each come up on the 82576;
# the exchange still works on queue 0.
# models: igb
# host: echo
# timeout: 200
upio-e1000-vm echo "$NIC" --rings 4 --count 5000 | tee /tmp/mq.out
grep -q "4 queue pairs" /tmp/mq.out
