#!/usr/bin/env bash
# The performance benchmark of issue 5: the exporter's scan against the grep baseline and the
# floor, on synthetic hosts built by bench/synth-host.sh. Root only; takes the machine's CPU.
#
#   sudo bench/run.sh [--quick] [--isolated] [--exporter BIN] [--no-build] [--scrapes N]
#                     [--points "P,K,M P,K,M ..."]
#
# --quick     default point with 3 repetitions and 100 memory-check scrapes, and a sweep of P
#             only (a few minutes); without it: 7 repetitions, 1,000 scrapes and the full
#             sweep (up to an hour with a slow exporter: every command is capped by a timeout)
# --isolated  build the synthetic hosts in a private mount namespace (see synth-host.sh -I):
#             use it on a machine shared with other work
# --exporter  time this binary instead of building target/release/mountleak_exporter
# --points    sweep these points instead (the default point always runs first)
set -euo pipefail

quick=0 isolated=() exporter="" build=1 scrapes="" points=""
while (($#)); do
    case "$1" in
    --quick) quick=1; shift ;;
    --isolated) isolated=(-I); shift ;;
    --exporter) exporter=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --scrapes) scrapes=$2; shift 2 ;;
    --points) points=$2; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "run: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cd "$repo"

if ((EUID != 0)); then
    echo "run: needs root (mounts, mount namespaces, reading every process's ns link)" >&2
    exit 2
fi
missing=()
for tool in cargo curl jq timeout unshare nsenter setpriv mkfifo awk; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
[[ -x /usr/bin/time ]] || missing+=("/usr/bin/time (package time)")
if ((${#missing[@]})); then
    echo "run: missing: ${missing[*]} (apt-get install curl jq time util-linux)" >&2
    exit 2
fi

if ((build)); then
    echo "== building (release)"
    cargo build --quiet --release --bin mountleak_exporter --manifest-path "$repo/Cargo.toml"
    # The tools are a package of their own (bench/Cargo.toml), built into the same target/.
    cargo build --quiet --release --manifest-path "$repo/bench/Cargo.toml" --target-dir "$repo/target"
fi
exporter=${exporter:-$repo/target/release/mountleak_exporter}
[[ -x $exporter ]] || { echo "run: no exporter at $exporter" >&2; exit 2; }

results=$(mktemp /tmp/mlbench-results.XXXXXX)
child=""
# Each point runs in the background so that TERM or Ctrl-C stops it (and its cleanup) now.
trap 'if [[ -n $child ]]; then kill -TERM "$child" 2>/dev/null; wait "$child" || true; fi; exit 130' INT
trap 'if [[ -n $child ]]; then kill -TERM "$child" 2>/dev/null; wait "$child" || true; fi; exit 143' TERM
point() {
    bench/synth-host.sh "${isolated[@]}" "$@" &
    child=$!
    # One point failing (say the exporter runs out of memory) must not lose the others.
    wait "$child" || echo "== that point failed (status $?)"
    child=""
}

if ((quick)); then
    reps=3 sweep_reps=3 grep_reps=1 scrapes=${scrapes:-100}
    # P doubles and quadruples at fixed K and M: the cost must not follow.
    sweep=("500 20 1000" "1000 20 1000" "4000 20 1000")
else
    reps=7 sweep_reps=5 grep_reps=3 scrapes=${scrapes:-1000}
    # One dimension at a time around P=1000, K=20, M=1000, plus the memory target point.
    sweep=(
        "100 20 1000" "1000 20 1000" "10000 20 1000"
        "1000 20 100" "1000 20 10000"
        "1000 1 1000" "1000 200 1000"
        "10000 20 10000"
    )
fi

if [[ -n $points ]]; then
    sweep=()
    for p in $points; do sweep+=("${p//,/ }"); done
fi

echo "== machine: $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); exporter $exporter"
echo "== default point: P=2000 K=20 M=1000 ($reps repetitions, $scrapes memory-check scrapes)"
point -P 2000 -K 20 -M 1000 -- \
    bench/measure.sh --reps "$reps" --exporter "$exporter" --scrapes "$scrapes" --listmount --results "$results"

for point in "${sweep[@]}"; do
    read -r P K M <<<"$point"
    g=$grep_reps
    # grep at P*M = 100 million lines ran past the 600 s cap here: not run at such points.
    ((P * M >= 50000000)) && g=0
    echo "== sweep point: P=$P K=$K M=$M"
    point -P "$P" -K "$K" -M "$M" -- \
        bench/measure.sh --reps "$sweep_reps" --grep-reps "$g" --exporter "$exporter" --results "$results"
done

echo
echo "== results (medians in seconds; first row is the default point; rows also in $results)"
echo
echo "Wall clock:"
echo
echo "| P | K | M | (a) grep | (b) floor | floor via listmount | (c) scan | scrape | c/a | c/b | scan peak RSS MiB | exporter peak RSS MiB |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' 'NF >= 12 { printf "|"; for (i = 1; i <= 12; i++) printf " %s |", $i; printf "\n" }' "$results"
echo
echo "CPU (user+sys; the scrape's is the exporter's own):"
echo
echo "| P | K | M | (a) grep | (b) floor | (c) scan | scrape | c/a | c/b |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' 'NF >= 18 { printf "| %s | %s | %s |", $1, $2, $3; for (i = 13; i <= 18; i++) printf " %s |", $i; printf "\n" }' "$results"
echo
echo "The exporter's own mountleak_scan_duration_seconds (reading /proc and classifying, without"
echo "building the report or rendering), against the floor (wall clock):"
echo
echo "| P | K | M | (b) floor | scan_duration_seconds | ratio |"
echo "|---:|---:|---:|---:|---:|---:|"
awk -F'\t' 'NF >= 20 { printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $5, $19, $20 }' "$results"
echo
echo "The running exporter's scans are incremental (listmount(2), Linux 6.8+): in steady state no"
echo "table changed since the scrape before; after one change a mount was made (or removed) in one"
echo "namespace. Against the floor and the bare enumeration (readdir /proc + one ns/mnt per process),"
echo "both timed inside the floor reader (no process start-up), like scan_duration_seconds:"
echo
echo "| P | K | M | (e) enumeration | (b) floor | steady scan_duration | /floor | /enumeration | after one change | /floor | /enumeration |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' 'NF >= 28 { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $23, $22, $19, $24, $25, $26, $27, $28 }' "$results"
echo
echo "Against what finding the changed tables costs: (d) detection is the enumeration plus every"
echo "namespace's listmount(2) id list, which every incremental scan does. After one change the"
echo "target is (e) plus the changed table's share of the floor's table reads; (d) plus that share"
echo "is what the listmount(2) way can reach at best:"
echo
echo "| P | K | M | (d) detection | steady /detection | after one change | target e+share | /target | d+share | /(d+share) |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' 'NF >= 34 { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $29, $30, $26, $31, $32, $33, $34 }' "$results"
