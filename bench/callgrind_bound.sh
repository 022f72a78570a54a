# shellcheck shell=sh
# Sourced by the callgrind checks (ixgbe_callgrind_check.sh,
# e1000_callgrind_check.sh, vale_callgrind.sh): what they share.
#
#   cg_init [avx]     exit 77 (skipped) without valgrind; with "avx", also
#                     without AVX unless UPIO_NO_AVX asks for the SSE2 code
#                     (its bounds differ); makes $cg_dir, removed at exit
#   cg_measure COUNT_SED FIELD VALGRIND_ARGS... -- PROGRAM ARGS...
#                     runs PROGRAM under callgrind; sets cg_count (from its
#                     stdout, sed -n COUNT_SED) and cg_ir (the FIELD line of
#                     the profile: "summary" with --toggle-collect, "totals"
#                     without); returns 1 and shows the program's output when
#                     either is missing or zero, exits when the program fails
#   cg_verdict LABEL UNIT MAX
#                     prints "LABEL: N instructions/UNIT (bound MAX): ok" or
#                     "... ABOVE" (then cg_fail=1)
# Instruction counts are exact for a given build: a bound is the figure
# docs/benchmarks.md records plus a small margin for compilers that
# schedule differently.
cg_fail=0

cg_init() {
  command -v valgrind >/dev/null || { echo "valgrind is missing"; exit 77; }
  if [ "${1:-}" = avx ] && [ -z "${UPIO_NO_AVX:-}" ] && ! grep -qw avx /proc/cpuinfo; then
    echo "no AVX here: the SSE2 check (UPIO_NO_AVX=1) holds this build"
    exit 77
  fi
  cg_dir=$(mktemp -d)
  trap 'rm -rf "$cg_dir"' EXIT
}

cg_measure() {
  _sed=$1 _field=$2
  shift 2
  _args=
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    _args="$_args $1"
    shift
  done
  shift
  # shellcheck disable=SC2086 # the valgrind options are words without spaces
  valgrind --tool=callgrind --collect-atstart=no $_args --callgrind-out-file="$cg_dir/cg" \
    "$@" >"$cg_dir/stdout" 2>"$cg_dir/stderr" || { cat "$cg_dir/stdout" "$cg_dir/stderr"; exit 1; }
  cg_count=$(sed -n "$_sed" "$cg_dir/stdout")
  cg_ir=$(sed -n "s/^$_field: *\([0-9]*\).*/\1/p" "$cg_dir/cg")
  if [ -z "$cg_count" ] || [ -z "$cg_ir" ] || [ "$cg_count" -eq 0 ] || [ "$cg_ir" -eq 0 ]; then
    echo "no measurement (count '$cg_count', instructions '$cg_ir')"
    cat "$cg_dir/stdout" "$cg_dir/stderr"
    return 1
  fi
}

cg_verdict() {
  _v=$(awk -v p="$cg_count" -v i="$cg_ir" -v m="$3" -v u="$2" \
    'BEGIN { v = i / p; printf "%.2f instructions/%s (bound %s): %s", v, u, m, v <= m ? "ok" : "ABOVE" }')
  echo "$1: $_v"
  # shellcheck disable=SC2034 # read by the script that sources this
  case $_v in *ABOVE) cg_fail=1 ;; esac
}
