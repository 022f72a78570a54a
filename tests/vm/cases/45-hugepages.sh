# hugepages reserves pages and mounts hugetlbfs; a region on them DMA-maps.
# host: none
upio-setup hugepages 8
grep -q ' /dev/hugepages hugetlbfs' /proc/mounts
[ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)" -ge 8 ]
rc=0
upio-vfio-probe check "$NIC" --mac "$MAC" --hugepages > /tmp/huge.out 2>&1 || rc=$?
cat /tmp/huge.out
[ "$rc" -eq 0 ]
grep -q 'hugepages=1' /tmp/huge.out
