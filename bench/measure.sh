#!/usr/bin/env bash
# Times one point of the synthetic host; run by bench/run.sh through bench/synth-host.sh.
#
#   measure.sh [--reps N] [--grep-reps N] [--exporter BIN] [--scrapes N] [--listmount]
#              [--mem-limit-mb N] [--timeout S] [--results FILE]
#
# Alternates, REPS times: (a) grep -l <id> /proc/[0-9]*/mountinfo (only in the first
# GREP-REPS rounds: it is the slow one), (b) the floor reader (mountinfo text, and
# listmount+statmount), (e) bare process enumeration (readdir /proc + one ns/mnt link per
# process, no table), (c) `mountleak_exporter scan` (its text report: a full scan) and a scrape
# of a running exporter (--scan.min-interval 0s: an incremental scan, in steady state as
# nothing changes between scrapes; asked for as Prometheus does, gzip and OpenMetrics). Every
# command runs under `timeout` alike. Then, with the
# exporter, REPS times: one container-shaped tmpfs mounted in this namespace (a container
# starting), a scrape, unmounted, a scrape: what the scan after one change costs. Reports
# wall-clock and CPU medians, the ratios, peak RSS, and RSS across SCRAPES more scrapes;
# appends one tab-separated row to FILE. A method that fails or times out is reported as such
# and not retried.
set -euo pipefail

reps=5 grep_reps="" exporter="" scrapes=0 results="" listmount=0 mem_limit_mb=8192 limit=600
while (($#)); do
    case "$1" in
    --reps) reps=$2; shift 2 ;;
    --grep-reps) grep_reps=$2; shift 2 ;;
    --exporter) exporter=$2; shift 2 ;;
    --scrapes) scrapes=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    --listmount) listmount=1; shift ;;
    --mem-limit-mb) mem_limit_mb=$2; shift 2 ;;
    --timeout) limit=$2; shift 2 ;;
    *) echo "measure: unknown argument $1" >&2; exit 2 ;;
    esac
done
: "${SYNTH_GREP_ID:?run me through bench/synth-host.sh}"
grep_reps=${grep_reps:-$reps}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
floor=$repo/target/release/floor
lm=$repo/target/release/listmount
[[ -x $floor && -x $lm ]] || { echo "measure: tools missing (cargo build --release --manifest-path bench/Cargo.toml --target-dir target)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/mlbench-measure.XXXXXX)
server=""
cleanup() {
    if [[ -n $server ]]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A runaway exporter must not take the machine down with it: cap address space of everything
# started from here (grep, floor and curl need a few MiB).
ulimit -v $((mem_limit_mb * 1024))

docker_none=unix:///nonexistent.sock
scan_cmd=("$exporter" scan --path.procfs /proc --docker.host "$docker_none" --log.level error)

# CPU seconds (user+sys) of all reaped children so far, into $cpu_now. The `times` builtin
# reads this shell's rusage, so it must not run in a $(...) subshell.
child_cpu() {
    times >"$tmp/times"
    local line t m s
    cpu_now=0
    line=$(tail -n 1 "$tmp/times")
    for t in $line; do
        [[ $t =~ ^([0-9]+)m([0-9.]+)s$ ]] || continue
        m=${BASH_REMATCH[1]} s=${BASH_REMATCH[2]}
        cpu_now=$(awk -v a="$cpu_now" -v m="$m" -v s="$s" 'BEGIN { printf "%.6f", a + m * 60 + s }')
    done
}

# CPU seconds of the running exporter, all threads (schedstat is in nanoseconds).
server_cpu() {
    cat "/proc/$server"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.6f", s / 1e9 }'
}

sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }

declare -A wall cpu failed reread
# timed NAME OKCODES CMD...: one run; appends wall and CPU seconds to wall[NAME], cpu[NAME].
timed() {
    local name=$1 ok=$2 rc=0 c0 t0 t1
    shift 2
    [[ -n ${failed[$name]:-} ]] && return 0
    child_cpu
    c0=$cpu_now
    t0=$EPOCHREALTIME
    timeout --kill-after=5 "$limit" "$@" >/dev/null 2>"$tmp/err" || rc=$?
    t1=$EPOCHREALTIME
    child_cpu
    if [[ " $ok " != *" $rc "* ]]; then
        failed[$name]=$( ((rc == 124 || rc == 137)) && echo "timeout" || echo "failed($rc)")
        echo "  $name: ${failed[$name]}: $(head -c 300 "$tmp/err")" >&2
        return 0
    fi
    wall[$name]+="$(sub "$t0" "$t1") "
    cpu[$name]+="$(sub "$c0" "$cpu_now") "
}

# A scrape as Prometheus asks for it: gzip (curl inflates it) and OpenMetrics first.
as_prometheus=(--compressed -H 'Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5')

scrape_timed() {
    local c0 c1 t0 t1
    [[ -n ${failed[scrape]:-} ]] && return 0
    c0=$(server_cpu)
    t0=$EPOCHREALTIME
    if ! curl -fsS --max-time "$limit" "${as_prometheus[@]}" -o "$tmp/scrape" "http://$addr/metrics" 2>"$tmp/err"; then
        kill -0 "$server" 2>/dev/null && failed[scrape]="failed" || failed[scrape]="exporter died"
        echo "  scrape: ${failed[scrape]}: $(head -c 300 "$tmp/err")" >&2
        return 0
    fi
    t1=$EPOCHREALTIME
    c1=$(server_cpu)
    wall[scrape]+="$(sub "$t0" "$t1") "
    cpu[scrape]+="$(sub "$c0" "$c1") "
    # The exporter's own figure for reading /proc and classifying (no reporting).
    wall[${1:-core}]+="$(awk '$1 == "mountleak_scan_duration_seconds" { print $2 }' "$tmp/scrape") "
    reread[${1:-core}]+="$(awk '$1 == "mountleak_scan_namespaces_reread" { print $2 }' "$tmp/scrape") "
}

# inner NAME ARGS...: the floor reader's own timing (its seconds=, no process start-up), to
# set beside the exporter's own mountleak_scan_duration_seconds.
inner() {
    local name=$1 out
    shift
    out=$("$floor" "$@" 2>/dev/null) || return 0
    wall[$name]+="$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$out") "
}

median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.4f", v[int((NR + 1) / 2)] }'; }
kib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
status_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || true; }

if [[ -n $exporter ]]; then
    [[ -x $exporter ]] || { echo "measure: exporter $exporter not executable" >&2; exit 2; }
    port=$((39200 + RANDOM % 500))
    addr=127.0.0.1:$port
    "$exporter" --web.listen-address "$addr" --scan.min-interval 0s --path.procfs /proc \
        --docker.host "$docker_none" --log.level error 2>"$tmp/server.log" &
    server=$!
    for ((i = 0; i < 100; i++)); do
        curl -fsS -o /dev/null "http://$addr/healthz" 2>/dev/null && break
        kill -0 "$server" 2>/dev/null || { echo "measure: exporter died: $(cat "$tmp/server.log")" >&2; exit 1; }
        sleep 0.1
    done
    curl -fsS -o /dev/null "http://$addr/healthz" || { echo "measure: exporter not answering on $addr" >&2; exit 1; }
fi

# Untimed pass: warms caches and shows every method sees the synthetic host.
echo "  floor:           $("$floor")"
if "$floor" --method listmount >"$tmp/lm.out" 2>&1; then
    echo "  floor/listmount: $(cat "$tmp/lm.out")"
else
    failed[floor_listmount]="unavailable"
    echo "  floor/listmount: unavailable: $(cat "$tmp/lm.out")"
fi
# (With one timed grep only, it is the slow point: no extra untimed run.)
if ((grep_reps > 1)); then
    matched=$(grep -l "$SYNTH_GREP_ID" /proc/[0-9]*/mountinfo 2>/dev/null | wc -l) || true
    echo "  grep:            $matched mountinfo files name $SYNTH_GREP_ID"
fi
if [[ -n $exporter ]]; then
    rc=0
    timeout --kill-after=5 "$limit" "${scan_cmd[@]}" >"$tmp/scan.out" 2>"$tmp/scan.err" || rc=$?
    if ((rc <= 1)); then
        echo "  scan:            exit $rc, $(wc -l <"$tmp/scan.out") lines ($(grep -c '^  stale' "$tmp/scan.out" || true) stale, $(grep -c '^  at_risk' "$tmp/scan.out" || true) at risk); $(tail -n 1 "$tmp/scan.out")"
    else
        failed[scan]=$( ((rc == 124 || rc == 137)) && echo "timeout" || echo "failed($rc)")
        echo "  scan:            ${failed[scan]}: $(head -c 300 "$tmp/scan.err")"
    fi
    rm -f "$tmp/scan.out"
    if curl -fsS --max-time "$limit" -o "$tmp/metrics" "http://$addr/metrics" 2>"$tmp/err"; then
        echo "  scrape:          $(wc -c <"$tmp/metrics") bytes, $(grep -vc '^#' "$tmp/metrics") series, $(grep -E '^mountleak_(scan_duration_seconds|series_dropped) ' "$tmp/metrics" | tr '\n' ' ')"
    else
        failed[scrape]="failed"
        echo "  scrape:          failed: $(head -c 300 "$tmp/err")"
    fi
fi

for ((r = 0; r < reps; r++)); do
    ((r < grep_reps)) && timed grep "0 1 2" grep -l "$SYNTH_GREP_ID" /proc/[0-9]*/mountinfo
    timed floor "0" "$floor" --quiet
    timed floor_listmount "0" "$floor" --quiet --method listmount
    timed enumerate "0" "$floor" --quiet --method enumerate
    inner floor_in
    inner enumerate_in --method enumerate
    inner detect_in --method detect
    if [[ -n $exporter ]]; then
        timed scan "0 1" "${scan_cmd[@]}"
        scrape_timed
    fi
done

# One change between two scrapes: a container starts (a mount appears in this namespace
# only: the scratch root is private), then stops.
if [[ -n $exporter && -z ${failed[scrape]:-} ]]; then
    for ((r = 0; r < reps; r++)); do
        d=$SYNTH_ROOT/var/lib/docker/containers/$(printf 'c%063x' "$r")/mounts/shm
        mkdir -p "$d" && mount -t tmpfs change "$d"
        scrape_timed change
        umount "$d"
        scrape_timed change
    done
fi

declare -A med cmed
for k in grep floor floor_listmount enumerate floor_in enumerate_in detect_in scan scrape core change; do
    med[$k]=$(median <<<"${wall[$k]:-}")
    cmed[$k]=$(median <<<"${cpu[$k]:-}")
    if [[ -z ${med[$k]} ]]; then
        med[$k]=${failed[$k]:--}
        cmed[$k]=-
    fi
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b == 0) print "-"; else printf "%.2f", a / b }'; }

# After one change the target is the enumeration plus the changed table's share of the floor
# (the floor's table reads, averaged over its namespaces); what the incremental scans' way of
# finding them costs (detection: every namespace's listmount(2) ids) comes on top of any scan.
namespaces=$("$floor" | sed -n 's/.*namespaces=\([0-9]*\).*/\1/p')
# Each change below touches one namespace's table (whether the exporter reads it or not).
changed=1
share() { awk -v b="$1" -v f="${med[floor_in]}" -v e="${med[enumerate_in]}" -v n="$namespaces" -v c="$changed" \
    'BEGIN { if (b !~ /^[0-9.]+$/ || f !~ /^[0-9.]+$/ || e !~ /^[0-9.]+$/ || n + 0 == 0 || c == "") print "-"; else printf "%.4f", b + (f - e) * c / n }'; }
change_target=$(share "${med[enumerate_in]}")
change_bound=$(share "${med[detect_in]}")

scan_rss="-" floor_rss="-" server_hwm="-"
/usr/bin/time -f %M -o "$tmp/rss" "$floor" --quiet && floor_rss=$(kib "$(tail -n 1 "$tmp/rss")")
if [[ -n $exporter ]]; then
    if [[ -z ${failed[scan]:-} ]]; then
        rc=0
        /usr/bin/time -f %M -o "$tmp/rss" timeout "$limit" "${scan_cmd[@]}" >/dev/null 2>&1 || rc=$?
        ((rc <= 1)) && scan_rss=$(kib "$(tail -n 1 "$tmp/rss")")
    fi
    hwm=$(status_kib "$server" VmHWM)
    [[ -n $hwm ]] && server_hwm=$(kib "$hwm")
    if ((scrapes > 0)) && [[ -z ${failed[scrape]:-} ]]; then
        mem="" marks=" 1 10 100 $scrapes "
        t0=$EPOCHREALTIME
        for ((i = 1; i <= scrapes; i++)); do
            curl -fsS --max-time "$limit" -o /dev/null "http://$addr/metrics" || { echo "measure: scrape $i failed" >&2; break; }
            if [[ $marks == *" $i "* ]]; then
                mem+="after $i: $(kib "$(status_kib "$server" VmRSS)"); "
            fi
        done
        server_hwm=$(kib "$(status_kib "$server" VmHWM)")
        echo "  RSS (MiB) across $scrapes scrapes in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')s: ${mem}peak (VmHWM) $server_hwm"
    fi
fi

cat <<REPORT
  medians of $reps, grep of $grep_reps (wall s / CPU s):
    (a)  grep baseline        ${med[grep]} / ${cmed[grep]}
    (b)  floor (mountinfo)    ${med[floor]} / ${cmed[floor]}
    (b') floor (listmount)    ${med[floor_listmount]} / ${cmed[floor_listmount]}
    (c)  exporter scan        ${med[scan]} / ${cmed[scan]}
    (c') scrape (0s cache)    ${med[scrape]} / ${cmed[scrape]} (exporter's CPU)
    exporter's own mountleak_scan_duration_seconds (read /proc + classify): ${med[core]}
  wall: c/a = $(ratio "${med[scan]}" "${med[grep]}")  c/b = $(ratio "${med[scan]}" "${med[floor]}")  scrape/a = $(ratio "${med[scrape]}" "${med[grep]}")  scrape/b = $(ratio "${med[scrape]}" "${med[floor]}")  b'/b = $(ratio "${med[floor_listmount]}" "${med[floor]}")
  scan_duration / floor = $(ratio "${med[core]}" "${med[floor]}")
  incremental (the running exporter), against the floor reader's own timings (no process start-up):
    (e)  enumeration only     ${med[enumerate]} wall (${med[enumerate_in]} inside)
    (b)  floor                ${med[floor_in]} inside
    (d)  detection            ${med[detect_in]} inside (e + every namespace's listmount(2) ids)
    steady state: scan_duration ${med[core]}, tables read $(median <<<"${reread[core]:-}")
      / floor = $(ratio "${med[core]}" "${med[floor_in]}")  / enumeration = $(ratio "${med[core]}" "${med[enumerate_in]}")  / detection = $(ratio "${med[core]}" "${med[detect_in]}")
    after one change: scan_duration ${med[change]}, tables read $(median <<<"${reread[change]:-}")
      / floor = $(ratio "${med[change]}" "${med[floor_in]}")  / enumeration = $(ratio "${med[change]}" "${med[enumerate_in]}")
      / (e + the changed table's share of b = $change_target) = $(ratio "${med[change]}" "$change_target")  / (d + that share = $change_bound) = $(ratio "${med[change]}" "$change_bound")
  CPU:  c/a = $(ratio "${cmed[scan]}" "${cmed[grep]}")  c/b = $(ratio "${cmed[scan]}" "${cmed[floor]}")  scrape/a = $(ratio "${cmed[scrape]}" "${cmed[grep]}")  scrape/b = $(ratio "${cmed[scrape]}" "${cmed[floor]}")
  peak RSS (MiB): scan $scan_rss, running exporter $server_hwm, floor $floor_rss
REPORT

if ((listmount)); then
    holder=${SYNTH_HOLDERS%% *}
    echo "  listmount(2)+statmount(2) against mountinfo, one holder's namespace:"
    "$lm" --pid "$holder" --reps 21 | sed 's/^/    /'
    echo "  naming another process's namespace (no setns), as root:"
    "$lm" --probe --pid "$holder" | sed 's/^/    /'
    if command -v setpriv >/dev/null; then
        echo "  ... as uid 65534 with only CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH:"
        setpriv --reuid 65534 --regid 65534 --clear-groups \
            --inh-caps -all,+sys_ptrace,+dac_read_search --ambient-caps +sys_ptrace,+dac_read_search \
            --bounding-set -all,+sys_ptrace,+dac_read_search "$lm" --probe --pid "$holder" | sed 's/^/    /'
    fi
fi

if [[ -n $results ]]; then
    printf '%s\t' "$SYNTH_P" "$SYNTH_K" "$SYNTH_M" "${med[grep]}" "${med[floor]}" "${med[floor_listmount]}" \
        "${med[scan]}" "${med[scrape]}" "$(ratio "${med[scan]}" "${med[grep]}")" "$(ratio "${med[scan]}" "${med[floor]}")" \
        "$scan_rss" "$server_hwm" "${cmed[grep]}" "${cmed[floor]}" "${cmed[scan]}" "${cmed[scrape]}" \
        "$(ratio "${cmed[scan]}" "${cmed[grep]}")" "$(ratio "${cmed[scan]}" "${cmed[floor]}")" \
        "${med[core]}" "$(ratio "${med[core]}" "${med[floor]}")" \
        "${med[enumerate]}" "${med[floor_in]}" "${med[enumerate_in]}" \
        "$(ratio "${med[core]}" "${med[floor_in]}")" "$(ratio "${med[core]}" "${med[enumerate_in]}")" \
        "${med[change]}" "$(ratio "${med[change]}" "${med[floor_in]}")" "$(ratio "${med[change]}" "${med[enumerate_in]}")" \
        "${med[detect_in]}" "$(ratio "${med[core]}" "${med[detect_in]}")" "$change_target" "$(ratio "${med[change]}" "$change_target")" \
        "$change_bound" "$(ratio "${med[change]}" "$change_bound")" >>"$results"
    echo >>"$results"
fi
