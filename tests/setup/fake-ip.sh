#!/usr/bin/env bash
# fake-ip.sh -- the part of ip(8) upio-setup uses, over files in $FAKE_NET:
#   ip -o addr show dev IF        -> $FAKE_NET/IF.addr   (lines as "ip -o addr" prints them)
#   ip -o -4 route show dev IF    -> $FAKE_NET/IF.route4
#   ip -o -6 route show dev IF    -> $FAKE_NET/IF.route6
# Every call is logged to $FAKE_NET/ip.log. An interface without files has nothing.
set -eu
echo "$*" >> "$FAKE_NET/ip.log"
fam= obj= ifc=
while (($#)); do
    case $1 in
    -o) ;;
    -4) fam=4 ;;
    -6) fam=6 ;;
    addr | route) obj=$1 ;;
    show) ;;
    dev) ifc=$2; shift ;;
    *) echo "fake ip: unexpected argument $1" >&2; exit 2 ;;
    esac
    shift
done
[[ -n $obj && -n $ifc ]] || { echo "fake ip: want addr|route show dev IF" >&2; exit 2; }
case $obj in
addr) f=$FAKE_NET/$ifc.addr ;;
route) f=$FAKE_NET/$ifc.route${fam:-4} ;;
esac
[[ ! -e $f ]] || cat "$f"
