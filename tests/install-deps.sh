#!/bin/sh
# Installs what building and testing virt_inspector needs on Debian 12, and
# prepares what a private libvirtd needs. Idempotent; needs root.
set -eu
PKGS="autoconf automake libtool pkg-config make gcc clang libclang-rt-14-dev
  check valgrind collectd-core collectd-utils collectd-dev
  libvirt-dev libxml2-dev libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
  qemu-system-x86 busybox-static cpio socat
  collectd dpkg-dev debhelper lintian perl man-db groff-base rrdtool
  prometheus libmicrohttpd12 libprotobuf-c1 curl jq libpython3.11 iproute2"
# collectd: Debian's /etc/collectd/collectd.conf (tests/package.sh loads the
# packaged plugin with it); debhelper, dpkg-dev, lintian: the Debian package;
# perl (pod2man), man-db, groff-base: the man page; rrdtool: demo.sh's graphs
# and tests/e2e/prometheus.sh; prometheus (and promtool), libmicrohttpd12,
# libprotobuf-c1 (collectd's write_prometheus), curl, jq: tests/e2e/prometheus.sh;
# libpython3.11: collectd's python plugin, which runs tests/e2e/slow_notify.py
# (a slow notification plugin, tests/e2e/states.sh); iproute2 (ss) and
# libvirt-clients (virt-admin): tests/e2e/faults.sh's held reconnect.
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "install-deps: installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's collectd package (re)starts the system collectd when installed:
  # no service may start here (a container's policy-rc.d usually says so).
  policy_rc=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_rc=1
  fi
  rc=0
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null || rc=$?
  [ -z "$policy_rc" ] || rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || exit "$rc"
fi
# libvirtd's qemu driver refuses to start without its user, even when our
# private qemu.conf says user = "root" (Debian's libvirt-daemon-system would
# create them; we do not install it, so nothing starts a system libvirtd).
getent group kvm >/dev/null || groupadd --system kvm
getent passwd libvirt-qemu >/dev/null ||
  useradd --system --no-create-home --user-group -s /usr/sbin/nologin libvirt-qemu
mkdir -p /run/libvirt /var/lib/libvirt /var/cache/libvirt /etc/libvirt
echo "install-deps: ready"
