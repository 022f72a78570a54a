#!/usr/bin/env bash
# Every public header compiles on its own; the user API's headers include no
# backend header (upio/backend/), and a backend header refuses to compile in
# a program built on the user API only (-DUPIO_USER_API_ONLY).
#   headers.sh INCLUDE_DIR CXX
set -euo pipefail
inc=$1 cxx=$2
user="port.hpp port_name.hpp netmap.h netmap_user.h vale.hpp vale_daemon.hpp memory.hpp error.hpp pci.hpp chain.hpp models.hpp log.hpp"
backend="backend.hpp backend/adapter.hpp backend/memory_region.hpp backend/port_type.hpp backend/device.hpp
         backend/iova.hpp backend/fd.hpp device.hpp iova.hpp"
compile() { printf '#include <upio/%s>\n' "$1" | "$cxx" -std=c++20 -x c++ -I"$inc" "${@:2}" -fsyntax-only -; }
fail=0
for h in $user; do
    compile "$h" -DUPIO_USER_API_ONLY || { echo "FAIL: upio/$h does not compile on its own (user API only)"; fail=1; }
    included=$(printf '#include <upio/%s>\n' "$h" | "$cxx" -std=c++20 -x c++ -I"$inc" -E -H - 2>&1 >/dev/null |
               grep -o 'upio/backend[^ ]*' | sort -u || true)
    if [ -n "$included" ]; then
        echo "FAIL: upio/$h includes backend headers: $included"
        fail=1
    fi
done
for h in $backend; do
    compile "$h" || { echo "FAIL: upio/$h does not compile on its own"; fail=1; }
    if compile "$h" -DUPIO_USER_API_ONLY 2>/dev/null; then
        echo "FAIL: upio/$h compiles under UPIO_USER_API_ONLY (its guard is missing)"
        fail=1
    fi
done
# every header in the tree is in one of the two lists
for f in $(cd "$inc" && find upio -name '*.h' -o -name '*.hpp' | sed 's|^upio/||' | sort); do
    case " $(echo $user $backend) " in *" $f "*) ;; *) echo "FAIL: upio/$f is in neither list of $0"; fail=1 ;; esac
done
[ $fail = 0 ] && echo "headers: $(echo $user | wc -w) user headers without backend includes, $(echo $backend | wc -w) backend headers, each on its own"
exit $fail
