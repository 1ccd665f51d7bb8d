# tests/e2e/lib.sh -- shared harness for the virt_inspector end-to-end suites.
#
# Source it from a bash script (it uses bash features: arrays, [[ ]],
# EPOCHREALTIME, {fd} redirections):
#
#     . "$(dirname "$0")/lib.sh"
#     e2e_require_plugin          # fails clearly if the .so is not built
#     start_libvirtd
#     virsh_open
#     start_collectd '...config body...'
#     assert_eq "..." "$(csv_last ...)" "1073741824"
#     ...                         # summary + exit code come from the EXIT trap
#
# What it provides
#   $T                  per-run temp dir (removed on success, kept on failure)
#   wait_until SECS CMD...      poll CMD every 0.1 s until it succeeds or the
#                               deadline passes (returns 1 then)
#   start_libvirtd / kill_libvirtd (SIGKILL) / stop_libvirtd / restart_libvirtd
#                       a private libvirtd in its own mount namespace, with
#                       its sockets in $T/lv; $LV_URI is the test-driver URI
#   virsh_open / virsh_run CMD / virsh_close
#                       one long-lived `virsh -c $LV_URI` fed through a FIFO,
#                       so test-driver state (which libvirtd resets when its
#                       last client disconnects) survives between commands
#   domain_xml NAME UUID [DEVICES_XML]     prints a test-driver domain XML
#   vdo CMD ARGS        one timed virsh action: VDO_T (wall), VDO_M (mono)
#   mono                the test's monotonic clock (seconds)
#   hold SECS           a scripted stint (the only sleep; see below)
#   vi_conf STATEFILE [EXTRA]           the plugin's config block on $LV_URI
#   start_collectd BODY / start_collectd_expect_fail BODY / stop_collectd
#   start_collectd_valgrind_virt VG_LOG BODY (under valgrind, with virt)
#   getval / listval / wait_value / wait_listed / csv_file / csv_last /
#   csv_rows / wait_csv / wait_csv_newer / wait_intervals N
#   val IDENT [COL]     one exact csv value, for a check against a constant
#   read_cycle / wait_cycle / csv_cycles
#                       the figures of ONE collectd read (values of several
#                       identifiers, and when they were read): see below
#   calc / check                      arithmetic and tolerance checks
#   ok / not_ok / assert_eq / assert_num / assert_getval / assert_csv /
#   assert_listed / assert_absent / assert_absent_re / assert_monotonic /
#   assert_log /
#   assert_no_log / count_log / assert_count_log
#
# Rules for the suites (a test cannot race):
#   * Figures a check compares with each other or with a time come from one
#     read cycle: read_cycle / wait_cycle. collectd writes every Interval
#     while the test reads, so two lookups (val, csv_last, getval) may see
#     two different reads. Take "before" figures while collectd runs with
#     read_cycle, or after stop_collectd (then the csv is quiescent); take
#     "after an action" figures with wait_cycle -s T_ACTION (a read that
#     began after the action).
#   * Waiting is wait_until (or a wait_* helper) on a condition, with a
#     deadline; never a bare sleep. hold SECS scripts a stint of a known
#     length; checks compare with the times measured around it (vdo's
#     VDO_T / VDO_M), never with SECS.
#
# Every assertion prints `ok - ...` or `not ok - ...`; when the script exits
# the trap stops everything that was started, prints the collectd and
# libvirtd log tails if anything failed, and prints `N passed, M failed`
# alone on the last line. The exit status is 1 if anything failed.
#
# Requirements: root (mount namespaces), unshare(1), libvirtd, virsh,
# collectd, collectdctl. A missing requirement is a failure with a reason,
# never a silent skip.

# ---------------------------------------------------------------- setup ----

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$E2E_LIB_DIR/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
export LC_ALL=C
shopt -s extglob

E2E_NAME=$(basename "$0" .sh)
E2E_PASS=0
E2E_FAIL=0
E2E_PLUGIN_SO="$top_builddir/.libs/virt_inspector.so"
E2E_STOCK_PLUGINDIR=${E2E_STOCK_PLUGINDIR:-/usr/lib/collectd}
E2E_TYPESDB=${E2E_TYPESDB:-/usr/share/collectd/types.db}
E2E_HOST=testhost
E2E_STOCK_PLUGINS=${E2E_STOCK_PLUGINS:-}

COLLECTD_PID=
COLLECTD_RUN=0
COLLECTD_INTERVAL=${COLLECTD_INTERVAL:-1}
LIBVIRTD_PID=
LIBVIRTD_NS=
LIBVIRTD_RUN=0
VIRSH_PID=
VIRSH_FD=
VIRSH_SEQ=0
VIRSH_OUTPUT=

T=$(mktemp -d "${TMPDIR:-/tmp}/vi-e2e-$E2E_NAME.XXXXXX") || {
    echo "not ok - cannot create a temp dir"; echo "0 passed, 1 failed"; exit 1
}
LV_SOCK="$T/lv/libvirt-sock"
LV_URI="test+unix:///default?socket=$LV_SOCK"
COLLECTD_CONF="$T/collectd.conf"
COLLECTD_LOG="$T/collectd.log"
COLLECTD_OUT="$T/collectd.out"
COLLECTD_SOCK="$T/collectd.sock"
CSV_DIR="$T/csv"
LIBVIRTD_LOG="$T/libvirtd.log"

# ------------------------------------------------------------ reporting ----

ok() {
    E2E_PASS=$((E2E_PASS + 1))
    echo "ok - $*"
}

E2E_FIRST_FAIL_RUN=
not_ok() {
    E2E_FAIL=$((E2E_FAIL + 1))
    [ -n "$E2E_FIRST_FAIL_RUN" ] || E2E_FIRST_FAIL_RUN=$COLLECTD_RUN
    echo "not ok - $*"
}

# note MSG: informational line (not an assertion)
note() { echo "# $*"; }

# e2e_bail REASON: a setup step failed; record it and stop the suite.
e2e_bail() {
    not_ok "$*"
    exit 1
}

e2e_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [ -n "$E2E_SIGNAL" ]; then
        not_ok "suite interrupted by SIG$E2E_SIGNAL"
    elif [ "$rc" -ne 0 ] && [ "$E2E_FAIL" -eq 0 ]; then
        not_ok "suite aborted (exit status $rc)"
    fi
    virsh_close 2>/dev/null
    stop_collectd quiet 2>/dev/null
    kill_libvirtd 2>/dev/null
    rmdir "$T" 2>/dev/null # nothing was started: nothing to keep
    if [ "$E2E_FAIL" -gt 0 ] && [ -d "$T" ]; then
        echo "# ---- diagnostics (temp dir kept: $T) ----"
        local first="$T/collectd.$E2E_FIRST_FAIL_RUN.log"
        if [ "${E2E_FIRST_FAIL_RUN:-0}" -gt 0 ] &&
            [ "$E2E_FIRST_FAIL_RUN" -ne "$COLLECTD_RUN" ] && [ -s "$first" ]; then
            echo "# log tail of collectd run #$E2E_FIRST_FAIL_RUN, where the first failure was ($first):"
            tail -n 25 "$first" | sed 's/^/#   /'
        fi
        if [ -s "$COLLECTD_LOG" ]; then
            echo "# collectd log tail, last run #$COLLECTD_RUN ($COLLECTD_LOG):"
            tail -n 40 "$COLLECTD_LOG" | sed 's/^/#   /'
        fi
        if [ -s "$COLLECTD_OUT" ]; then
            echo "# collectd stdout/stderr tail ($COLLECTD_OUT):"
            tail -n 15 "$COLLECTD_OUT" | sed 's/^/#   /'
        fi
        if [ -s "$LIBVIRTD_LOG" ]; then
            echo "# libvirtd log tail ($LIBVIRTD_LOG):"
            grep -v '^[[:space:]]*$' "$LIBVIRTD_LOG" | tail -n 20 | sed 's/^/#   /'
        fi
        if [ -s "$T/libvirtd.out" ]; then
            echo "# libvirtd stdout/stderr tail:"
            tail -n 10 "$T/libvirtd.out" | sed 's/^/#   /'
        fi
    elif [ "$E2E_FAIL" -eq 0 ] && [ -z "${E2E_KEEP:-}" ]; then
        rm -rf "$T"
    fi
    echo "$E2E_PASS passed, $E2E_FAIL failed"
    [ "$E2E_FAIL" -eq 0 ] && exit 0
    exit 1
}
trap e2e_cleanup EXIT
E2E_SIGNAL=
trap 'E2E_SIGNAL=INT; exit 130' INT
trap 'E2E_SIGNAL=TERM; exit 143' TERM

# -------------------------------------------------------------- waiting ----

# Microseconds since the epoch (bash 5 EPOCHREALTIME, any decimal separator).
_now_us() {
    local t=$EPOCHREALTIME
    echo "${t/[.,]/}"
}

# SECS (integer or decimal) -> microseconds
_secs_to_us() {
    local s=$1 int frac
    int=${s%%.*}
    if [ "$int" != "$s" ]; then frac=${s#*.}; else frac=; fi
    frac="${frac}000000"
    frac=${frac:0:6}
    echo $(( ${int:-0} * 1000000 + 10#$frac ))
}

# wait_until TIMEOUT CMD...: run CMD every 0.1 s until it succeeds (return 0)
# or TIMEOUT seconds have passed (return 1).
wait_until() {
    local deadline
    deadline=$(( $(_now_us) + $(_secs_to_us "$1") ))
    shift
    while :; do
        "$@" && return 0
        [ "$(_now_us)" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}

# mono: the test's own monotonic clock (CLOCK_BOOTTIME via /proc/uptime,
# 10 ms resolution), seconds
mono() {
    local u
    read -r u _ </proc/uptime
    echo "$u"
}

# hold SECS: a scripted stint (stay paused for SECS, ...): the only sleep a
# suite may use. It is never synchronisation, and a check never compares
# with SECS: it compares with the times the test measured around the stint.
hold() { sleep "$1"; }

# ------------------------------------------------------- preconditions ----

e2e_require_root() {
    [ "$(id -u)" -eq 0 ] ||
        e2e_bail "needs root (private libvirtd in a mount namespace); running as uid $(id -u)"
    local p
    for p in unshare libvirtd virsh collectd collectdctl mount; do
        command -v "$p" >/dev/null 2>&1 || e2e_bail "required program '$p' not found in PATH"
    done
    local err
    if ! err=$(unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs /mnt' 2>&1); then
        e2e_bail "unshare -m / tmpfs mount does not work here (need CAP_SYS_ADMIN): $err"
    fi
    [ -r "$E2E_TYPESDB" ] || e2e_bail "collectd types.db not found at $E2E_TYPESDB"
}

# e2e_require_plugin: the plugin under test must have been built.
e2e_require_plugin() {
    [ -f "$E2E_PLUGIN_SO" ] ||
        e2e_bail "plugin not built: $E2E_PLUGIN_SO does not exist (run make in $top_builddir)"
}

# ------------------------------------------------------------- libvirtd ----

# start_libvirtd: a private libvirtd whose /run/libvirt, /var/lib/libvirt,
# /var/cache/libvirt and /etc/libvirt are tmpfs mounts in its own mount
# namespace, sockets in $T/lv, pid file and log in $T. Never touches a
# system libvirtd.
start_libvirtd() {
    [ -n "$LIBVIRTD_PID" ] && { echo "start_libvirtd: already running" >&2; return 1; }
    LIBVIRTD_RUN=$((LIBVIRTD_RUN + 1))
    mkdir -p "$T/lv"
    rm -f "$T/lv/libvirt-sock" "$T/lv/libvirt-sock-ro" "$T/lv/libvirt-admin-sock"
    cat >"$T/libvirtd.conf" <<EOF
unix_sock_dir = "$T/lv"
auth_unix_rw = "none"
auth_unix_ro = "none"
listen_tcp = 0
listen_tls = 0
log_outputs = "3:file:$LIBVIRTD_LOG"
EOF
    printf 'user = "root"\ngroup = "root"\n' >"$T/qemu.conf"
    # mount points must exist on the host before the namespace can use them
    mkdir -p /run/libvirt /var/lib/libvirt /var/cache/libvirt /etc/libvirt
    echo "==== libvirtd start #$LIBVIRTD_RUN $(date '+%F %T') ====" >>"$T/libvirtd.out"
    # unshare and sh both exec, so $! is libvirtd's pid.
    # shellcheck disable=SC2016
    unshare -m --propagation private sh -c '
        set -e
        for d in /run/libvirt /var/lib/libvirt /var/cache/libvirt /etc/libvirt; do
            mount -t tmpfs tmpfs "$d"
        done
        cp "$1/qemu.conf" /etc/libvirt/
        exec libvirtd -f "$1/libvirtd.conf" -p "$1/libvirtd.pid"
    ' sh "$T" </dev/null >>"$T/libvirtd.out" 2>&1 &
    LIBVIRTD_PID=$!
    if ! wait_until 30 _libvirtd_up; then
        local why="libvirtd did not create $LV_SOCK within 30 s"
        kill -0 "$LIBVIRTD_PID" 2>/dev/null || why="libvirtd exited during startup"
        kill_libvirtd
        echo "start_libvirtd: $why" >&2
        return 1
    fi
    LIBVIRTD_NS=$(readlink "/proc/$LIBVIRTD_PID/ns/mnt" 2>/dev/null)
    return 0
}

_libvirtd_up() {
    [ -S "$LV_SOCK" ] && return 0
    kill -0 "$LIBVIRTD_PID" 2>/dev/null || return 2
    return 1
}

# kill_libvirtd: SIGKILL libvirtd and anything else in its mount namespace
# (the namespace and its tmpfs mounts go away with the last process).
kill_libvirtd() {
    [ -n "$LIBVIRTD_PID" ] || return 0
    local ns p pids=
    ns=$LIBVIRTD_NS
    [ -n "$ns" ] || ns=$(readlink "/proc/$LIBVIRTD_PID/ns/mnt" 2>/dev/null)
    if [ -n "$ns" ] && [ "$ns" != "$(readlink /proc/self/ns/mnt)" ]; then
        for p in /proc/[0-9]*; do
            [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] && pids="$pids ${p#/proc/}"
        done
    fi
    # shellcheck disable=SC2086
    kill -KILL "$LIBVIRTD_PID" $pids 2>/dev/null
    wait "$LIBVIRTD_PID" 2>/dev/null
    LIBVIRTD_PID=
    LIBVIRTD_NS=
    return 0
}

# stop_libvirtd: polite shutdown (SIGTERM), SIGKILL after 15 s.
stop_libvirtd() {
    [ -n "$LIBVIRTD_PID" ] || return 0
    kill -TERM "$LIBVIRTD_PID" 2>/dev/null
    wait_until 15 _pid_gone "$LIBVIRTD_PID"
    kill_libvirtd
}

# restart_libvirtd: SIGKILL then start again. All test-driver state is lost
# (the default domain `test` comes back); an open virsh session is reopened.
restart_libvirtd() {
    local had_virsh=$VIRSH_PID
    [ -n "$had_virsh" ] && virsh_close
    kill_libvirtd
    start_libvirtd || return 1
    [ -n "$had_virsh" ] && { virsh_open || return 1; }
    return 0
}

_pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# ---------------------------------------------------------------- virsh ----

# virsh_open: start `virsh -c $LV_URI` in shell mode reading from a FIFO that
# this shell holds open, so the connection (and the test driver's state)
# lives until virsh_close.
virsh_open() {
    [ -n "$VIRSH_PID" ] && return 0
    rm -f "$T/virsh.in"
    mkfifo "$T/virsh.in" || return 1
    : >"$T/virsh.out"
    virsh -q -c "$LV_URI" <"$T/virsh.in" >>"$T/virsh.out" 2>&1 &
    VIRSH_PID=$!
    exec {VIRSH_FD}>"$T/virsh.in"
    # first round trip proves the connection works
    if ! virsh_run "uri" >/dev/null; then
        echo "virsh_open: cannot talk to libvirtd at $LV_URI: $VIRSH_OUTPUT" >&2
        virsh_close
        return 1
    fi
}

# virsh_run "COMMAND ARGS": run one command in the session (virsh shell
# quoting applies) and wait for it. Output (stdout+stderr) is left in
# $VIRSH_OUTPUT and printed to stdout; returns 1 if it reported an error.
virsh_run() {
    [ -n "$VIRSH_PID" ] || { VIRSH_OUTPUT="no virsh session"; return 1; }
    VIRSH_SEQ=$((VIRSH_SEQ + 1))
    # virsh's echo joins its arguments with a space, so the marker it prints
    # ("__e2e_ done_N__") differs from the echoed command line.
    # BASHPID + RANDOM keep markers unique when called from a subshell
    # (whose VIRSH_SEQ increment is lost).
    local id="${VIRSH_SEQ}_${BASHPID}_${RANDOM}"
    local mark="__e2e_ done_${id}__" off
    off=$(stat -c %s "$T/virsh.out")
    printf '%s\necho "__e2e_" "done_%s__"\n' "$*" "$id" >&"$VIRSH_FD" ||
        { VIRSH_OUTPUT="virsh session gone"; return 1; }
    if ! wait_until 30 _virsh_marked "$mark"; then
        VIRSH_OUTPUT="virsh: no answer to '$*' within 30 s"
        return 1
    fi
    VIRSH_OUTPUT=$(tail -c +"$((off + 1))" "$T/virsh.out" | awk -v m="$mark" '
        index($0, "echo \"__e2e_\" \"done_") { next }
        (i = index($0, m)) { printf "%s", substr($0, 1, i - 1); exit }
        { print }')
    printf '%s\n' "$VIRSH_OUTPUT"
    case "$VIRSH_OUTPUT" in
    *error:*) return 1 ;;
    esac
    return 0
}

_virsh_marked() {
    grep -qF "$1" "$T/virsh.out" && return 0
    kill -0 "$VIRSH_PID" 2>/dev/null || return 2
    return 1
}

virsh_close() {
    [ -n "$VIRSH_PID" ] || return 0
    if [ -n "$VIRSH_FD" ]; then
        { printf 'quit\n' >&"$VIRSH_FD"; } 2>/dev/null
        exec {VIRSH_FD}>&-
        VIRSH_FD=
    fi
    wait_until 5 _pid_gone "$VIRSH_PID" || kill -KILL "$VIRSH_PID" 2>/dev/null
    wait "$VIRSH_PID" 2>/dev/null
    VIRSH_PID=
}

# vdo ARGS...: one timed virsh action on a connection of its own (virsh_run
# polls every 0.1 s, too coarse to time a stint; the session keeps the test
# driver's state alive meanwhile). VDO_T (wall clock, to compare with csv
# epochs) and VDO_M (mono) are taken the moment it returns; VDO_D is how
# long it took. A failure is an assertion failure (returns 1).
# shellcheck disable=SC2034 # VDO_* are read by the caller
vdo() {
    local out rc m0
    m0=$(mono)
    out=$(timeout 60 virsh -q -c "$LV_URI" "$@" 2>&1)
    rc=$?
    VDO_T=$EPOCHREALTIME
    read -r VDO_M _ </proc/uptime
    VDO_D=$(calc 'b - a' a="$m0" b="$VDO_M")
    [ "$rc" -eq 0 ] && return 0
    not_ok "virsh $*: $out"
    return 1
}

_xml_escape() {
    # sed, not ${s//x/y}: bash 5.2 treats '&' in a replacement as the match
    printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' \
        -e 's/"/\&quot;/g' -e "s/'/\\&apos;/g"
}

# new_uuid: a random lower-case UUID
new_uuid() { cat /proc/sys/kernel/random/uuid; }

# domain_xml NAME UUID [DEVICES_XML] [MEMORY_KIB]: a minimal test-driver
# domain. Give DEVICES_XML "<memballoon model='virtio'/>" for memory stats.
domain_xml() {
    cat <<EOF
<domain type='test'>
  <name>$(_xml_escape "$1")</name>
  <uuid>$2</uuid>
  <memory unit='KiB'>${4:-1048576}</memory>
  <currentMemory unit='KiB'>${4:-1048576}</currentMemory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
  <devices>${3:-}</devices>
</domain>
EOF
}

# virsh_create NAME UUID [DEVICES_XML] [define|create]: define (persistent,
# shut off) or create (transient, running) a domain in the session.
virsh_create() {
    local f="$T/dom-$2.xml"
    domain_xml "$1" "$2" "${3:-}" >"$f"
    virsh_run "${4:-create} $f" >/dev/null
}

# ------------------------------------------------------------- collectd ----

# vi_conf STATEFILE [EXTRA]: the plugin's config block on $LV_URI (the
# suite's libvirtd), with EXTRA lines inside it.
vi_conf() {
    cat <<EOF
LoadPlugin virt_inspector
<Plugin virt_inspector>
  Connection "$LV_URI"
  StateFile "$1"
  ${2:-}
</Plugin>
EOF
}

# collectd_io_conf: the logfile ($COLLECTD_LOG) and unixsock
# ($COLLECTD_SOCK) blocks of every collectd a test runs (also
# tests/package.sh's, beside Debian's collectd.conf).
collectd_io_conf() {
    cat <<EOF
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$COLLECTD_LOG"
  Timestamp true
  PrintSeverity true
</Plugin>

LoadPlugin unixsock
<Plugin unixsock>
  SocketFile "$COLLECTD_SOCK"
  SocketGroup "root"
</Plugin>
EOF
}

# collectd_conf BODY: write $COLLECTD_CONF (Interval $COLLECTD_INTERVAL).
collectd_conf() {
    cat >"$COLLECTD_CONF" <<EOF
# generated by tests/e2e/lib.sh (run #$COLLECTD_RUN)
Hostname "$E2E_HOST"
FQDNLookup false
BaseDir "$T/collectd"
PIDFile "$T/collectd.pid"
PluginDir "$T/plugins"
TypesDB "$E2E_TYPESDB"
Interval $COLLECTD_INTERVAL
CollectInternalStats true

$(collectd_io_conf)

LoadPlugin csv
<Plugin csv>
  DataDir "$CSV_DIR"
  StoreRates false
</Plugin>

$1
EOF
}

# _collectd_prepare BODY: fresh plugin dir (copies, collectd refuses
# symlinks), fresh csv dir, previous log archived; writes the config.
_collectd_prepare() {
    COLLECTD_RUN=$((COLLECTD_RUN + 1))
    [ -f "$COLLECTD_LOG" ] && mv "$COLLECTD_LOG" "$T/collectd.$((COLLECTD_RUN - 1)).log"
    [ -f "$COLLECTD_OUT" ] && mv "$COLLECTD_OUT" "$T/collectd.$((COLLECTD_RUN - 1)).out"
    [ -d "$CSV_DIR" ] && mv "$CSV_DIR" "$T/csv.$((COLLECTD_RUN - 1))"
    rm -rf "$T/plugins" "$COLLECTD_SOCK"
    mkdir -p "$T/plugins" "$T/collectd" "$CSV_DIR"
    local p
    for p in logfile unixsock csv ${E2E_STOCK_PLUGINS:-}; do
        cp "$E2E_STOCK_PLUGINDIR/$p.so" "$T/plugins/" || return 1
    done
    [ -f "$E2E_PLUGIN_SO" ] && cp "$E2E_PLUGIN_SO" "$T/plugins/"
    collectd_conf "$1"
}

# start_collectd BODY: start `collectd -f` with the config body appended;
# waits (deadline) until its unixsock socket exists. Returns 1 if collectd
# exited or never came up.
start_collectd() {
    [ -n "$COLLECTD_PID" ] && stop_collectd
    _collectd_prepare "$1" || return 1
    collectd -f -C "$COLLECTD_CONF" </dev/null >"$COLLECTD_OUT" 2>&1 &
    COLLECTD_PID=$!
    if ! wait_until 15 _collectd_up; then
        if kill -0 "$COLLECTD_PID" 2>/dev/null; then
            echo "start_collectd: no $COLLECTD_SOCK within 15 s" >&2
            stop_collectd
        else
            wait "$COLLECTD_PID"
            echo "start_collectd: collectd exited with status $? during startup" >&2
            COLLECTD_PID=
        fi
        return 1
    fi
    return 0
}

_collectd_up() {
    [ -S "$COLLECTD_SOCK" ] && return 0
    kill -0 "$COLLECTD_PID" 2>/dev/null || return 2
    return 1
}

# start_collectd_valgrind_virt VG_LOG BODY: start_collectd with collectd
# under valgrind (-q, no leak check, its report in VG_LOG) and collectd's own
# virt plugin loaded on $LV_URI beside BODY (both use libvirt's event loop
# and libxml2 in one process). start_collectd runs `collectd ... &`: the
# function below makes that valgrind, exec'd in the background subshell, so
# COLLECTD_PID is valgrind's (= collectd's). Returns as start_collectd.
start_collectd_valgrind_virt() {
    local vg_log=$1 body=$2 bin rc
    bin=$(command -v collectd)
    collectd() { exec valgrind -q --leak-check=no --log-file="$vg_log" "$bin" "$@"; }
    E2E_STOCK_PLUGINS=virt
    start_collectd "$body
LoadPlugin virt
<Plugin virt>
  Connection \"$LV_URI\"
</Plugin>"
    rc=$?
    E2E_STOCK_PLUGINS=
    unset -f collectd
    return "$rc"
}

# start_collectd_expect_fail BODY: start collectd with a config that must be
# rejected. Returns collectd's exit status, also left in $COLLECTD_EXIT
# (0 if it started up: then it is stopped again). Call it directly, not in
# $(...), so the run counter and log archive stay consistent.
COLLECTD_EXIT=
start_collectd_expect_fail() {
    [ -n "$COLLECTD_PID" ] && stop_collectd
    _collectd_prepare "$1" || return 1
    collectd -f -C "$COLLECTD_CONF" </dev/null >"$COLLECTD_OUT" 2>&1 &
    local pid=$!
    wait_until 15 _pid_gone_or_sock "$pid"
    if kill -0 "$pid" 2>/dev/null; then
        # it came up (or hangs): that is a "successful" start
        COLLECTD_PID=$pid
        stop_collectd
        COLLECTD_EXIT=0
        return 0
    fi
    wait "$pid"
    COLLECTD_EXIT=$?
    return "$COLLECTD_EXIT"
}

_pid_gone_or_sock() { _pid_gone "$1" || [ -S "$COLLECTD_SOCK" ]; }

# stop_collectd [quiet]: SIGTERM, wait up to 15 s, then SIGKILL.
stop_collectd() {
    [ -n "$COLLECTD_PID" ] || return 0
    kill -TERM "$COLLECTD_PID" 2>/dev/null
    if ! wait_until 15 _pid_gone "$COLLECTD_PID"; then
        [ "${1:-}" = quiet ] || echo "stop_collectd: collectd ignored SIGTERM for 15 s, killing it" >&2
        kill -KILL "$COLLECTD_PID" 2>/dev/null
    fi
    wait "$COLLECTD_PID" 2>/dev/null
    COLLECTD_PID=
}

# ---------------------------------------------------------- reading values ----

# getval IDENT: collectdctl getval output (name=value lines), status of collectdctl
getval() { collectdctl -s "$COLLECTD_SOCK" getval "$1" 2>&1; }

# listval: identifiers currently in collectd's cache, one per line
listval() { collectdctl -s "$COLLECTD_SOCK" listval 2>/dev/null; }

# getval_field IDENT NAME: one field of a getval answer (e.g. value, in, out)
getval_field() {
    local out
    out=$(collectdctl -s "$COLLECTD_SOCK" getval "$1" 2>/dev/null) || return 1
    printf '%s\n' "$out" | sed -n "s/^$2=//p" | head -n 1
}

_getval_ok() {
    local out
    out=$(collectdctl -s "$COLLECTD_SOCK" getval "$1" 2>/dev/null) || return 1
    [ -n "$out" ] && ! printf '%s' "$out" | grep -qi 'nan'
}

# wait_value IDENT [TIMEOUT]: until getval answers with a (non-NaN) value
wait_value() { wait_until "${2:-15}" _getval_ok "$1"; }

_listed() { listval | grep -qxF "$1"; }
_not_listed() { ! listval | grep -qxF "$1"; }

# wait_listed IDENT [TIMEOUT] / wait_unlisted IDENT [TIMEOUT]
wait_listed() { wait_until "${2:-15}" _listed "$1"; }
wait_unlisted() { wait_until "${2:-15}" _not_listed "$1"; }

# csv_file IDENT: newest csv file of host/plugin[-inst]/type[-tinst]
csv_file() {
    # the glob sorts, and the date suffix sorts chronologically
    local -a f=("$CSV_DIR/$1"-[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9])
    [ -e "${f[-1]}" ] && printf '%s\n' "${f[-1]}"
}

# csv_rows IDENT: number of data rows written so far (0 if none)
csv_rows() {
    local f n
    f=$(csv_file "$1") || { echo 0; return; }
    n=$(($(wc -l <"$f") - 1))
    [ "$n" -lt 0 ] && n=0
    echo "$n"
}

# csv_last IDENT [COLUMN]: exact last value of COLUMN (header name such as
# value/in/out/minflt, or 1-based index of the value columns; default the
# first value column) as the csv writer wrote it. COLUMN "epoch" gives the
# row's time. Returns 1 if there is no data row.
csv_last() {
    local f col=${2:-1}
    f=$(csv_file "$1") || return 1
    awk -F, -v col="$col" '
        NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
        { last = $0 }
        END {
            if (last == "") exit 1
            n = split(last, v, ",")
            if (col ~ /^[0-9]+$/) i = col + 1; else i = h[col]
            if (!i || i > n) exit 1
            print v[i]
        }' "$f"
}

# last_row IDENT: ROW_E and ROW_V (epoch, first value) of IDENT's last csv
# row, from ONE read of the file (empty if none): a value and its time are
# never taken from two different rows. For several identifiers, read_cycle.
last_row() {
    local f row
    ROW_E= ROW_V=
    f=$(csv_file "$1") || return 0
    row=$(tail -n 1 "$f")
    case $row in epoch*|"") return 0 ;; esac
    ROW_E=${row%%,*}
    row=${row#*,}
    ROW_V=${row%%,*}
}

_csv_has_rows() { [ "$(csv_rows "$1")" -ge "${2:-1}" ]; }

# wait_csv IDENT [MIN_ROWS] [TIMEOUT]
wait_csv() { wait_until "${3:-15}" _csv_has_rows "$1" "${2:-1}"; }

# _csv_newer IDENT EPOCH: last row's time is later than EPOCH
_csv_newer() {
    local t
    t=$(csv_last "$1" epoch) || return 1
    awk -v a="$t" -v b="$2" 'BEGIN { exit !(a + 0 > b + 0) }'
}

# wait_csv_newer IDENT EPOCH [TIMEOUT]: until a row newer than EPOCH appears
wait_csv_newer() { wait_until "${3:-20}" _csv_newer "$1" "$2"; }

# wait_intervals N: let N collectd read cycles pass, measured on collectd's
# own internal statistics (CollectInternalStats), not a fixed sleep.
E2E_HEARTBEAT="$E2E_HOST/collectd-cache/cache_size"
wait_intervals() {
    local n0
    n0=$(csv_rows "$E2E_HEARTBEAT")
    wait_until $(( ($1 + 2) * ${COLLECTD_INTERVAL%.*} + 10 )) _csv_has_rows "$E2E_HEARTBEAT" $((n0 + $1))
}

# normalize a number as printed by collectd's csv writer: 1073741824.000000 -> 1073741824
_num_norm() {
    local v=$1
    case "$v" in
    *.*) v=${v%%+(0)}; v=${v%.} ;;
    esac
    printf '%s' "$v"
}

# ------------------------------------------------------------- asserting ----

# assert_eq DESC ACTUAL EXPECTED
assert_eq() {
    if [ "$2" = "$3" ]; then
        ok "$1"
    else
        not_ok "$1: got '$2', expected '$3'"
    fi
}

# assert_num DESC ACTUAL EXPECTED: exact numeric string compare after
# dropping trailing zero decimals (csv prints gauges with %lf)
assert_num() {
    local a
    a=$(_num_norm "$2")
    if [ -n "$2" ] && [ "$a" = "$(_num_norm "$3")" ]; then
        ok "$1"
    else
        not_ok "$1: got '$2', expected '$3'"
    fi
}

# assert_csv IDENT COLUMN EXPECTED: waits for a csv row, compares the last
assert_csv() {
    local v
    if ! wait_csv "$1" 1 10; then
        not_ok "csv $1 [$2] == $3: no csv rows ($CSV_DIR/$1-*)"
        return
    fi
    v=$(csv_last "$1" "$2")
    assert_num "csv $1 [$2] == $3" "$v" "$3"
}

# assert_getval IDENT NAME EXPECTED: collectdctl prints %e (6 significant
# digits); compare with relative tolerance 1e-6.
assert_getval() {
    local v
    if ! wait_value "$1" 10; then
        not_ok "getval $1 $2 == $3: $(getval "$1" | head -n 2 | tr '\n' ' ')"
        return
    fi
    v=$(getval_field "$1" "$2")
    if [ -n "$v" ] && awk -v a="$v" -v e="$3" 'BEGIN {
            d = a - e; if (d < 0) d = -d; m = e < 0 ? -e : e
            exit !(d <= m * 1e-6 || (e == 0 && a == 0)) }'; then
        ok "getval $1 $2 == $3"
    else
        not_ok "getval $1 $2 == $3: got '$v'"
    fi
}

# assert_listed IDENT [TIMEOUT]: listval shows IDENT (waits for it)
assert_listed() {
    if wait_listed "$1" "${2:-10}"; then
        ok "listval shows $1"
    else
        not_ok "listval shows $1 (listval has: $(listval | grep -F "${1%%/*}/${1#*/}" | head -n 3 | tr '\n' ' '))"
    fi
}

# assert_absent IDENT: listval does not list IDENT (now)
assert_absent() {
    if _not_listed "$1"; then
        ok "absent: $1"
    else
        not_ok "absent: $1 (listval lists it)"
    fi
}

# assert_absent_re DESC ERE: no listval identifier matches ERE
assert_absent_re() {
    local hits
    hits=$(listval | grep -E -- "$2")
    if [ -z "$hits" ]; then
        ok "$1"
    else
        not_ok "$1: listval has $(printf '%s' "$hits" | head -n 3 | tr '\n' ' ')"
    fi
}

# assert_monotonic IDENT: no csv row of IDENT is lower than the one before
assert_monotonic() {
    local f bad
    if ! f=$(csv_file "$1"); then
        not_ok "$1 never decreases: no csv file"
        return
    fi
    bad=$(awk -F, 'NR > 2 && $2 + 0 < prev { print prevrow " -> " $0; exit }
                   NR > 1 { prev = $2 + 0; prevrow = $0 }' "$f")
    if [ -z "$bad" ]; then
        ok "$1 never decreases ($(csv_rows "$1") rows)"
    else
        not_ok "$1 never decreases: $bad"
    fi
}

# count_log ERE [FILE]: matching lines in the current collectd log
count_log() {
    local n
    n=$(grep -cE -- "$1" "${2:-$COLLECTD_LOG}" 2>/dev/null)
    echo "${n:-0}"
}

# assert_log ERE [DESC]: the current collectd log has a matching line
assert_log() {
    if grep -qE -- "$1" "$COLLECTD_LOG" 2>/dev/null; then
        ok "${2:-log matches /$1/}"
    else
        not_ok "${2:-log matches /$1/}: no such line in $COLLECTD_LOG"
    fi
}

# assert_no_log ERE [DESC]
assert_no_log() {
    local hits
    hits=$(grep -E -- "$1" "$COLLECTD_LOG" 2>/dev/null | head -n 3)
    if [ -z "$hits" ]; then
        ok "${2:-log has no /$1/}"
    else
        not_ok "${2:-log has no /$1/}: $hits"
    fi
}

# assert_count_log ERE EXPECTED [DESC]
assert_count_log() {
    local n
    n=$(count_log "$1")
    if [ "$n" = "$2" ]; then
        ok "${3:-log has $2 line(s) matching /$1/}"
    else
        not_ok "${3:-log has $2 line(s) matching /$1/}: found $n$(grep -E -- "$1" "$COLLECTD_LOG" 2>/dev/null | head -n 3 | sed 's/^/ | /' | tr '\n' ' ')"
    fi
}

# wait_log ERE [TIMEOUT]: until the collectd log has a matching line
_log_has() { grep -qE -- "$1" "$COLLECTD_LOG" 2>/dev/null; }
wait_log() { wait_until "${2:-15}" _log_has "$1"; }

# ------------------------------------------------- domain name mapping ----

# expect_instance NAME UUID: the plugin-instance string the spec requires:
# bytes in [A-Za-z0-9._-] kept, others %XX (upper-case hex); if longer than
# 63 bytes: the first <= 26 bytes (never splitting a %XX) + "~" + UUID.
expect_instance() {
    local hex b out='' tok cut=''
    hex=$(printf '%s' "$1" | od -An -v -tx1)
    local -a toks=()
    for b in $hex; do
        case "$b" in
        2d | 2e | 5f | 3[0-9] | 4[1-9a-f] | 5[0-9a] | 6[1-9a-f] | 7[0-9a])
            tok=$(printf '%b' "\\x$b") ;;
        *)
            tok=%$(printf '%s' "$b" | tr 'a-f' 'A-F') ;;
        esac
        toks+=("$tok")
        out+=$tok
    done
    if [ "${#out}" -le 63 ]; then
        printf '%s' "$out"
        return
    fi
    for tok in "${toks[@]}"; do
        [ $(( ${#cut} + ${#tok} )) -le 26 ] || break
        cut+=$tok
    done
    printf '%s~%s' "$cut" "$2"
}

# ------------------------------------------------------------ numbers ----

_is_num() { [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; }

# calc EXPR NAME=VALUE...: awk arithmetic on named numbers, 6 decimals;
# prints nothing (status 1) if a value is not a number.
calc() {
    local e=$1 a
    local -a args=()
    shift
    for a; do
        _is_num "${a#*=}" || return 1
        args+=(-v "$a")
    done
    awk "${args[@]}" "BEGIN { printf \"%.6f\", $e }"
}

# check DESC ACTUAL OP EXPECTED [TOL]: OP is ~ (|ACTUAL - EXPECTED| <= TOL),
# >=, <= (with TOL slack) or == (exact numbers).
check() {
    local desc=$1 a=$2 op=$3 e=$4 t=${5:-0}
    if _is_num "$a" && _is_num "$e" && awk -v a="$a" -v e="$e" -v t="$t" -v op="$op" 'BEGIN {
            d = a - e
            if (op == "~") r = (d <= t && -d <= t)
            else if (op == ">=") r = (a >= e - t)
            else if (op == "<=") r = (a <= e + t)
            else r = (a == e)
            exit !r }'; then
        ok "$desc ($a $op $e${5:+ ± $t})"
    else
        not_ok "$desc: got '$a', expected $op '$e'${5:+ (tolerance $t)}"
    fi
}

# val IDENT [COLUMN]: exact last csv value, empty if none. Only for a figure
# checked on its own (against a constant); figures a check compares with each
# other or with a time come from read_cycle.
val() { csv_last "$1" "${2:-1}" 2>/dev/null; }

# ------------------------------------------------------------ read cycles ----
# collectd keeps writing every Interval while a test reads, so two separate
# csv lookups may see two different reads. Every figure a check compares
# (values of several identifiers, and the time they were read) comes from
# ONE read cycle, taken from the csv files in one pass:
#
#   csv_cycles [-a T] [-s T] SPEC...   every complete cycle, newest first
#   read_cycle [-a T] [-s T] SPEC...   the newest one, into CYCLE/CYCLE_T
#   wait_cycle TIMEOUT [-a T] [-s T] SPEC...   read_cycle with a deadline
#                                      (a miss is a not_ok)
#
# SPEC is IDENT or IDENT:COLUMN (COLUMN as for csv_last: a header name such
# as value/state/reason/in/out, or a 1-based index of the value columns;
# default the first). A leading '?' makes it optional (e.g. duration-paused
# of a domain never paused: collectd writes no row): it does not restrict
# which cycle is chosen, and is empty if that cycle has no row for it.
#
# A cycle is anchored on a row of the FIRST SPEC; every other SPEC's row of
# that cycle is its only row within CYCLE_WINDOW seconds of the anchor
# (default 0.4 Interval: collectd stamps each value as it is dispatched, so
# the rows of one read differ by a few ms, and reads are an Interval apart).
# An anchor for which a SPEC has no row, or two, is skipped (never guessed).
#   -a T   every row of the cycle is newer than T (epoch seconds)
#   -s T   the read that produced the cycle BEGAN after T (plugin health
#          duration-read in the same cycle: its epoch minus its value), so
#          it saw everything done before T: use it after an action.
#
# read_cycle sets, for each SPEC (without its '?'):
#   CYCLE[SPEC]    the value, exactly as the csv writer wrote it
#   CYCLE_T[SPEC]  the epoch of that row (for value-vs-time checks of SPEC)
#   CYCLE_EPOCH    the anchor's epoch (the first SPEC's row)
#   CYCLE_START    when -s is given: when the read began
# and returns 1 (CYCLE empty) if there is no such cycle. Call it directly,
# not in $(...), so the variables reach the caller. Example:
#
#     read_cycle "$ID/duration-total" "$ID/duration-running" || not_ok ...
#     tot0=${CYCLE[$ID/duration-total]} e0=$CYCLE_EPOCH
#     ... act ...
#     wait_cycle 25 -s "$t_action" "$ID/duration-total" "$ID/uptime" || ...
#     check "uptime" "${CYCLE[$ID/uptime]}" "~" \
#         "$(calc 'e - t' e="${CYCLE_T[$ID/uptime]}" t="$t_start")" 0.1
#
# For a condition on a cycle, wait_until on a function that calls read_cycle
# and tests CYCLE (the variables of the last call are those of the cycle
# that met it).
declare -gA CYCLE=() CYCLE_T=()
CYCLE_EPOCH=
CYCLE_START=
CYCLE_WINDOW=${CYCLE_WINDOW:-}
VI_HEALTH_READ="$E2E_HOST/virt_inspector/duration-read"

# _cycle_stream SPEC...: for each SPEC a line "#SPEC k col optional(0|1)",
# then every csv file of its identifier (by date), each followed by a line
# "#EOF" (a row that collectd is still writing ends up joined to it, and is
# dropped). Returns 1 if a required SPEC has no csv file.
_cycle_stream() {
    local k=0 s id col opt f
    for s; do
        k=$((k + 1))
        opt=0
        [ "${s:0:1}" = "?" ] && { opt=1; s=${s:1}; }
        id=$s col=1
        if [[ ${s##*/} == *:* ]]; then id=${s%:*}; col=${s##*:}; fi
        local -a files=("$CSV_DIR/$id"-[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9])
        [ -e "${files[0]}" ] || { [ "$opt" = 1 ] || return 1; files=(); }
        printf '#SPEC %s %s %s\n' "$k" "$col" "$opt"
        for f in "${files[@]}"; do
            cat "$f"
            printf '#EOF\n'
        done
    done
}

csv_cycles() {
    local after='' start='' first=0 w
    while :; do
        case "${1:-}" in
        -a) after=$2; shift 2 ;;
        -s) start=$2; shift 2 ;;
        -1) first=1; shift ;; # the newest only (read_cycle)
        *) break ;;
        esac
    done
    [ $# -ge 1 ] || return 1
    local -a specs=("$@")
    [ -n "$start" ] && specs+=("$VI_HEALTH_READ")
    local stream
    stream=$(_cycle_stream "${specs[@]}") || return 1
    w=${CYCLE_WINDOW:-$(awk -v i="$COLLECTD_INTERVAL" 'BEGIN { print 0.4 * i }')}
    awk -F, -v n="${#specs[@]}" -v w="$w" -v after="$after" -v start="$start" -v first="$first" '
        /^#SPEC / { split($0, sp, " "); k = sp[2]; col = sp[3]; optional[k] = sp[4]; ci = 0; next }
        /#EOF$/ { next }
        /^epoch/ {
            # a header: epoch,value or epoch,in,out,...
            ci = 0
            if (col ~ /^[0-9]+$/) ci = col + 1
            else for (i = 2; i <= NF; i++) if ($i == col) ci = i
            next
        }
        ci && ci <= NF { m = ++cnt[k]; t[k, m] = $1; v[k, m] = $ci }
        END {
            # p[x]: newest row of x not later than anchor + w
            for (x = 2; x <= n; x++) p[x] = cnt[x]
            found = 0
            for (a = cnt[1]; a >= 1; a--) {
                ta = t[1, a]
                if (after != "" && ta + 0 <= after + 0) break
                line = ta "\t" ta "\t" v[1, a]
                okc = 1
                for (x = 2; x <= n; x++) {
                    while (p[x] >= 1 && t[x, p[x]] + 0 > ta + w) p[x]--
                    hits = 0
                    for (j = p[x]; j >= 1 && t[x, j] + 0 >= ta - w; j--) { hits++; hj = j }
                    if (hits == 1 && (after == "" || t[x, hj] + 0 > after + 0)) {
                        line = line "\t" t[x, hj] "\t" v[x, hj]
                    } else if (hits == 0 && optional[x]) {
                        line = line "\t\t"
                    } else { okc = 0; break }
                }
                if (!okc) continue
                if (start != "") {
                    # the last spec is the health duration-read
                    split(line, f, "\t")
                    rs = f[2 * n] - f[2 * n + 1]
                    if (rs <= start + 0) break
                    line = line "\t" sprintf("%.6f", rs)
                }
                print line
                found = 1
                if (first) break
            }
            exit !found
        }' <<<"$stream"
}

# shellcheck disable=SC2034 # CYCLE* are read by the caller
read_cycle() {
    local -a opts=()
    while :; do
        case "${1:-}" in
        -a | -s) opts+=("$1" "$2"); shift 2 ;;
        *) break ;;
        esac
    done
    CYCLE=() CYCLE_T=() CYCLE_EPOCH='' CYCLE_START=''
    local line s i=0
    line=$(csv_cycles -1 "${opts[@]}" "$@")
    [ -n "$line" ] || return 1
    local -a f
    mapfile -t -d $'\t' f < <(printf '%s\t' "$line") # keeps empty fields
    CYCLE_EPOCH=${f[0]}
    for s; do
        s=${s#\?}
        CYCLE_T[$s]=${f[1 + 2 * i]}
        CYCLE[$s]=${f[2 + 2 * i]}
        i=$((i + 1))
    done
    case " ${opts[*]} " in
    *" -s "*) CYCLE_START=${f[-1]} ;;
    esac
    return 0
}

wait_cycle() {
    local to=$1 s last='' desc=''
    shift
    wait_until "$to" read_cycle "$@" && return 0
    while [ $# -gt 0 ]; do
        case "$1" in
        -a) desc+=" with rows newer than $2"; shift 2 ;;
        -s) desc+=" of a read begun after $2"; shift 2 ;;
        *) break ;;
        esac
    done
    for s; do
        s=${s#\?}
        [[ ${s##*/} == *:* ]] && s=${s%:*}
        last+=" $s@$(csv_last "$s" epoch 2>/dev/null || echo none)"
    done
    not_ok "a read cycle$desc within $to s, with rows for: $* (last rows:$last)"
    return 1
}
