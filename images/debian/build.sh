#!/usr/bin/env bash
# Builds a real Debian 12 i386 cloud image from Debian's packages (optional; `npm run images:debian`):
#
#   debian-12-i386.img         2 GiB sparse MBR disk: one ext4 partition (the root), GRUB 2 (grub-pc)
#                              in the MBR, linux-image-686, systemd, openssh-server, cloud-init with
#                              the Ec2 datasource, ifupdown + isc-dhcp-client, a serial console
#   debian-12-i386-pv.img      the same root filesystem with /boot/grub/menu.lst and no boot loader
#                              (for PV-GRUB, `amiboot boot --mode pv`)
#   debian-12-provenance.json  every installed package and version, and the sha256 of the outputs
#
# Building needs root: mmdebstrap's root mode (package scripts run in a chroot) and a loop device
# plus a mount for grub-install. Booting the images in amiboot never does.
# Idempotent: the images are rebuilt only when this recipe changes. The .debs are kept outside the
# checkout, in $AMIBOOT_DEB_CACHE (default ~/.cache/amiboot/debian-i386), as npm keeps ~/.npm: a
# new clone on the same machine builds from them instead of downloading 200 MB again.
# The host's dpkg architectures are never changed (mmdebstrap --architectures).
#
# Not root: re-run with sudo when sudo needs no password, else stop with the reason; with
# --optional (as `npm test` calls it) that reason is printed and the build skipped (exit 0), and
# the tests of this image are skipped.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
IMAGES=$(dirname "$HERE")
OUT=${AMIBOOT_IMAGES:-$IMAGES/build}
DEBS=${AMIBOOT_DEB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/amiboot/debian-i386}
# The images this recipe built last, kept by the recipe's hash: a new clone on this machine copies
# them (sparse) instead of building again, which takes about 11 minutes where i386 programs run
# through qemu-user. Any change to the recipe builds anew.
BUILT=${AMIBOOT_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/amiboot/debian-images}
LOG_TAG="images:debian"
# shellcheck source=../lib.sh
. "$IMAGES/lib.sh"

SUITE=bookworm
MIRROR=http://deb.debian.org/debian
SIZE=2G
# build.sh's emulation-tuned kernel command line, plus classic NIC names (eth0), as Debian's cloud images use.
CMDLINE="console=ttyS0 cryptomgr.notests noisapnp mitigations=off nokaslr tsc=reliable edd=off net.ifnames=0"
PACKAGES="systemd-sysv,udev,kmod,initramfs-tools,linux-image-686,grub-pc,openssh-server,cloud-init,ifupdown,isc-dhcp-client,iproute2,netbase,sudo,procps"
# Units that only wait or do periodic housekeeping: masked so that a boot under emulation spends
# its time on what a user tests (systemd, cloud-init's four stages, sshd).
MASK="systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer"
# The initramfs holds only the disk drivers of the machines this image may meet (v86's and QEMU's IDE,
# virtio, NVMe, Xen) instead of MODULES=most: under emulation, udev spent about 90 s of the boot
# loading drivers from the initramfs for devices that do not matter before the root is mounted.
INITRAMFS_DISK_MODULES="ata_piix ata_generic sd_mod virtio_pci virtio_blk virtio_scsi nvme xen-blkfront"
OUTPUTS=(debian-12-i386.img debian-12-i386-pv.img debian-12-provenance.json)

WORK=""
LOOP=""
cleanup() {
  [ -n "$WORK" ] || return 0
  local m
  for m in dev/pts dev proc sys ""; do mountpoint -q "$WORK/mnt/$m" 2>/dev/null && umount -l "$WORK/mnt/$m"; done
  [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
  rm -rf "$WORK"
}

need_tools() {
  local missing=()
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  command -v arch-test >/dev/null || missing+=(arch-test)  # mmdebstrap needs it for a foreign architecture
  command -v mke2fs >/dev/null || missing+=(e2fsprogs)
  command -v sfdisk >/dev/null || missing+=(fdisk)
  command -v partx >/dev/null || missing+=(util-linux)
  apt_install_host "${missing[@]}"
}

# i386_runs: the package scripts are i386 programs run in a chroot. A kernel without 32-bit
# support (seen on a machine whose x86_64 kernel answers "Exec format error") runs them through
# qemu-user: its static i386 emulator, registered with binfmt_misc (flag F: the kernel opens the
# emulator here, so it works inside the chroot too). Registrations are the kernel's until reboot.
I386_BINFMT=':qemu-i386:M::\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00:\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-i386-static:F'
i386_runs() {
  arch-test i386 >/dev/null 2>&1 && return 0
  log "this kernel does not run i386 programs: running them through qemu-user (qemu-i386-static, binfmt_misc)"
  command -v qemu-i386-static >/dev/null || apt_install_host qemu-user-static
  local misc=/proc/sys/fs/binfmt_misc
  [ -e "$misc/register" ] || mount -t binfmt_misc binfmt_misc "$misc" || die "cannot mount binfmt_misc at $misc"
  [ -e "$misc/qemu-i386" ] || printf '%s' "$I386_BINFMT" > "$misc/register" || die "cannot register qemu-i386-static with binfmt_misc"
  arch-test i386 >/dev/null 2>&1 || die "i386 programs do not run here, even through qemu-user: $(arch-test i386 2>&1)"
}

# rootfs DIR: Debian 12 i386 in DIR, configured for amiboot; the .debs are synced with $DEBS.
rootfs() {
  local dir=$1
  mkdir -p "$DEBS"
  log "mmdebstrap $SUITE i386 (packages cached in $DEBS)"
  initramfs_config "$WORK/initramfs-tools"
  mmdebstrap --mode=root --format=directory --architectures=i386 --variant=minbase \
    --include="$PACKAGES" --aptopt='Acquire::Languages "none"' \
    --skip=essential/unlink --skip=download/empty \
    --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
    --setup-hook="sync-in $DEBS /var/cache/apt/archives/" \
    --essential-hook='mkdir -p "$1"/etc/initramfs-tools' \
    --essential-hook="sync-in $WORK/initramfs-tools /etc/initramfs-tools" \
    --customize-hook="sync-out /var/cache/apt/archives $DEBS" \
    "$SUITE" "$dir" \
    "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
    "deb http://deb.debian.org/debian-security $SUITE-security main" \
    >"$WORK/mmdebstrap.log" 2>&1 || { tail -n 30 "$WORK/mmdebstrap.log" >&2; die "mmdebstrap failed"; }

  install -m 0644 "$HERE/99_amiboot.cfg" "$dir/etc/cloud/cloud.cfg.d/99_amiboot.cfg"
  echo debian > "$dir/etc/hostname"
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$dir/etc/hosts"
  # cloud-init writes the DHCP configuration of eth0 (its fallback or IMDS's) into interfaces.d.
  printf 'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n' > "$dir/etc/network/interfaces"
  cat > "$dir/etc/default/grub" <<GRUB
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_TIMEOUT_STYLE=hidden
GRUB_DISTRIBUTOR="Debian"
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="$CMDLINE"
GRUB_TERMINAL="serial console"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
GRUB
  # v86 always has an ne2k NIC, so eth0 exists even when no network is attached: bound dhclient's
  # wait for a lease (60 s by default, far longer in guest time under emulation) so the boot goes on.
  sed -i 's/^#\?timeout .*/timeout 15;/' "$dir/etc/dhcp/dhclient.conf"
  grep -q '^timeout 15;' "$dir/etc/dhcp/dhclient.conf" || echo 'timeout 15;' >> "$dir/etc/dhcp/dhclient.conf"
  # Host keys are made per instance by cloud-init (before sshd starts), never shared by all images.
  rm -f "$dir"/etc/ssh/ssh_host_*
  : > "$dir/etc/machine-id"
  local u
  for u in $MASK; do ln -sf /dev/null "$dir/etc/systemd/system/$u"; done
  # systemd's getty generator starts it from console=ttyS0 too; explicit, so it also runs without.
  ln -sf /lib/systemd/system/serial-getty@.service "$dir/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service"
  [ -n "$(ls "$dir"/boot/vmlinuz-* 2>/dev/null)" ] || die "no kernel in the root filesystem"
  small_initramfs "$dir"
}

# initramfs_config DIR: initramfs-tools' configuration, in DIR, for the chroot's /etc/initramfs-tools:
# MODULES=list, and a hook that adds the disk drivers (loaded by udev when their hardware is there).
# It is in place before the kernel's package makes its initramfs: with MODULES=most, that first
# initramfs copied every module, one emulated process each where i386 runs through qemu-user
# (over 10 minutes).
initramfs_config() {
  local dir=$1
  mkdir -p "$dir/conf.d" "$dir/hooks"
  echo MODULES=list > "$dir/conf.d/amiboot.conf"
  cat > "$dir/hooks/amiboot-disks" <<HOOK
#!/bin/sh
# amiboot: the disk drivers an instance's root may need (see /etc/initramfs-tools/conf.d/amiboot.conf).
[ "\$1" = prereqs ] && exit 0
. /usr/share/initramfs-tools/hook-functions
manual_add_modules $INITRAMFS_DISK_MODULES
HOOK
  chmod 0755 "$dir/hooks/amiboot-disks"
}

# small_initramfs DIR: the root's filesystem modules (loaded by name; `modules` is the package's
# conffile, so it is added to once the package is in), then the initramfs again.
small_initramfs() {
  local dir=$1
  printf 'crc32c_generic\next4\n' >> "$dir/etc/initramfs-tools/modules"
  mount -t proc proc "$dir/proc"
  chroot "$dir" update-initramfs -u -k all >"$WORK/initramfs.log" 2>&1 || { umount "$dir/proc"; cat "$WORK/initramfs.log" >&2; die "update-initramfs failed"; }
  umount "$dir/proc"
}

# root_fs DIR DISK UUID: an MBR disk of $SIZE (sparse) whose partition 1 (from 1 MiB) is DIR as ext4.
root_fs() {
  local dir=$1 disk=$2 uuid=$3 bytes
  printf 'UUID=%s\t/\text4\terrors=remount-ro\t0\t1\n' "$uuid" > "$dir/etc/fstab"
  rm -f "$disk"; truncate -s "$SIZE" "$disk"
  printf 'label: dos\nunit: sectors\nstart=2048, type=83, bootable\n' | sfdisk --quiet "$disk"
  bytes=$(( $(stat -c %s "$disk") - 1048576 ))
  # Written at the partition's offset, straight into the sparse disk: no loop device needed.
  mke2fs -q -t ext4 -L debian-root -U "$uuid" -E offset=1048576,root_owner=0:0 -d "$dir" \
    "$disk" "$((bytes / 1024))k" >/dev/null
}

kernel_version() { basename "$(ls "$1"/boot/vmlinuz-* | sort -V | tail -n 1)" | sed 's/^vmlinuz-//'; }

build_pv() {
  local dir=$1 disk=$2 uuid version
  uuid=$(cat /proc/sys/kernel/random/uuid)
  version=$(kernel_version "$dir")
  mkdir -p "$dir/boot/grub"
  cat > "$dir/boot/grub/menu.lst" <<MENU
# PV-GRUB menu of amiboot's Debian 12 i386 PV image (root by UUID: /dev/xvda1 or /dev/sda1 alike)
default 0
timeout 0
hiddenmenu

title Debian GNU/Linux 12, kernel $version
root (hd0,0)
kernel /boot/vmlinuz-$version root=UUID=$uuid ro $CMDLINE
initrd /boot/initrd.img-$version
MENU
  root_fs "$dir" "$disk" "$uuid"
  rm -f "$dir/boot/grub/menu.lst"
}

# dev_node NAME: a device node in the chroot's private /dev, numbered as the host's.
dev_node() { local mm; mm=$(cat "/sys/class/block/$1/dev"); mknod "$WORK/mnt/dev/$1" b "${mm%:*}" "${mm#*:}"; }

build_hvm() {
  local dir=$1 disk=$2 uuid part i
  uuid=$(cat /proc/sys/kernel/random/uuid)
  root_fs "$dir" "$disk" "$uuid"
  log "grub-install --target=i386-pc on a loop device"
  LOOP=$(losetup --show -f -P "$disk")
  part=$(basename "$LOOP")p1
  i=0; while [ ! -e "/sys/class/block/$part" ] && [ $i -lt 20 ]; do partx -a "$LOOP" 2>/dev/null || true; sleep 0.1; i=$((i + 1)); done
  [ -e "/sys/class/block/$part" ] || die "the kernel shows no partition on $LOOP"
  mkdir -p "$WORK/mnt"
  mount "/dev/$part" "$WORK/mnt"
  # A private /dev (no udev here): the disk, its partition, and the by-uuid link update-grub looks for.
  mount -t tmpfs -o mode=0755 tmpfs "$WORK/mnt/dev"
  dev_node "$(basename "$LOOP")"; dev_node "$part"
  mknod -m 666 "$WORK/mnt/dev/null" c 1 3; mknod -m 666 "$WORK/mnt/dev/zero" c 1 5; mknod -m 666 "$WORK/mnt/dev/urandom" c 1 9
  mkdir -p "$WORK/mnt/dev/disk/by-uuid"; ln -s "../../$part" "$WORK/mnt/dev/disk/by-uuid/$uuid"
  mount -t proc proc "$WORK/mnt/proc"
  mount -t sysfs sysfs "$WORK/mnt/sys"
  chroot "$WORK/mnt" grub-install --target=i386-pc --no-floppy "$LOOP" >"$WORK/grub.log" 2>&1 \
    || { cat "$WORK/grub.log" >&2; die "grub-install failed"; }
  chroot "$WORK/mnt" update-grub >>"$WORK/grub.log" 2>&1 || { cat "$WORK/grub.log" >&2; die "update-grub failed"; }
  grep -q "root=UUID=$uuid" "$WORK/mnt/boot/grub/grub.cfg" || die "grub.cfg does not name the root by UUID"
  umount "$WORK/mnt/sys" "$WORK/mnt/proc" "$WORK/mnt/dev" "$WORK/mnt"
  losetup -d "$LOOP"; LOOP=""
}

# from_cache RECIPE: the outputs, copied from the build cache when it holds this recipe's.
from_cache() {
  local dir="$BUILT/$1" f
  [ -f "$dir/.complete" ] || return 1
  mkdir -p "$OUT"
  for f in "${OUTPUTS[@]}"; do cp --sparse=always "$dir/$f" "$OUT/$f.tmp" && mv "$OUT/$f.tmp" "$OUT/$f" || return 1; done
  echo "$1" > "$OUT/.recipe-debian"
}

# to_cache RECIPE: keeps the outputs in the build cache (this recipe's only; older ones go).
to_cache() {
  local dir="$BUILT/$1" f
  rm -rf "$BUILT" && mkdir -p "$dir" || { log "could not keep the images in $BUILT (building again next time)"; return 0; }
  for f in "${OUTPUTS[@]}"; do cp --sparse=always "$OUT/$f" "$dir/$f" || { rm -rf "$BUILT"; return 0; }; done
  touch "$dir/.complete"
}

provenance() {
  local dir=$1 dest=$2 first=1 pkg ver arch deb
  {
    printf '{\n  "built": "%s",\n  "suite": "%s",\n  "cmdline": "%s",\n  "packages": [' \
      "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$SUITE" "$CMDLINE"
    while read -r pkg ver arch; do
      deb=$(ls "$DEBS/${pkg}_"*"_$arch.deb" 2>/dev/null | sort -V | tail -n 1 || true)
      [ $first -eq 1 ] || printf ','
      first=0
      printf '\n    {"package":"%s","version":"%s","architecture":"%s","sha256":"%s"}' \
        "$pkg" "$ver" "$arch" "$([ -n "$deb" ] && sha "$deb")"
    done < <(chroot "$dir" dpkg-query -W -f='${Package} ${Version} ${Architecture}\n' | sort)
    printf '],\n  "outputs": [%s,\n    %s]\n}\n' "$(file_json "$OUT/${OUTPUTS[0]}")" "$(file_json "$OUT/${OUTPUTS[1]}")"
  } > "$dest"
}

main() {
  local optional=0
  [ "${1:-}" = "--optional" ] && optional=1
  local recipe; recipe=$(recipe_hash "$0" "$HERE/99_amiboot.cfg" "$IMAGES/lib.sh")
  if up_to_date "$OUT" .recipe-debian "$recipe" "${OUTPUTS[@]}"; then
    log "up to date in $OUT"
    return 0
  fi
  if from_cache "$recipe"; then
    log "copied from the build cache $BUILT/$recipe (this recipe's images, as built on $(grep -o '"built": "[^"]*"' "$OUT/${OUTPUTS[2]}" | cut -d'"' -f4); provenance in ${OUTPUTS[2]})"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      exec sudo -n AMIBOOT_IMAGES="$OUT" AMIBOOT_DEB_CACHE="$DEBS" bash "$0" "$@"
    fi
    local why="building the Debian image needs root (mmdebstrap --mode=root, a loop device and a mount for grub-install): run 'npm run images:debian' as root or with sudo. Booting it in amiboot needs no root."
    if [ $optional -eq 1 ]; then
      log "skipped: $why Its tests are skipped."
      return 0
    fi
    die "$why"
  fi
  need_tools
  i386_runs
  local started=$SECONDS
  mkdir -p "$OUT"
  WORK=$(mktemp -d "$OUT/work-debian.XXXXXX")
  trap cleanup EXIT
  rootfs "$WORK/root"
  log "debian-12-i386-pv.img"
  build_pv "$WORK/root" "$WORK/${OUTPUTS[1]}"
  log "debian-12-i386.img"
  build_hvm "$WORK/root" "$WORK/${OUTPUTS[0]}"
  mv "$WORK/${OUTPUTS[0]}" "$WORK/${OUTPUTS[1]}" "$OUT/"
  provenance "$WORK/root" "$WORK/provenance.json"
  mv "$WORK/provenance.json" "$OUT/${OUTPUTS[2]}"
  echo "$recipe" > "$OUT/.recipe-debian"
  to_cache "$recipe"
  log "done in $((SECONDS - started)) s: $OUT/${OUTPUTS[0]} ($(du -h "$OUT/${OUTPUTS[0]}" | cut -f1) allocated), ${OUTPUTS[1]}, ${OUTPUTS[2]}"
}

main "$@"
