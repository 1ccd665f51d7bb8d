#!/bin/bash
# The Debian package, as an operator meets it: build it from the tree with
# dpkg-buildpackage, lintian it, `apt-get install ./<deb>` it on this
# machine, check that Debian's own /etc/collectd/collectd.conf (which
# includes collectd.conf.d) loads the plugin (`collectd -t`, then a short
# real run against a private libvirtd), then remove and purge it and check
# that nothing is left but what Debian policy keeps.
#
# It installs into the real system, so it leaves the system as it found it:
# the package is purged at the end, also on failure (EXIT trap); a package
# left installed by a killed earlier run is purged first. The real run never
# touches the system's state: collectd runs in a mount namespace of its own
# in which /var/lib/collectd and /run/libvirt are private tmpfs mounts
# (/run/libvirt holds only links to the private libvirtd's sockets, so the
# snippet's unmodified `Connection "qemu:///system"` reaches that libvirtd).
# Needs root; run it under `flock /tmp/vi-heavy.lock`. Prints `ok`/`not ok`
# lines and `N passed, M failed` last (tests/e2e/lib.sh).
set -u
PKG=collectd-virt-inspector
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/e2e/lib.sh"
src=$top_srcdir
DOM=vi-pkg-test
APT_OPTS=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=300)
export DEBIAN_FRONTEND=noninteractive

# ------------------------------------------------------------- cleanup ----
POLICY_RC_CREATED=
NS_COLLECTD_PID=
pkg_state() { dpkg-query -W -f='${db:Status-Abbrev}' "$PKG" 2>/dev/null | tr -d ' '; }
purge_pkg() {
  [ -n "$(pkg_state)" ] || return 0
  apt-get purge "${APT_OPTS[@]}" "$PKG" >>"$T/apt.log" 2>&1
}
pkg_cleanup() {
  local rc=$?
  if [ -n "$NS_COLLECTD_PID" ]; then
    kill -TERM "$NS_COLLECTD_PID" 2>/dev/null
    wait_until 15 _pid_gone "$NS_COLLECTD_PID" || kill -KILL "$NS_COLLECTD_PID" 2>/dev/null
    wait "$NS_COLLECTD_PID" 2>/dev/null
  fi
  if [ -n "$(pkg_state)" ]; then
    purge_pkg || echo "not ok - cleanup: apt-get purge $PKG failed (see $T/apt.log)"
  fi
  [ -n "$POLICY_RC_CREATED" ] && rm -f /usr/sbin/policy-rc.d
  rm -rf "$T/build"
  (exit "$rc")
  e2e_cleanup
}
trap pkg_cleanup EXIT

# ------------------------------------------------------- preconditions ----
e2e_require_root
for p in dpkg-buildpackage lintian apt-get; do
  command -v "$p" >/dev/null || e2e_bail "required program '$p' not found (tests/install-deps.sh installs it)"
done
[ -f /etc/collectd/collectd.conf ] ||
  e2e_bail "/etc/collectd/collectd.conf missing: Debian's package 'collectd' ships it (tests/install-deps.sh)"
if [ -n "$(pkg_state)" ]; then
  note "$PKG is installed ($(pkg_state)), left by an earlier run: purging it first"
  purge_pkg || e2e_bail "cannot purge the $PKG left installed"
fi
# No package installed here may start a system collectd (invoke-rc.d).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# tests/package.sh: no service starts while it runs\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  POLICY_RC_CREATED=1
fi
# What the package may touch, before it is installed: compared after purge.
snapshot() {
  find /etc/collectd /usr/lib/collectd /usr/share/doc/$PKG /usr/share/man/man5 \
    /var/lib/collectd -printf '%p %M %s\n' 2>/dev/null | sort
}
snapshot >"$T/before"
STATE=/var/lib/collectd/virt_inspector.state
STATE_WAS_THERE=
[ -e "$STATE" ] && STATE_WAS_THERE=1

# --------------------------------------------------------------- build ----
mkdir -p "$T/build/src"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  # the tracked and new files, not build products (.gitignore)
  (cd "$src" && git ls-files -co --exclude-standard -z) |
    (cd "$src" && tar --null -cf - -T -) | tar -C "$T/build/src" -xf -
else
  tar -C "$src" --exclude='./build*' --exclude=.git -cf - . | tar -C "$T/build/src" -xf -
fi
t0=$(_now_us)
if (cd "$T/build/src" && dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1; then
  ok "dpkg-buildpackage -us -uc -b ($(( ($(_now_us) - t0) / 1000000 )) s)"
else
  tail -n 40 "$T/build.log" | sed 's/^/#   /'
  e2e_bail "dpkg-buildpackage -us -uc -b failed (log above)"
fi
grep -qE '^# FAIL: +0$' "$T/build.log" && grep -qE '^PASS: tests/check_' "$T/build.log" &&
  ! grep -qE '^(PASS|FAIL): tests/e2e/' "$T/build.log" &&
  ok "dh_auto_test ran the unit tests, not the end-to-end suites" ||
  not_ok "dh_auto_test: unexpected test run ($(grep -E '^(PASS|FAIL|# TOTAL)' "$T/build.log" | tr '\n' ' '))"
deb=$(ls "$T"/build/${PKG}_*_*.deb 2>/dev/null | head -n 1)
[ -f "$deb" ] || e2e_bail "no ${PKG}_*.deb in $T/build"

# ------------------------------------------------------------- lintian ----
# Clean, or each tag is one the README explains.
lintian -EI --pedantic "$T"/build/${PKG}_*.changes >"$T/lintian.out" 2>&1
tags=$(grep -E '^[EWIPX]: ' "$T/lintian.out" | awk '{ print $3 }' | sort -u)
unexplained=
for tag in $tags; do
  grep -qF -- "$tag" "$src/README" || unexplained="$unexplained $tag"
done
if [ -z "$unexplained" ]; then
  ok "lintian --pedantic: $( [ -n "$tags" ] && echo "only tags the README explains:" $tags || echo clean)"
else
  not_ok "lintian tags the README does not explain:$unexplained"
  sed 's/^/#   /' "$T/lintian.out"
fi

# -------------------------------------------------------------- install ----
if apt-get install "${APT_OPTS[@]}" "$deb" >"$T/apt.log" 2>&1; then
  ok "apt-get install ./$(basename "$deb")"
else
  tail -n 20 "$T/apt.log" | sed 's/^/#   /'
  e2e_bail "apt-get install ./$(basename "$deb") failed"
fi
assert_eq "dpkg status" "$(pkg_state)" "ii"
for f in /usr/lib/collectd/virt_inspector.so /etc/collectd/collectd.conf.d/virt_inspector.conf \
  /usr/share/man/man5/collectd-virt_inspector.5.gz /usr/share/doc/$PKG/README.gz; do
  [ -f "$f" ] && ok "installed: $f" || not_ok "not installed: $f"
done
dpkg-query -W -f='${Conffiles}\n' "$PKG" | grep -q '^ /etc/collectd/collectd.conf.d/virt_inspector.conf ' &&
  ok "the snippet is a conffile" || not_ok "the snippet is not a conffile"
assert_eq "man finds the page" "$(man -w 5 collectd-virt_inspector 2>&1)" \
  /usr/share/man/man5/collectd-virt_inspector.5.gz
deps=$(dpkg-query -W -f='${Depends}' "$PKG")
[[ $deps == *"collectd-core (>= 5"* && $deps == *"collectd-core (<< 6~)"* && $deps == *libvirt0* ]] &&
  ok "Depends: $deps" || not_ok "Depends lacks collectd-core (>= 5..., << 6~) or libvirt0: $deps"

# ------------------------------------- Debian's collectd.conf loads it ----
if out=$(collectd -t -C /etc/collectd/collectd.conf 2>&1); then
  ok "collectd -t -C /etc/collectd/collectd.conf"
else
  not_ok "collectd -t -C /etc/collectd/collectd.conf: $out"
fi

# A short real run: Debian's collectd.conf as it is, and its collectd.conf.d
# (a copy, byte for byte, plus one file adding a log file and a unixsock
# socket for this test), against a private libvirtd with one defined QEMU
# domain, reached by the snippet's own Connection "qemu:///system".
start_libvirtd || e2e_bail "private libvirtd did not start"
QURI="qemu+unix:///system?socket=$LV_SOCK"
cat >"$T/dom.xml" <<XML
<domain type='qemu'>
  <name>$DOM</name>
  <uuid>$(new_uuid)</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices><memballoon model='virtio'/></devices>
</domain>
XML
out=$(timeout 60 virsh -q -c "$QURI" define "$T/dom.xml" 2>&1) ||
  e2e_bail "virsh define a QEMU domain in the private libvirtd: $out"
mkdir -p "$T/conf.d"
cp -a /etc/collectd/collectd.conf.d/. "$T/conf.d/"
{
  echo "# tests/package.sh: a log file and a socket to read values; nothing else"
  collectd_io_conf
} >"$T/conf.d/zzz-package-test.conf"
cmp -s "$T/conf.d/virt_inspector.conf" /etc/collectd/collectd.conf.d/virt_inspector.conf &&
  ok "the run reads the installed snippet unchanged" ||
  not_ok "the copied snippet differs from the installed one"
_collectd_ns_up() {
  [ -S "$COLLECTD_SOCK" ] && return 0
  kill -0 "$NS_COLLECTD_PID" 2>/dev/null || return 2
  return 1
}
# shellcheck disable=SC2016
unshare -m --propagation private sh -c '
  set -e
  mount -t tmpfs tmpfs /run/libvirt
  ln -s "$1/lv/libvirt-sock" /run/libvirt/libvirt-sock
  ln -s "$1/lv/libvirt-sock-ro" /run/libvirt/libvirt-sock-ro
  mount -t tmpfs tmpfs /var/lib/collectd
  mount --bind "$1/conf.d" /etc/collectd/collectd.conf.d
  exec collectd -f -C /etc/collectd/collectd.conf -P "$1/collectd.pid"
' sh "$T" </dev/null >"$COLLECTD_OUT" 2>&1 &
NS_COLLECTD_PID=$!
COLLECTD_RUN=1
if wait_until 20 _collectd_ns_up; then
  ok "collectd runs with /etc/collectd/collectd.conf"
else
  sed 's/^/#   /' "$COLLECTD_OUT"
  e2e_bail "collectd with /etc/collectd/collectd.conf did not come up"
fi
_vi_listed() { listval | grep -qE "^[^/]+/virt_inspector-$DOM/duration-shutoff\$"; }
if wait_until 30 _vi_listed; then
  ok "the plugin reports the domain: $(listval | grep -E "virt_inspector-$DOM/" | tr '\n' ' ')"
else
  not_ok "no virt_inspector-$DOM values within 30 s (listval: $(listval | grep virt_inspector | tr '\n' ' '))"
fi
host=$(listval | sed -n "s|^\([^/]*\)/virt_inspector-$DOM/duration-shutoff\$|\1|p" | head -n 1)
if [ -n "$host" ]; then
  assert_getval "$host/virt_inspector/count-domains" value 1
  assert_getval "$host/virt_inspector-$DOM/domain_state" state 5 # VIR_DOMAIN_SHUTOFF
  grep -q ' /usr/lib/collectd/virt_inspector.so$' /proc/"$NS_COLLECTD_PID"/maps &&
    ok "collectd mapped /usr/lib/collectd/virt_inspector.so" ||
    not_ok "collectd has not mapped /usr/lib/collectd/virt_inspector.so"
  rrd=(/proc/"$NS_COLLECTD_PID"/root/var/lib/collectd/rrd/"$host"/virt_inspector-"$DOM"/duration-shutoff.rrd)
  if wait_until 10 test -s "${rrd[0]}"; then
    ok "Debian's rrdtool writer stores it: /var/lib/collectd/rrd/$host/virt_inspector-$DOM/duration-shutoff.rrd (in the run's namespace)"
  else
    not_ok "no ${rrd[0]#/proc/*/root}"
  fi
fi
assert_log 'virt_inspector plugin: connected to "qemu:///system"' \
  "the plugin connected with the snippet's Connection \"qemu:///system\""
assert_no_log 'virt_inspector.*(ERROR|error)|\[error\].*virt_inspector' "no error from the plugin"
kill -TERM "$NS_COLLECTD_PID"
if wait_until 15 _pid_gone "$NS_COLLECTD_PID"; then
  wait "$NS_COLLECTD_PID"
  assert_eq "collectd exits cleanly on SIGTERM" "$?" 0
else
  not_ok "collectd ignored SIGTERM for 15 s"
  kill -KILL "$NS_COLLECTD_PID"
fi
NS_COLLECTD_PID=
kill_libvirtd

# ---------------------------------------------------- remove and purge ----
# The default state file stands in for the one collectd would have written
# (the real run kept its own in a private tmpfs). Never one that was there.
if [ -z "$STATE_WAS_THERE" ]; then
  printf 'stand-in written by tests/package.sh\n' >"$STATE"
else
  note "$STATE existed before the test: it is not ours, the purge check leaves it alone"
fi
if apt-get remove "${APT_OPTS[@]}" "$PKG" >>"$T/apt.log" 2>&1; then
  ok "apt-get remove $PKG"
else
  not_ok "apt-get remove $PKG failed"
fi
assert_eq "removed: dpkg keeps the conffiles (rc)" "$(pkg_state)" "rc"
[ -f /etc/collectd/collectd.conf.d/virt_inspector.conf ] &&
  ok "remove keeps the conffile (policy 10.7.3)" || not_ok "remove deleted the conffile"
[ ! -e /usr/lib/collectd/virt_inspector.so ] && ok "remove deletes the plugin" ||
  not_ok "remove left /usr/lib/collectd/virt_inspector.so"
if [ -z "$STATE_WAS_THERE" ]; then
  [ -f "$STATE" ] && ok "remove keeps the state file" || not_ok "remove deleted the state file"
fi
if apt-get purge "${APT_OPTS[@]}" "$PKG" >>"$T/apt.log" 2>&1; then
  ok "apt-get purge $PKG"
else
  not_ok "apt-get purge $PKG failed"
fi
assert_eq "purged: dpkg has no record of $PKG" "$(pkg_state)" ""
if [ -z "$STATE_WAS_THERE" ]; then
  [ ! -e "$STATE" ] && ok "purge deletes the default state file" || {
    not_ok "purge left $STATE"
    rm -f "$STATE"
  }
fi
snapshot >"$T/after"
if cmp -s "$T/before" "$T/after"; then
  ok "after purge, /etc/collectd, /usr/lib/collectd, /usr/share/man/man5, /var/lib/collectd are as before"
else
  not_ok "purge left a difference: $(diff "$T/before" "$T/after" | grep '^[<>]' | head -n 5 | tr '\n' ' ')"
fi
