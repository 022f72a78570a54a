#!/usr/bin/env bash
# Installs upio into a scratch prefix, then builds and runs a program against
# it twice: through find_package(upio) and through pkg-config, on the user
# API only (UPIO_USER_API_ONLY: a backend header would not compile), then a
# port type of its own (examples/loopback_port) on the backend API. Checks
# that the tools, upio-setup and the man pages are installed (and render),
# and that install_manifest.txt removes everything again.
#
#   test-install.sh BUILD_DIR SOURCE_DIR VERSION MAN(ON|OFF)
set -euo pipefail
build=$1 src=$2 version=$3 man=${4:-ON}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
lib=$(dirname "$(find "$tmp/prefix" -name libupio.a | head -n1)")
[ -n "$lib" ] && [ "$lib" != . ] || { echo "libupio.a not installed"; exit 1; }
test -f "$tmp/prefix/include/upio/netmap_user.h" || { echo "headers not installed"; exit 1; }
test -f "$tmp/prefix/include/upio/version.hpp" || { echo "the generated upio/version.hpp is not installed"; exit 1; }

# the tools, upio-setup with the project's version filled in
for t in pkt-gen upio-switch upio-setup upio-plot; do
    test -x "$tmp/prefix/bin/$t" || { echo "$t not installed in bin/"; exit 1; }
done
out=$("$tmp/prefix/bin/upio-setup" --version)
[ "$out" = "upio-setup (upio) $version" ] || { echo "installed upio-setup --version says '$out'"; exit 1; }

# the man pages: installed, parsed by groff without a warning, rendered by man
if [ "$man" = ON ]; then
    for p in man1/pkt-gen.1 man1/upio-switch.1 man8/upio-setup.8; do
        f=$tmp/prefix/share/man/$p
        test -s "$f" || { echo "man page $p not installed"; exit 1; }
        if command -v groff >/dev/null; then
            warnings=$(groff -man -z -ww "$f" 2>&1) || { echo "groff cannot parse $p"; exit 1; }
            [ -z "$warnings" ] || { echo "groff warns about $p: $warnings"; exit 1; }
        fi
        if command -v man >/dev/null; then
            text=$(MANWIDTH=80 man -l "$f" 2>/dev/null)
            name=$(basename "$p"); name=${name%.*}
            case $text in *NAME*"$name"*SYNOPSIS*|*NAME*"$name"*DESCRIPTION*) ;;
            *) echo "man -l does not render $p with NAME and DESCRIPTION"; exit 1 ;; esac
            case $text in *"$version"*) ;; *) echo "$p does not carry version $version"; exit 1 ;; esac
        fi
    done
    echo "install: man pages installed and rendered"
else
    echo "install: man pages not checked (configured with -DUPIO_BUILD_MAN=OFF)"
fi

cmake -S "$src/consumer" -B "$tmp/cm" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
ninja -C "$tmp/cm" >/dev/null
"$tmp/cm/consumer"

export PKG_CONFIG_PATH="$lib/pkgconfig"
c++ -std=c++20 -DUPIO_USER_API_ONLY "$src/consumer/main.cpp" -o "$tmp/pc-consumer" $(pkg-config --cflags upio) \
    $(pkg-config --libs --static upio)
"$tmp/pc-consumer"
c++ -std=c++20 "$src/../../examples/loopback_port/loopback_port.cpp" -o "$tmp/loopback_port" $(pkg-config --cflags upio) \
    $(pkg-config --libs --static upio) -pthread
"$tmp/loopback_port" -n 10000
echo "install: find_package and pkg-config consumers (user API) and a port type of their own (backend API) built and ran"

# uninstall as the README says: remove what install_manifest.txt lists
manifest=$build/install_manifest.txt
grep -q "^$tmp/prefix/" "$manifest" || { echo "install_manifest.txt does not list the scratch prefix"; exit 1; }
xargs -d '\n' rm -f < "$manifest"
left=$(find "$tmp/prefix" -type f | head -5)
[ -z "$left" ] || { echo "files left after removing install_manifest.txt: $left"; exit 1; }
echo "install: install_manifest.txt removes every installed file"
