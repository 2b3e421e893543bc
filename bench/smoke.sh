#!/usr/bin/env bash
# Correctness smoke of the benchmark's generator (a second or two, root): builds a tiny
# synthetic host in each mode and checks what it promises, then that nothing is left behind.
#
#   sudo bench/smoke.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
if ((EUID != 0)); then
    echo "smoke: needs root" >&2
    exit 2
fi
# A debug build is enough here, and is what the test suite already compiles.
cargo build --quiet --bin benchhelper --manifest-path "$repo/bench/Cargo.toml" --target-dir "$repo/target"
export BENCHHELPER=$repo/target/debug/benchhelper

# Runs inside the synthetic host: P=12 K=3 M=8, every 4th mount unmounted on the host.
check_inside() {
    local fail=0 h n want_here total=0 pid ns
    declare -A in_ns=()
    for pid in /proc/[0-9]*; do
        ns=$(readlink "$pid/ns/mnt" 2>/dev/null) || continue
        in_ns[$ns]=$((${in_ns[$ns]:-0} + 1))
    done
    for h in $SYNTH_HOLDERS; do
        ns=$(readlink "/proc/$h/ns/mnt")
        total=$((total + ${in_ns[$ns]:-0}))
        n=$(grep -c " $SYNTH_ROOT/" "/proc/$h/mountinfo")
        [[ $n == 8 ]] || { echo "smoke: holder $h has $n of the 8 mounts" >&2; fail=1; }
        if grep " $SYNTH_ROOT/" "/proc/$h/mountinfo" | grep -qE 'shared:|master:'; then
            echo "smoke: holder $h's copies are not private" >&2
            fail=1
        fi
    done
    [[ $total == 12 ]] || { echo "smoke: $total processes in the holders' namespaces, want 12" >&2; fail=1; }
    want_here=$((1 + 8 - 2))
    n=$(grep -c " $SYNTH_ROOT" /proc/self/mountinfo)
    [[ $n == "$want_here" ]] || { echo "smoke: $n scratch mounts here, want $want_here (2 unmounted)" >&2; fail=1; }
    n=$(cut -f1 "$SYNTH_MANIFEST" | sort | uniq -c | awk '{ printf "%s=%s ", $2, $1 }')
    [[ $n == "netns=2 rootfs=2 shm=2 volume=2 " ]] || { echo "smoke: manifest kinds: $n" >&2; fail=1; }
    grep -q "containers/$SYNTH_GREP_ID/mounts/shm" "$SYNTH_MANIFEST" || { echo "smoke: grep id not a container" >&2; fail=1; }
    return "$fail"
}
export -f check_inside

leftovers() {
    local n
    n=$(grep -c ' /tmp/mlbench\.' /proc/self/mountinfo || true)
    ((n == 0)) || { echo "smoke: $n scratch mounts left behind" >&2; return 1; }
    n=$(pgrep -cx benchhelper || true)
    ((n == 0)) || { echo "smoke: $n helper processes left behind" >&2; return 1; }
    if compgen -G '/tmp/mlbench.*' >/dev/null || compgen -G '/tmp/mlbench-work.*' >/dev/null; then
        echo "smoke: scratch directories left behind" >&2
        return 1
    fi
}

leftovers || { echo "smoke: leftovers from an earlier run; clean them first" >&2; exit 1; }
for mode in host isolated; do
    flags=()
    [[ $mode == isolated ]] && flags=(-I)
    "$here/synth-host.sh" "${flags[@]}" -P 12 -K 3 -M 8 -S 4 -- bash -c check_inside
    leftovers
    # A failing command must still clean up, and its status must come through.
    rc=0
    "$here/synth-host.sh" "${flags[@]}" -P 12 -K 3 -M 8 -- false 2>/dev/null || rc=$?
    ((rc == 1)) || { echo "smoke: a failing command gave status $rc, want 1" >&2; exit 1; }
    leftovers
    echo "smoke: $mode mode ok"
done
