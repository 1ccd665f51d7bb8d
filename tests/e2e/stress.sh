#!/bin/bash
# tests/e2e/stress.sh -- the end-to-end suites while a competing CPU load
# runs (`stress-ng --cpu N`, default 2: every core of the CI machine busy).
# Optional, not part of CI (tests/run-suite): it shows which timing
# assumptions of the suites hold on a loaded host. Installs stress-ng with
# apt-get if it is missing (this script's only dependency of its own).
#
# Run (root, plugin built in BUILD):
#   top_builddir=BUILD top_srcdir=SRC bash tests/e2e/stress.sh [SUITE...]
# SUITE: memory states qemu (default: all three). STRESS_CPUS sets N.
# Prints each suite's summary line and `stress: N suites passed, M failed`
# last; exits non-zero if a suite failed.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir

if ! command -v stress-ng >/dev/null 2>&1; then
    echo "# installing stress-ng"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q stress-ng >/dev/null ||
        { echo "stress: cannot install stress-ng"; exit 1; }
fi

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(memory states qemu)
cpus=${STRESS_CPUS:-2}

stress-ng --cpu "$cpus" --quiet &
stress_pid=$!
trap 'kill "$stress_pid" 2>/dev/null; wait "$stress_pid" 2>/dev/null' EXIT
echo "# stress-ng --cpu $cpus running (pid $stress_pid)"

# CPU seconds used by stress-ng's workers (proof that the load was there)
stress_cpu() {
    local p st sum=0 f
    for p in $(pgrep -P "$stress_pid"); do
        st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        read -r -a f <<<"${st##*) }" # fields from 3 (state) on
        sum=$((sum + f[11] + f[12]))  # utime + stime (fields 14, 15), ticks
    done
    echo $((sum / $(getconf CLK_TCK)))
}

pass=0 fail=0
for s in "${suites[@]}"; do
    start=$SECONDS
    echo "# ---- $s.sh under load ----"
    bash "$here/$s.sh"
    rc=$?
    echo "# $s.sh: exit $rc in $((SECONDS - start)) s; load average $(cut -d' ' -f1-3 /proc/loadavg); stress-ng workers' CPU so far: $(stress_cpu) s"
    if [ "$rc" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
echo "stress: $pass suites passed, $fail failed"
[ "$fail" -eq 0 ]
