# shellcheck shell=bash
# bench/qemu.sh: the QEMU part of bench/run (sourced by it; uses its
# functions and variables). Real guests, the tiny test guest of
# tests/e2e/guest (Debian's cloud kernel + a busybox initramfs that loads
# virtio_balloon), each with <memballoon model='virtio'><stats period='1'/>,
# driven by the same private libvirtd's QEMU driver, under TCG (domain type
# 'qemu', as tests/e2e/qemu.sh: a KVM guest does not boot on the machines
# this was written on; BENCH_QEMU_TYPE=kvm tries KVM). There the bulk record carries the balloon data:
# virt_inspector makes one libvirt call per read, whatever the number of
# guests. Measured: virt_inspector, the virt plugin, the floor and dispatch,
# as for the test driver, and the libvirt calls per read of each.
#
# The guests' own CPU (QEMU answering the balloon queries) is not counted:
# only the reader and libvirtd are, as for the test driver.

QURI=""
QGUESTS=()
VIRTLOGD_PID=""

qemu_cleanup() {
  local g
  for g in "${QGUESTS[@]}"; do
    timeout 30 virsh -q -c "$QURI" destroy "$g" >/dev/null 2>&1
  done
  QGUESTS=()
  [ -n "$VIRTLOGD_PID" ] && kill "$VIRTLOGD_PID" 2>/dev/null
  VIRTLOGD_PID=""
}

qemu_part() {
  local gdir
  QEMU_RESULTS=""
  command -v qemu-system-x86_64 >/dev/null || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null 2>&1
  }
  for p in busybox-static cpio; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1
  done
  if ! gdir=$("$src/tests/e2e/guest/build-guest.sh" 2>"$W/build-guest.err"); then
    QEMU_RESULTS="QEMU part: skipped: the test guest cannot be built: $(tr '\n' ' ' <"$W/build-guest.err")"
    return 1
  fi
  export VI_GUEST_DIR=$gdir
  GUEST_LOGDIR=$W/guests
  mkdir -p "$GUEST_LOGDIR"
  # shellcheck source=tests/e2e/guest/guest.sh
  . "$src/tests/e2e/guest/guest.sh"

  # The QEMU driver logs through virtlogd into /var/log/libvirt: both go
  # into libvirtd's mount namespace, the log dir a private one.
  mkdir -p "$W/libvirt-log/qemu" /var/log/libvirt
  # shellcheck disable=SC2016
  nsenter -t "$LV_PID" -m sh -c '
      mount --bind "$1/libvirt-log" /var/log/libvirt &&
      exec virtlogd -d -p "$1/virtlogd.pid"' sh "$W" >"$W/virtlogd.out" 2>&1 ||
    {
      QEMU_RESULTS="QEMU part: skipped: virtlogd: $(cat "$W/virtlogd.out")"
      return 1
    }
  for _ in $(seq 50); do [ -s "$W/virtlogd.pid" ] && break; sleep 0.1; done
  VIRTLOGD_PID=$(cat "$W/virtlogd.pid" 2>/dev/null)
  QURI="qemu+unix:///system?socket=$T/sock/libvirt-sock"

  local type=${BENCH_QEMU_TYPE:-qemu} i name f out ok=0
  for ((i = 1; i <= GUESTS; i++)); do
    printf -v name 'bench-%05d' "$i"
    f=$GUEST_LOGDIR/$name.xml
    guest_domain_xml "$name" "$(cat /proc/sys/kernel/random/uuid)" \
      "$GUEST_LOGDIR/$name.sock" stats1 128 |
      sed "s/<domain type='qemu'>/<domain type='$type'>/" >"$f" || return 1
    if ! out=$(timeout 120 virsh -q -c "$QURI" create "$f" 2>&1); then
      QEMU_RESULTS="QEMU part: skipped: virsh create $name: $out"
      qemu_cleanup
      return 1
    fi
    QGUESTS+=("$name")
  done
  say "bench/run: QEMU: $GUESTS guests started ($type); waiting for their balloon statistics"
  # Booted: every guest's balloon reports guest statistics ("unused").
  for i in $(seq 120); do
    ok=0
    for name in "${QGUESTS[@]}"; do
      virsh -q -c "$QURI" dommemstat "$name" 2>/dev/null | grep -q '^unused ' && ok=$((ok + 1))
    done
    [ "$ok" = "${#QGUESTS[@]}" ] && break
    sleep 1
  done
  if [ "$ok" != "${#QGUESTS[@]}" ]; then
    QEMU_RESULTS="QEMU part: skipped: only $ok of ${#QGUESTS[@]} guests report balloon statistics after 120 s"
    qemu_cleanup
    return 1
  fi

  local saved_uri=$URI saved_rpc=$RPC_N n="qemu$GUESTS" r
  URI=$QURI
  RPC_N=$n # libvirt calls per read are counted for every reader
  for r in $(seq "$ROUNDS"); do
    say "bench/run: QEMU ($GUESTS guests, $type) round $r: virt_inspector"
    collectd_phase "$n" vi "$r" conf_vi
    if [ -n "${BENCH_VI_ALT_SO:-}" ]; then
      say "bench/run: QEMU round $r: virt_inspector, alternative build"
      CONF_PLUGINDIR=$W/plugins-alt collectd_phase "$n" alt "$r" conf_vi
    fi
    say "bench/run: QEMU round $r: virt plugin"
    collectd_phase "$n" virt "$r" conf_virt
    say "bench/run: QEMU round $r: floor"
    floor_phase "$n" floor "$r" none
    if [ -s "$W/n$n-vi-r$r/shape" ]; then
      say "bench/run: QEMU round $r: dispatch"
      collectd_phase "$n" dispatch "$r" conf_dispatch "$GUESTS" "$W/n$n-vi-r$r/shape"
    fi
    RPC_N=none # counted in the first round only
  done
  URI=$saved_uri
  RPC_N=$saved_rpc
  QEMU_RESULTS="QEMU part: $GUESTS guests (domain type $type, kernel $(cat "$gdir/kernel-version" 2>/dev/null), 128 MiB, balloon stats period 1): N = $n above"
  qemu_cleanup
  return 0
}
