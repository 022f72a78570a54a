#!/usr/bin/env bash
# The tools use the public API only: no file under tools/ includes a header
# from src/ (by a path into src/, or a directory of it: drivers/, core/,
# vale/, pipes/, netif/, models/), and no tool's CMakeLists.txt adds src/ to
# its include path or links a driver's model library directly.
#   check-public-includes.sh TOOLS_DIR     check a tree
#   check-public-includes.sh --self-test   prove the check catches each case
set -euo pipefail

forbidden='^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](\.\./)*(src/|drivers/|core/|vale/|pipes/|netif/|models/)'

# Prints each offence as FILE:LINE: TEXT; the exit status is the number of
# offending files (capped), 0 when clean. Refuses a tree with no sources or
# no includes at all: an empty check would pass by itself.
check() {
    local dir=$1 files=0 includes=0 bad=0 f
    while IFS= read -r -d '' f; do
        files=$((files + 1))
        includes=$((includes + $(grep -cE '^[[:space:]]*#[[:space:]]*include' "$f" || true)))
        if grep -nE "$forbidden" "$f" | sed "s|^|$f:|"; then bad=$((bad + 1)); fi
    done < <(find "$dir" -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.c' -o -name '*.cc' \) -print0)
    while IFS= read -r -d '' f; do
        if grep -nE 'PROJECT_SOURCE_DIR\}/src|CMAKE_SOURCE_DIR\}/src|upio_(ixgbe|e1000|device)_model' "$f" |
            sed "s|^|$f:|"; then bad=$((bad + 1)); fi
    done < <(find "$dir" -type f -name CMakeLists.txt -print0)
    if [ "$files" -eq 0 ] || [ "$includes" -eq 0 ]; then
        echo "check-public-includes: $dir has $files source files and $includes includes: nothing was checked"
        return 100
    fi
    echo "check-public-includes: $files files, $includes includes checked in $dir, $bad with non-public headers"
    [ "$bad" -eq 0 ]
}

self_test() {
    local tmp
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    mkdir -p "$tmp/t"
    printf '#include <upio/port.hpp>\n#include "pktgen.hpp"\n#include <vector>\n' >"$tmp/t/good.cpp"
    check "$tmp/t" >/dev/null || { echo "self-test: a clean tree was refused"; return 1; }
    local bad
    for bad in '#include "drivers/ixgbe/ixgbe.hpp"' '#include "core/vfio.hpp"' '#include <vale/switch.hpp>' \
        '#include "pipes/pipe.hpp"' '#  include "netif/netif.hpp"' '#include "../src/core/pci.hpp"' \
        '#include "src/port_types.cpp"' '#include "models/model_wire.hpp"'; do
        printf '%s\n' "$bad" >"$tmp/t/bad.hpp"
        if check "$tmp/t" >/dev/null; then echo "self-test: not caught: $bad"; return 1; fi
    done
    rm "$tmp/t/bad.hpp"
    for bad in 'target_include_directories(x PRIVATE ${PROJECT_SOURCE_DIR}/src)' \
        'target_link_libraries(x PRIVATE upio_ixgbe_model)'; do
        printf '%s\n' "$bad" >"$tmp/t/CMakeLists.txt"
        if check "$tmp/t" >/dev/null; then echo "self-test: not caught: $bad"; return 1; fi
    done
    rm "$tmp/t/CMakeLists.txt" "$tmp/t/good.cpp"
    printf 'int main() {}\n' >"$tmp/t/empty.cpp"
    if check "$tmp/t" >/dev/null; then echo "self-test: a tree without includes passed"; return 1; fi
    echo "check-public-includes: self-test passed"
}

case "${1:-}" in
--self-test) self_test ;;
"") echo "usage: $0 TOOLS_DIR | --self-test" >&2; exit 2 ;;
*) check "$1" ;;
esac
