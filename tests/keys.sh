#!/bin/bash
# One option table: the config keys listed by the README's option table, the
# man page (CONFIGURATION section), the collectd.conf.d snippet and the
# plugin's source must be the same set. Prints each set; fails on any
# difference or on an empty set (an extraction that found nothing is broken).
# Run by `make check` (no root needed).
set -uo pipefail
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
export LC_ALL=C

# The keys the plugin accepts. Default: every quoted CamelCase word in
# src/vi_config.c, which holds the {key, handler} table ("Connection",
# "UsedMemory", ...), less the collectd global options it reads
# (global_option_get). Other sources have CamelCase strings that are not
# keys (domain_xml.c's memory units "KiB", "MiB"). VI_KEYS_SOURCE overrides.
NOT_KEYS="BaseDir Hostname Interval PluginDir TypesDB PIDFile"
source_keys() {
  # shellcheck disable=SC2086
  grep -ohE '"[A-Z][a-z0-9]+([A-Z][a-z0-9]*)*"' ${VI_KEYS_SOURCE:-"$top_srcdir"/src/vi_config.c} |
    tr -d '"' | sort -u | grep -vxF -f <(printf '%s\n' $NOT_KEYS)
}

# README: first column of the table whose header is "| key | meaning | default |".
readme_keys() {
  awk '/^\| key \| meaning \| default \|/ { t = 1; next }
       t && !/^\|/ { exit }
       t && match($0, /^\| `[A-Za-z]+`/) { print substr($0, 4, RLENGTH - 4) }' \
    "$top_srcdir/README" | sort -u
}

# Man page: =item B<Key> in the CONFIGURATION section of the POD.
man_keys() {
  awk '/^=head1 / { t = ($0 == "=head1 CONFIGURATION"); next }
       t && match($0, /^=item B<[A-Za-z]+>/) { print substr($0, 9, RLENGTH - 9) }' \
    "$top_srcdir/doc/collectd-virt_inspector.pod" | sort -u
}

# Snippet: option lines, active or commented out as `#Key value`, inside
# <Plugin virt_inspector> (prose comments have a space after the #).
snippet_keys() {
  awk '/^<Plugin virt_inspector>/ { t = 1; next } /^<\/Plugin>/ { t = 0 }
       t && match($0, /^[ \t]*#?[A-Z][A-Za-z]*[ \t]+("[^"]*"|[0-9]+|true|false)[ \t]*$/) {
         sub(/^[ \t]*#?/, ""); sub(/[ \t].*/, ""); print }' \
    "$top_srcdir/collectd.conf.d/virt_inspector.conf" | sort -u
}

fail=0
ref=$(source_keys)
printf 'source (%s): %s\n' "${VI_KEYS_SOURCE:-src/vi_config.c}" "$(echo $ref)"
if [ -z "$ref" ]; then
  echo "not ok - no config keys found in the source"
  fail=1
fi
for what in readme man snippet; do
  got=$("${what}_keys")
  if [ -z "$got" ]; then
    echo "not ok - $what: no config keys found (extraction broken?)"
    fail=1
    continue
  fi
  missing=$(comm -23 <(echo "$ref") <(echo "$got"))
  extra=$(comm -13 <(echo "$ref") <(echo "$got"))
  if [ -z "$missing$extra" ]; then
    echo "ok - $what lists the same $(echo "$got" | wc -l) keys as the source"
  else
    echo "not ok - $what differs from the source: missing [$(echo $missing)], not in the source [$(echo $extra)]"
    fail=1
  fi
done
exit $fail
