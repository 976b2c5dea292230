#!/bin/busybox sh
# /init of the sample initramfs: announce user space on the serial console,
# load the disk drivers, bring up the network in the background, then offer
# a shell on ttyS0 for `amiboot boot --attach`.
/bin/busybox mkdir -p /proc /sys /dev /tmp /etc /sbin /usr/bin /usr/sbin
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
# The root volume's FAT partition (hvm-linux.img's) at /boot, written through:
# a stop cuts the power, and what a provisioner leaves there must already be
# on the volume, where an image made from the instance finds it.
mkdir -p /boot
mount -t vfat -o sync /dev/sda1 /boot 2>/dev/null || rmdir /boot

# The network, in the background so that the shell is not delayed: load the
# driver of the NIC on the PCI bus (ne2k-pci or virtio-net; the load order is
# in /lib/modules/net/NIC.order), wait at most 2 s for eth0, then DHCP.
# Without a NIC, or without a DHCP answer, it prints nothing (log: /tmp/udhcpc.log).
net_up() {
  nic=""
  for d in /sys/bus/pci/devices/*; do
    case "$(cat $d/vendor 2>/dev/null):$(cat $d/device 2>/dev/null)" in
      0x10ec:0x8029) nic=ne2k ;;
      0x1af4:0x1000|0x1af4:0x1041) nic=virtio ;;
    esac
  done
  [ -n "$nic" ] || return 1
  # From here on the console is the shell's (and typed UserData's): kernel
  # messages below warnings, such as the driver's probe lines, go to dmesg only.
  dmesg -n 4
  for m in $(cat /lib/modules/net/$nic.order); do insmod /lib/modules/net/$m.ko 2>/dev/null; done
  i=0; while [ $i -lt 20 ] && [ ! -e /sys/class/net/eth0 ]; do sleep 0.1; i=$((i+1)); done
  [ -e /sys/class/net/eth0 ] || return 1
  ip link set lo up
  udhcpc -i eth0 -n -q -t 3 -T 1 -s /usr/share/udhcpc/default.script >/tmp/udhcpc.log 2>&1 || return 1
  echo "AMIBOOT-NET-READY ip=$(ip -4 -o addr show dev eth0 | sed -n 's/.* inet \([0-9.]*\).*/\1/p') mac=$(cat /sys/class/net/eth0/address)"
}
# A small stand-in for cloud-init (not cloud-init): once the network is up,
# read the instance metadata service at 169.254.169.254 as cloud-init's EC2
# datasource does: an IMDSv2 token (a PUT, sent with nc since busybox wget
# cannot PUT; without a token it falls back to IMDSv1), the hostname, the
# launch key into /root/.ssh/authorized_keys; start dropbear (keys only, as
# root; its host key printed on the console); then run the UserData when it
# is a `#!` script, at every boot, its output on the console and in
# /var/log/user-data.log, and its exit status in AMIBOOT-USER-DATA-DONE rc=N.
cloud_setup() {
  md=http://169.254.169.254/latest
  token=$(printf 'PUT /latest/api/token HTTP/1.0\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token-ttl-seconds: 21600\r\n\r\n' \
    | nc 169.254.169.254 80 2>/dev/null | sed -n '/^\r*$/,$p' | tr -d '\r\n')
  get() {
    if [ -n "$token" ]; then wget -q -O - --header "X-aws-ec2-metadata-token: $token" "$md/$1" 2>/dev/null
    else wget -q -O - "$md/$1" 2>/dev/null; fi
  }
  id=$(get meta-data/instance-id) || return 0
  name=$(get meta-data/local-hostname) && hostname "${name%%.*}"
  mkdir -p /root/.ssh /var/log /etc/dropbear /dev/pts
  mount -t devpts devpts /dev/pts 2>/dev/null
  chmod 700 /root /root/.ssh
  { get meta-data/public-keys/0/openssh-key && echo; } > /root/.ssh/authorized_keys || : > /root/.ssh/authorized_keys
  chmod 600 /root/.ssh/authorized_keys
  # ed25519 and ECDSA host keys (both quick to make in an emulated CPU; RSA is
  # not). dropbear offers RSA host key algorithms even without an RSA key and
  # hangs up on a client that picks one: Go's SSH client (Packer's) prefers
  # ECDSA to RSA, OpenSSH ed25519.
  keys=""
  for t in ed25519 ecdsa; do
    k=/etc/dropbear/dropbear_${t}_host_key
    [ -e $k ] || dropbearkey -t $t -f $k >/dev/null 2>&1
    keys="$keys -r $k"
  done
  # The host keys on the console between cloud-init's markers (for known_hosts).
  echo "-----BEGIN SSH HOST KEY KEYS-----"
  for t in ed25519 ecdsa; do dropbearkey -y -f /etc/dropbear/dropbear_${t}_host_key 2>/dev/null | grep -E '^(ssh|ecdsa)-'; done
  echo "-----END SSH HOST KEY KEYS-----"
  dropbear -s -p 22 $keys -P /tmp/dropbear.pid 2>/dev/null || return 0
  # dropbear binds after it forks: ready means :22 (0016) in LISTEN (0A), at most 5 s.
  i=0; while [ $i -lt 50 ] && ! grep -q ':0016 00000000:0000 0A' /proc/net/tcp; do sleep 0.1; i=$((i+1)); done
  echo "AMIBOOT-SSH-READY instance=$id keys=$(grep -c . /root/.ssh/authorized_keys)"
  if get user-data > /tmp/user-data && [ "$(head -c 2 /tmp/user-data)" = '#!' ]; then
    chmod +x /tmp/user-data
    { (cd / && HOME=/root /tmp/user-data); echo $? > /tmp/user-data.rc; } 2>&1 | tee /var/log/user-data.log
    echo "AMIBOOT-USER-DATA-DONE rc=$(cat /tmp/user-data.rc)"
  fi
}
printf 'root:x:0:0:root:/root:/bin/sh\n' > /etc/passwd
printf 'root:x:0:\n' > /etc/group
printf '/bin/sh\n' > /etc/shells
{ net_up && cloud_setup; } &
while true; do
  setsid cttyhack sh -l
done
