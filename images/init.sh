#!/bin/busybox sh
# /init of the sample initramfs: announce user space on the serial console,
# then offer a shell on ttyS0 for `amiboot boot --attach`.
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "AMIBOOT-USERSPACE-READY kernel=$(uname -r) arch=$(uname -m)"
while true; do
  setsid cttyhack sh -l
done
