#!/bin/sh
# Instructions per frame in the VALE switch (callgrind, the syncs only: the
# framework's validation prologue, the sender's txsync that looks up and
# copies, the receiver's rxsync), SENDERS:BATCH:LEN cases (default: 1 and 2
# senders, batch 32 and 256, 60 and 1514 bytes). With a fourth field MAX
# per case the script fails when a case costs more (instruction counts are
# exact for a given build: a bound is the recorded figure plus a margin).
#   bench/vale_callgrind.sh path/to/vale_cost [SENDERS:BATCH:LEN[:MAX]...]
# Exit 77 (skipped) without valgrind.
set -eu
bin=${1:?usage: $0 path/to/vale_cost [SENDERS:BATCH:LEN[:MAX]...]}
shift
[ $# -gt 0 ] || set -- 1:32:60 1:256:60 1:256:1514 2:256:60
command -v valgrind >/dev/null || { echo "valgrind is missing"; exit 77; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0
printf '%-8s %6s %6s %14s\n' senders batch len instr/frame
for spec in "$@"; do
  IFS=: read -r n b l max <<SPEC
$spec
SPEC
  valgrind --tool=callgrind --collect-atstart=no \
    --toggle-collect='upio::Port::txsync*' --toggle-collect='upio::Port::rxsync*' \
    --callgrind-out-file="$out/cg" "$bin" "$n" "$b" "$l" >"$out/stdout" 2>"$out/stderr" ||
    { cat "$out/stdout" "$out/stderr"; exit 1; }
  fr=$(sed -n 's/.* frames \([0-9]*\).*/\1/p' "$out/stdout")
  ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out/cg")
  if [ -z "$fr" ] || [ -z "$ir" ] || [ "$fr" -eq 0 ] || [ "$ir" -eq 0 ]; then
    echo "$spec: no measurement (frames '$fr', instructions '$ir')"
    cat "$out/stdout" "$out/stderr"
    fail=1
    continue
  fi
  line=$(awk -v n="$n" -v b="$b" -v l="$l" -v f="$fr" -v i="$ir" -v m="${max:-}" 'BEGIN {
    v = i / f; s = sprintf("%-8s %6s %6s %14.1f", n, b, l, v)
    if (m != "") s = s sprintf("  (bound %s: %s)", m, v <= m ? "ok" : "ABOVE")
    print s }')
  echo "$line"
  case $line in *ABOVE*) fail=1 ;; esac
done
exit $fail
