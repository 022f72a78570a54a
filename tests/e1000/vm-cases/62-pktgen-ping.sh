# pkt-gen pings through the NIC port; the host checker answers each UDP frame
# with addresses and ports swapped; every request gets its reply.
# host: pong
# timeout: 300
rc=0
pkt-gen -f ping -i "e1000:$NIC" -n 2000 -S "$MAC" -D 02:00:00:00:00:ee -w 10 --json \
    > /tmp/ping.out 2>&1 || rc=$?
grep -v '"t":' /tmp/ping.out
[ "$rc" -eq 0 ]
grep -q '"replies":2000,"lost":0,' /tmp/ping.out
