#!/usr/bin/env bash
# Every tool's --version prints the project's version (project(VERSION) in
# CMakeLists.txt), as "TOOL (upio) VERSION"; the library's upio::version() too.
#
#   test-versions.sh VERSION version_check TOOL...
set -uo pipefail
want=$1 check=$2
shift 2
failures=0
got=$("$check") || { echo "FAIL header and library disagree: $got"; failures=1; }
[[ $got == "$want" ]] && echo "ok   upio::version() is $want" || { echo "FAIL upio::version() is '$got', not $want"; failures=1; }
for tool in "$@"; do
    name=$(basename "$tool")
    out=$("$tool" --version 2>&1); rc=$?
    if ((rc == 0)) && [[ $out == "$name (upio) $want" ]]; then
        echo "ok   $tool --version: $out"
    else
        echo "FAIL $tool --version (status $rc): '$out', want '$name (upio) $want'"
        failures=1
    fi
done
((failures == 0))
