#!/bin/sh
# Instructions per frame in the VALE switch (callgrind, the syncs only: the
# framework's validation prologue, the sender's txsync that looks up and
# copies, the receiver's rxsync), SENDERS:BATCH:LEN cases (default: 1 and 2
# senders, batch 32 and 256, 60 and 1514 bytes; "1b": one sender to the
# broadcast address, pkt-gen's default). With a fourth field MAX
# per case the script fails when a case costs more (instruction counts are
# exact for a given build: a bound is the recorded figure plus a margin).
#   bench/vale_callgrind.sh path/to/vale_cost [SENDERS:BATCH:LEN[:MAX]...]
# Exit 77 (skipped) without valgrind (bench/callgrind_bound.sh).
set -eu
bin=${1:?usage: $0 path/to/vale_cost [SENDERS:BATCH:LEN[:MAX]...]}
shift
[ $# -gt 0 ] || set -- 1:32:60 1:256:60 1:256:1514 2:256:60 1b:256:60
# shellcheck source=bench/callgrind_bound.sh
. "$(dirname "$0")/callgrind_bound.sh"
cg_init any # no AVX condition: the switch has no vector code
printf '%-8s %6s %6s %14s\n' senders batch len instr/frame
for spec in "$@"; do
  IFS=: read -r n b l max <<SPEC
$spec
SPEC
  if ! cg_measure 's/.* frames \([0-9]*\).*/\1/p' summary '--toggle-collect=upio::Port::txsync*' \
    '--toggle-collect=upio::Port::rxsync*' -- "$bin" "$n" "$b" "$l"; then
    cg_fail=1
    continue
  fi
  line=$(awk -v n="$n" -v b="$b" -v l="$l" -v f="$cg_count" -v i="$cg_ir" -v m="${max:-}" 'BEGIN {
    v = i / f; s = sprintf("%-8s %6s %6s %14.1f", n, b, l, v)
    if (m != "") s = s sprintf("  (bound %s: %s)", m, v <= m ? "ok" : "ABOVE")
    print s }')
  echo "$line"
  case $line in *ABOVE*) cg_fail=1 ;; esac
done
exit "$cg_fail"
