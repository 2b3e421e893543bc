#!/usr/bin/env bash
# The live test environment: a private containerd + dockerd with their own roots and
# socket, and a FROM scratch busybox image. Nothing here touches the host's own Docker.
#
#   scripts/testenv.sh install   apt-install what the tests need (the APT_PACKAGES array)
#   scripts/testenv.sh up        install, start the private daemon, build the test image
#   scripts/testenv.sh down      remove everything `up` and the tests made (safe to repeat)
#   scripts/testenv.sh env       print `export` lines for the tests (eval "$(... env)")
#   scripts/testenv.sh status    say whether the private daemon answers
#   scripts/testenv.sh dockerd-stop | dockerd-start
#                                stop or start only dockerd (containerd and the roots stay);
#                                fault tests use them on a child instance of their own
#   scripts/testenv.sh child-up NAME | child-down NAME
#                                up/down instance <instance>-NAME, registered with this one so
#                                that `down` takes it along (a test killed outright leaves none)
#
# MOUNTLEAK_TEST_INSTANCE (default mountleak-test) names the instance, so two developers
# on one machine can each run their own daemon. Needs root.
set -euo pipefail

# Debian packages the tests need. Helpers adding a live test (Prometheus, a browser, ...)
# add their packages here; MOUNTLEAK_TEST_EXTRA_PACKAGES (space-separated) adds more ad hoc.
APT_PACKAGES=(
	docker.io
	containerd
	runc
	busybox-static
	util-linux
	procps
	iproute2
	ca-certificates
	prometheus
	prometheus-alertmanager
	openssl
	curl
	chromium
	# deploy/ (tests/deploy/run.sh, tests/e2e_container_image.rs, e2e_systemd_credentials.rs)
	shellcheck
	strace
	systemd
	docker-compose
	# Podman and containerd tests (tests/e2e_podman.rs, tests/e2e_containerd.rs)
	podman
	conmon
	containernetworking-plugins
)

INSTANCE="${MOUNTLEAK_TEST_INSTANCE:-mountleak-test}"
case "$INSTANCE" in
*[!a-z0-9-]* | '') echo "MOUNTLEAK_TEST_INSTANCE must be [a-z0-9-]+" >&2 && exit 2 ;;
esac
RUN_DIR="/run/$INSTANCE"
DATA_ROOT="/var/lib/$INSTANCE/docker"
CONTAINERD_ROOT="/var/lib/$INSTANCE/containerd"
EXEC_ROOT="$RUN_DIR/exec"
CONTAINERD_STATE="$RUN_DIR/containerd"
CONTAINERD_SOCK="$CONTAINERD_STATE/containerd.sock"
DOCKER_SOCK="$RUN_DIR/docker.sock"
DOCKER_HOST_URL="unix://$DOCKER_SOCK"
DOCKERD_PIDFILE="$RUN_DIR/dockerd.pid"
CONTAINERD_PIDFILE="$RUN_DIR/containerd.pid"
LOG_DIR="/var/log/$INSTANCE"
IMAGE="$INSTANCE/busybox:latest"
# Debian's client matches the 20.10 daemon; /usr/local/bin/docker on these machines is a
# newer client whose builder needs plugins we do not have.
DOCKER_CLI="${MOUNTLEAK_TEST_DOCKER_CLI:-/usr/bin/docker}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE_CONTEXT="$REPO_ROOT/tests/fixtures/images/busybox"

log() { printf '[testenv] %s\n' "$*" >&2; }

need_root() {
	if [[ $EUID -ne 0 ]]; then
		echo "scripts/testenv.sh must run as root (it starts dockerd and makes mounts)" >&2
		exit 2
	fi
}

dk() { DOCKER_HOST="$DOCKER_HOST_URL" "$DOCKER_CLI" "$@"; }

cmd_install() {
	local wanted=("${APT_PACKAGES[@]}") missing=() pkg
	# shellcheck disable=SC2206 # word splitting is the point: a space-separated list
	if [[ -n "${MOUNTLEAK_TEST_EXTRA_PACKAGES:-}" ]]; then wanted+=(${MOUNTLEAK_TEST_EXTRA_PACKAGES}); fi
	for pkg in "${wanted[@]}"; do
		if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]]; then
			missing+=("$pkg")
		fi
	done
	if ((${#missing[@]} == 0)); then
		return 0
	fi
	log "installing: ${missing[*]}"
	# Keep package scripts from starting the host's own docker/containerd services.
	local made_policy=0
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	local rc=0
	DEBIAN_FRONTEND=noninteractive apt-get update -q || rc=$?
	if ((rc == 0)); then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
	fi
	if ((made_policy)); then rm -f /usr/sbin/policy-rc.d; fi
	return "$rc"
}

# Print mount points at or below $1 from our own mountinfo, deepest first.
mounts_under() {
	local base="$1"
	awk -v base="$base" '{
		mp = $5
		gsub(/\\040/, " ", mp)
		if (mp == base || index(mp, base "/") == 1) print length(mp) "\t" mp
	}' /proc/self/mountinfo | sort -rn | cut -f2-
}

is_mount_point() {
	awk -v p="$1" '$5 == p { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# A shared bind mount of a directory onto itself. `/` is private on these machines (unlike a
# systemd host, where it is shared), so without this the daemon's mounts would have no peer
# group and a slave namespace could not receive their unmounts.
make_shared_bind() {
	local dir="$1"
	mkdir -p "$dir"
	if ! is_mount_point "$dir"; then
		mount --bind "$dir" "$dir"
	fi
	mount --make-shared "$dir"
}

# A zombie counts as dead: pid 1 here may take a while to reap what we orphaned.
pid_alive() {
	local stat
	[[ -n "$1" ]] && kill -0 "$1" 2>/dev/null || return 1
	stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
	stat="${stat##*) }"
	[[ "${stat:0:1}" != Z ]]
}

# Stop the process in a pidfile (TERM, then KILL after $2 seconds), if it is still the
# program we expect ($3 is matched against /proc/PID/comm so a reused pid is left alone).
stop_pidfile() {
	local pidfile="$1" grace="$2" comm="$3" pid i
	[[ -f "$pidfile" ]] || return 0
	pid="$(cat "$pidfile" 2>/dev/null || true)"
	if pid_alive "$pid" && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]]; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < grace * 10; i++)); do
			pid_alive "$pid" || break
			sleep 0.1
		done
		if pid_alive "$pid"; then
			log "$comm ($pid) ignored SIGTERM for ${grace}s: killing"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.2
		fi
	fi
	rm -f "$pidfile"
}

start_containerd() {
	mkdir -p "$CONTAINERD_ROOT" "$CONTAINERD_STATE" "$LOG_DIR"
	# Our own containerd: dockerd 20.10 would otherwise share a host containerd at
	# /run/containerd if one runs, and with it the "moby" namespace of the host's Docker.
	cat >"$RUN_DIR/containerd.toml" <<EOF
version = 2
root = "$CONTAINERD_ROOT"
state = "$CONTAINERD_STATE"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = "$CONTAINERD_STATE/debug.sock"
EOF
	setsid containerd --config "$RUN_DIR/containerd.toml" >>"$LOG_DIR/containerd.log" 2>&1 </dev/null &
	echo $! >"$CONTAINERD_PIDFILE"
	local i
	for ((i = 0; i < 300; i++)); do
		[[ -S "$CONTAINERD_SOCK" ]] && return 0
		pid_alive "$(cat "$CONTAINERD_PIDFILE")" || break
		sleep 0.1
	done
	tail -n 30 "$LOG_DIR/containerd.log" >&2 || true
	echo "containerd did not come up (log: $LOG_DIR/containerd.log)" >&2
	return 1
}

start_dockerd() {
	mkdir -p "$LOG_DIR"
	echo '{}' >"$RUN_DIR/daemon.json"
	setsid dockerd \
		--config-file "$RUN_DIR/daemon.json" \
		--host "$DOCKER_HOST_URL" \
		--data-root "$DATA_ROOT" \
		--exec-root "$EXEC_ROOT" \
		--pidfile "$DOCKERD_PIDFILE" \
		--containerd "$CONTAINERD_SOCK" \
		--storage-driver overlay2 \
		--exec-opt native.cgroupdriver=cgroupfs \
		--bridge=none --iptables=false --ip-forward=false --ip-masq=false \
		>>"$LOG_DIR/dockerd.log" 2>&1 </dev/null &
	local launcher=$! i
	for ((i = 0; i < 600; i++)); do
		if dk version >/dev/null 2>&1; then
			return 0
		fi
		pid_alive "$launcher" || break
		sleep 0.1
	done
	tail -n 40 "$LOG_DIR/dockerd.log" >&2 || true
	echo "dockerd did not come up on $DOCKER_HOST_URL (log: $LOG_DIR/dockerd.log)" >&2
	return 1
}

build_image() {
	local ctx busybox
	busybox="$(command -v busybox || true)"
	if [[ -z "$busybox" ]] || ! dpkg-query -W busybox-static >/dev/null 2>&1; then
		echo "busybox-static is not installed (scripts/testenv.sh install)" >&2
		return 1
	fi
	ctx="$(mktemp -d)"
	# shellcheck disable=SC2064 # expand now: the local is gone when the trap fires
	trap "rm -rf '$ctx'" RETURN
	cp "$IMAGE_CONTEXT/Dockerfile" "$ctx/"
	mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/tmp"
	cp "$busybox" "$ctx/rootfs/bin/busybox"
	local applet
	for applet in $("$busybox" --list); do
		[[ "$applet" == busybox ]] || ln -s busybox "$ctx/rootfs/bin/$applet"
	done
	DOCKER_BUILDKIT=0 dk build --quiet --network none -t "$IMAGE" "$ctx" >/dev/null
	# The image must run: sh and an applet through its link.
	dk run --rm --network none "$IMAGE" sh -c 'sleep 0' >/dev/null
}

cmd_up() {
	need_root
	cmd_install
	cmd_down
	log "starting private containerd + dockerd ($INSTANCE)"
	mkdir -p "$RUN_DIR" "$DATA_ROOT" "$EXEC_ROOT"
	make_shared_bind "$DATA_ROOT"
	make_shared_bind "$EXEC_ROOT"
	start_containerd
	start_dockerd
	build_image
	log "up: DOCKER_HOST=$DOCKER_HOST_URL image=$IMAGE"
}

# Holder cgroups made by tests are named system.slice/mountleak-e2e-<test pid>-...; those
# whose test process is gone are leftovers of an aborted run: kill what is in them, rmdir.
clean_test_cgroups() {
	local hier dir name owner pid i procs
	for hier in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
		for dir in "$hier"/system.slice/mountleak-e2e-*; do
			[[ -d "$dir" ]] || continue
			name="${dir##*/}"
			owner="${name#mountleak-e2e-}"
			owner="${owner%%-*}"
			if [[ "$owner" =~ ^[0-9]+$ ]] && pid_alive "$owner"; then
				continue
			fi
			# cgroup files stat as empty: read them to know.
			for ((i = 0; i < 50; i++)); do
				procs="$(find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null || true)"
				[[ -n "$procs" ]] || break
				for pid in $procs; do kill -KILL "$pid" 2>/dev/null || true; done
				sleep 0.1
			done
			# A holder in a delegated subtree has cgroups below its own: deepest first.
			find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || log "could not remove cgroup $dir"
		done
		# We may have made system.slice ourselves (no systemd here); leave it if in use.
		if [[ -d "$hier/system.slice" ]]; then rmdir "$hier/system.slice" 2>/dev/null || true; fi
	done
}

# Processes of containers of OUR data root that survived a killed daemon (their shims keep
# them alive): they sit in cgroup /docker/<id> of each hierarchy.
kill_orphan_containers() {
	local cdir id dir pid
	[[ -d "$DATA_ROOT/containers" ]] || return 0
	for cdir in "$DATA_ROOT"/containers/*/; do
		id="$(basename "$cdir")"
		[[ "$id" =~ ^[0-9a-f]{64}$ ]] || continue
		for dir in /sys/fs/cgroup/*/docker/"$id" /sys/fs/cgroup/unified/docker/"$id"; do
			[[ -f "$dir/cgroup.procs" ]] || continue
			while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$dir/cgroup.procs"
		done
	done
}

# containerd-shim processes serving our containerd (it passes them its socket address).
kill_orphan_shims() {
	local p pid
	for p in /proc/[0-9]*; do
		pid="${p#/proc/}"
		[[ "$(cat "$p/comm" 2>/dev/null)" == containerd-shim* ]] || continue
		if tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF "$CONTAINERD_SOCK"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}

rm_docker_cgroups() {
	local cdir id dir
	[[ -d "$DATA_ROOT/containers" ]] || return 0
	for cdir in "$DATA_ROOT"/containers/*/; do
		id="$(basename "$cdir")"
		[[ "$id" =~ ^[0-9a-f]{64}$ ]] || continue
		for dir in /sys/fs/cgroup/*/docker/"$id"; do
			if [[ -d "$dir" ]]; then rmdir "$dir" 2>/dev/null || true; fi
		done
	done
}

cmd_down() {
	need_root
	# Child instances first: they were registered by child-up and live apart from ours.
	local child
	if [[ -d "$RUN_DIR/children" ]]; then
		for child in "$RUN_DIR"/children/*; do
			[[ -e "$child" ]] || continue
			MOUNTLEAK_TEST_INSTANCE="${child##*/}" "$REPO_ROOT/scripts/testenv.sh" down || log "could not tear down child ${child##*/}"
			rm -f "$child"
		done
	fi
	if [[ -S "$DOCKER_SOCK" ]] && dk version >/dev/null 2>&1; then
		local ids vols
		ids="$(dk ps -aq)"
		# shellcheck disable=SC2086 # one id per word
		if [[ -n "$ids" ]]; then dk rm -f -v $ids >/dev/null 2>&1 || true; fi
		vols="$(dk volume ls -q)"
		# shellcheck disable=SC2086
		if [[ -n "$vols" ]]; then dk volume rm -f $vols >/dev/null 2>&1 || true; fi
	fi
	clean_test_cgroups
	stop_pidfile "$DOCKERD_PIDFILE" 30 dockerd
	kill_orphan_containers
	kill_orphan_shims
	stop_pidfile "$CONTAINERD_PIDFILE" 15 containerd
	rm_docker_cgroups
	local mp
	for base in "$EXEC_ROOT" "$DATA_ROOT" "$RUN_DIR" "/var/lib/$INSTANCE"; do
		while read -r mp; do
			[[ -n "$mp" ]] || continue
			umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || log "could not unmount $mp"
		done < <(mounts_under "$base")
	done
	# --one-file-system: never descend into something still mounted.
	rm -rf --one-file-system "$RUN_DIR" "/var/lib/$INSTANCE"
}

cmd_env() {
	cat <<EOF
export MOUNTLEAK_TEST_INSTANCE='$INSTANCE'
export MOUNTLEAK_TEST_DOCKER_HOST='$DOCKER_HOST_URL'
export MOUNTLEAK_TEST_DOCKER_ROOT='$DATA_ROOT'
export MOUNTLEAK_TEST_DOCKER_EXEC_ROOT='$EXEC_ROOT'
export MOUNTLEAK_TEST_DOCKER_CLI='$DOCKER_CLI'
export MOUNTLEAK_TEST_IMAGE='$IMAGE'
export MOUNTLEAK_TEST_DOCKERD_PIDFILE='$DOCKERD_PIDFILE'
EOF
}

child_instance() {
	case "$1" in
	*[!a-z0-9-]* | '') echo "child name must be [a-z0-9-]+" >&2 && exit 2 ;;
	esac
	echo "$INSTANCE-$1"
}

cmd_child_up() {
	need_root
	local child
	child="$(child_instance "$1")"
	mkdir -p "$RUN_DIR/children"
	touch "$RUN_DIR/children/$child"
	MOUNTLEAK_TEST_INSTANCE="$child" "$REPO_ROOT/scripts/testenv.sh" up
}

cmd_child_down() {
	need_root
	local child
	child="$(child_instance "$1")"
	MOUNTLEAK_TEST_INSTANCE="$child" "$REPO_ROOT/scripts/testenv.sh" down
	rm -f "$RUN_DIR/children/$child"
}

cmd_status() {
	if dk version --format '{{.Server.Version}}' 2>/dev/null; then
		echo "up: $DOCKER_HOST_URL"
	else
		echo "down: $DOCKER_HOST_URL does not answer"
		return 1
	fi
}

case "${1:-}" in
install) need_root && cmd_install ;;
up) cmd_up ;;
down) cmd_down ;;
env) cmd_env ;;
status) cmd_status ;;
dockerd-stop) need_root && stop_pidfile "$DOCKERD_PIDFILE" 30 dockerd ;;
dockerd-start) need_root && start_dockerd ;;
child-up) cmd_child_up "${2:-}" ;;
child-down) cmd_child_down "${2:-}" ;;
*)
	echo "usage: $0 install|up|down|env|status|dockerd-stop|dockerd-start|child-up NAME|child-down NAME" >&2
	exit 2
	;;
esac
