# tests/e2e/dashboard.sh -- contrib/grafana/virt_inspector.json, every
# query evaluated by a real Prometheus.
#
# Sourced by tests/e2e/prometheus.sh at its end (not run alone): it reuses
# that suite's collectd, Prometheus, domains ($A running with balloon stats,
# $B gone since the libvirtd restart, $C created inside range 1), scripted
# truth (truth) and helpers (prom_query, pq, check, BOUND, INTERVAL, t1,
# t_kill, t_back), so no second daemon is started.
#
# What it checks, on the shipped file (queries extracted with jq):
#   - the JSON parses; every panel but a row has a datasource reference to
#     the `datasource` variable and at least one query, every query has an
#     expression; the variables datasource, host and domain exist;
#   - the variables' queries (label_values) list the test host and domains,
#     and the domain list holds no health series (`read`, `domains`);
#   - every query, with the variables substituted as Grafana does (host =
#     the test host, domain = all three test domains as a regex, $__range
#     = the span from just before range 1 to now, $__rate_interval = 4 s,
#     i.e. 4 scrapes, $__interval = 1 s), evaluated as its panel makes it
#     (instant or range query), returns data; a `$` left over fails;
#   - where the suite knows the truth, the values: the test driver's fixed
#     memory figures, states seen, seconds paused and availability over
#     the range against the script's clock, no crash, 2 domains read.

DASHBOARD="$top_srcdir/contrib/grafana/virt_inspector.json"
DASH_T0=$EPOCHREALTIME
DASH_DOMAINS="($A|$B|$C)" # Grafana's regex form of a multi-value variable

# dash_panels: one JSON object a line per panel, rows' nested panels too
dash_panels() { jq -c '.panels[] | ., (.panels // [])[]' "$DASHBOARD"; }

# dash_subst EXPR: the variables replaced as Grafana would (see the header)
dash_subst() {
    local e=$1
    e=${e//'${host}'/$E2E_HOST}
    e=${e//'$host'/$E2E_HOST}
    e=${e//'${domain}'/$DASH_DOMAINS}
    e=${e//'$domain'/$DASH_DOMAINS}
    e=${e//'${__range}'/${DASH_RANGE}s}
    e=${e//'$__range'/${DASH_RANGE}s}
    e=${e//'${__rate_interval}'/4s}
    e=${e//'$__rate_interval'/4s}
    e=${e//'${__interval}'/1s}
    e=${e//'$__interval'/1s}
    printf '%s' "$e"
}

# DASH_EXPR["TITLE|REFID"]: every query of the file, read once
declare -A DASH_EXPR=()
while IFS=$'\t' read -r title ref expr; do
    DASH_EXPR["$title|$ref"]=$expr
done < <(jq -r '.panels[] | ., (.panels // [])[] | .title as $t | .targets[]?
    | [$t, .refId, .expr] | @tsv' "$DASHBOARD" 2>/dev/null)

# dash_expr TITLE [REFID]: the substituted query REFID (default A) of the
# panel titled TITLE
dash_expr() {
    local e=${DASH_EXPR["$1|${2:-A}"]:-}
    [ -n "$e" ] || { not_ok "dashboard: no panel '$1' with a query ${2:-A}"; return 1; }
    dash_subst "$e"
}

# dash_value LINES DOMAIN: the value of DOMAIN's one series in prom_query
# output (empty if none)
dash_value() { grep -E "virt_inspector=\"$2\"[,}]" <<<"$1" | head -n 1 | awk '{ print $NF }'; }

# dash_q DESC TITLE [REFID]: DQ = the instant result (lines) of a panel's
# query at DASH_T
dash_q() {
    local e
    e=$(dash_expr "$2" "${3:-A}") || return 1
    if ! DQ=$(prom_query "$e" "$DASH_T"); then
        not_ok "$1: query failed: $PROM_ERROR [$e]"
        return 1
    fi
}

# ------------------------------------------------------------ structure ----

note "the Grafana dashboard: $DASHBOARD"
if ! jq -e . "$DASHBOARD" >/dev/null 2>"$T/dash.err"; then
    not_ok "contrib/grafana/virt_inspector.json is valid JSON: $(head -c 300 "$T/dash.err")"
    return 0
fi
ok "contrib/grafana/virt_inspector.json is valid JSON"
bad=$(jq -r '[.templating.list[] | select(.type == "datasource" and .name == "datasource" and .query == "prometheus")] | length' "$DASHBOARD")
assert_eq "dashboard: a datasource variable 'datasource' of type prometheus" "$bad" 1
for v in host domain; do
    n=$(jq -r --arg v "$v" '[.templating.list[] | select(.name == $v and .type == "query" and .datasource.uid == "${datasource}")] | length' "$DASHBOARD")
    assert_eq "dashboard: a query variable '$v' on \${datasource}" "$n" 1
done
bad=$(dash_panels | jq -r 'select(.type != "row")
    | select((.datasource.uid // "") != "${datasource}"
             or ((.targets // []) | length) == 0
             or any(.targets[]; (.expr // "") == "" or ((.datasource.uid // "${datasource}") != "${datasource}")))
    | .title')
assert_eq "dashboard: every panel refers to \${datasource} and has queries, each with an expression" "$bad" ""
bad=$(dash_panels | jq -r 'select(.type == "row" and ((.targets // []) | length) > 0) | .title')
assert_eq "dashboard: rows hold no queries" "$bad" ""
n=$(dash_panels | jq -s '[.[].id] | length - (unique | length)')
assert_eq "dashboard: panel ids are unique" "$n" 0

# ------------------------------------------------------------- queries ----

# The range: from 2 s before range 1 (B still shut off, C not yet created)
# to now, in whole seconds as Grafana's $__range; evaluated once every
# domain still present has a sample after its end.
DASH_T=$(now)
DASH_RANGE=$(calc "int(t - a) + 3" t="$DASH_T" a="$t1")
DASH_RANGE=${DASH_RANGE%.*}
DASH_START=$(calc "t - r" t="$DASH_T" r="$DASH_RANGE")
prom_wait_newer "$D{virt_inspector=~\"$A|$C\"}" "$DASH_T" 20 ||
    e2e_bail "no sample of $A and $C newer than $DASH_T in Prometheus within 20 s ($PROM_ERROR)"
note "dashboard range: [$DASH_START, $DASH_T] (\$__range = ${DASH_RANGE}s)"

# the variables: label_values(SELECTOR, LABEL) as a PromQL count by
while IFS=$'\t' read -r name def; do
    if [[ $def =~ ^label_values\((.*),\ *([a-z_]+)\)$ ]]; then
        e=$(dash_subst "count by (${BASH_REMATCH[2]}) (${BASH_REMATCH[1]})")
        if out=$(prom_query "$e" "$DASH_T"); then
            case $name in
            host) want="$E2E_HOST" ;;
            domain) want="$A $C" ;;
            esac
            for w in $want; do
                if grep -q "=\"$w\"}" <<<"$out"; then
                    ok "dashboard variable $name lists $w"
                else
                    not_ok "dashboard variable $name lists $w: got $(tr '\n' ' ' <<<"$out")"
                fi
            done
            [ "$name" = domain ] && assert_eq "dashboard variable domain lists no health series (read, domains)" \
                "$(grep -cE '="(read|domains)"}' <<<"$out")" 0
        else
            not_ok "dashboard variable $name: query failed: $PROM_ERROR [$e]"
        fi
    else
        not_ok "dashboard variable $name: not label_values(SELECTOR, LABEL): $def"
    fi
done < <(jq -r '.templating.list[] | select(.type == "query") | "\(.name)\t\(.definition)"' "$DASHBOARD")

# every query, as its panel makes it
npanels=0
while IFS=$'\t' read -r title ref instant expr; do
    e=$(dash_subst "$expr")
    if [[ $e == *'$'* ]]; then
        not_ok "panel '$title' $ref: a variable the test does not know: $e"
        continue
    fi
    if [ "$instant" = true ]; then
        out=$(prom_query "$e" "$DASH_T") && n=$(grep -c . <<<"$out")
    else
        out=$(prom_query_range "$e" "$DASH_START" "$DASH_T" 1) &&
            n=$(awk '$(NF - 1) > 0' <<<"$out" | grep -c .)
    fi || { not_ok "panel '$title' $ref: query failed: $PROM_ERROR [$e]"; continue; }
    if [ "$n" -gt 0 ]; then
        ok "panel '$title' $ref ($([ "$instant" = true ] && echo instant || echo range) query): $n series"
    else
        not_ok "panel '$title' $ref: no data [$e]"
    fi
    npanels=$((npanels + 1))
done < <(dash_panels | jq -r 'select(.type != "row") | .title as $t | .targets[]?
    | [$t, .refId, (.instant // false | tostring), .expr] | @tsv')
assert_eq "dashboard: every query evaluated" "$npanels" \
    "$(dash_panels | jq -s '[.[] | select(.type != "row") | .targets[]?] | length')"

# ------------------------------------------------------- known values ----

# the test driver's `test` domain: fixed balloon figures (tests/e2e/memory.sh)
for spec in "Memory used|A|1073741824" "Memory used|B|2147483648" \
    "Memory used, percent|A|50" "Resident set size (host)|A|1073741824" \
    "Swap in / out|A|0" "Swap in / out|B|0" "Page faults|A|0" "Page faults|B|0"; do
    IFS='|' read -r title ref want <<<"$spec"
    dash_q "$title" "$title" "$ref" &&
        check "panel '$title' $ref: $A's value" "$(dash_value "$DQ" $A)" "==" "$want"
done

# State: running now; paused (3) seen for A and C, shut off (5) for B in
# the range (a 1 s subquery over the panel's query)
if dash_q "State" "State"; then
    for dom in $A $C; do
        check "panel 'State': $dom is running (1) now" "$(dash_value "$DQ" "$dom")" "==" 1
    done
fi
e=$(dash_expr "State") && for sv in "3 $A" "3 $C" "5 $B"; do
    read -r v dom <<<"$sv"
    out=$(prom_query "count_over_time((($e) == $v)[${DASH_RANGE}s:1s])" "$DASH_T") || out=
    check "panel 'State': $dom was in state $v during the range" "$(dash_value "$out" "$dom")" ">=" 1
done

# Seconds in each state: paused against the truth over the range; nothing
# crashed; no negative answer (no reset)
if dash_q "Seconds in each state over the range" "Seconds in each state over the range"; then
    for dom in $A $C; do
        check "panel 'Seconds in each state': $dom has 8 states" \
            "$(grep -cE "virt_inspector=\"$dom\"[,}]" <<<"$DQ")" "==" 8
        check "panel 'Seconds in each state': $dom paused within $BOUND s of the truth" \
            "$(dash_value "$(grep 'type="paused"' <<<"$DQ")" "$dom")" "~" \
            "$(truth "$dom" paused "$DASH_START" "$DASH_T")" "$BOUND"
    done
    assert_eq "panel 'Seconds in each state': 0 s crashed for every domain" \
        "$(grep 'type="crashed"' <<<"$DQ" | awk '$NF != 0' | head -n 3)" ""
    assert_eq "panel 'Seconds in each state': no negative value" "$(awk '$NF < 0' <<<"$DQ" | head -n 3)" ""
fi

# Availability: A's running / total against the truth; the libvirtd
# restart leaves a window the plugin cannot know (tests/e2e/prometheus.sh)
if dash_q "Availability over the range" "Availability over the range"; then
    u=$(calc "b - k + i" b="$t_back" k="$t_kill" i="$INTERVAL")
    rt=$(truth $A running "$DASH_START" "$DASH_T")
    tt=$(truth $A total "$DASH_START" "$DASH_T")
    check "panel 'Availability': $A's running / total over the range" "$(dash_value "$DQ" $A)" "~" \
        "$(calc "r / t" r="$rt" t="$tt")" "$(calc "(2 * b + u) / t" b="$BOUND" u="$u" t="$tt")"
    assert_eq "panel 'Availability': every value in [0, 1]" "$(awk '$NF < 0 || $NF > 1' <<<"$DQ" | head -n 3)" ""
fi

up_a=
if dash_q "Uptime" "Uptime"; then
    up_a=$(dash_value "$DQ" $A)
    check "panel 'Uptime': $A's uptime" "$up_a" ">=" 0
fi
# B: the time in the current state, of the same samples (one evaluation
# time): never more than the uptime of a running guest
if dash_q "Uptime B" "Uptime" B; then
    check "panel 'Uptime' B: $A's time in its current state, at most its uptime" \
        "$(dash_value "$DQ" $A)" "<=" "${up_a:-0}"
    check "panel 'Uptime' B: $A's time in its current state" "$(dash_value "$DQ" $A)" ">=" 0
fi
for title in "Seconds crashed over the range" "Shut off by a crash"; do
    if dash_q "$title" "$title"; then
        for dom in $A $C; do
            check "panel '$title': $dom" "$(dash_value "$DQ" "$dom")" "==" 0
        done
    fi
done

# the plugin's own health: A and C are left after the libvirtd restart
if dash_q "Domains read" "Domains read"; then
    check "panel 'Domains read': $E2E_HOST read 2 domains" "$(awk '{ print $NF }' <<<"$DQ")" "==" 2
fi
if dash_q "Read duration" "Read duration"; then
    x=$(awk '{ print $NF }' <<<"$DQ")
    check "panel 'Read duration': more than 0 s" "$x" ">=" 0.000001
    check "panel 'Read duration': less than the Interval" "$x" "<=" "$INTERVAL"
fi
note "dashboard checks: $(calc "b - a" a="$DASH_T0" b="$EPOCHREALTIME") s"
