# The device reads DMA-mapped memory at the IOVAs we gave it: three frames go
# out through a legacy TX ring and the host checker compares their bytes.
# host: probe
upio-vfio-probe tx "$NIC" --count 3
