#!/bin/busybox sh
# shellcheck shell=sh
#
# /init of the secure-rdma test VM (runs from the initramfs built by vm-run.sh,
# under busybox sh).  It mounts the host's root filesystem read-only over 9p,
# mounts the per-run work share read-write at /tmp/vmwork inside it, chroots
# into it to run the harness's guest script (prelude + command), writes that
# script's exit status to the work share and powers the VM off.  A VM of a
# pair (vm-run.sh --pair) finds its role on the kernel command line
# (srdma.role=a or b): its own files are then in vm-<role>/ of the work share.

export PATH=/bin
NEWROOT=/newroot
WORK=$NEWROOT/tmp/vmwork
VMDIR=$WORK
ROLE=
NINEP_OPTS=trans=virtio,version=9p2000.L,msize=524288

log() { echo "vm-init: $*"; }

die() {
    echo "vm-init: FATAL: $*"
    if [ -d "$VMDIR/.vm" ]; then
        echo "$*" >"$VMDIR/.vm/init-failed"
    fi
    sync
    poweroff -f
    sleep 10
    exit 1
}

mount -t proc proc /proc || die "mount /proc"
read -r cmdline </proc/cmdline
for word in $cmdline; do
    case $word in
        srdma.role=*) ROLE=${word#srdma.role=}; VMDIR=$WORK/vm-$ROLE ;;
    esac
done
mount -t sysfs sysfs /sys || die "mount /sys"
mount -t devtmpfs devtmpfs /dev || die "mount /dev"
# The initramfs has no /dev/console node: attach to it now that devtmpfs is up.
exec </dev/console >/dev/console 2>&1

while read -r mod; do
    [ -n "$mod" ] || continue
    insmod "/lib/modules/$mod.ko" || die "insmod $mod"
done </etc/vm-modules

hostname "srdma-vm${ROLE:+-$ROLE}"

mkdir -p "$NEWROOT"
mount -t 9p -o "$NINEP_OPTS,ro,cache=loose" rootfs "$NEWROOT" \
    || die "mount host root over 9p (tag rootfs)"
mount -t proc proc "$NEWROOT/proc" || die "mount $NEWROOT/proc"
mount -t sysfs sysfs "$NEWROOT/sys" || die "mount $NEWROOT/sys"
mount -t devtmpfs devtmpfs "$NEWROOT/dev" || die "mount $NEWROOT/dev"
mkdir -p "$NEWROOT/dev/pts" "$NEWROOT/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$NEWROOT/dev/pts" || die "mount devpts"
mount -t tmpfs -o mode=1777 tmpfs "$NEWROOT/dev/shm" || die "mount /dev/shm"
mount -t tmpfs -o mode=1777 tmpfs "$NEWROOT/tmp" || die "mount tmpfs on /tmp"
mount -t tmpfs -o mode=0755 tmpfs "$NEWROOT/run" || die "mount tmpfs on /run"
mkdir -p "$WORK" || die "mkdir $WORK"
mount -t 9p -o "$NINEP_OPTS" work "$WORK" || die "mount work share over 9p (tag work)"

[ -f "$VMDIR/.vm/guest.sh" ] || die "work share has no ${VMDIR#"$WORK"}/.vm/guest.sh"
# A checkout under /tmp or /run (replaced above) comes as a share of its own, at its path.
if [ -f "$VMDIR/.vm/checkout" ]; then
    read -r co <"$VMDIR/.vm/checkout"
    mkdir -p "$NEWROOT$co" || die "mkdir $NEWROOT$co"
    mount -t 9p -o "$NINEP_OPTS,ro,cache=loose" checkout "$NEWROOT$co" \
        || die "mount the checkout share over 9p (tag checkout) at $co"
fi
[ -x "$NEWROOT/bin/bash" ] || die "no /bin/bash in the host root filesystem"

log "starting guest script"
env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/tmp USER=root LOGNAME=root TERM=dumb \
    chroot "$NEWROOT" /bin/bash "${VMDIR#"$NEWROOT"}/.vm/guest.sh"
rc=$?
log "guest script exited with status $rc"

echo "$rc" >"$VMDIR/exit-code" || log "cannot write the exit code to the work share"
sync
poweroff -f
sleep 10
