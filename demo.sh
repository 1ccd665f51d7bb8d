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
trap 'e2e_cleanup; rm -rf "$work"' EXIT
e2e_require_root

show() { # collectdctl getval, printed as a user would type it
  echo "\$ collectdctl getval $1"
  getval "$1" | sed 's/^/    /'
}

echo "== starting a private libvirtd (test driver) and collectd"
start_libvirtd || e2e_bail "libvirtd did not start"
virsh_open
start_collectd "LoadPlugin virt_inspector
<Plugin virt_inspector>
  Connection \"$LV_URI\"
</Plugin>" || e2e_bail "collectd did not start"
id=$E2E_HOST/virt_inspector-test
wait_value "$id/memory-used" 20 || e2e_bail "no values from the plugin"

echo "== live values of the test hypervisor's domain \"test\""
echo "\$ collectdctl listval"
listval | grep virt_inspector | sed 's/^/    /'
for v in memory-used percent-used memory-available memory-unused memory-rss \
  duration-running uptime domain_state; do
  show "$id/$v"
done

echo "== suspend the guest for 2 s, then resume it"
vdo suspend test && t_susp=$VDO_T
hold 2 # the stint being shown
vdo resume test && t_res=$VDO_T
# the figures of one read that began after the resume
if wait_cycle 10 -s "$t_res" "$id/duration-paused"; then
  show "$id/duration-paused"
  show "$id/duration-running"
  show "$id/duration-total"
  echo "== notifications in collectd's log"
  grep "Notification:" "$COLLECTD_LOG" | sed 's/^/    /'
  check "duration-paused is the pause, as timed by this script" \
    "${CYCLE[$id/duration-paused]}" "~" "$(calc 'b - a' a="$t_susp" b="$t_res")" 0.1
fi
