#!/bin/bash
#
# vm-run.sh: run a command inside a QEMU VM that boots the distribution's
# stock kernel with Soft-RoCE (rdma_rxe), chrooted into the host's own root
# filesystem mounted read-only over 9p; with --pair, two such VMs joined by a
# wire, each with its own rxe device.  See tests/vm/README.md.

set -euo pipefail

readonly PROG=${0##*/}
SCRIPT_DIR=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")" && pwd -P)
readonly SCRIPT_DIR
readonly INIT_SRC=$SCRIPT_DIR/vm-init.sh
readonly GUEST_SRC=$SCRIPT_DIR/vm-guest.sh
readonly GUEST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Bump when the initramfs layout changes (part of the cache key).
readonly INITRAMFS_FORMAT=1

# Modules for virtio + 9p, loaded by /init in this order (paths relative to
# /lib/modules/<version>/kernel, without the .ko suffix).
readonly INITRAMFS_MODULES=(
    drivers/virtio/virtio_ring
    drivers/virtio/virtio
    drivers/virtio/virtio_pci_modern_dev
    drivers/virtio/virtio_pci_legacy_dev
    drivers/virtio/virtio_pci
    net/9p/9pnet
    net/9p/9pnet_virtio
    fs/netfs/netfs
    fs/fscache/fscache
    fs/9p/9p
)
# Busybox applets used by /init.
readonly INITRAMFS_APPLETS=(sh mount mkdir insmod chroot env hostname poweroff sync sleep cat echo)

usage() {
    cat <<EOF
Usage: $PROG [OPTIONS] -- COMMAND [ARGS...]
       $PROG --pair [OPTIONS] -- COMMAND [ARGS...]

Boot the stock kernel under QEMU (TCG) with Soft-RoCE (rdma_rxe) and run
COMMAND inside it, chrooted into this machine's root filesystem (mounted
read-only over 9p), as root, in the current directory.

Options:
  --timeout SEC  kill the VM after SEC seconds (default 600; exit status 124)
  --mem MB       guest memory (default 2048; 1024 each with --pair)
  --smp N        guest CPUs (default 2; 1 each with --pair)
  --out DIR      work directory shared read-write with the VM, mounted at
                 /tmp/vmwork inside (default: a fresh temporary directory,
                 removed afterwards unless the run fails or --keep is given)
  --keep         keep the default temporary work directory
  --netem        also load sch_netem
  --rdma-cm      also load configfs, ib_cm, iw_cm, rdma_cm, rdma_ucm
  --hostfwd HP:GP  give the VM a virtio NIC on QEMU's user network, isolated
                 (restrict=on: no way out), with TCP port HP on this machine's
                 127.0.0.1 forwarded to port GP in the VM (198.51.100.15, eth0);
                 repeatable. For tools that must run here, against a server
                 in the VM.
  --pair         boot two VMs, a (192.0.2.1) and b (192.0.2.2), joined by a
                 QEMU dgram netdev on this machine's 127.0.0.1 (two free UDP
                 ports), each with rxe0 on its eth0, sch_netem loaded, and
                 run COMMAND in both (see "Two VMs" below)
  -v, --verbose  print the kernel, timings and the prelude log on stderr
  -h, --help     show this help

Inside the VM the prelude creates veth0/veth1 (mtu 9000, 192.0.2.1/24 on
veth0) and the rxe device rxe0 on veth0, then runs COMMAND with:
  SRDMA_VM=1 SRDMA_VM_OUT=/tmp/vmwork SRDMA_RXE_DEV=rxe0
  SRDMA_RXE_ADDR=192.0.2.1 SRDMA_RXE_GID_INDEX=1
  SRDMA_VM_NETEM=0|1 SRDMA_VM_RDMA_CM=0|1
and every SRDMA_* variable of the caller's environment.

COMMAND's stdout and stderr are written to cmd.out and cmd.err in the work
directory and copied to this script's stdout and stderr as they grow.
Kernel console output goes to console.log (its tail is shown on failure).

Two VMs (--pair): the work directory is shared by both (/tmp/vmwork in each);
each VM's own files (cmd.out, cmd.err, exit-code, prelude.log, console.log,
qemu.log, .vm/) are in its vm-a/ or vm-b/, and its output is copied here with
"a| " or "b| " before each line. Each VM finds its role as srdma.role=a|b on
its kernel command line; COMMAND also gets SRDMA_VM_ROLE=a|b,
SRDMA_RXE_ADDR (its own address), SRDMA_PEER_ADDR, SRDMA_VM_PEER_DIR (the
other VM's directory) and SRDMA_VM_PAIR_ID (the same in both, new at each
boot). Creating vm-a/.vm/kill or vm-b/.vm/kill makes this script kill that
VM's QEMU at once (a host that vanishes); it then writes .vm/killed.

Exit status: COMMAND's exit status (with --pair: b's, or a's if b's is 0;
a VM killed on request counts as 0); 124 on timeout; 125 if a VM failed
(boot, prelude or crash) before COMMAND's status was known.

Environment:
  SRDMA_VM_CACHE   cache base directory (default \$XDG_CACHE_HOME or ~/.cache);
                   the initramfs is kept in <base>/secure-rdma-vm/<kernel>/
  SRDMA_VM_KERNEL  kernel version to boot (default: the newest one in
                   /lib/modules that has /boot/vmlinuz-<version> and rdma_rxe)
EOF
}

msg() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { msg "error: $*"; exit 125; }
usage_error() { msg "$*"; msg "try '$PROG --help'"; exit 2; }

# ---------------------------------------------------------------------------
# Options

timeout_sec=600
mem_mb=
smp=
out_dir=
keep=0
netem=0
rdma_cm=0
verbose=0
pair=0
hostfwds=()

need_arg() { (( $2 >= 2 )) || usage_error "option $1 needs an argument"; }
need_uint() { [[ $2 =~ ^[1-9][0-9]*$ ]] || usage_error "option $1: '$2' is not a positive integer"; }

while (( $# > 0 )); do
    case $1 in
        --timeout) need_arg "$1" $#; need_uint "$1" "$2"; timeout_sec=$2; shift 2 ;;
        --timeout=*) need_uint --timeout "${1#*=}"; timeout_sec=${1#*=}; shift ;;
        --mem) need_arg "$1" $#; need_uint "$1" "$2"; mem_mb=$2; shift 2 ;;
        --mem=*) need_uint --mem "${1#*=}"; mem_mb=${1#*=}; shift ;;
        --smp) need_arg "$1" $#; need_uint "$1" "$2"; smp=$2; shift 2 ;;
        --smp=*) need_uint --smp "${1#*=}"; smp=${1#*=}; shift ;;
        --out) need_arg "$1" $#; out_dir=$2; shift 2 ;;
        --out=*) out_dir=${1#*=}; shift ;;
        --keep) keep=1; shift ;;
        --netem) netem=1; shift ;;
        --rdma-cm) rdma_cm=1; shift ;;
        --pair) pair=1; netem=1; shift ;;
        --hostfwd) need_arg "$1" $#
            [[ $2 =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]] || usage_error "--hostfwd: '$2' is not HOSTPORT:GUESTPORT"
            hostfwds+=("$2"); shift 2 ;;
        -v|--verbose) verbose=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) usage_error "unknown option '$1'" ;;
        *) break ;;
    esac
done
(( $# > 0 )) || usage_error "no COMMAND given"
if (( pair )); then
    (( ${#hostfwds[@]} == 0 )) || usage_error "--hostfwd and --pair cannot be combined"
    : "${mem_mb:=1024}" "${smp:=1}"
else
    : "${mem_mb:=2048}" "${smp:=2}"
fi

# ---------------------------------------------------------------------------
# Prerequisites

[[ -r $INIT_SRC && -r $GUEST_SRC ]] || die "missing $INIT_SRC or $GUEST_SRC"

find_busybox() {
    local b
    for b in /bin/busybox /usr/bin/busybox; do
        if [[ -x $b ]] && ! ldd "$b" >/dev/null 2>&1; then
            echo "$b"
            return 0
        fi
    done
    return 1
}

# pick_kernel: the newest version in /lib/modules with a kernel image and rdma_rxe.
has_module() { compgen -G "/lib/modules/$1/kernel/$2.ko*" >/dev/null; }
pick_kernel() {
    local k best=
    if [[ -n ${SRDMA_VM_KERNEL:-} ]]; then
        echo "$SRDMA_VM_KERNEL"
        return 0
    fi
    [[ -d /lib/modules ]] || return 1
    while IFS= read -r k; do
        if [[ -f /boot/vmlinuz-$k ]] && has_module "$k" drivers/infiniband/sw/rxe/rdma_rxe; then
            best=$k
        fi
    done < <(find /lib/modules -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V)
    [[ -n $best ]] || return 1
    echo "$best"
}

missing_pkgs=()
missing() { [[ " ${missing_pkgs[*]} " == *" $1 "* ]] || missing_pkgs+=("$1"); }
guest_has() { PATH=$GUEST_PATH command -v "$1" >/dev/null 2>&1; }

command -v qemu-system-x86_64 >/dev/null 2>&1 || missing qemu-system-x86
BUSYBOX=$(find_busybox) || missing busybox-static
command -v cpio >/dev/null 2>&1 || missing cpio
command -v gzip >/dev/null 2>&1 || missing gzip
command -v sha256sum >/dev/null 2>&1 || missing coreutils
guest_has bash || missing bash
guest_has ip || missing iproute2
guest_has rdma || missing iproute2
guest_has insmod || missing kmod
guest_has ibv_devices || missing ibverbs-utils
[[ -e /etc/libibverbs.d/rxe.driver ]] || missing ibverbs-providers
KVER=$(pick_kernel) || missing linux-image-amd64
if (( ${#missing_pkgs[@]} > 0 )); then
    die "missing prerequisites; install them with: apt-get install ${missing_pkgs[*]}"
fi
readonly KVER BUSYBOX
readonly KERNEL_IMAGE=/boot/vmlinuz-$KVER
readonly MODDIR=/lib/modules/$KVER
[[ -f $KERNEL_IMAGE ]] || die "no kernel image $KERNEL_IMAGE"
[[ -r $KERNEL_IMAGE ]] || die "$KERNEL_IMAGE is not readable (run as root)"
[[ -d $MODDIR/kernel ]] || die "no module tree $MODDIR"

cwd=$(pwd -P)
# The VM sees this machine's root read-only, but with its own /tmp and /run. A checkout under
# one of those (a clone in /tmp, say) is given to the VM as a share of its own, at the same
# path: the project's tree, from the top of the git work tree holding the current directory
# (or the current directory itself).
checkout=
case $cwd/ in
    /proc/*|/sys/*|/dev/*)
        die "the current directory $cwd is not visible inside the VM (/proc, /sys and /dev are replaced there)" ;;
    /tmp/*|/run/*)
        checkout=$(git -C "$cwd" rev-parse --show-toplevel 2>/dev/null) || checkout=$cwd
        checkout=$(cd -- "$checkout" && pwd -P) ;;
esac

# ---------------------------------------------------------------------------
# Initramfs (cached per kernel version and content)

# module_file REL: the module's file, or nothing if it is built in; fails if absent.
module_file() {
    local ext
    for ext in .ko .ko.xz .ko.zst .ko.gz; do
        if [[ -f $MODDIR/kernel/$1$ext ]]; then
            echo "$MODDIR/kernel/$1$ext"
            return 0
        fi
    done
    grep -qxF "kernel/$1.ko" "$MODDIR/modules.builtin" 2>/dev/null && return 0
    return 1
}

# decompress_module SRC DEST
decompress_module() {
    case $1 in
        *.ko) cp -- "$1" "$2" ;;
        *.ko.xz) xz -dc -- "$1" >"$2" ;;
        *.ko.zst) zstd -qdc -- "$1" >"$2" ;;
        *.ko.gz) gzip -dc -- "$1" >"$2" ;;
    esac
}

check_initramfs_modules() {
    local rel f
    for rel in "${INITRAMFS_MODULES[@]}"; do
        f=$(module_file "$rel") || die "kernel $KVER has no module $rel (not found in $MODDIR, not built in)"
        case $f in
            *.xz) command -v xz >/dev/null 2>&1 || die "$f is xz-compressed: install xz-utils" ;;
            *.zst) command -v zstd >/dev/null 2>&1 || die "$f is zstd-compressed: install zstd" ;;
        esac
    done
}

initramfs_key() {
    local rel f
    {
        echo "format $INITRAMFS_FORMAT kernel $KVER applets ${INITRAMFS_APPLETS[*]}"
        sha256sum -- "$INIT_SRC" "$BUSYBOX"
        for rel in "${INITRAMFS_MODULES[@]}"; do
            f=$(module_file "$rel")
            if [[ -n $f ]]; then sha256sum -- "$f"; else echo "builtin $rel"; fi
        done
    } | sha256sum | cut -c1-16
}

build_initramfs() (
    local dest=$1 stage tmp rel f name a
    stage=$(mktemp -d "$CACHE_DIR/.stage.XXXXXX")
    tmp=$(mktemp "$CACHE_DIR/.initramfs.XXXXXX")
    # shellcheck disable=SC2064  # expand now: the variables are local
    trap "rm -rf -- '$stage' '$tmp'" EXIT
    mkdir -p "$stage"/{bin,dev,etc,lib/modules,newroot,proc,sys,tmp}
    cp -- "$BUSYBOX" "$stage/bin/busybox"
    for a in "${INITRAMFS_APPLETS[@]}"; do
        ln -s busybox "$stage/bin/$a"
    done
    install -m 0755 -- "$INIT_SRC" "$stage/init"
    : >"$stage/etc/vm-modules"
    for rel in "${INITRAMFS_MODULES[@]}"; do
        f=$(module_file "$rel")
        [[ -n $f ]] || continue # built in
        name=${rel##*/}
        decompress_module "$f" "$stage/lib/modules/$name.ko"
        echo "$name" >>"$stage/etc/vm-modules"
    done
    (cd "$stage" && find . -print0 | LC_ALL=C sort -z \
        | cpio --null --create --format=newc --owner=0:0 --quiet) | gzip -1 >"$tmp"
    chmod 0644 "$tmp"
    mv -f -- "$tmp" "$dest"
)

cache_base=${SRDMA_VM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}}
CACHE_DIR=$cache_base/secure-rdma-vm/$KVER
readonly CACHE_DIR
mkdir -p -- "$CACHE_DIR" || die "cannot create cache directory $CACHE_DIR"
check_initramfs_modules
INITRAMFS=$CACHE_DIR/initramfs-$(initramfs_key).cpio.gz
readonly INITRAMFS
if [[ ! -s $INITRAMFS ]]; then
    (( verbose )) && msg "building $INITRAMFS"
    build_initramfs "$INITRAMFS"
    # Drop images of older contents and leftovers of interrupted builds
    # (not touched for a day).
    find "$CACHE_DIR" -maxdepth 1 -mindepth 1 -mmin +1440 ! -path "$INITRAMFS" \
        \( -name 'initramfs-*.cpio.gz' -o -name '.initramfs.*' -o -name '.stage.*' \) \
        -exec rm -rf -- {} + 2>/dev/null || true
fi

# ---------------------------------------------------------------------------
# Work directory

tmp_out=0
if [[ -z $out_dir ]]; then
    out_dir=$(mktemp -d "${TMPDIR:-/tmp}/secure-rdma-vm.XXXXXX")
    tmp_out=1
else
    mkdir -p -- "$out_dir" || die "cannot create $out_dir"
fi
out_dir=$(cd -- "$out_dir" && pwd -P)
readonly out_dir

# The VMs: one, whose files are the work directory's own, or a and b, each with its vm-<role>/.
if (( pair )); then
    roles=(a b)
    vm_dirs=("$out_dir/vm-a" "$out_dir/vm-b")
else
    roles=("")
    vm_dirs=("$out_dir")
fi
readonly -a roles vm_dirs
readonly PAIR_ADDRS=([0]=192.0.2.1 [1]=192.0.2.2)

# The caller's SRDMA_* variables, for .vm/env.sh.
env_sh=
while IFS= read -r name; do
    [[ $name =~ ^SRDMA_[A-Za-z0-9_]*$ ]] || continue
    env_sh+=$(printf 'export %s=%q' "$name" "${!name}")$'\n'
done < <(compgen -e)
readonly env_sh

# prepare_vm I: reset VM I's files and write its control files (.vm/).
prepare_vm() {
    local i=$1 dir=${vm_dirs[$1]} ctl=${vm_dirs[$1]}/.vm
    mkdir -p -- "$dir" || die "cannot create $dir"
    rm -rf -- "$ctl"
    rm -f -- "$dir"/{cmd.out,cmd.err,console.log,prelude.log,qemu.log,exit-code}
    mkdir -- "$ctl"
    cp -- "$GUEST_SRC" "$ctl/guest.sh"
    {
        printf 'NETEM=%q\n' "$netem"
        printf 'RDMA_CM=%q\n' "$rdma_cm"
        printf 'HOSTFWD=%q\n' "$(( ${#hostfwds[@]} > 0 ))"
        printf 'CWD=%q\n' "$cwd"
        if (( pair )); then
            printf 'PAIR=1\nROLE=%q\nPEER_ROLE=%q\n' "${roles[i]}" "${roles[1 - i]}"
            printf 'ADDR=%q\nPEER_ADDR=%q\n' "${PAIR_ADDRS[i]}" "${PAIR_ADDRS[1 - i]}"
            printf 'PAIR_ID=%q\n' "$pair_id"
        fi
    } >"$ctl/config.sh"
    # vm-init.sh (busybox) mounts the checkout share at this path, read-only.
    if [[ -n $checkout ]]; then
        printf '%s\n' "$checkout" >"$ctl/checkout"
    fi
    printf '%s' "$env_sh" >"$ctl/env.sh"
    {
        printf 'cmd=('
        printf ' %q' "${cmd[@]}"
        printf ' )\n'
    } >"$ctl/cmd.sh"
    : >"$dir/cmd.out"
    : >"$dir/cmd.err"
}
cmd=("$@")

# ---------------------------------------------------------------------------
# Run QEMU

vm_pids=()
vm_killed=()

# QEMU option values: a comma is written as two commas.
qemu_esc() { printf '%s' "${1//,/,,}"; }

# copy_new FILE FD [PREFIX [FINAL]]: copy the lines appended to FILE since the last call to FD,
# PREFIX before each; a last line without its newline waits for it (or for FINAL 1). The file
# stays open between calls and is read with the shell's own read: this runs every 0.2 s for
# the whole run, so it starts no process (a stat, a dd and a sed per call used to cost minutes
# of CPU over a test run).
declare -A rfd=() pending=()
copy_new() {
    local file=$1 fd=$2 prefix=${3:-} final=${4:-0} line nfd
    if [[ -z ${rfd[$file]:-} ]]; then
        [[ -f $file ]] || return 0
        exec {nfd}<"$file" || return 0
        rfd[$file]=$nfd
    fi
    while IFS= read -r -u "${rfd[$file]}" line; do
        printf '%s%s%s\n' "$prefix" "${pending[$file]:-}" "$line" >&"$fd"
        pending[$file]=
    done
    pending[$file]+=$line
    if (( final )) && [[ -n ${pending[$file]} ]]; then
        printf '%s%s\n' "$prefix" "${pending[$file]}" >&"$fd"
        pending[$file]=
    fi
}
# forget_output FILE: close FILE (a new boot writes it again from the start).
forget_output() {
    local nfd=${rfd[$1]:-}
    [[ -z $nfd ]] || exec {nfd}<&-
    unset "rfd[$1]" "pending[$1]"
}
# stream [FINAL]: every VM's new output.
stream() {
    local i prefix=
    for i in "${!roles[@]}"; do
        [[ -z ${roles[i]} ]] || prefix="${roles[i]}| "
        copy_new "${vm_dirs[i]}/cmd.out" 1 "$prefix" "${1:-0}"
        copy_new "${vm_dirs[i]}/cmd.err" 2 "$prefix" "${1:-0}"
    done
}

# kill_vm I [SIGNAL]: end VM I's QEMU (SIGTERM, then SIGKILL after 5 s; or SIGNAL at once).
kill_vm() {
    local pid=${vm_pids[$1]:-} _
    [[ -n $pid ]] || return 0
    if [[ ${2:-} == KILL ]]; then
        kill -KILL "$pid" 2>/dev/null || true
    elif kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    vm_pids[$1]=
}
kill_all() {
    local i
    for i in "${!roles[@]}"; do
        kill_vm "$i"
    done
}

status=125
# shellcheck disable=SC2317  # called from the EXIT trap
on_exit() {
    kill_all
    if (( tmp_out && !keep && status == 0 )); then
        rm -rf -- "$out_dir"
    elif (( tmp_out && status != 0 )); then
        msg "work directory kept: $out_dir"
    fi
}
trap on_exit EXIT
trap 'msg "interrupted"; status=130; exit 130' INT
trap 'msg "terminated"; status=143; exit 143' TERM HUP

# show_console I: QEMU's output and the tail of VM I's console.
show_console() {
    local dir=${vm_dirs[$1]} who=${roles[$1]:+VM ${roles[$1]}: }
    if [[ -s $dir/qemu.log ]]; then
        msg "${who}qemu output:"
        tail -n 20 -- "$dir/qemu.log" >&2
    fi
    if [[ -s $dir/console.log ]]; then
        msg "${who}last 50 lines of $dir/console.log:"
        # Drop the firmware's terminal control sequences (they would reset the terminal).
        tail -n 50 -- "$dir/console.log" \
            | sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[A-Za-z]//g' -e 's/\r//g' >&2
    else
        msg "${who}the VM wrote nothing to its console"
    fi
}

# free_udp_ports N: N UDP ports that nothing on 127.0.0.1 uses now.
free_udp_ports() {
    local -a used ports=()
    local p
    mapfile -t used < <(ss -Hnlu 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }')
    while (( ${#ports[@]} < $1 )); do
        p=$((20000 + RANDOM % 40000))
        [[ " ${used[*]} ${ports[*]} " != *" $p "* ]] && ports+=("$p")
    done
    echo "${ports[@]}"
}

# qemu_cmd_for I: the QEMU command line of VM I, into qemu_cmd.
qemu_cmd_for() {
    local i=$1 dir=${vm_dirs[$1]} netdev f append="console=ttyS0 quiet panic=-1 no_timer_check"
    [[ -z ${roles[i]} ]] || append+=" srdma.role=${roles[i]}"
    qemu_cmd=(
        qemu-system-x86_64
        -accel "tcg,thread=multi" -cpu max
        -m "$mem_mb" -smp "$smp"
        -nographic -no-reboot -monitor none
        -chardev "file,id=console,path=$(qemu_esc "$dir/console.log")"
        -serial chardev:console
        -kernel "$KERNEL_IMAGE" -initrd "$INITRAMFS"
        -append "$append"
        -virtfs "local,path=/,mount_tag=rootfs,security_model=none,readonly=on,multidevs=remap,id=rootfs"
        -virtfs "local,path=$(qemu_esc "$out_dir"),mount_tag=work,security_model=none,id=work"
    )
    if (( pair )); then
        # One Ethernet segment: each VM's NIC sends its frames as UDP datagrams to the other's
        # port on the loopback.
        qemu_cmd+=(-netdev "dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port=${pair_ports[i]},remote.type=inet,remote.host=127.0.0.1,remote.port=${pair_ports[1 - i]}"
            -device "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:0${roles[i]}")
    elif (( ${#hostfwds[@]} > 0 )); then
        # The user network on TEST-NET-2 (never routed anywhere), the guest at .15; restrict=on
        # leaves the VM no way out, only the forwarded ports in.
        netdev="user,id=u0,restrict=on,net=198.51.100.0/24,host=198.51.100.2,dhcpstart=198.51.100.15"
        for f in "${hostfwds[@]}"; do
            netdev+=",hostfwd=tcp:127.0.0.1:${f%%:*}-198.51.100.15:${f##*:}"
        done
        qemu_cmd+=(-netdev "$netdev" -device "virtio-net-pci,netdev=u0,mac=52:54:00:12:34:5f")
    else
        qemu_cmd+=(-nic none)
    fi
    if [[ -n $checkout ]]; then
        qemu_cmd+=(-virtfs "local,path=$(qemu_esc "$checkout"),mount_tag=checkout,security_model=none,readonly=on,multidevs=remap,id=checkout")
    fi
}

# panicked_at_boot I: VM I's kernel panicked before the prelude ran.
panicked_at_boot() {
    [[ ! -e ${vm_dirs[$1]}/.vm/timing && ! -e ${vm_dirs[$1]}/exit-code ]] &&
        grep -q "Kernel panic" "${vm_dirs[$1]}/console.log" 2>/dev/null
}

(( verbose )) && msg "kernel $KVER, initramfs $INITRAMFS, work directory $out_dir"
now_us() { local t=${EPOCHREALTIME//[.,]/}; echo "$((10#$t))"; }
start_us=$(now_us)
exec {nap_fd}<> <(:)
deadline_us=$((start_us + timeout_sec * 1000000))
timed_out=0
attempt=1
while :; do
    pair_id=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    (( pair )) && read -r -a pair_ports <<<"$(free_udp_ports 2)"
    for i in "${!roles[@]}"; do
        prepare_vm "$i"
        forget_output "${vm_dirs[i]}/cmd.out"
        forget_output "${vm_dirs[i]}/cmd.err"
    done
    for i in "${!roles[@]}"; do
        qemu_cmd_for "$i"
        "${qemu_cmd[@]}" </dev/null >"${vm_dirs[i]}/qemu.log" 2>&1 &
        vm_pids[i]=$!
        vm_killed[i]=0
    done
    running=${#roles[@]}
    while (( running > 0 )); do
        stream
        running=0
        for i in "${!roles[@]}"; do
            [[ -n ${vm_pids[i]} ]] || continue
            if ! kill -0 "${vm_pids[i]}" 2>/dev/null; then
                wait "${vm_pids[i]}" || true
                vm_pids[i]=
                continue
            fi
            running=$((running + 1))
            if (( pair )) && [[ -e ${vm_dirs[i]}/.vm/kill ]]; then
                kill_vm "$i" KILL
                vm_killed[i]=1
                date +%s.%N >"${vm_dirs[i]}/.vm/killed"
                (( verbose )) && msg "VM ${roles[i]} killed on request"
                running=$((running - 1))
            fi
        done
        # A VM of a pair that cannot boot leaves the other waiting for it: boot both again.
        if (( pair && running > 0 )); then
            for i in "${!roles[@]}"; do
                if [[ -z ${vm_pids[i]} ]] && (( ! vm_killed[i] )) && panicked_at_boot "$i"; then
                    kill_all
                    running=0
                fi
            done
        fi
        if (( running > 0 && ${EPOCHREALTIME//[.,]/} >= deadline_us )); then
            timed_out=1
            kill_all
            break
        fi
        # A sleep without a process: a read that times out on a pipe nobody writes.
        (( running == 0 )) || read -r -t 0.2 -u "$nap_fd" _ || true
    done
    stream 1
    # Emulated timers on a loaded host can make the kernel panic before /init runs ("IO-APIC +
    # timer doesn't work"): that boot never reached the prelude, so boot again, twice at most.
    retry=0
    for i in "${!roles[@]}"; do
        (( vm_killed[i] )) || ! panicked_at_boot "$i" || retry=1
    done
    if (( ! timed_out && retry && attempt < 3 )); then
        msg "a kernel panicked while booting (attempt $attempt of 3); booting again"
        attempt=$((attempt + 1))
        continue
    fi
    break
done
end_us=$(now_us)

if (( verbose )); then
    for i in "${!roles[@]}"; do
        ctl=${vm_dirs[i]}/.vm
        msg "${roles[i]:+VM ${roles[i]}: }prelude log:"
        sed 's/^/  /' "${vm_dirs[i]}/prelude.log" >&2 2>/dev/null || true
        timing() { sed -n "s/^$1=//p" "$ctl/timing" 2>/dev/null | tail -n 1; }
        msg "${roles[i]:+VM ${roles[i]}: }$(awk -v t="$(( (end_us - start_us) / 1000 ))" \
            -v p="$(timing prelude_start)" -v c="$(timing cmd_start)" -v d="$(timing cmd_end)" 'BEGIN {
                printf "timing: total %.1fs", t / 1000
                if (p != "") printf ", boot to prelude %.1fs", p
                if (c != "" && p != "") printf ", prelude %.1fs", c - p
                if (d != "" && c != "") printf ", command %.1fs", d - c
            }')"
    done
fi

if (( timed_out )); then
    msg "error: timed out after ${timeout_sec}s; $( (( pair )) && echo "both VMs were" || echo "the VM was") killed"
    for i in "${!roles[@]}"; do
        show_console "$i"
    done
    status=124
    exit 124
fi

# vm_status I: VM I's command's exit status, or 125 with the reason shown.
vm_status() {
    local i=$1 dir=${vm_dirs[$1]} who=${roles[$1]:+VM ${roles[$1]}: } rc
    if (( ${vm_killed[i]:-0} )) && [[ ! -s $dir/.vm/init-failed && ! -s $dir/.vm/prelude-failed ]]; then
        echo 0
        return
    fi
    if [[ -s $dir/.vm/init-failed ]]; then
        msg "error: ${who}VM init failed: $(cat -- "$dir/.vm/init-failed")"
        show_console "$i"
        echo 125
        return
    fi
    if [[ -s $dir/.vm/prelude-failed ]]; then
        msg "error: ${who}VM prelude failed: $(cat -- "$dir/.vm/prelude-failed")"
        msg "${who}prelude log:"
        sed 's/^/  /' "$dir/prelude.log" >&2 || true
        show_console "$i"
        echo 125
        return
    fi
    rc=$(cat -- "$dir/exit-code" 2>/dev/null || true)
    if [[ ! $rc =~ ^[0-9]+$ ]]; then
        msg "error: ${who}the VM stopped without reporting an exit status"
        show_console "$i"
        echo 125
        return
    fi
    (( rc == 0 )) || msg "${who}command exited with status $rc"
    echo "$rc"
}

rc=0
for (( i = ${#roles[@]} - 1; i >= 0; i-- )); do
    s=$(vm_status "$i")
    (( rc != 0 )) || rc=$s
done
status=$rc
exit "$rc"
