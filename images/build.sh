#!/usr/bin/env bash
# Builds amiboot's sample images from Debian packages; nothing here is committed.
#
#   mbr.img          one boot sector (nasm) that prints a line on COM1 and halts
#   idle.img         the same with -DIDLE: prints the user-space marker and idles (many-instance tests)
#   hvm-linux.img    MBR + FAT16 partition with syslinux, Debian's i386 686 kernel
#                    and a busybox initramfs (disk and NIC drivers, udhcpc: init.sh)
#   pv-linux.img     MBR + ext4 partition with /boot/vmlinuz-*, /boot/initrd.img-*
#                    and /boot/grub/menu.lst, no boot loader (PV-GRUB's job)
#   hvm-x86_64.img   like hvm-linux.img with Debian's amd64 kernel: a test case,
#                    since v86 is a 32-bit CPU and must refuse it
#   provenance.json  packages, versions and sha256 of every input and output
#
# Idempotent: downloads are cached in $OUT/cache and images are rebuilt only
# when this recipe or its inputs change. Host tools are installed with apt-get
# when missing; i386 packages come through a private apt configuration, so
# the system's dpkg architectures are never changed.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${AMIBOOT_IMAGES:-$HERE/build}
CACHE=$OUT/cache
CMDLINE="console=ttyS0 cryptomgr.notests noisapnp mitigations=off nokaslr tsc=reliable edd=off"

LOG_TAG=images
# shellcheck source=lib.sh
. "$HERE/lib.sh"

# --- host tools ---------------------------------------------------------------
need_tools() {
  local missing=()
  command -v nasm >/dev/null || missing+=(nasm)
  [ -f /usr/share/seabios/bios-256k.bin ] || missing+=(seabios)
  command -v syslinux >/dev/null || missing+=(syslinux)
  [ -f /usr/lib/syslinux/mbr/mbr.bin ] || missing+=(syslinux-common)
  command -v mcopy >/dev/null || missing+=(mtools)
  command -v mkfs.fat >/dev/null || missing+=(dosfstools)
  command -v mke2fs >/dev/null || missing+=(e2fsprogs)
  command -v sfdisk >/dev/null || missing+=(fdisk)
  command -v cpio >/dev/null || missing+=(cpio)
  command -v xz >/dev/null || missing+=(xz-utils)
  command -v readelf >/dev/null || missing+=(binutils)
  apt_install_host "${missing[@]}"
}

# --- guest packages through a private apt configuration -------------------------
# apt_private ARCH ARGS...: apt-get with its own lists, cache and dpkg status.
apt_private() {
  local arch=$1; shift
  local root=$CACHE/apt-$arch
  mkdir -p "$root/lists/partial" "$root/archives/partial" "$root/debs"
  [ -f "$root/status" ] || : > "$root/status"
  apt-get -q -o "APT::Architecture=$arch" -o "APT::Architectures=$arch" \
    -o "Dir::State::Lists=$root/lists" -o "Dir::Cache=$root" \
    -o "Dir::Cache::archives=$root/archives" -o "Dir::State::status=$root/status" \
    -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1" "$@"
}

apt_cache_private() {
  local arch=$1; shift
  local root=$CACHE/apt-$arch
  apt-cache -o "APT::Architecture=$arch" -o "APT::Architectures=$arch" \
    -o "Dir::State::Lists=$root/lists" -o "Dir::Cache=$root" \
    -o "Dir::State::status=$root/status" "$@"
}

# update_index ARCH: the private package index, once (cached).
update_index() {
  local root=$CACHE/apt-$1
  mkdir -p "$root/debs"
  [ -f "$root/updated" ] && return 0
  log "updating the private $1 package index"
  # The security suite's index may fail for i386; main is enough.
  apt_private "$1" update >"$root/update.log" 2>&1 || log "apt-get update ($1) reported errors (see $root/update.log); continuing"
  touch "$root/updated"
}

# fetch_debs ARCH PACKAGE...: download into $CACHE/apt-ARCH/debs (cached).
fetch_debs() {
  local arch=$1; shift
  update_index "$arch"
  (cd "$CACHE/apt-$arch/debs" && for p in "$@"; do
     ls "${p}"_*.deb >/dev/null 2>&1 && continue
     log "downloading $p ($arch)"
     apt_private "$arch" download "$p" >/dev/null || die "apt-get download $p ($arch) failed"
   done)
}

# newest_kernel ARCH FLAVOUR: the newest linux-image-6.1.0-N-FLAVOUR-unsigned.
newest_kernel() {
  update_index "$1"
  apt_cache_private "$1" pkgnames linux-image-6.1.0- \
    | grep -E "^linux-image-6\.1\.0-[0-9]+-$2-unsigned\$" | sort -V | tail -n 1
}

deb_of() { ls "$CACHE/apt-$1/debs/$2"_*.deb | sort -V | tail -n 1; }

# extract_kernel DEB DEST: only ./boot/vmlinuz-* (the package is mostly modules).
extract_kernel() {
  local tmp; tmp=$(mktemp -d)
  dpkg-deb --fsys-tarfile "$1" | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*'
  mv "$tmp"/boot/vmlinuz-* "$2"
  rm -rf "$tmp"
}

# The guest's disk drivers, in load order (dependencies first): libata's PIIX
# driver for v86's IDE controller and the SCSI disk driver, so that guests see
# their volumes as /dev/sda, /dev/sdb.
# Then FAT (vfat, codepage 437, ascii names: the kernel's defaults), so that
# /init can mount the boot partition at /boot: the one place a provisioner
# (Packer's, a user's UserData) can leave files that an image made from the
# instance keeps.
DISK_MODULES="crypto/crct10dif_common crypto/crct10dif_generic lib/crc-t10dif lib/crc64 crypto/crc64_rocksoft_generic lib/crc64-rocksoft block/t10-pi drivers/scsi/scsi_common drivers/scsi/scsi_mod drivers/scsi/sd_mod drivers/ata/libata drivers/ata/ata_piix fs/fat/fat fs/fat/vfat fs/nls/nls_cp437 fs/nls/nls_ascii"
# The NIC drivers v86 emulates, each in load order (from each module's .modinfo depends=).
NE2K_MODULES="drivers/net/ethernet/8390/8390 drivers/net/ethernet/8390/ne2k-pci"
VIRTIO_NET_MODULES="drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci net/core/failover drivers/net/net_failover drivers/net/virtio_net"

# extract_modules DEB DEST: the modules above from the kernel package, below DEST/lib/modules/*/kernel.
extract_modules() {
  local m paths=()
  for m in $DISK_MODULES $NE2K_MODULES $VIRTIO_NET_MODULES; do paths+=("./lib/modules/*/kernel/$m.ko"); done
  dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards "${paths[@]}"
}

# install_modules FROM DEST ORDER MODULE...: the modules flat in DEST, their load order in DEST/ORDER.
install_modules() {
  local from=$1 dest=$2 order=$3 m; shift 3
  mkdir -p "$dest"; : > "$dest/$order"
  for m in "$@"; do
    cp "$from"/lib/modules/*/kernel/"$m".ko "$dest/"
    basename "$m" >> "$dest/$order"
  done
}

# Debian's dropbear (the SSH server of the sample images), OpenSSH's scp (the
# remote end of `scp -t`, which Packer's SSH communicator uploads through) and
# the packages holding the shared libraries they reach; only the files they
# need go into the initramfs (found from ELF NEEDED entries), not whole packages.
SSH_DEBS="dropbear-bin openssh-client libc6 libcrypt1 libtomcrypt1 libtommath1 libgmp10 zlib1g"

elf_needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }
elf_interp() { readelf -l "$1" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p'; }

# install_libraries PKGROOT ROOTFS FILE...: the libraries FILEs need, and
# theirs, from PKGROOT's multiarch dirs into ROOTFS/lib (the loader's own
# search path: no ld.so.cache needed), and the loader at its own path.
install_libraries() {
  local pkg=$1 rd=$2 lib found d seen=" "; shift 2
  local todo=("$@")
  while [ ${#todo[@]} -gt 0 ]; do
    for lib in $(elf_needed "${todo[0]}"); do
      case "$seen" in *" $lib "*) continue ;; esac
      seen="$seen$lib "
      found=""
      for d in lib/i386-linux-gnu usr/lib/i386-linux-gnu; do [ -e "$pkg/$d/$lib" ] && found=$pkg/$d/$lib && break; done
      [ -n "$found" ] || die "$lib (needed by $(basename "${todo[0]}")) is in none of the packages $SSH_DEBS"
      cp -L "$found" "$rd/lib/$lib"
      todo+=("$rd/lib/$lib")
    done
    todo=("${todo[@]:1}")
  done
  local interp; interp=$(elf_interp "$1")
  [ -n "$interp" ] || die "$(basename "$1") names no program interpreter"
  install -D -m 0755 "$(readlink -f "$pkg$interp")" "$rd$interp"
}

# install_ssh ROOTFS: dropbear, dropbearkey, scp and their libraries.
install_ssh() {
  local rd=$1 tmp p
  tmp=$(mktemp -d)
  for p in $SSH_DEBS; do dpkg-deb -x "$(deb_of i386 "$p")" "$tmp"; done
  mkdir -p "$rd/lib" "$rd/usr/sbin" "$rd/usr/bin" "$rd/etc/dropbear"
  cp "$tmp/usr/sbin/dropbear" "$rd/usr/sbin/dropbear"
  cp "$tmp/usr/bin/dropbearkey" "$rd/usr/bin/dropbearkey"
  cp "$tmp/usr/bin/scp" "$rd/usr/bin/scp"
  install_libraries "$tmp" "$rd" "$rd/usr/sbin/dropbear" "$rd/usr/bin/dropbearkey" "$rd/usr/bin/scp"
  rm -rf "$tmp"
}

# --- images ---------------------------------------------------------------------
build_initramfs() {
  local busybox_deb=$1 kernel_deb=$2 dest=$3 root
  root=$(mktemp -d)
  dpkg-deb -x "$busybox_deb" "$root/pkg"
  mkdir -p "$root/rd/bin" "$root/rd/dev" "$root/rd/proc" "$root/rd/sys" "$root/rd/root"
  cp "$root/pkg/bin/busybox" "$root/rd/bin/busybox"
  mkdir -p "$root/kernel"
  extract_modules "$kernel_deb" "$root/kernel"
  install_modules "$root/kernel" "$root/rd/lib/modules" order $DISK_MODULES
  install_modules "$root/kernel" "$root/rd/lib/modules/net" ne2k.order $NE2K_MODULES
  install_modules "$root/kernel" "$root/rd/lib/modules/net" virtio.order $VIRTIO_NET_MODULES
  install_ssh "$root/rd"
  install -m 0755 "$HERE/init.sh" "$root/rd/init"
  install -D -m 0755 "$HERE/udhcpc.script" "$root/rd/usr/share/udhcpc/default.script"
  if mknod "$root/rd/dev/console" c 5 1 2>/dev/null && mknod "$root/rd/dev/ttyS0" c 4 64 2>/dev/null; then :; else
    # Without root: the kernel's built-in initramfs already holds /dev/console.
    log "mknod not permitted: /dev nodes left to the kernel's built-in initramfs and devtmpfs"
  fi
  (cd "$root/rd" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner 0:0 --quiet) | gzip -9n > "$dest"
  rm -rf "$root"
}

# disk_with_partition PART DISK TYPE: an MBR disk with PART at sector 2048.
disk_with_partition() {
  local part=$1 disk=$2 type=$3 size
  size=$(stat -c %s "$part")
  truncate -s 0 "$disk"
  truncate -s $((1048576 + size)) "$disk"
  printf 'label: dos\nunit: sectors\nstart=2048, size=%d, type=%s, bootable\n' $((size / 512)) "$type" \
    | sfdisk --quiet "$disk"
  dd if="$part" of="$disk" bs=1M seek=1 conv=notrunc status=none
}

build_hvm_disk() {
  local kernel=$1 initrd=$2 disk=$3 tmp
  tmp=$(mktemp -d)
  cat > "$tmp/syslinux.cfg" <<CFG
SERIAL 0 115200
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND $CMDLINE
CFG
  # FAT16, hidden sectors = the partition's start so syslinux finds itself.
  mkfs.fat -F 16 -h 2048 -n AMIBOOT -C "$tmp/part.img" 32768 >/dev/null
  mcopy -i "$tmp/part.img" "$kernel" ::/vmlinuz
  mcopy -i "$tmp/part.img" "$initrd" ::/initrd.img
  mcopy -i "$tmp/part.img" "$tmp/syslinux.cfg" ::/syslinux.cfg
  syslinux --install "$tmp/part.img"
  disk_with_partition "$tmp/part.img" "$disk.tmp" 6
  dd if=/usr/lib/syslinux/mbr/mbr.bin of="$disk.tmp" bs=440 count=1 conv=notrunc status=none
  mv "$disk.tmp" "$disk"
  rm -rf "$tmp"
}

build_pv_disk() {
  local kernel=$1 initrd=$2 version=$3 disk=$4 tmp
  tmp=$(mktemp -d)
  mkdir -p "$tmp/root/boot/grub"
  cp "$kernel" "$tmp/root/boot/vmlinuz-$version"
  cp "$initrd" "$tmp/root/boot/initrd.img-$version"
  cat > "$tmp/root/boot/grub/menu.lst" <<MENU
# PV-GRUB menu of amiboot's sample PV image
default 0
fallback 1
timeout 0
hiddenmenu

title Debian GNU/Linux, kernel $version
root (hd0,0)
kernel /boot/vmlinuz-$version root=/dev/xvda1 $CMDLINE
initrd /boot/initrd.img-$version

title Debian GNU/Linux, kernel $version (fallback)
root (hd0,0)
kernel /boot/vmlinuz-$version root=/dev/xvda1 $CMDLINE
initrd /boot/initrd.img-$version
MENU
  mke2fs -q -t ext4 -L amiboot-pv -E root_owner=0:0 -d "$tmp/root" "$tmp/part.img" 32M >/dev/null
  disk_with_partition "$tmp/part.img" "$disk.tmp" 83
  mv "$disk.tmp" "$disk"
  rm -rf "$tmp"
}

deb_json() {
  printf '{"package":"%s","version":"%s","architecture":"%s","file":"%s","sha256":"%s"}' \
    "$(dpkg-deb -f "$1" Package)" "$(dpkg-deb -f "$1" Version)" "$(dpkg-deb -f "$1" Architecture)" \
    "$(basename "$1")" "$(sha "$1")"
}
host_json() {
  printf '{"package":"%s","version":"%s","file":"%s","sha256":"%s"}' \
    "$1" "$(dpkg-query -W -f='${Version}' "$1")" "$2" "$(sha "$2")"
}

main() {
  mkdir -p "$OUT" "$CACHE"
  local recipe; recipe=$(recipe_hash "$0" "$HERE/lib.sh" "$HERE/mbr.asm" "$HERE/init.sh" "$HERE/udhcpc.script")
  if up_to_date "$OUT" .recipe "$recipe" mbr.img idle.img hvm-linux.img pv-linux.img hvm-x86_64.img \
      vmlinuz-i386 vmlinuz-amd64 initrd.img provenance.json; then
    log "up to date in $OUT"
    return 0
  fi
  need_tools

  log "mbr.img"
  nasm -f bin -o "$OUT/mbr.img" "$HERE/mbr.asm"
  log "idle.img"
  nasm -f bin -DIDLE -o "$OUT/idle.img" "$HERE/mbr.asm"

  fetch_debs i386 busybox-static $SSH_DEBS
  local k386; k386=$(newest_kernel i386 686)
  [ -n "$k386" ] || die "no linux-image-6.1.0-*-686-unsigned in the i386 index (see $CACHE/apt-i386/update.log)"
  fetch_debs i386 "$k386"
  local k64; k64=$(newest_kernel amd64 amd64)
  [ -n "$k64" ] || die "no linux-image-6.1.0-*-amd64-unsigned in the amd64 index"
  fetch_debs amd64 "$k64"

  local work=$OUT/work
  rm -rf "$work"; mkdir -p "$work"
  local busybox_deb kdeb386 kdeb64
  busybox_deb=$(deb_of i386 busybox-static)
  kdeb386=$(deb_of i386 "$k386")
  kdeb64=$(deb_of amd64 "$k64")
  local version=${k386#linux-image-}; version=${version%-unsigned}

  log "kernel $version, initramfs"
  extract_kernel "$kdeb386" "$work/vmlinuz-i386"
  extract_kernel "$kdeb64" "$work/vmlinuz-amd64"
  build_initramfs "$busybox_deb" "$kdeb386" "$work/initrd.img"

  log "hvm-linux.img"
  build_hvm_disk "$work/vmlinuz-i386" "$work/initrd.img" "$OUT/hvm-linux.img"
  log "hvm-x86_64.img"
  build_hvm_disk "$work/vmlinuz-amd64" "$work/initrd.img" "$OUT/hvm-x86_64.img"
  log "pv-linux.img"
  build_pv_disk "$work/vmlinuz-i386" "$work/initrd.img" "$version" "$OUT/pv-linux.img"
  # The bare kernels and initrd stay: benchmarks against QEMU's direct boot, guestfs tests.
  mv "$work/vmlinuz-i386" "$OUT/vmlinuz-i386"
  mv "$work/vmlinuz-amd64" "$OUT/vmlinuz-amd64"
  mv "$work/initrd.img" "$OUT/initrd.img"
  rm -rf "$work"

  {
    printf '{\n  "built": "%s",\n  "cmdline": "%s",\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$CMDLINE"
    printf '  "packages": [%s,\n    %s,\n    %s' "$(deb_json "$busybox_deb")" "$(deb_json "$kdeb386")" "$(deb_json "$kdeb64")"
    for p in $SSH_DEBS; do printf ',\n    %s' "$(deb_json "$(deb_of i386 "$p")")"; done
    printf '],\n'
    printf '  "host": [%s,\n    %s,\n    %s],\n' \
      "$(host_json seabios /usr/share/seabios/bios-256k.bin)" \
      "$(host_json syslinux-common /usr/lib/syslinux/mbr/mbr.bin)" \
      "$(host_json nasm "$(command -v nasm)")"
    printf '  "outputs": [%s' "$(file_json "$OUT/mbr.img"), $(file_json "$OUT/idle.img")"
    for f in hvm-linux.img pv-linux.img hvm-x86_64.img vmlinuz-i386 vmlinuz-amd64 initrd.img; do
      printf ',\n    %s' "$(file_json "$OUT/$f")"
    done
    printf ']\n}\n'
  } > "$OUT/provenance.json.tmp"
  mv "$OUT/provenance.json.tmp" "$OUT/provenance.json"
  echo "$recipe" > "$OUT/.recipe"
  log "done: $OUT"
}

main "$@"
