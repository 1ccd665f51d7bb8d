#!/bin/bash
# The man page renders without a single warning, with groff (-ww: all
# warnings) and with man-db's `man --warnings`. Run by `make check`.
set -uo pipefail
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
page=$top_builddir/doc/collectd-virt_inspector.5
fail=0
if [ ! -s "$page" ]; then
  echo "not ok - $page was not built"
  exit 1
fi
for cmd in "groff -ww -man -z $page" "man --warnings -E UTF-8 -l $page"; do
  if ! command -v "${cmd%% *}" >/dev/null; then
    echo "not ok - ${cmd%% *} not installed"
    fail=1
    continue
  fi
  # shellcheck disable=SC2086
  err=$(MANWIDTH=80 $cmd 2>&1 >/dev/null)
  rc=$?
  if [ $rc -eq 0 ] && [ -z "$err" ]; then
    echo "ok - $cmd: no warnings"
  else
    echo "not ok - $cmd (status $rc): $err"
    fail=1
  fi
done
# The page says what it must: every section the issue asks for.
for s in SYNOPSIS CONFIGURATION "DOMAIN NAMES IN IDENTIFIERS" VALUES \
  "EMPTY DATA" NOTIFICATIONS "THE STATE FILE" "SEE ALSO"; do
  if grep -q "^\.SH \"$s\"" "$page" || grep -q "^\.SH $s\$" "$page"; then
    echo "ok - section $s"
  else
    echo "not ok - no section $s in $page"
    fail=1
  fi
done
exit $fail
