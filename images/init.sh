#!/bin/busybox sh
# /init of the sample initramfs: announce user space on the serial console,
# load the disk drivers, then offer a shell on ttyS0 for `amiboot boot --attach`.
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "AMIBOOT-USERSPACE-READY kernel=$(uname -r) arch=$(uname -m)"
# After the marker, so that boot-time figures do not include the drivers.
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m.ko 2>/dev/null; done
mdev -s 2>/dev/null
# Wait (at most 5 s) for the IDE probe to show the disks.
i=0; while [ $i -lt 50 ] && ! ls /sys/block | grep -q '^sd'; do sleep 0.1; i=$((i+1)); done
echo "AMIBOOT-DISKS-READY $(cd /sys/block && for d in sd*; do [ -e "$d" ] && echo "$d:$(cat $d/size)"; done | tr '\n' ' ')"
while true; do
  setsid cttyhack sh -l
done
