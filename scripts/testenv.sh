#!/usr/bin/env bash
# The live test environment: a private containerd + dockerd with their own roots and
# socket, and a FROM scratch busybox image. Nothing here touches the host's own Docker.
#
#   scripts/testenv.sh install   apt-install what the tests need (the APT_PACKAGES array)
#   scripts/testenv.sh fetch     fetch Debian unstable's docker.io and containerd into
#                                target/debian-unstable (cached; --refresh fetches again)
#   scripts/testenv.sh up        install, fetch, start the private daemon of each setup
#                                (below), build the test image in each
#   scripts/testenv.sh up-one    the same for this instance's setup alone
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
#
# A setup is the engine and image store an instance runs (MOUNTLEAK_TEST_SETUP):
#   debian12              Debian 12's docker.io 20.10 + containerd 1.6, overlay2 (the main instance)
#   unstable              Debian unstable's docker.io 28 + containerd 2.1, overlay2
#   unstable-containerd   the same with the containerd image store (daemon.json
#                         {"features": {"containerd-snapshotter": true}}; default on fresh
#                         Docker Engine 29 installs)
# `up` starts the main instance (debian12) and one instance <instance>-<setup> of each
# other setup, registered as its children (`down` takes them along); `env` exports
# MOUNTLEAK_TEST_SETUPS, the instances of every setup, for the tests that run on each.
# The unstable binaries are not installed: `fetch` downloads the packages with an apt
# configuration of its own under target/ (the machine's apt sources are left alone) and
# unpacks them with dpkg -x; they run on Debian 12 beside Debian 12's runc.
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
	# deploy/ (tests/deploy/run.sh, tests/e2e_container_image.rs, e2e_systemd_credentials.rs);
	# run.sh makes a venv (python3-venv brings ensurepip) and pip-installs the rest, kubectl
	# and helm included
	python3
	python3-venv
	shellcheck
	# mixin/ (tests/mixin.rs renders it)
	jsonnet
	strace
	# e2e_systemd_credentials.rs refuses listmount/statmount with a real seccomp filter
	python3-seccomp
	systemd
	docker-compose
	# Podman and containerd tests (tests/e2e_podman.rs, tests/e2e_containerd.rs)
	podman
	conmon
	containernetworking-plugins
)

# The setups `up` starts beside the main instance's debian12.
EXTRA_SETUPS=(unstable unstable-containerd)
# Debian unstable's packages for those setups: what `fetch` downloads and unpacks.
UNSTABLE_PACKAGES=(docker.io docker-cli containerd)

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
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE_CONTEXT="$REPO_ROOT/tests/fixtures/images/busybox"
UNSTABLE_DIR="$REPO_ROOT/target/debian-unstable"
UNSTABLE_ROOT="$UNSTABLE_DIR/root"
# The setup an instance runs and its binaries. An instance that is up remembers its setup
# in its run directory, which wins over MOUNTLEAK_TEST_SETUP (the tests inherit the main
# instance's); `up` takes MOUNTLEAK_TEST_SETUP (default debian12).
set_setup() {
	SETUP="$1"
	case "$SETUP" in
	debian12)
		# Debian's client matches the 20.10 daemon; /usr/local/bin/docker on these machines
		# is a newer client whose builder needs plugins we do not have.
		DOCKER_CLI="${MOUNTLEAK_TEST_DOCKER_CLI:-/usr/bin/docker}"
		DOCKERD=/usr/sbin/dockerd
		CONTAINERD=/usr/bin/containerd
		ENGINE_PATH="$PATH"
		;;
	unstable | unstable-containerd)
		DOCKER_CLI="$UNSTABLE_ROOT/usr/bin/docker"
		DOCKERD="$UNSTABLE_ROOT/usr/sbin/dockerd"
		CONTAINERD="$UNSTABLE_ROOT/usr/bin/containerd"
		# The shim (containerd-shim-runc-v2), docker-init and docker-proxy come from the
		# unpacked packages; runc from Debian 12.
		ENGINE_PATH="$UNSTABLE_ROOT/usr/sbin:$UNSTABLE_ROOT/usr/bin:$PATH"
		;;
	*) echo "MOUNTLEAK_TEST_SETUP must be debian12, unstable or unstable-containerd" >&2 && exit 2 ;;
	esac
}
set_setup "$(cat "$RUN_DIR/setup" 2>/dev/null || echo "${MOUNTLEAK_TEST_SETUP:-debian12}")"

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

# apt-get on Debian unstable with a sources list, lists, cache and (empty) dpkg status of its
# own under target/: the machine's sources and package state are neither read nor changed.
# Its apt.conf.d is read (a proxy, or a mirror's date checks, apply here too).
unstable_apt() {
	local apt="$UNSTABLE_DIR/apt"
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/prefs"
	touch "$apt/status"
	# Debian 12's debian-archive-keyring holds the keys that sign unstable's Release file.
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian unstable main" >"$apt/sources.list"
	apt-get -q \
		-o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=- \
		-o Dir::Etc::Preferences="$apt/prefs/none" -o Dir::Etc::PreferencesParts="$apt/prefs" \
		-o Dir::State="$apt" -o Dir::State::Lists="$apt/lists" -o Dir::State::status="$apt/status" \
		-o Dir::Cache="$apt/cache" -o APT::Architecture=amd64 -o APT::Sandbox::User=root \
		"$@"
}

# Fetch and unpack Debian unstable's docker.io, docker-cli and containerd, once: the
# unpacked tree and a stamp naming its versions stay until `fetch --refresh`.
cmd_fetch() {
	local stamp="$UNSTABLE_DIR/fetched" refresh=0
	[[ "${1:-}" == --refresh ]] && refresh=1
	local bins=("$UNSTABLE_ROOT/usr/sbin/dockerd" "$UNSTABLE_ROOT/usr/bin/containerd"
		"$UNSTABLE_ROOT/usr/bin/containerd-shim-runc-v2" "$UNSTABLE_ROOT/usr/bin/docker")
	mkdir -p "$UNSTABLE_DIR"
	# One fetch at a time: the `up`s of several instances share this cache.
	exec 9>"$UNSTABLE_DIR/lock"
	flock 9
	local bin missing=()
	for bin in "${bins[@]}"; do
		[[ -x "$bin" ]] || missing+=("${bin#"$UNSTABLE_ROOT"}")
	done
	if ((refresh == 0 && ${#missing[@]} == 0)) && [[ -f "$stamp" ]]; then
		exec 9>&-
		return 0
	fi
	if [[ "$(dpkg --print-architecture)" != amd64 ]]; then
		echo "fetch: Debian unstable's engines are fetched for amd64 only" >&2
		return 1
	fi
	log "fetching Debian unstable's ${UNSTABLE_PACKAGES[*]} into $UNSTABLE_DIR"
	if ! unstable_apt update >"$UNSTABLE_DIR/update.log" 2>&1; then
		cat "$UNSTABLE_DIR/update.log" >&2
		echo "fetch: cannot read Debian unstable's package lists from deb.debian.org (above);" >&2
		echo "       the Docker 28 setups need ${UNSTABLE_PACKAGES[*]} from there" >&2
		return 1
	fi
	local debs="$UNSTABLE_DIR/debs"
	rm -rf "$debs" "$UNSTABLE_ROOT" "$stamp"
	mkdir -p "$debs"
	# apt-get download checks each package's hash against the signed lists.
	if ! (cd "$debs" && unstable_apt download "${UNSTABLE_PACKAGES[@]}") >"$UNSTABLE_DIR/download.log" 2>&1; then
		cat "$UNSTABLE_DIR/download.log" >&2
		echo "fetch: cannot download ${UNSTABLE_PACKAGES[*]} from Debian unstable (above)" >&2
		return 1
	fi
	local deb
	for deb in "$debs"/*.deb; do
		dpkg -x "$deb" "$UNSTABLE_ROOT"
	done
	rm -rf "$debs"
	missing=()
	for bin in "${bins[@]}"; do
		[[ -x "$bin" ]] || missing+=("${bin#"$UNSTABLE_ROOT"}")
	done
	if ((${#missing[@]})); then
		echo "fetch: Debian unstable's ${UNSTABLE_PACKAGES[*]} no longer ship ${missing[*]}" >&2
		return 1
	fi
	"${bins[0]}" --version >"$stamp"
	"${bins[1]}" --version >>"$stamp"
	log "fetched: $(paste -sd ';' "$stamp")"
	exec 9>&-
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
	# No CRI: Docker does not use it (containerd 2 splits it into three plugins).
	local DISABLED_PLUGINS='"io.containerd.grpc.v1.cri"'
	if [[ "$SETUP" != debian12 ]]; then
		DISABLED_PLUGINS+=', "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime"'
	fi
	# Our own containerd: dockerd 20.10 would otherwise share a host containerd at
	# /run/containerd if one runs, and with it the "moby" namespace of the host's Docker.
	cat >"$RUN_DIR/containerd.toml" <<EOF
version = 2
root = "$CONTAINERD_ROOT"
state = "$CONTAINERD_STATE"
disabled_plugins = [$DISABLED_PLUGINS]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = "$CONTAINERD_STATE/debug.sock"
EOF
	PATH="$ENGINE_PATH" setsid "$CONTAINERD" --config "$RUN_DIR/containerd.toml" >>"$LOG_DIR/containerd.log" 2>&1 </dev/null &
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
	local store=(--storage-driver overlay2)
	if [[ "$SETUP" == unstable-containerd ]]; then
		# The containerd image store; its snapshotter is containerd's overlayfs.
		echo '{"features": {"containerd-snapshotter": true}}' >"$RUN_DIR/daemon.json"
		store=()
	else
		echo '{}' >"$RUN_DIR/daemon.json"
	fi
	PATH="$ENGINE_PATH" setsid "$DOCKERD" \
		--config-file "$RUN_DIR/daemon.json" \
		--host "$DOCKER_HOST_URL" \
		--data-root "$DATA_ROOT" \
		--exec-root "$EXEC_ROOT" \
		--pidfile "$DOCKERD_PIDFILE" \
		--containerd "$CONTAINERD_SOCK" \
		"${store[@]}" \
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
	# The legacy builder (no buildx here) works on every setup, the containerd image store
	# included; newer clients warn that it is deprecated: say it only if the build fails.
	local out
	if ! out="$(DOCKER_BUILDKIT=0 dk build --quiet --network none -t "$IMAGE" "$ctx" 2>&1)"; then
		echo "$out" >&2
		echo "building the test image on $INSTANCE ($SETUP) failed" >&2
		return 1
	fi
	# The image must run: sh and an applet through its link.
	dk run --rm --network none "$IMAGE" sh -c 'sleep 0' >/dev/null
}

# This instance alone, running MOUNTLEAK_TEST_SETUP (default debian12).
cmd_up_one() {
	need_root
	cmd_install
	cmd_down
	set_setup "${MOUNTLEAK_TEST_SETUP:-debian12}"
	if [[ "$SETUP" != debian12 ]]; then cmd_fetch; fi
	log "starting private containerd + dockerd ($INSTANCE: $SETUP)"
	mkdir -p "$RUN_DIR" "$DATA_ROOT" "$EXEC_ROOT"
	echo "$SETUP" >"$RUN_DIR/setup"
	make_shared_bind "$DATA_ROOT"
	make_shared_bind "$EXEC_ROOT"
	start_containerd
	start_dockerd
	build_image
	log "up: DOCKER_HOST=$DOCKER_HOST_URL image=$IMAGE ($(dk version --format '{{.Server.Version}}'))"
}

# This instance, and when it runs debian12 a child instance of each other setup.
cmd_up() {
	cmd_up_one
	[[ "$SETUP" == debian12 ]] || return 0
	local setup
	for setup in "${EXTRA_SETUPS[@]}"; do
		mkdir -p "$RUN_DIR/children"
		touch "$RUN_DIR/children/$INSTANCE-$setup"
		MOUNTLEAK_TEST_INSTANCE="$INSTANCE-$setup" MOUNTLEAK_TEST_SETUP="$setup" \
			"$REPO_ROOT/scripts/testenv.sh" up-one
	done
}

# The instances of every setup: this one and its setup children.
setup_instances() {
	local out="$INSTANCE" setup
	if [[ "$SETUP" == debian12 ]]; then
		for setup in "${EXTRA_SETUPS[@]}"; do out+=" $INSTANCE-$setup"; done
	fi
	echo "$out"
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
			MOUNTLEAK_TEST_INSTANCE="${child##*/}" MOUNTLEAK_TEST_SETUP='' "$REPO_ROOT/scripts/testenv.sh" down || log "could not tear down child ${child##*/}"
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
export MOUNTLEAK_TEST_SETUP='$SETUP'
export MOUNTLEAK_TEST_SETUPS='$(setup_instances)'
export MOUNTLEAK_TEST_CONTAINERD_SOCK='$CONTAINERD_SOCK'
export MOUNTLEAK_TEST_UNSTABLE_ROOT='$UNSTABLE_ROOT'
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
	MOUNTLEAK_TEST_INSTANCE="$child" "$REPO_ROOT/scripts/testenv.sh" up-one
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
fetch) need_root && cmd_fetch "${2:-}" ;;
up) cmd_up ;;
up-one) cmd_up_one ;;
down) cmd_down ;;
env) cmd_env ;;
status) cmd_status ;;
dockerd-stop) need_root && stop_pidfile "$DOCKERD_PIDFILE" 30 dockerd ;;
dockerd-start) need_root && start_dockerd ;;
child-up) cmd_child_up "${2:-}" ;;
child-down) cmd_child_down "${2:-}" ;;
*)
	echo "usage: $0 install|fetch [--refresh]|up|up-one|down|env|status|dockerd-stop|dockerd-start|child-up NAME|child-down NAME" >&2
	exit 2
	;;
esac
