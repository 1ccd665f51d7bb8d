#!/bin/bash
# tests/e2e/timeby.sh -- end-to-end suite for TimeBy (time by attribute).
#
# A real collectd loads the built plugin against a private libvirtd (test
# driver) with TimeBy "vcpus", "memory", a Nova-style "flavor" XPath and a
# "title" XPath whose value has characters an identifier cannot hold; the
# suite changes them with virsh while it measures, on its own clock, when:
#
#   1. first read: a 0 series for each value (csv and collectdctl, the
#      title under its mapped name), memory as a size label
#   2. `virsh metadata --live` (METADATA_CHANGE event): the new flavor's
#      seconds start at the event, within 0.1 s of the virsh call; the old
#      one's stop there; every flavor's seconds sum to duration-running
#      (one read cycle)
#   3. a metadata change while paused: the new flavor starts at the resume
#   4. `virsh setvcpus --live` (the test driver sends no event, and its
#      bulk stats have no vcpu.current: the plugin asks virDomainGetInfo
#      at each read): the new count starts within one Interval of the call
#   5. `virsh desc --title --live`: a title with '~' and ' ' re-read by the
#      metadata event, queryable with collectdctl
#   5b. a persistent domain destroyed, resized (--config) and started: the
#      new memory counts from the start event, within 0.1 s of the call
#   5c. collectd restarted (state file): every value continues from its
#      total before the stop; the downtime (the test driver proves no
#      continuity) is in no value: the current ones grow exactly as
#      duration-running, the others and a shut-off domain's stay
#   6. a bad TimeBy (XPath that libxml2 refuses, a repeated name): one
#      ERROR line naming it, collectd refuses to start
#   7. collectd under valgrind with collectd's virt plugin (both use
#      libxml2): metadata changes, then a stop: no invalid access in our
#      code or libxml2
#
# Run: top_builddir=BUILD top_srcdir=SRC bash tests/e2e/timeby.sh
# (make check sets both). Needs root; prints `N passed, M failed` last.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

DOM="tb1"
DOM_UUID=$(new_uuid)
ID="$E2E_HOST/virt_inspector-$DOM"
TOL=0.1 # seconds: virsh round trip + event delivery + ms rounding
NOVA_URI="http://openstack.org/xmlns/libvirt/nova/1.1"
FLAVOR_XPATH="/domain/metadata/*[local-name()='instance']/*[local-name()='flavor']/@name"

# flavors_sum: the sum of the flavor values of the current CYCLE
flavors_sum() {
    local s=0 k
    for k in "$@"; do
        s=$(calc 'a + b' a="$s" b="${CYCLE[$ID/duration-flavor=$k]:-0}")
    done
    echo "$s"
}

# between DESC VALUE LOW HIGH: LOW - TOL <= VALUE <= HIGH + TOL
between() {
    check "$1 (at least)" "$2" ">=" "$3" "$TOL"
    check "$1 (at most)" "$2" "<=" "$4" "$TOL"
}

e2e_require_plugin
start_libvirtd || e2e_bail "cannot start libvirtd"
virsh_open || e2e_bail "cannot open virsh"

cat >"$T/tb1.xml" <<EOF
<domain type='test'>
  <name>$DOM</name>
  <uuid>$DOM_UUID</uuid>
  <title>a b/c=d</title>
  <metadata>
    <nova:instance xmlns:nova="$NOVA_URI">
      <nova:flavor name="m1.small"/>
      <!-- <nova:flavor name="commented-out"/> -->
    </nova:instance>
  </metadata>
  <memory unit='KiB'>1048576</memory>
  <currentMemory unit='KiB'>1048576</currentMemory>
  <vcpu current='1'>2</vcpu>
  <os><type>hvm</type></os>
  <devices/>
</domain>
EOF
virsh_run "create $T/tb1.xml" >/dev/null || e2e_bail "cannot create $DOM: $VIRSH_OUTPUT"

STATE="$T/timeby.state"
TB_CONF="$(vi_conf "$STATE" "TimeBy \"vcpus\"
  TimeBy \"memory\"
  TimeBy \"flavor\" \"$FLAVOR_XPATH\"
  TimeBy \"title\" \"/domain/title\"")"
start_collectd "$TB_CONF" || e2e_bail "collectd did not start"

# ---- 1. first read
echo "# 1. first read: a series per value"
wait_cycle 20 "$ID/duration-running" "$ID/duration-vcpus=1" "$ID/duration-memory=1GiB" \
    "$ID/duration-flavor=m1.small" "$ID/duration-title=a%20b%2Fc%3Dd"
assert_listed "$ID/duration-vcpus=1"
assert_listed "$ID/duration-memory=1GiB"
assert_listed "$ID/duration-flavor=m1.small"
assert_listed "$ID/duration-title=a%20b%2Fc%3Dd"
assert_absent_re "no value from a comment" "duration-flavor=commented-out"
for k in vcpus=1 memory=1GiB flavor=m1.small title=a%20b%2Fc%3Dd; do
    check "duration-$k = duration-running (the value since the first read)" \
        "${CYCLE[$ID/duration-$k]}" "~" "${CYCLE[$ID/duration-running]}" 0.002
done
out=$(getval "$ID/duration-title=a%20b%2Fc%3Dd")
if [[ $out =~ ^seconds=[0-9.e+-]+$ ]]; then ok "collectdctl getval of the mapped title: $out"; else not_ok "collectdctl getval duration-title=a%20b%2Fc%3Dd: $out"; fi

# ---- 2. metadata change while running
echo "# 2. virsh metadata --live (an event): the new flavor starts at the call"
hold 1.5
vdo metadata "$DOM" --uri "$NOVA_URI" --key nova --live \
    --set "<instance><flavor name='m1.large'/></instance>" || true
t_meta=$VDO_T d_meta=$VDO_D
hold 1.5
wait_cycle 20 -s "$t_meta" "$ID/duration-flavor=m1.large" "$ID/duration-flavor=m1.small" \
    "$ID/duration-running"
e=${CYCLE_T[$ID/duration-flavor=m1.large]}
between "m1.large seconds = time since the metadata call" "${CYCLE[$ID/duration-flavor=m1.large]}" \
    "$(calc 'e - t' e="$e" t="$t_meta")" "$(calc 'e - t + d' e="$e" t="$t_meta" d="$d_meta")"
check "flavor seconds sum to duration-running (one read)" "$(flavors_sum m1.small m1.large)" "~" \
    "${CYCLE[$ID/duration-running]}" 0.003
small=${CYCLE[$ID/duration-flavor=m1.small]}
hold 1.2
wait_cycle 20 -a "$e" "$ID/duration-flavor=m1.small" "$ID/duration-flavor=m1.large"
check "m1.small no longer grows" "${CYCLE[$ID/duration-flavor=m1.small]}" "==" "$small"

# ---- 3. metadata change while paused
echo "# 3. a change while paused: the new flavor starts at the resume"
vdo suspend "$DOM" || true
hold 1.0
vdo metadata "$DOM" --uri "$NOVA_URI" --key nova --live \
    --set "<instance><flavor name='m1.xlarge'/></instance>" || true
t_meta2=$VDO_T
hold 1.5
vdo resume "$DOM" || true
t_res=$VDO_T d_res=$VDO_D
hold 1.5
wait_cycle 20 -s "$t_res" "$ID/duration-flavor=m1.xlarge" "$ID/duration-flavor=m1.large" \
    "$ID/duration-flavor=m1.small" "$ID/duration-running" "$ID/duration-paused"
e=${CYCLE_T[$ID/duration-flavor=m1.xlarge]}
between "m1.xlarge seconds = running time since the resume" "${CYCLE[$ID/duration-flavor=m1.xlarge]}" \
    "$(calc 'e - t' e="$e" t="$t_res")" "$(calc 'e - t + d' e="$e" t="$t_res" d="$d_res")"
check "flavor seconds sum to duration-running (paused time in none)" \
    "$(flavors_sum m1.small m1.large m1.xlarge)" "~" "${CYCLE[$ID/duration-running]}" 0.003
note "metadata set while paused at $t_meta2, resumed at $t_res"

# ---- 4. setvcpus --live: no event, seen by the next read
echo "# 4. virsh setvcpus --live (no event): the new count starts within one Interval"
vdo setvcpus "$DOM" 2 --live || true
t_cpu=$VDO_T d_cpu=$VDO_D
hold 1.5
wait_cycle 20 -s "$t_cpu" "$ID/duration-vcpus=2" "$ID/duration-vcpus=1" "$ID/duration-running"
e=${CYCLE_T[$ID/duration-vcpus=2]}
between "vcpus=2 seconds = time since setvcpus, within one Interval" "${CYCLE[$ID/duration-vcpus=2]}" \
    "$(calc 'e - t - i' e="$e" t="$t_cpu" i="$COLLECTD_INTERVAL")" \
    "$(calc 'e - t + d' e="$e" t="$t_cpu" d="$d_cpu")"
check "vcpus seconds sum to duration-running" \
    "$(calc 'a + b' a="${CYCLE[$ID/duration-vcpus=1]}" b="${CYCLE[$ID/duration-vcpus=2]}")" "~" \
    "${CYCLE[$ID/duration-running]}" 0.003

# ---- 5. title change: a value with '~' and ' ', re-read by the event
echo "# 5. virsh desc --title --live: the new value under its mapped name"
vdo desc "$DOM" --live --title "x~y z" || true
t_title=$VDO_T d_title=$VDO_D
wait_cycle 20 -s "$t_title" "$ID/duration-title=x%7Ey%20z" "$ID/duration-running"
e=${CYCLE_T[$ID/duration-title=x%7Ey%20z]}
between "title x~y z seconds = time since the call" "${CYCLE[$ID/duration-title=x%7Ey%20z]}" \
    "$(calc 'e - t' e="$e" t="$t_title")" "$(calc 'e - t + d' e="$e" t="$t_title" d="$d_title")"
out=$(getval "$ID/duration-title=x%7Ey%20z")
if [[ $out =~ ^seconds=[0-9.e+-]+$ ]]; then ok "collectdctl getval duration-title=x%7Ey%20z: $out"; else not_ok "collectdctl getval duration-title=x%7Ey%20z: $out"; fi
for k in flavor=m1.small flavor=m1.large flavor=m1.xlarge vcpus=1 vcpus=2; do
    assert_monotonic "$ID/duration-$k"
done

# ---- 5b. restart with a new size: read at the start event
echo "# 5b. destroy, setmaxmem --config, start: the new memory counts from the start"
DOM2=tb2
ID2="$E2E_HOST/virt_inspector-$DOM2"
sed -e "s|<name>$DOM</name>|<name>$DOM2</name>|" -e "s|<uuid>$DOM_UUID</uuid>|<uuid>$(new_uuid)</uuid>|" \
    "$T/tb1.xml" >"$T/tb2.xml"
virsh_run "define $T/tb2.xml" >/dev/null || not_ok "define $DOM2: $VIRSH_OUTPUT"
virsh_run "start $DOM2" >/dev/null || not_ok "start $DOM2: $VIRSH_OUTPUT"
wait_cycle 20 "$ID2/duration-memory=1GiB" "$ID2/duration-running"
vdo destroy "$DOM2" || true
virsh_run "setmaxmem $DOM2 2097152 --config" >/dev/null || not_ok "setmaxmem --config: $VIRSH_OUTPUT"
hold 1.0
vdo start "$DOM2" || true
t_start=$VDO_T d_start=$VDO_D
hold 1.5
wait_cycle 20 -s "$t_start" "$ID2/duration-memory=2GiB" "$ID2/duration-memory=1GiB" "$ID2/duration-running"
e=${CYCLE_T[$ID2/duration-memory=2GiB]}
between "memory=2GiB seconds = time since the start" "${CYCLE[$ID2/duration-memory=2GiB]}" \
    "$(calc 'e - t' e="$e" t="$t_start")" "$(calc 'e - t + d' e="$e" t="$t_start" d="$d_start")"
check "memory values sum to duration-running (shut-off time in none)" \
    "$(calc 'a + b' a="${CYCLE[$ID2/duration-memory=1GiB]}" b="${CYCLE[$ID2/duration-memory=2GiB]}")" "~" \
    "${CYCLE[$ID2/duration-running]}" 0.003
vdo destroy "$DOM2" || true
t_destroy=$VDO_T
# a read begun after the destroy: DOM2's totals are final from it on
# (else the save at the stop holds running time no csv row showed)
wait_cycle 20 -s "$t_destroy" "$ID2/duration-memory=2GiB" "$ID2/duration-running"

# ---- 5c. collectd restart: the totals continue, the downtime is in none
echo "# 5c. collectd restart: every value continues; the downtime is in no value"
assert_no_log '\[(error|warning)\] virt_inspector'
stop_collectd
t_down=$EPOCHREALTIME
KEYS=(vcpus=1 vcpus=2 memory=1GiB flavor=m1.small flavor=m1.large flavor=m1.xlarge
    title=a%20b%2Fc%3Dd title=x%7Ey%20z)
IDS=("$ID/duration-running")
for k in "${KEYS[@]}"; do IDS+=("$ID/duration-$k"); done
IDS+=("$ID2/duration-running" "$ID2/duration-memory=1GiB" "$ID2/duration-memory=2GiB")
declare -A BEFORE=()
if read_cycle "${IDS[@]}"; then # collectd's last read: the csv is quiescent
    for i in "${IDS[@]}"; do BEFORE[$i]=${CYCLE[$i]}; done
    eb=$CYCLE_EPOCH
else
    not_ok "5c a read cycle of every value before the stop"
fi
n_attr=$(grep -c "^attr $DOM_UUID " "$STATE" 2>/dev/null)
check "5c the state file holds $DOM's ${#KEYS[@]} TimeBy totals (attr records)" "${n_attr:-0}" "==" "${#KEYS[@]}"
hold 2.0 # collectd down, $DOM running on
t_up=$EPOCHREALTIME
start_collectd "$TB_CONF" || e2e_bail "collectd did not restart"
wait_log "virt_inspector plugin: domain \"$DOM\": the [0-9.]+ s since the last save are credited to no state" 10 ||
    not_ok "5c INFO: $DOM's downtime is credited to no state (the test driver proves nothing)"
if wait_cycle 20 -a "$t_up" "${IDS[@]}"; then
    ea=$CYCLE_EPOCH
    ra=${CYCLE[$ID/duration-running]} rb=${BEFORE[$ID/duration-running]}
    check "5c duration-running: the downtime is not in it" "$(calc 'a - b' a="$ra" b="$rb")" "<=" \
        "$(calc '(ea - eb) - (up - down)' ea="$ea" eb="$eb" up="$t_up" down="$t_down")" "$TOL"
    for k in vcpus=2 flavor=m1.xlarge title=x%7Ey%20z memory=1GiB; do
        i="$ID/duration-$k"
        check "5c $k (current) goes on from its total before the stop" "${CYCLE[$i]}" ">=" "${BEFORE[$i]}"
        check "5c $k grew as duration-running (the downtime in no value)" \
            "$(calc 'a - b' a="${CYCLE[$i]}" b="${BEFORE[$i]}")" "~" "$(calc 'a - b' a="$ra" b="$rb")" 0.003
    done
    for k in vcpus=1 flavor=m1.small flavor=m1.large title=a%20b%2Fc%3Dd; do
        i="$ID/duration-$k"
        assert_num "5c $k (not current) is its total before the stop" "${CYCLE[$i]}" "${BEFORE[$i]}"
    done
    for i in "$ID2/duration-memory=1GiB" "$ID2/duration-memory=2GiB"; do
        assert_num "5c shut off $DOM2: ${i##*/} is its total before the stop" "${CYCLE[$i]}" "${BEFORE[$i]}"
    done
    check "5c vcpus values sum to duration-running after the restart (one read)" \
        "$(calc 'a + b' a="${CYCLE[$ID/duration-vcpus=1]}" b="${CYCLE[$ID/duration-vcpus=2]}")" "~" "$ra" 0.003
    check "5c flavor values sum to duration-running after the restart (one read)" \
        "$(flavors_sum m1.small m1.large m1.xlarge)" "~" "$ra" 0.003
fi

assert_no_log '\[(error|warning)\] virt_inspector'
stop_collectd

# ---- 6. bad TimeBy
echo "# 6. a bad TimeBy: one ERROR line, collectd does not start"
start_collectd_expect_fail "$(vi_conf "" 'TimeBy "flavor" "/domain/metadata/nova:instance/@x"')"
check "collectd refused the config (exit status)" "$COLLECTD_EXIT" ">=" 1
assert_log 'option "TimeBy" "flavor" "/domain/metadata/nova:instance/@x": not an XPath 1.0 expression'
start_collectd_expect_fail "$(vi_conf "" 'TimeBy "vcpus"
  TimeBy "vcpus"')"
assert_log 'option "TimeBy" "vcpus": this name is already used by another TimeBy'

# ---- 7. under valgrind, beside collectd's virt plugin (libxml2 too)
# Both plugins use libxml2 in one process (the virt plugin parses domain
# XML with it; we never call xmlCleanupParser). collectd runs under
# valgrind with both, metadata changes flow, and it is stopped: no invalid
# access in our code or in libxml2 called from it.
echo "# 7. under valgrind with collectd's virt plugin: metadata changes, stop"
if [ -f "$E2E_STOCK_PLUGINDIR/virt.so" ] && command -v valgrind >/dev/null; then
    VG_LOG="$T/valgrind.log"
    if start_collectd_valgrind_virt "$VG_LOG" "$(vi_conf "" "TimeBy \"vcpus\"
  TimeBy \"flavor\" \"$FLAVOR_XPATH\"")"; then
        wait_csv "$ID/duration-flavor=m1.xlarge" 1 60 || not_ok "7 TimeBy values under valgrind"
        for f in v1 v2 v3 v4; do
            vdo metadata "$DOM" --uri "$NOVA_URI" --key nova --live \
                --set "<instance><flavor name='$f'/></instance>" || true
        done
        wait_csv "$ID/duration-flavor=v4" 1 30 || not_ok "7 the last flavor is read under valgrind"
        stop_collectd
        if grep -qE "virt_inspector|xml" "$VG_LOG"; then
            not_ok "7 no valgrind error in virt_inspector or libxml2: $(grep -E -m 5 'Invalid|uninitialised|virt_inspector|xml' "$VG_LOG" | tr '\n' ' ')"
        else
            ok "7 no valgrind error in virt_inspector or libxml2 ($(grep -c '^==[0-9]*== [A-Z]' "$VG_LOG") valgrind lines elsewhere)"
        fi
        assert_count_log "\[(error|warning)\] virt_inspector plugin:" 0 "7 no ERROR or WARNING line from virt_inspector"
    else
        not_ok "7 collectd under valgrind did not start: $(tail -n 3 "$COLLECTD_OUT" 2>/dev/null | tr '\n' ' ')"
    fi
else
    not_ok "7 needs collectd's virt plugin and valgrind"
fi
