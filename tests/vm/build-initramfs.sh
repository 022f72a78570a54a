#!/usr/bin/env bash
# build-initramfs.sh -- the test VM's kernel and initramfs, from Debian packages.
#
#   build-initramfs.sh CACHE_DIR OUT_DIR CASES_DIR FILE...
#
# CACHE_DIR keeps the Debian cloud kernel package and its unpacked tree
# between runs (the cloud flavour has no e1000/e1000e/igb driver, so the NIC
# stays unbound). OUT_DIR receives "vmlinuz" and "initramfs.gz". FILE... are
# executables (ELF programs get their shared libraries and the loader copied
# along) and scripts put in /upio/bin. The kernel package is, in order of
# preference: $UPIO_VM_KERNEL_DEB, one already in CACHE_DIR or in apt's
# archive cache, else "apt-get download" of what linux-image-cloud-amd64
# depends on.
set -euo pipefail

cache=$1 out=$2 cases=$3
shift 3
mkdir -p "$cache" "$out"
need() { command -v "$1" >/dev/null || { echo "build-initramfs: $1 is missing (apt-get install $2)" >&2; exit 77; }; }
need busybox busybox-static
need cpio cpio
need depmod kmod
need modinfo kmod
need dpkg-deb dpkg

# -- the kernel, unpacked once (flock: parallel runs share the cache)
exec 9> "$cache/.lock"
flock -w 600 9
if ! ls "$cache"/kernel/boot/vmlinuz-* >/dev/null 2>&1; then
    deb=${UPIO_VM_KERNEL_DEB:-}
    [[ -n $deb ]] || deb=$(ls -t "$cache"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | head -1 || true)
    [[ -n $deb ]] || deb=$(ls -t /var/cache/apt/archives/linux-image-*-cloud-amd64_*.deb 2>/dev/null | head -1 || true)
    if [[ -z $deb ]]; then
        pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
        [[ -n $pkg ]] || { echo "build-initramfs: no cloud kernel package known to apt (run apt-get update)" >&2; exit 77; }
        (cd "$cache" && apt-get download "$pkg" >/dev/null 2>&1) ||
            { echo "build-initramfs: apt-get download $pkg failed" >&2; exit 77; }
        deb=$(ls -t "$cache"/linux-image-*-cloud-amd64_*.deb | head -1)
    fi
    rm -rf "$cache/kernel.tmp"
    dpkg-deb -x "$deb" "$cache/kernel.tmp"
    mv "$cache/kernel.tmp" "$cache/kernel"
fi
flock -u 9
kver=$(ls "$cache"/kernel/lib/modules | head -1)
cp "$cache"/kernel/boot/vmlinuz-"$kver" "$out/vmlinuz"

# -- the root tree
root=$out/root
rm -rf "$root"
mkdir -p "$root"/{bin,lib64,upio/bin,cases,etc,lib/modules/$kver}
cp "$(command -v busybox)" "$root/bin/busybox"
if ldd "$root/bin/busybox" >/dev/null 2>&1; then
    echo "build-initramfs: $(command -v busybox) is not static (apt-get install busybox-static)" >&2
    exit 77
fi

# VFIO modules, decompressed, in the order their depends= fields require.
mods=(irqbypass vfio vfio_virqfd vfio_iommu_type1 vfio-pci-core vfio-pci)
declare -A path deps
for m in "${mods[@]}"; do
    f=$(find "$cache/kernel/lib/modules/$kver" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -1)
    [[ -n $f ]] || { echo "build-initramfs: module $m not in the kernel package" >&2; exit 1; }
    rel=${f#"$cache/kernel/lib/modules/$kver/"}
    mkdir -p "$root/lib/modules/$kver/$(dirname "$rel")"
    case $f in
    *.xz) xz -dc "$f" > "$root/lib/modules/$kver/${rel%.xz}"; rel=${rel%.xz} ;;
    *.zst) zstd -qdc "$f" > "$root/lib/modules/$kver/${rel%.zst}"; rel=${rel%.zst} ;;
    *) cp "$f" "$root/lib/modules/$kver/$rel" ;;
    esac
    path[$m]=$rel
    deps[$m]=$(modinfo -F depends "$root/lib/modules/$kver/$rel" | tr ',' ' ')
done
order=() declare -A placed
place() { # depth-first: dependencies first
    local m=$1 d
    [[ -n ${placed[$m]:-} ]] && return
    for d in ${deps[$m]}; do
        [[ -n ${path[$d]:-} ]] || { echo "build-initramfs: $m needs $d, which is not packed" >&2; exit 1; }
        place "$d"
    done
    placed[$m]=1
    order+=("${path[$m]}")
}
for m in "${mods[@]}"; do place "$m"; done
printf '%s\n' "${order[@]}" > "$root/modules.order"
# modules.dep, so modprobe works in the guest (the package ships none)
printf '%s\n' "${order[@]}" > "$root/lib/modules/$kver/modules.order"
: > "$root/lib/modules/$kver/modules.builtin"
: > "$root/lib/modules/$kver/modules.builtin.modinfo"
depmod -b "$root" "$kver"

# Programs: ELF files with their libraries and loader; scripts as they are.
copy_libs() {
    local lib
    for lib in $(ldd "$1" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }'); do
        [[ -e $root$lib ]] && continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}
for f in "$@" /bin/bash; do
    cp "$f" "$root/upio/bin/"
    if head -c4 "$f" | grep -q ELF; then copy_libs "$f"; fi
done
cp "$cases"/*.sh "$root/cases/"
cp "$(dirname "${BASH_SOURCE[0]}")/init.sh" "$root/init"
chmod +x "$root/init" "$root"/upio/bin/*
printf 'root:x:0:0::/:/bin/sh\nupio:x:1000:1000::/tmp:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\nupio:x:1000:\n' > "$root/etc/group"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/initramfs.gz"
echo "build-initramfs: kernel $kver, $(du -h "$out/initramfs.gz" | cut -f1) initramfs, modules: ${order[*]##*/}"
