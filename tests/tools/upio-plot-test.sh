#!/usr/bin/env bash
# scripts/upio-plot on a real pkt-gen run: a rate chart and a latency chart
# (one-way, from a seq run), a round-trip chart (from pingpong); each a PNG
# (its signature and header), of a plausible size, with the size asked for.
#   upio-plot-test.sh PKTGEN UPIO_PLOT
set -euo pipefail
pktgen=$1 plot=$2
missing=""
for t in gnuplot jq; do command -v "$t" >/dev/null || missing+=" $t"; done
if [ -n "$missing" ]; then
    echo "missing prerequisite:$missing (scripts/install-deps installs them)"
    [ "${UPIO_REQUIRE_ALL:-}" = 1 ] && exit 1
    exit 77 # skipped
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$pktgen" -f txrxseq -i "pipe:plot$$"'{0' -i "pipe:plot$$"'}0' -n 20000 -R 20000 -T 100ms --json --no-hugepages > "$tmp/seq.jsonl"
"$pktgen" -f pingpong -i "pipe:plotp$$"'{0' -i "pipe:plotp$$"'}0' -n 500 --json --no-hugepages > "$tmp/ping.jsonl"
"$plot" --size 640,400 -o "$tmp/seq" "$tmp/seq.jsonl" > "$tmp/seq.list"
"$plot" --size 640,400 -o "$tmp/ping" - < "$tmp/ping.jsonl" > "$tmp/ping.list"

check_png() { # FILE WIDTH HEIGHT
    local f=$1
    [ -f "$f" ] || { echo "FAIL: $f not written"; exit 1; }
    local sig
    sig=$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')
    [ "$sig" = 89504e470d0a1a0a ] || { echo "FAIL: $f is no PNG (starts $sig)"; exit 1; }
    # IHDR: width and height, big-endian, at bytes 16..23
    local w h
    w=$(od -An -j16 -N4 -tu1 "$f" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
    h=$(od -An -j20 -N4 -tu1 "$f" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
    [ "$w" = "$2" ] && [ "$h" = "$3" ] || { echo "FAIL: $f is ${w}x$h, not $2x$3"; exit 1; }
    local size
    size=$(stat -c %s "$f")
    # more than a blank image: axes, labels and the data drawn
    [ "$size" -gt 8000 ] || { echo "FAIL: $f has only $size bytes: nothing drawn?"; exit 1; }
    echo "ok: $f ${w}x$h, $size bytes"
}
check_png "$tmp/seq-rate.png" 640 400
check_png "$tmp/seq-latency.png" 640 400
check_png "$tmp/ping-rtt.png" 640 400
# (a ping run that ends before pkt-gen's first report has no rate lines: no rate chart)
if grep -q '"t":' "$tmp/ping.jsonl"; then check_png "$tmp/ping-rate.png" 640 400; fi
grep -qx "$tmp/seq-rate.png" "$tmp/seq.list" || { echo "FAIL: upio-plot did not list what it wrote"; exit 1; }
[ ! -e "$tmp/seq-rtt.png" ] || { echo "FAIL: an RTT chart without ping lines"; exit 1; }

# refusals: no JSON lines, a newer schema, a bad option
if "$plot" -o "$tmp/none" /dev/null 2> "$tmp/err"; then echo "FAIL: no input accepted"; exit 1; fi
grep -q "^upio-plot: .*no JSON lines" "$tmp/err" || { echo "FAIL: $(cat "$tmp/err")"; exit 1; }
sed 's/"schema":1/"schema":99/' "$tmp/seq.jsonl" > "$tmp/new.jsonl"
if "$plot" -o "$tmp/new" "$tmp/new.jsonl" 2> "$tmp/err"; then echo "FAIL: schema 99 accepted"; exit 1; fi
grep -q "schema 99" "$tmp/err" || { echo "FAIL: $(cat "$tmp/err")"; exit 1; }
set +e
"$plot" --no-such-option x 2>/dev/null
rc=$?
set -e
[ "$rc" = 2 ] || { echo "FAIL: a bad option exits $rc, not 2"; exit 1; }
echo "upio-plot: charts from real runs, refusals"
