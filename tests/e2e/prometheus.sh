#!/bin/bash
# tests/e2e/prometheus.sh -- the period recipes of the README ("Time in a
# state over a period"), evaluated by a real Prometheus.
#
# A real collectd (Interval 1) loads the built plugin against a private
# libvirtd (test driver) and exposes the values with collectd's own
# write_prometheus plugin on a free loopback port; Debian's `prometheus`,
# started by the suite on another free loopback port with its storage in the
# temp dir, scrapes it every second and loads contrib/prometheus's rules.
# The suite drives the domains with virsh and times every transition on its
# own clock ($EPOCHREALTIME right after virsh returns): that is the
# scripted truth. Each recipe is then evaluated through Prometheus's HTTP
# API for paused and running time (and availability) over [t1, t2]:
#
#   1. every duration-<state> series exists from a domain's first read, 0 for
#      states never entered (collectd's listval and Prometheus)
#   2. one range [t1, t2] holding: the first-ever pause of `test`; the start
#      of `offstart`, shut off at t1; the creation of `newdom` (no series
#      at t1)
#   3. a collectd restart inside the range, the domain paused across it
#      (totals continue, resets() = 0; the test driver proves no continuity,
#      so the downtime counts to no state)
#   4. a libvirtd restart inside the range (the test driver forgets its
#      domains: newdom is created again with the same UUID)
#      ... and the README's rrdtool (fetch MAX) and csv recipes for it
#   5. the example rules: `promtool check rules`, `promtool test rules`,
#      and the recording rules give a value for the live domains
#   6. the Grafana dashboard (contrib/grafana): every panel's query returns
#      data for the test domains, plausible where the truth is known
#      (tests/e2e/dashboard.sh, sourced at the end)
#
# Tolerances, stated once:
#   - the issue's bound: every answer within one scrape + one Interval
#     (SCRAPE + INTERVAL = 2 s) of the truth over [t1, t2];
#   - tight: `x @ t2 - x @ t1` and `x - x offset d` read the last samples at
#     or before t1 and t2, stamped s1 and s2 by collectd (write_prometheus
#     exports collectd's time); their answer must equal the truth over
#     [s1, s2] within TIGHT = 0.15 s (virsh return vs. event time, as in
#     states.sh, at both ends). increase() extrapolates and is held to the
#     issue's bound only.
#   - the libvirtd restart: from the kill until the domain is created again
#     the plugin cannot know what the domain did; the running truth is a
#     range [without that window, with it].
#
# Run: top_builddir=BUILD top_srcdir=SRC bash tests/e2e/prometheus.sh
# (make check sets both). Needs root; prints `N passed, M failed` last.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

E2E_STOCK_PLUGINS="write_prometheus rrdtool"
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
. "$E2E_LIB_DIR/prom.sh"

RULES="$top_srcdir/contrib/prometheus/virt_inspector.rules.yml"
RULES_TEST="$top_srcdir/contrib/prometheus/virt_inspector.rules.test.yml"
D=collectd_virt_inspector_duration_seconds
INTERVAL=1
SCRAPE=1
BOUND=$((SCRAPE + INTERVAL)) # seconds: the issue's tolerance
TIGHT=0.15                   # seconds: see the header
STATES="nostate running blocked paused shutdown shutoff crashed pmsuspended"

A="test" # the test driver's own domain, running, fixed UUID
B=offstart
B_UUID=$(new_uuid)
C=newdom
C_UUID=$(new_uuid)

# ------------------------------------------------------------- helpers ----

# vdo and hold: lib.sh's (a timed virsh action: VDO_T; a scripted stint).

now() { echo "$EPOCHREALTIME"; }

# The scripted truth: $T/truth has "DOMAIN EPOCH STATE" lines, the state a
# domain entered at EPOCH (`gone`: not in libvirt). mark DOMAIN STATE EPOCH
mark() { echo "$1 $3 $2" >>"$T/truth"; }

# truth DOMAIN STATE FROM TO: seconds DOMAIN spent in STATE (`total`: in any
# state but gone) within [FROM, TO], from the marks.
truth() {
    sort -k2,2n "$T/truth" | awk -v d="$1" -v s="$2" -v a="$3" -v b="$4" '
        function add(st, x, y) {
            if (x < a) x = a
            if (y > b) y = b
            if (y > x && (st == s || (s == "total" && st != "gone"))) sum += y - x
        }
        $1 == d { if (have) add(cur, from, $2); cur = $3; from = $2; have = 1 }
        END { if (have) add(cur, from, b); printf "%.6f", sum + 0 }'
}

# first_read_after EPOCH: the start of the plugin's first read after EPOCH
# (its duration-read row's time minus the read's duration)
first_read_after() {
    local f
    f=$(csv_file "$E2E_HOST/virt_inspector/duration-read") || return 1
    awk -F, -v t="$1" 'NR > 1 && $1 + 0 > t + 0 { printf "%.6f", $1 - $2; found = 1; exit }
                       END { exit !found }' "$f"
}

sel() { echo "$D{virt_inspector=\"$1\",type=\"$2\"}"; }

# The recipes (README "Time in a state over a period"); SEL a selector.
# at: evaluated at any time; offset and increase: evaluated at t2.
recipe_at() { echo "($1 @ $3) - (($1 @ $2) or ($1 @ $3) * 0)"; }
recipe_offset() { echo "$1 - ($1 offset ${2}ms or $1 * 0)"; }
recipe_increase() { echo "increase($1[${2}ms])"; }
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 + 0.5 }'; }

# stamp SEL T: time of the last sample of SEL at or before T (empty: none)
stamp() { prom_scalar "timestamp($1 @ $2)" 2>/dev/null; }

# pq DESC EXPR [TIME]: PQ = the single value of EXPR, or a failure
pq() {
    PQ=$(prom_scalar "$2" "${3:-}") && return 0
    not_ok "$1: query failed: $PROM_ERROR [$2]"
    return 1
}

# check_range DOM STATE T1 T2 [UNKNOWN]: every recipe for the seconds of
# STATE over [T1, T2] against truth(). UNKNOWN seconds of the script may or
# may not count (the libvirtd restart): the truth is then [truth - UNKNOWN,
# truth].
check_range() {
    local dom=$1 st=$2 t1=$3 t2=$4 u=${5:-0} s s1 s2 dms lo hi tlo thi form expr
    s=$(sel "$dom" "$st")
    dms=$(ms_between "$t1" "$t2")
    hi=$(truth "$dom" "$st" "$t1" "$t2")
    lo=$(calc "h - u" h="$hi" u="$u")
    s1=$(stamp "$s" "$t1")
    s2=$(stamp "$s" "$t2")
    [ -n "$s1" ] || s1=$t1 # no series at t1: the domain did not exist yet
    if [ -z "$s2" ]; then
        not_ok "$dom $st: no sample at or before t2 ($PROM_ERROR)"
        return
    fi
    thi=$(truth "$dom" "$st" "$s1" "$s2")
    tlo=$(calc "h - u" h="$thi" u="$u")
    for form in at offset increase; do
        case $form in
        at) expr=$(recipe_at "$s" "$t1" "$t2") ;;
        offset) expr=$(recipe_offset "$s" "$dms") ;;
        increase) expr=$(recipe_increase "$s" "$dms") ;;
        esac
        pq "$dom $st, $form" "$expr" "$t2" || continue
        check "$dom $st over the range, '$form' form: within $BOUND s of the truth [$lo, $hi]" \
            "$PQ" "~" "$(calc "(l + h) / 2" l="$lo" h="$hi")" "$(calc "b + (h - l) / 2" b="$BOUND" l="$lo" h="$hi")"
        [ $form = increase ] && continue
        check "$dom $st, '$form' form: within $TIGHT s of the truth over its samples' times [$tlo, $thi]" \
            "$PQ" "~" "$(calc "(l + h) / 2" l="$tlo" h="$thi")" "$(calc "b + (h - l) / 2" b="$TIGHT" l="$tlo" h="$thi")"
    done
}

# check_availability DOM T1 T2: running / total over [T1, T2] (the 'at'
# form) against the truth over the samples' times.
check_availability() {
    local dom=$1 t1=$2 t2=$3 r tot s1 s2 want tol
    r=$(recipe_at "$(sel "$dom" running)" "$t1" "$t2")
    tot=$(recipe_at "$(sel "$dom" total)" "$t1" "$t2")
    s1=$(stamp "$(sel "$dom" total)" "$t1")
    s2=$(stamp "$(sel "$dom" total)" "$t2")
    [ -n "$s1" ] || s1=$t1
    local rt tt
    rt=$(truth "$dom" running "$s1" "$s2")
    tt=$(truth "$dom" total "$s1" "$s2")
    want=$(calc "r / t" r="$rt" t="$tt")
    tol=$(calc "k * (1 + r / t) / t" k="$TIGHT" r="$rt" t="$tt")
    pq "$dom availability" "($r) / ignoring(type) ($tot)" "$t2" &&
        check "$dom availability (running / total) over the range" "$PQ" "~" "$want" "$tol"
}

# wait_scraped DOM EPOCH: Prometheus holds a sample of every series of DOM
# stamped after EPOCH
wait_scraped() {
    prom_wait_newer "$D{virt_inspector=\"$1\"}" "$2" 20 ||
        e2e_bail "no sample of $1 newer than $2 in Prometheus within 20 s ($PROM_ERROR)"
}

vi_body() {
    cat <<EOF
LoadPlugin write_prometheus
<Plugin write_prometheus>
  Host "127.0.0.1"
  Port "$WP_PORT"
</Plugin>
LoadPlugin rrdtool
<Plugin rrdtool>
  DataDir "$T/rrd"
  StepSize 1
  HeartBeat 3
</Plugin>
LoadPlugin virt_inspector
<Plugin virt_inspector>
  Connection "$LV_URI"
  StateFile "$T/vi.state"
  # a TimeBy value shares the durations' metric name: the rules and the
  # dashboard must leave it out of the per-state figures
  TimeBy "vcpus"
</Plugin>
EOF
}

# The README's rrdtool and csv recipes, for DOMAIN and STATE over [T1, T2].
rrd_file() { echo "$T/rrd/$E2E_HOST/virt_inspector-$1/duration-$2.rrd"; }
# prints "SECONDS R1 R2": the answer and the (end) times of the rows it read
rrd_period() {
    rrdtool fetch "$(rrd_file "$1" "$2")" MAX -r 1 -s "${3%.*}" -e "${4%.*}" |
        awk -F': ' 'NF == 2 && $2 !~ /nan/ { if (first == "") { first = $2 + 0; r1 = $1 }
                                             last = $2 + 0; r2 = $1 }
                    END { printf "%.6f %d %d", last - first, r1, r2 }'
}
# prints "SECONDS E1 E2": the answer and the times of the rows it read
csv_period() {
    cat "$CSV_DIR/$E2E_HOST/virt_inspector-$1/duration-$2"-????-??-?? |
        awk -F, -v t1="$3" -v t2="$4" '
            $1 ~ /^[0-9]/ && $1 <= t1 { a = $2; e1 = $1 }
            $1 ~ /^[0-9]/ && $1 <= t2 { b = $2; e2 = $1 }
            END { printf "%.6f %s %s", b - a, e1 == "" ? t1 : e1, e2 }'
}
_rrd_newer() { [ "$(rrdtool last "$(rrd_file "$1" "$2")" 2>/dev/null || echo 0)" -gt "${3%.*}" ]; }
_csv_row_newer() {
    cat "$CSV_DIR/$E2E_HOST/virt_inspector-$1/duration-$2"-????-??-?? 2>/dev/null |
        awk -F, -v t="$3" '$1 ~ /^[0-9]/ && $1 > t { n++ } END { exit !n }'
}

# check_writers DOM STATE T1 T2: the rrdtool and csv recipes
check_writers() {
    local dom=$1 st=$2 t1=$3 t2=$4 want x e1 e2
    want=$(truth "$dom" "$st" "$t1" "$t2")
    if wait_until 10 _csv_row_newer "$dom" "$st" "$t2"; then
        read -r x e1 e2 <<<"$(csv_period "$dom" "$st" "$t1" "$t2")"
        check "$dom $st over the range, csv recipe: within $BOUND s of the truth" "$x" "~" "$want" "$BOUND"
        check "$dom $st, csv recipe: within $TIGHT s of the truth over its rows' times" \
            "$x" "~" "$(truth "$dom" "$st" "$e1" "$e2")" "$TIGHT"
    else
        not_ok "$dom $st: no csv row newer than t2 within 10 s"
    fi
    # A row ending at R holds (StepSize 1, GAUGE) the time-weighted mean of
    # the values valid in (R - 1, R], each the total at its read, at most
    # one Interval (+ 0.5 s of scheduling) later: the total at a time in
    # (R - 1, R + 1.5). The answer must lie between the truths over the
    # shortest and the longest such span.
    local r1 r2 lo hi
    if wait_until 10 _rrd_newer "$dom" "$st" "$t2"; then
        read -r x r1 r2 <<<"$(rrd_period "$dom" "$st" "$t1" "$t2")"
        lo=$(truth "$dom" "$st" "$(calc "r + 1.5" r="$r1")" "$(calc "r - 1" r="$r2")")
        hi=$(truth "$dom" "$st" "$(calc "r - 1" r="$r1")" "$(calc "r + 1.5" r="$r2")")
        check "$dom $st, rrdtool fetch MAX recipe: within the truths over its rows' spans [$lo, $hi]" \
            "$x" "~" "$(calc "(l + h) / 2" l="$lo" h="$hi")" "$(calc "k + (h - l) / 2" k="$TIGHT" l="$lo" h="$hi")"
    else
        not_ok "$dom $st: no rrd update after t2 within 10 s"
    fi
}

_wp_up() { curl -sf --max-time 2 "http://127.0.0.1:$WP_PORT/metrics" >/dev/null 2>&1; }

# ---------------------------------------------------------------- setup ----

e2e_require_root
e2e_require_plugin
for p in prometheus promtool curl jq rrdtool; do
    command -v "$p" >/dev/null 2>&1 || e2e_bail "required program '$p' not found (tests/install-deps.sh installs it)"
done
[ -f "$E2E_STOCK_PLUGINDIR/write_prometheus.so" ] ||
    e2e_bail "collectd's write_prometheus plugin not found in $E2E_STOCK_PLUGINDIR"

# 5. the rules first: no daemon needed
if out=$(promtool check rules "$RULES" 2>&1); then
    ok "promtool check rules contrib/prometheus/virt_inspector.rules.yml"
else
    not_ok "promtool check rules: $out"
fi
if out=$(cd "$(dirname "$RULES_TEST")" && promtool test rules "$(basename "$RULES_TEST")" 2>&1); then
    ok "promtool test rules contrib/prometheus/virt_inspector.rules.test.yml"
else
    not_ok "promtool test rules: $(printf '%s' "$out" | head -n 8 | tr '\n' ' ')"
fi

start_libvirtd || e2e_bail "start_libvirtd failed (see $LIBVIRTD_LOG)"
virsh_open >/dev/null || e2e_bail "no virsh session to $LV_URI"
virsh_create "$B" "$B_UUID" "" define || e2e_bail "cannot define $B: $VIRSH_OUTPUT"
: >"$T/truth"
t0=$(now)
mark $A running "$t0"
mark $B shutoff "$t0"
mark $C gone 0

for _ in 1 2 3; do
    WP_PORT=$(free_port) || e2e_bail "no free port"
    start_collectd "$(vi_body)" || e2e_bail "collectd did not start (see $COLLECTD_LOG)"
    wait_until 10 _wp_up && break
    stop_collectd
    WP_PORT=
done
[ -n "$WP_PORT" ] || e2e_bail "write_prometheus not answering on a free port after 3 tries"
prom_start "127.0.0.1:$WP_PORT" "$RULES" || e2e_bail "Prometheus did not start"
note "collectd write_prometheus on 127.0.0.1:$WP_PORT, Prometheus on $PROM_URL"
wait_scraped $A 0
wait_scraped $B 0

# ------------------------------------------- 1. every series from the start ----

for dom in $A $B; do
    n=$(listval | grep -cE "^$E2E_HOST/virt_inspector-$dom/duration-($(tr ' ' '|' <<<"$STATES"))\$")
    assert_eq "listval: $dom has a duration-<state> for each of the 8 libvirt states" "$n" 8
    pq "$dom series" "count($D{virt_inspector=\"$dom\",type=~\"$(tr ' ' '|' <<<"$STATES")\"})" && assert_eq "Prometheus: $dom has 8 per-state series" "$PQ" 8
    [ $dom = $A ] && pq "$dom TimeBy series" "count($D{virt_inspector=\"$dom\",type=~\"vcpus=.*\"})" &&
        assert_eq "Prometheus: running $dom has its TimeBy vcpus series beside them" "$PQ" 1
    never=$( [ $dom = $A ] && echo 'nostate|blocked|paused|shutdown|shutoff|crashed|pmsuspended' || echo 'nostate|running|blocked|paused|shutdown|crashed|pmsuspended')
    pq "$dom never-entered states" "max($D{virt_inspector=\"$dom\",type=~\"$never\"})" &&
        assert_eq "Prometheus: $dom's 7 never-entered states are 0" "$PQ" 0
done
pq "names" "count($D{instance=\"$E2E_HOST\",job=\"collectd\",virt_inspector=\"$A\",type=\"running\"})" &&
    assert_eq "write_prometheus: duration-running is $D{instance=<host>,virt_inspector=<domain>,type=\"running\"}" "$PQ" 1

# ------------------------------------------- 2. one range, three cases ----

t1=$(now)
hold 0.3
vdo suspend $A && mark $A paused "$VDO_T"
vdo start $B && mark $B running "$VDO_T"
virsh_create_t() { domain_xml "$C" "$C_UUID" >"$T/dom-$C.xml"; vdo create "$T/dom-$C.xml"; }
virsh_create_t && mark $C running "$VDO_T"
hold 1.0
vdo suspend $B && mark $B paused "$VDO_T"
vdo suspend $C && mark $C paused "$VDO_T"
hold 1.2
vdo resume $A && mark $A running "$VDO_T"
vdo resume $B && mark $B running "$VDO_T"
hold 0.5
vdo resume $C && mark $C running "$VDO_T"
hold 0.8
t2=$(now)
for dom in $A $B $C; do wait_scraped $dom "$t2"; done
note "range 1: t1=$t1 t2=$t2"

# the issue's failure, first: with a series from the first read, the plain
# difference has a value for a state first entered inside the range
pq "plain @" "$(sel $A paused) @ $t2 - $(sel $A paused) @ $t1" &&
    check "$A: first-ever pause inside the range: plain 'x @ t2 - x @ t1' answers" "$PQ" "~" "$(truth $A paused "$t1" "$t2")" "$BOUND"
for st in paused running; do check_range $A $st "$t1" "$t2"; done
for st in shutoff running paused; do check_range $B $st "$t1" "$t2"; done
pq "$C at t1" "count($D{virt_inspector=\"$C\"} @ $t1) or vector(0)" &&
    assert_eq "$C has no series at t1 (created inside the range)" "$PQ" 0
for st in running paused; do check_range $C $st "$t1" "$t2"; done
for dom in $A $B $C; do check_availability $dom "$t1" "$t2"; done
# the same range from collectd's own writers (before collectd restarts)
check_writers $A paused "$t1" "$t2"
check_writers $B shutoff "$t1" "$t2"
check_writers $B running "$t1" "$t2"
check_writers $C paused "$t1" "$t2"

# ------------------------------------------- 3. collectd restart ----

t3=$(now)
hold 0.3
vdo suspend $A && mark $A paused "$VDO_T"
# The test driver proves no continuity (README "Domain states"): the
# downtime, from the save at the stop to the first read after the start,
# counts to no state, not even total. Its end: that read's start.
t_stop=$(now)
stop_collectd
mark $A gone "$t_stop"
start_collectd "$(vi_body)" || e2e_bail "collectd did not start again (see $COLLECTD_LOG)"
t_up=$(now)
wait_scraped $A "$t_up"
if t_seen=$(first_read_after "$t_stop"); then
    mark $A paused "$t_seen"
else
    not_ok "a read of the restarted collectd in the csv"
fi
vdo resume $A && mark $A running "$VDO_T"
hold 0.5
t4=$(now)
wait_scraped $A "$t4"
note "range 2 (collectd restart): t3=$t3 t4=$t4"
assert_log "domain \"$A\": the [0-9.]+ s since the last save are credited to no state" \
    "the collectd restart: the gap of $A is credited to no state, the test driver proves nothing (INFO line)"
for st in paused running total; do check_range $A $st "$t3" "$t4"; done
check_availability $A "$t3" "$t4"
pq "resets" "sum(resets($D{type=~\"$(tr ' ' '|' <<<"$STATES")|total\"}[$(ms_between "$t3" "$t4")ms] @ $t4))" &&
    assert_eq "no duration series went down across the collectd restart (resets() = 0)" "$PQ" 0

# ------------------------------------------- 4. libvirtd restart ----

t5=$(now)
hold 0.3
vdo suspend $C && mark $C paused "$VDO_T"
hold 0.8
vdo resume $C && mark $C running "$VDO_T"
hold 0.3
t_kill=$(now)
restart_libvirtd || e2e_bail "libvirtd did not restart"
mark $B gone "$t_kill"
virsh_create_t && t_back=$VDO_T
hold 1.0
t6=$(now)
wait_scraped $C "$t6"
note "range 3 (libvirtd restart): t5=$t5 t6=$t6, domain unknown for $(calc "b - k" b="$t_back" k="$t_kill") s"
check_range $C paused "$t5" "$t6"
# running: C is running before the kill and after it is created again; in
# between the plugin counts it running until a read finds it gone (at most
# one Interval after libvirtd is back) and from the read that finds it again
# (the creation event, or the next read)
check_range $C running "$t5" "$t6" "$(calc "b - k + i" b="$t_back" k="$t_kill" i="$INTERVAL")"

# ------------------------------------------- 5. the rules, live ----

# a range query, as a dashboard panel makes it: paused seconds of $A over
# range 1, one point a second
if out=$(prom_query_range "$(sel $A paused)" "$t1" "$t2" 1); then
    read -r _ npts last <<<"$out"
    check "range query: $A paused has a point each second of range 1" "$npts" ">=" "$(calc "int(b - a)" a="$t1" b="$t2")"
    tl=$(calc "a + int(b - a)" a="$t1" b="$t2") # the last point's time
    check "range query: its last point is the instant value at that time" "$last" "~" "$(prom_scalar "$(sel $A paused) @ $tl")" 0
else
    not_ok "range query over range 1: $PROM_ERROR"
fi

pq "availability rule" "count(virt_inspector:availability:ratio1d{virt_inspector=~\"$A|$C\"} >= 0 <= 1)" &&
    assert_eq "recording rule virt_inspector:availability:ratio1d has a value in [0,1] for $A and $C" "$PQ" 2
# $A spent seconds paused out of about a minute tracked: availability
# below 0.99, the alert pending (it fires after 5 minutes)
_alert_pending() {
    [ "$(prom_scalar "count(ALERTS{alertname=\"VirtInspectorAvailabilityLow\",alertstate=\"pending\",virt_inspector=\"$A\"})" 2>/dev/null)" = 1 ]
}
if wait_until 10 _alert_pending; then
    ok "alert VirtInspectorAvailabilityLow is pending for $A (paused seconds out of a minute)"
else
    not_ok "alert VirtInspectorAvailabilityLow pending for $A: $(prom_query 'ALERTS' 2>&1 | head -n 3 | tr '\n' ' ')"
fi

# ------------------------------------------- 6. the Grafana dashboard ----

. "$E2E_LIB_DIR/dashboard.sh"
