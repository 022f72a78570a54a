#!/bin/sh
# Drivers reach hardware only through upio::Device (include/upio/device.hpp);
# VFIO is core's, and core opens a PCI function for them (open_pci_device).
# Fails when any source under src/drivers includes core/vfio*, and when there
# is nothing to check (no directory, no sources, or a pattern that does not
# even find core's own include of core/vfio.hpp).
#   tests/drivers/check-driver-includes.sh SOURCE_DIR
set -eu
src=${1:?usage: $0 SOURCE_DIR}
drivers="$src/src/drivers"
pattern='^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]core/vfio'

if [ ! -d "$drivers" ]; then
  echo "FAIL: $drivers is not a directory"
  exit 1
fi
list=$(mktemp)
trap 'rm -f "$list"' EXIT
find "$drivers" -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.cc' \) > "$list"
n=$(wc -l < "$list")
if [ "$n" -lt 1 ]; then
  echo "FAIL: no C++ sources under $drivers"
  exit 1
fi
if ! grep -Eq "$pattern" "$src/src/core/vfio_device.cpp"; then
  echo "FAIL: the pattern does not find core's own include of core/vfio.hpp: the check would prove nothing"
  exit 1
fi
bad=$(xargs grep -EnH "$pattern" < "$list" || true)
if [ -n "$bad" ]; then
  echo "FAIL: drivers include core's VFIO; use upio::Device and upio::open_pci_device (include/upio/device.hpp):"
  echo "$bad"
  exit 1
fi
echo "ok: none of the $n sources under src/drivers includes core/vfio"
