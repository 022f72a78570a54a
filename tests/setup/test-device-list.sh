#!/usr/bin/env bash
# The device list in upio-setup (its UPIO column and `devices`) against the
# drivers' own tables, as printed by chip_table.
#
#   test-device-list.sh PATH/TO/upio-setup PATH/TO/chip_table
set -euo pipefail
setup=$1 table=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$table" | sort > "$tmp/drivers"
[[ -s $tmp/drivers ]] || { echo "FAIL chip_table printed nothing"; exit 1; }
# The script's list: the heredoc of upio_devices(); its third field is "yes" or a reason.
sed -n "/^upio_devices() {/,/^}/p" "$setup" | sed -n "/<<'EOF'/,/^EOF/p" | sed '1d;$d' |
    awk '{ $3 = ($3 == "yes") ? "yes" : "no"; print }' | sort > "$tmp/script"
[[ -s $tmp/script ]] || { echo "FAIL no device list found in $setup"; exit 1; }
if ! diff -u "$tmp/drivers" "$tmp/script"; then
    echo "FAIL upio-setup's device list differs from the drivers' tables (- drivers, + upio-setup)"
    exit 1
fi
# What the UPIO column says comes from that list.
"$setup" devices | awk 'NR > 1' > "$tmp/devices"
[[ $(wc -l < "$tmp/devices") -eq $(wc -l < "$tmp/drivers") ]] || { echo "FAIL devices prints another count"; exit 1; }
echo "ok   upio-setup knows the $(wc -l < "$tmp/drivers") device ids of the e1000 and ixgbe tables"
