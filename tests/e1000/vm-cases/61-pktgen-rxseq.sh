# The host checker sends 100 000 sequence-numbered UDP frames of mixed sizes
# (60..1514) as fast as QEMU takes them (the unix socket pushes back while the
# NIC has no free descriptor); pkt-gen on the NIC port receives all of them in
# order, and its capture is checked byte for byte (pcapcheck also says where
# any gap is).
# host: seqsource:100000:60-1514
# timeout: 400
rc=0
pkt-gen -f rxseq -i "e1000:$NIC" -n 100000 -w 10 --duration 60 --pcap /tmp/rx.pcap --json \
    > /tmp/rxseq.out 2>&1 || rc=$?
grep -v '"t":' /tmp/rxseq.out
prc=0
upio-e1000-vm pcapcheck /tmp/rx.pcap --count 100000 --size 60-1514 || prc=$?
rm -f /tmp/rx.pcap
[ "$rc" -eq 0 ] && [ "$prc" -eq 0 ]
grep -q '"received":100000,"missing":0,"duplicates":0,"reordered":0' /tmp/rxseq.out
