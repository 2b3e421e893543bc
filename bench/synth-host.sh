#!/usr/bin/env bash
# Builds a synthetic Docker host on this machine, runs a command against it, tears it down.
#
#   sudo bench/synth-host.sh [-P procs] [-K namespaces] [-M mounts] [-S stale-every] [-I] -- CMD [ARGS]
#
# - a scratch tmpfs (private, so nothing propagates to the real host) used as the Docker root
#   ($SYNTH_ROOT/var/lib/docker) and exec root ($SYNTH_ROOT/run/docker);
# - M tmpfs mounts at Docker-shaped paths in it, in rotation: overlay2/<layer>/merged,
#   containers/<id>/mounts/shm, volumes/<name>/_data, run/docker/netns/<sandbox>;
# - K holders (`unshare -m --propagation private`), each holding private copies of all of them;
# - then every S-th mount is unmounted on the host, so those copies are stale (S=0: none), the
#   rest at risk;
# - P processes in total in the holders' namespaces: each holder plus sleepers that joined
#   with `nsenter -t <holder> -m`.
# -I (isolated) builds all of it inside a private mount namespace instead of the host's own:
# nothing is visible to other work on the machine and a SIGKILL cannot leave mounts behind,
# but PID 1's namespace then has none of the mounts, so every copy counts as stale and the
# isolating namespace is one more holder.
# CMD runs with SYNTH_ROOT, SYNTH_MANIFEST (kind<TAB>id<TAB>path per mount), SYNTH_HOLDERS
# (holder pids), SYNTH_GREP_ID (a container id near the end of the tables), SYNTH_P/K/M/STALE.
# Everything is removed on exit, error, Ctrl-C or TERM. Only a SIGKILL of this script (without
# -I) can leave the scratch mounts behind: `umount -l /tmp/mlbench.*` removes them.
set -euo pipefail

usage() {
    echo "usage: $0 [-P procs] [-K namespaces] [-M mounts] [-S stale-every] [-I] -- CMD [ARGS...]" >&2
    exit 2
}

args=("$@")
P=2000 K=20 M=1000 S=10 isolated=0
while (($#)); do
    case "$1" in
    -P) P=$2; shift 2 ;;
    -K) K=$2; shift 2 ;;
    -M) M=$2; shift 2 ;;
    -S) S=$2; shift 2 ;;
    -I) isolated=1; shift ;;
    --) shift; break ;;
    *) usage ;;
    esac
done
(($# > 0)) || usage
[[ $P =~ ^[0-9]+$ && $K =~ ^[1-9][0-9]*$ && $M =~ ^[0-9]+$ && $S =~ ^[0-9]+$ ]] || usage
if ((P < K)); then
    echo "synth-host: P ($P) must be at least K ($K): every namespace has its holder" >&2
    exit 2
fi
if ((EUID != 0)); then
    echo "synth-host: needs root (mounts and mount namespaces)" >&2
    exit 2
fi
for tool in unshare nsenter mount umount mkfifo; do
    command -v "$tool" >/dev/null || { echo "synth-host: missing $tool (util-linux)" >&2; exit 2; }
done
if ((isolated)) && [[ -z ${SYNTH_ISOLATED:-} ]]; then
    # Same script, same pid, in a namespace of its own.
    SYNTH_ISOLATED=1 exec unshare -m --propagation private "$0" "${args[@]}"
fi

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
helper=${BENCHHELPER:-$repo/target/release/benchhelper}
if [[ ! -x $helper ]]; then
    echo "synth-host: building the helper ($helper)" >&2
    cargo build --quiet --release --bin benchhelper --manifest-path "$repo/bench/Cargo.toml" --target-dir "$repo/target"
fi

root="" work="" keeper=""
holders=()
forkers=()
cleaned=0

cleanup() {
    local rc=$?
    ((cleaned)) && return "$rc"
    cleaned=1
    trap - EXIT INT TERM
    local f pid
    # The keeper is the control fifo's only writer: once it is gone every sleeper parent
    # reads EOF, kills and reaps its sleepers, and exits.
    if [[ -n $keeper ]]; then
        kill -KILL "$keeper" 2>/dev/null || true
        wait "$keeper" 2>/dev/null || true
    fi
    for f in "${forkers[@]}"; do
        wait "${f%%:*}" 2>/dev/null || true
    done
    for pid in "${holders[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n $root ]]; then
        # One lazy detach drops the whole tree of M mounts at once.
        umount -l "$root" 2>/dev/null || true
        rmdir "$root" 2>/dev/null || true
    fi
    [[ -n $work ]] && rm -rf "$work"
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

t0=$(now)
work=$(mktemp -d /tmp/mlbench-work.XXXXXX)
root=$(mktemp -d /tmp/mlbench.XXXXXX)
mount -t tmpfs -o size=64m,mode=0755 mlbench "$root"
# Private before anything is mounted below it: on a host where / is shared, submounts would
# otherwise propagate into every peer namespace.
mount --make-private "$root"
manifest=$work/manifest
"$helper" mounts "$root" "$M" "$manifest"
t_mounts=$(elapsed "$t0")

own_ns=$(readlink /proc/self/ns/mnt)
t1=$(now)
for ((k = 0; k < K; k++)); do
    unshare -m --propagation private "$helper" hold &
    holders+=("$!")
done
# unshare has created the namespace once the holder's link differs from ours.
for pid in "${holders[@]}"; do
    for ((i = 0; i < 3000; i++)); do
        ns=$(readlink "/proc/$pid/ns/mnt" 2>/dev/null) || { echo "synth-host: holder $pid died" >&2; exit 1; }
        [[ $ns != "$own_ns" ]] && break
        sleep 0.01
    done
    [[ $ns != "$own_ns" ]] || { echo "synth-host: holder $pid never left our namespace" >&2; exit 1; }
done
t_holders=$(elapsed "$t1")

if ((S > 0)); then
    "$helper" umount "$manifest" "$S"
fi

t2=$(now)
mkfifo "$work/ctl"
"$helper" hold >"$work/ctl" &
keeper=$!
for ((k = 0; k < K; k++)); do
    n=$((P / K - 1 + (k < P % K ? 1 : 0)))
    ((n > 0)) || continue
    pidfile=$work/sleepers.$k
    nsenter -t "${holders[k]}" -m -- "$helper" sleepers "$n" "$pidfile" <"$work/ctl" &
    forkers+=("$!:$pidfile")
done
for f in "${forkers[@]}"; do
    for ((i = 0; i < 6000; i++)); do
        [[ -s ${f#*:} ]] && break
        kill -0 "${f%%:*}" 2>/dev/null || { echo "synth-host: sleeper parent ${f%%:*} died" >&2; exit 1; }
        sleep 0.01
    done
    [[ -s ${f#*:} ]] || { echo "synth-host: sleepers of ${f%%:*} not ready" >&2; exit 1; }
done
t_procs=$(elapsed "$t2")

# A container id whose mount comes late in every table: grep -l has to read nearly all of it.
grep_id=$(awk -F'\t' '$1 == "shm" { id = $2 } END { print id }' "$manifest")
stale=$((S > 0 ? M / S : 0))
echo "synth-host: P=$P K=$K M=$M (stale $stale$( ((isolated)) && echo ", isolated")) ready:" \
    "mounts ${t_mounts}s, holders ${t_holders}s, processes ${t_procs}s" >&2

export SYNTH_ROOT=$root SYNTH_MANIFEST=$manifest SYNTH_GREP_ID=$grep_id
export SYNTH_HOLDERS="${holders[*]}" SYNTH_P=$P SYNTH_K=$K SYNTH_M=$M SYNTH_STALE=$stale
# Not exec: the trap must outlive the command. In the background (stdin kept) so that a TERM
# or Ctrl-C is handled now, not when the command finishes: it is passed on, then we clean up.
"$@" <&0 &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child" || true; exit 130' INT
trap 'kill -TERM "$child" 2>/dev/null; wait "$child" || true; exit 143' TERM
wait "$child"
