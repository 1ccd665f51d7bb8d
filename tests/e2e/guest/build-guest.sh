#!/bin/sh
# Builds the tiny test guest of the QEMU end-to-end suite (tests/e2e/qemu.sh):
#   $VI_GUEST_DIR/vmlinuz     Debian's cloud kernel (the version apt offers
#                             for linux-image-cloud-amd64)
#   $VI_GUEST_DIR/initrd.gz   busybox-static initramfs (cpio newc, gzip)
#                             whose /init (tests/e2e/guest/init) loads the
#                             virtio balloon and pvpanic drivers and serves
#                             commands from the host on ttyS0
# VI_GUEST_DIR defaults to /var/cache/virt_inspector-tests/guest. Nothing is
# rebuilt while both outputs exist and are newer than this script and init
# (VI_GUEST_REBUILD=1 forces a build). Needs: apt-get (download only),
# dpkg-deb, busybox-static, cpio, gzip. Prints the directory on success.
# Exit status 1 with a message on stderr when something cannot be had.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${VI_GUEST_DIR:-/var/cache/virt_inspector-tests/guest}
init=$here/init

die() {
  echo "build-guest: $*" >&2
  exit 1
}

uptodate() {
  for f in "$out/vmlinuz" "$out/initrd.gz"; do
    [ -s "$f" ] || return 1
    # shellcheck disable=SC3013 # dash and busybox sh have -nt
    [ "$f" -nt "$0" ] && [ "$f" -nt "$init" ] || return 1
  done
}

if [ "${VI_GUEST_REBUILD:-0}" != 1 ] && uptodate; then
  echo "$out"
  exit 0
fi

# One build at a time (suites may start together); the second one finds
# the first one's outputs.
mkdir -p "$out"
if command -v flock >/dev/null 2>&1 && [ -z "${VI_GUEST_LOCKED:-}" ]; then
  VI_GUEST_LOCKED=1 exec flock "$out/.lock" "$0" "$@"
fi
if [ "${VI_GUEST_REBUILD:-0}" != 1 ] && uptodate; then
  echo "$out"
  exit 0
fi

[ -r "$init" ] || die "missing $init"
busybox=""
for b in /bin/busybox /usr/bin/busybox; do
  [ -x "$b" ] && busybox=$b && break
done
[ -n "$busybox" ] || die "busybox not found (apt-get install busybox-static)"
# The guest has no libc: the busybox must be static.
if LC_ALL=C ldd "$busybox" 2>&1 | grep -q '=>'; then
  die "$busybox is dynamically linked (apt-get install busybox-static)"
fi
for t in cpio gzip dpkg-deb apt-get apt-cache; do
  command -v "$t" >/dev/null || die "$t not found"
done

# The kernel version apt offers: what the cloud meta-package depends on.
kpkg_of_meta() {
  apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[^ ]*-cloud-amd64\)$/\1/p' | head -1
}
kpkg=$(kpkg_of_meta)
if [ -z "$kpkg" ]; then
  apt-get update -qq >/dev/null 2>&1 || true
  kpkg=$(kpkg_of_meta)
fi
[ -n "$kpkg" ] || die "apt offers no linux-image-cloud-amd64 (no Debian cloud kernel to boot the test guest)"

work=$(mktemp -d /tmp/vi-guest-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work" # apt-get download runs as _apt where it can
mkdir "$work/dl"
chmod 0777 "$work/dl"
(cd "$work/dl" && apt-get download -qq "$kpkg" >/dev/null 2>&1) ||
  die "apt-get download $kpkg failed (no kernel package for the test guest)"
deb=$(ls "$work"/dl/*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || die "apt-get download $kpkg produced no .deb"
dpkg-deb -x "$deb" "$work/k"
vmlinuz=$(ls "$work"/k/boot/vmlinuz-* 2>/dev/null | head -1)
[ -n "$vmlinuz" ] || die "$kpkg has no /boot/vmlinuz-*"
kver=${vmlinuz##*/vmlinuz-}
mods=$work/k/lib/modules/$kver
[ -d "$mods" ] || die "$kpkg has no lib/modules/$kver"
config=$work/k/boot/config-$kver

root=$work/root
mkdir -p "$root/bin" "$root/modules" "$root/proc" "$root/sys" "$root/dev" \
  "$root/alloc" "$root/tmp"
cp "$busybox" "$root/bin/busybox"
cp "$init" "$root/init"
chmod 0755 "$root/init" "$root/bin/busybox"

# Modules in load order (dependencies first). A driver built into the kernel
# (=y) needs no module; a missing one that is =m is an error. pvpanic's
# drivers are needed for the crash test (ACPI QEMU0001 isa device: pvpanic-mmio;
# pvpanic-pci for the PCI model).
: >"$root/modules.order"
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev \
  virtio_pci virtio_balloon pvpanic pvpanic-mmio pvpanic-pci; do
  f=$(find "$mods/kernel" \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" \) | head -1)
  if [ -z "$f" ]; then
    # Not a module: fine when built in.
    if grep -q "/$m.ko\$" "$mods/modules.builtin" 2>/dev/null; then
      continue
    fi
    case $m in
    virtio_pci_modern_dev | virtio_pci_legacy_dev | pvpanic | pvpanic-mmio | pvpanic-pci)
      # Not in every kernel version (split out in 5.x); absent is fine.
      continue
      ;;
    esac
    die "$kpkg has no module $m and it is not built in"
  fi
  case $f in
  *.ko.xz) xz -dc "$f" >"$root/modules/$m.ko" ;;
  *.ko.zst) zstd -dqc "$f" >"$root/modules/$m.ko" ;;
  *) cp "$f" "$root/modules/$m.ko" ;;
  esac
  echo "$m" >>"$root/modules.order"
done
grep -qx virtio_balloon "$root/modules.order" ||
  grep -q '^CONFIG_VIRTIO_BALLOON=y' "$config" ||
  die "$kpkg has no virtio_balloon driver"

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) |
  gzip -9 >"$out/initrd.gz.tmp$$"
cp "$vmlinuz" "$out/vmlinuz.tmp$$"
echo "$kpkg $kver" >"$out/kernel-version"
mv "$out/initrd.gz.tmp$$" "$out/initrd.gz"
mv "$out/vmlinuz.tmp$$" "$out/vmlinuz"
echo "build-guest: built $out ($kpkg; modules: $(tr '\n' ' ' <"$root/modules.order"))" >&2
echo "$out"
