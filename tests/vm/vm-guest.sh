#!/bin/bash
#
# Guest side of vm-run.sh: runs inside the VM, chrooted into the host's root
# filesystem (read-only 9p), as root.  vm-run.sh copies it into the work share
# as .vm/guest.sh (vm-<role>/.vm/guest.sh for a VM of a pair) together with:
#   .vm/config.sh  harness settings (NETEM, RDMA_CM, HOSTFWD, PAIR, ROLE, CWD, ...)
#   .vm/env.sh     SRDMA_* variables passed through from the host
#   .vm/cmd.sh     the command, as the bash array "cmd"
# It sets up Soft-RoCE (the "prelude"), then runs the command with its stdout
# and stderr in cmd.out / cmd.err next to .vm/, and exits with the
# command's exit status.  If the prelude fails it writes .vm/prelude-failed and
# exits 125.

set -uo pipefail

readonly WORK=/tmp/vmwork
# This VM's own files: the work share itself, or its vm-<role>/ in a pair.
CTL=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly CTL
readonly VMDIR=${CTL%/.vm}
readonly RXE_DEV=rxe0
readonly RXE_PEER=veth1
readonly RXE_PREFIX=24
readonly RXE_GID_INDEX=1
readonly RXE_WAIT_SEC=60

exec >"$VMDIR/prelude.log" 2>&1

uptime_s() { local u _; read -r u _ </proc/uptime; echo "$u"; }
stamp() { echo "$1=$(uptime_s)" >>"$CTL/timing"; }

fail() {
    echo "PRELUDE FAILED: $*"
    echo "$*" >"$CTL/prelude-failed"
    exit 125
}

step() {
    echo "+ $*"
    "$@" || fail "'$*' exited with status $?"
}

stamp prelude_start

NETEM=0
RDMA_CM=0
HOSTFWD=0
PAIR=0
ROLE=
ADDR=192.0.2.1
PEER_ADDR=
PEER_ROLE=
PAIR_ID=
CWD=/
# shellcheck source=/dev/null
source "$CTL/config.sh" || fail "cannot read $CTL/config.sh"
readonly RXE_ADDR=$ADDR
# Alone, rxe sits on a veth pair; in a pair, on the NIC joined to the other VM's.
if [[ $PAIR == 1 ]]; then
    readonly RXE_NETDEV=eth0
else
    readonly RXE_NETDEV=veth0
fi

KVER=$(uname -r)
MODDIR=/lib/modules/$KVER
[[ -d $MODDIR/kernel ]] || fail "no module tree $MODDIR in the host root filesystem"

# load_module REL: REL is relative to $MODDIR/kernel without the .ko suffix.
# A module that is built in or already loaded is accepted as is.
load_module() {
    local rel=$1 name file ext
    name=${rel##*/}
    name=${name//-/_}
    if [[ -e /sys/module/$name/initstate ]]; then
        echo "module $name: already loaded"
        return 0
    fi
    if grep -qxF "kernel/$rel.ko" "$MODDIR/modules.builtin" 2>/dev/null; then
        echo "module $name: built in"
        return 0
    fi
    file=
    for ext in .ko .ko.xz .ko.zst .ko.gz; do
        if [[ -f $MODDIR/kernel/$rel$ext ]]; then
            file=$MODDIR/kernel/$rel$ext
            break
        fi
    done
    [[ -n $file ]] || fail "module $name: $MODDIR/kernel/$rel.ko not found (and not built in)"
    echo "+ insmod $file"
    if ! insmod "$file"; then
        [[ -e /sys/module/$name/initstate ]] || fail "insmod $file failed"
        echo "module $name: loaded concurrently"
    fi
}

# IPv4 address -> the IPv4-mapped GID as shown in sysfs.
mapped_gid() {
    local a b c d
    IFS=. read -r a b c d <<<"$1"
    printf '0000:0000:0000:0000:0000:ffff:%02x%02x:%02x%02x' "$a" "$b" "$c" "$d"
}

set_sysctl() {
    echo "+ sysctl $1=$2"
    echo "$2" >"/proc/sys/${1//.//}" || fail "cannot set sysctl $1=$2"
}

# --- limits -----------------------------------------------------------------
step ulimit -l unlimited
step ulimit -n 65536

# --- RDMA modules -----------------------------------------------------------
modules=(
    crypto/crc32_generic
    net/ipv4/udp_tunnel
    net/ipv6/ip6_udp_tunnel
    drivers/infiniband/core/ib_core
    drivers/infiniband/core/ib_uverbs
    drivers/infiniband/sw/rxe/rdma_rxe
    drivers/net/veth
)
if [[ $NETEM == 1 ]]; then
    modules+=(net/sched/sch_netem)
fi
if [[ $RDMA_CM == 1 ]]; then
    modules+=(
        fs/configfs/configfs
        drivers/infiniband/core/ib_cm
        drivers/infiniband/core/iw_cm
        drivers/infiniband/core/rdma_cm
        drivers/infiniband/core/rdma_ucm
    )
fi
for m in "${modules[@]}"; do
    load_module "$m"
done

# wait_eth0: load the virtio NIC's driver and wait for eth0.
wait_eth0() {
    local m deadline
    for m in net/core/failover drivers/net/net_failover drivers/net/virtio_net; do
        load_module "$m"
    done
    deadline=$(( $(date +%s) + RXE_WAIT_SEC ))
    until [[ -e /sys/class/net/eth0 ]]; do
        (( $(date +%s) < deadline )) || fail "eth0 did not appear after loading virtio_net"
        sleep 0.1
    done
}

# --- network and rxe device ---------------------------------------------------
step ip link set lo up
if [[ $PAIR == 1 ]]; then
    # The wire to the other VM: the NIC's default MTU (1500, path MTU 1024 for rxe).
    wait_eth0
else
    step ip link add "$RXE_NETDEV" type veth peer name "$RXE_PEER"
    step ip link set "$RXE_NETDEV" mtu 9000
    step ip link set "$RXE_PEER" mtu 9000
    step ip link set "$RXE_PEER" up
fi
step ip addr add "$RXE_ADDR/$RXE_PREFIX" dev "$RXE_NETDEV"
step ip link set "$RXE_NETDEV" up
step rdma link add "$RXE_DEV" type rxe netdev "$RXE_NETDEV"

want_gid=$(mapped_gid "$RXE_ADDR")
port_dir=/sys/class/infiniband/$RXE_DEV/ports/1
deadline=$(( $(date +%s) + RXE_WAIT_SEC ))
while :; do
    gid=$(cat "$port_dir/gids/$RXE_GID_INDEX" 2>/dev/null || true)
    state=$(cat "$port_dir/state" 2>/dev/null || true)
    if [[ $gid == "$want_gid" && $state == *ACTIVE* ]] \
        && ibv_devices 2>/dev/null | grep -qw "$RXE_DEV"; then
        break
    fi
    if (( $(date +%s) >= deadline )); then
        echo "ibv_devices:"; ibv_devices || true
        echo "port state: ${state:-?}"
        echo "GIDs:"; grep -H . "$port_dir"/gids/* 2>/dev/null | grep -v ':0000:0000:0000:0000:0000:0000:0000:0000$' || true
        fail "$RXE_DEV not ready after ${RXE_WAIT_SEC}s (want ACTIVE port and GID[$RXE_GID_INDEX]=$want_gid)"
    fi
    sleep 0.1
done
echo "$RXE_DEV ready: GID[$RXE_GID_INDEX]=$gid, port ${state}"

# --- the user-network NIC (vm-run.sh --hostfwd) --------------------------------
if [[ $HOSTFWD == 1 ]]; then
    wait_eth0
    step ip addr add 198.51.100.15/24 dev eth0
    step ip link set eth0 up
fi

# --- sysctls for frame injection into veth1 -----------------------------------
if [[ $PAIR != 1 ]]; then
    set_sysctl "net.ipv4.conf.$RXE_NETDEV.accept_local" 1
    set_sysctl net.ipv4.conf.all.rp_filter 0
    set_sysctl "net.ipv4.conf.$RXE_NETDEV.rp_filter" 0
fi

# --- environment for the command ----------------------------------------------
# shellcheck source=/dev/null
source "$CTL/env.sh" || fail "cannot read $CTL/env.sh"
export SRDMA_VM=1
export SRDMA_VM_OUT=$WORK
export SRDMA_RXE_DEV=$RXE_DEV
export SRDMA_RXE_ADDR=$RXE_ADDR
export SRDMA_RXE_GID_INDEX=$RXE_GID_INDEX
export SRDMA_VM_NETEM=$NETEM
export SRDMA_VM_RDMA_CM=$RDMA_CM
if [[ $PAIR == 1 ]]; then
    export SRDMA_VM_ROLE=$ROLE
    export SRDMA_PEER_ADDR=$PEER_ADDR
    export SRDMA_VM_PAIR_ID=$PAIR_ID
    export SRDMA_VM_PEER_DIR=$WORK/vm-$PEER_ROLE
fi

cd "$CWD" || fail "working directory $CWD does not exist inside the VM"

cmd=()
# shellcheck source=/dev/null
source "$CTL/cmd.sh" || fail "cannot read $CTL/cmd.sh"
(( ${#cmd[@]} > 0 )) || fail "empty command"

echo "prelude done at $(uptime_s)s after boot; running: ${cmd[*]}"
stamp cmd_start
"${cmd[@]}" >"$VMDIR/cmd.out" 2>"$VMDIR/cmd.err" </dev/null
rc=$?
stamp cmd_end
echo "command exited with status $rc"
exit "$rc"
