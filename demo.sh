#!/bin/bash
# Quick start: builds virt_inspector, installs it into a temporary prefix,
# runs a real collectd with it against libvirt's test hypervisor (a private
# libvirtd in its own mount namespace: a system libvirtd is never touched),
# prints live values with collectdctl, then suspends and resumes a guest and
# shows the state durations move. Needs root on Debian 12; installs what it
# needs with apt-get. Everything is removed at the end.
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (apt-get, mount namespaces)" >&2; exit 1; }
"$src/tests/install-deps.sh"

work=$(mktemp -d /tmp/virt_inspector-demo.XXXXXX)
echo "== building and installing into $work/prefix"
[ -x "$src/configure" ] || (cd "$src" && autoreconf -fi >/dev/null 2>&1)
mkdir "$work/build"
(cd "$work/build" && "$src/configure" -q --prefix="$work/prefix" &&
  make -s -j2 >/dev/null && make -s install >/dev/null)
ls "$work/prefix/lib/collectd/virt_inspector.so" \
  "$work/prefix/etc/collectd/collectd.conf.d/virt_inspector.conf"

set +eu
# shellcheck source=tests/e2e/lib.sh
. "$src/tests/e2e/lib.sh"
E2E_PLUGIN_SO="$work/prefix/lib/collectd/virt_inspector.so"
# e2e_cleanup exits (with the demo's status): remove the build first.
trap 'rc=$?; rm -rf "$work"; (exit $rc); e2e_cleanup' EXIT
e2e_require_root

show() { # collectdctl getval, printed as a user would type it
  echo "\$ collectdctl getval $1"
  getval "$1" | sed 's/^/    /'
}

echo "== starting a private libvirtd (test driver) and collectd"
start_libvirtd || e2e_bail "libvirtd did not start"
virsh_open
# -- picture: collectd's rrdtool writer keeps what the demo runs, graphed at the end
E2E_STOCK_PLUGINS="${E2E_STOCK_PLUGINS:-} rrdtool"
RRD_DIR="$T/rrd"
demo_t0=$(date +%s)
start_collectd "LoadPlugin virt_inspector
<Plugin virt_inspector>
  Connection \"$LV_URI\"
</Plugin>
LoadPlugin rrdtool
<Plugin rrdtool>
  DataDir \"$RRD_DIR\"
</Plugin>" || e2e_bail "collectd did not start"
id=$E2E_HOST/virt_inspector-test
wait_value "$id/memory-used" 20 || e2e_bail "no values from the plugin"

echo "== live values of the test hypervisor's domain \"test\""
echo "\$ collectdctl listval"
listval | grep virt_inspector | sed 's/^/    /'
for v in memory-used percent-used memory-available memory-unused memory-rss \
  duration-running uptime duration-current_state domain_state; do
  show "$id/$v"
done

echo "== suspend the guest for 2 s, then resume it"
vdo suspend test && t_susp=$VDO_T
hold 2 # the stint being shown
vdo resume test && t_res=$VDO_T
# the figures of one read that began after the resume
if wait_cycle 10 -s "$t_res" "$id/duration-paused" "$id/uptime" \
  "$id/duration-current_state"; then
  show "$id/duration-paused"
  show "$id/duration-running"
  show "$id/duration-total"
  show "$id/uptime"
  show "$id/duration-current_state"
  echo "== notifications in collectd's log"
  grep "Notification:" "$COLLECTD_LOG" | sed 's/^/    /'
  check "duration-paused is the pause, as timed by this script" \
    "${CYCLE[$id/duration-paused]}" "~" "$(calc 'b - a' a="$t_susp" b="$t_res")" 0.1
  check "uptime went on through the pause (the guest did not reboot)" \
    "${CYCLE[$id/uptime]}" ">=" "$(calc 'b - a' a="$t_susp" b="${CYCLE_T[$id/uptime]}")"
  check "duration-current_state: running since the resume" \
    "${CYCLE[$id/duration-current_state]}" "~" \
    "$(calc 'b - a' a="$t_res" b="${CYCLE_T[$id/duration-current_state]}")" 0.1
fi

# -- picture: PNG graphs of what ran, from the rrdtool writer's files ------
echo "== graphs"
wait_intervals 3 # a few reads after the resume, so the graph shows them
stop_collectd    # collectd flushes the rrdtool writer's queue when it stops
graphs=$(mktemp -d /tmp/virt_inspector-graphs.XXXXXX)
rrd="$RRD_DIR/$id"
demo_t1=$(date +%s)
g=(--start "$demo_t0" --end "$demo_t1" --width 640 --height 200 --lower-limit 0)
rrdtool graph "$graphs/memory.png" "${g[@]}" --base 1024 \
  --title "virt_inspector: memory of domain \"test\" (libvirt's test hypervisor)" \
  --vertical-label bytes \
  "DEF:avail=$rrd/memory-available.rrd:value:AVERAGE" \
  "DEF:used=$rrd/memory-used.rrd:value:AVERAGE" \
  "AREA:avail#9fc5e8:memory-available" \
  "AREA:used#0b5394:memory-used" \
  "GPRINT:used:LAST:used %.2lf %sB" "GPRINT:avail:LAST:of %.2lf %sB\\n" >/dev/null &&
  rrdtool graph "$graphs/states.png" "${g[@]}" \
    --title "virt_inspector: seconds in each state of domain \"test\" (suspended 2 s)" \
    --vertical-label seconds \
    "DEF:run=$rrd/duration-running.rrd:seconds:AVERAGE" \
    "DEF:pau=$rrd/duration-paused.rrd:seconds:AVERAGE" \
    "CDEF:r=run,UN,0,run,IF" "CDEF:p=pau,UN,0,pau,IF" \
    "AREA:r#6aa84f:duration-running" \
    "AREA:p#e69138:duration-paused:STACK" \
    "GPRINT:run:LAST:running %.3lf s" "GPRINT:pau:LAST:paused %.3lf s\\n" >/dev/null &&
  ok "graphs written: $graphs/memory.png (memory used/available), $graphs/states.png (seconds in each state, stacked)" ||
  not_ok "rrdtool graph failed (rrd files: $(ls "$rrd" 2>&1 | tr '\n' ' '))"
