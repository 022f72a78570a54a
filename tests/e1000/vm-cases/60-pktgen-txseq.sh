# pkt-gen on the NIC port sends 100 000 sequence-numbered UDP frames of mixed
# sizes (60..1514); the host checker gets every one intact (pkt-gen's bytes,
# valid IPv4/UDP checksums) and in order. Paced (-R): unpaced, the guest
# outruns QEMU's dgram backend, which drops once its queue is full (about a
# quarter of the frames lost on e1000), before the checker sees them.
# host: seqsink:100000:60-1514
# timeout: 400
rc=0
pkt-gen -f txseq -i "e1000:$NIC" -n 100000 -l 60-1514 -R ${UPIO_PKTGEN_RATE:-10000} -S "$MAC" \
    -D 02:00:00:00:00:ee -w 10 --json > /tmp/txseq.out 2>&1 || rc=$?
grep -v '"t":' /tmp/txseq.out
[ "$rc" -eq 0 ]
grep -q '"summary":"tx","packets":100000,' /tmp/txseq.out
