#!/usr/bin/env bash
# Installs upio into a scratch prefix, then builds and runs a program against
# it twice: through find_package(upio) and through pkg-config.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
lib=$(dirname "$(find "$tmp/prefix" -name libupio.a | head -n1)")
[ -n "$lib" ] && [ "$lib" != . ] || { echo "libupio.a not installed"; exit 1; }
test -f "$tmp/prefix/include/upio/netmap_user.h" || { echo "headers not installed"; exit 1; }

cmake -S "$src/consumer" -B "$tmp/cm" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
ninja -C "$tmp/cm" >/dev/null
"$tmp/cm/consumer"

export PKG_CONFIG_PATH="$lib/pkgconfig"
c++ -std=c++20 "$src/consumer/main.cpp" -o "$tmp/pc-consumer" $(pkg-config --cflags upio) $(pkg-config --libs --static upio)
"$tmp/pc-consumer"
echo "install: find_package and pkg-config consumers built and ran"
