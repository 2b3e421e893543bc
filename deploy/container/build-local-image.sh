#!/usr/bin/env bash
# Build a local mountleak_exporter image from a binary built on this host, with no registry:
# the final (FROM scratch) stage of deploy/container/Dockerfile, fed the binary and the
# libraries it loads (collect-rootfs.sh). The image carries this host's own glibc, so it
# runs on any Linux host; it exists to run the exact binary you built (and tested) in a
# container. Release images come from the Dockerfile.
#
# usage: build-local-image.sh [BINARY [TAG]]
#   BINARY defaults to target/release/mountleak_exporter, TAG to mountleak_exporter:local.
#   The image goes to the daemon the docker CLI talks to (DOCKER_HOST is honoured;
#   DOCKER names another CLI binary).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
binary=${1:-$repo/target/release/mountleak_exporter}
tag=${2:-mountleak_exporter:local}

docker=${DOCKER:-docker}
if ! command -v "$docker" >/dev/null; then
	echo "build-local-image: the docker CLI ($docker) is missing (Debian package docker.io)" >&2
	exit 1
fi

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT

"$here/collect-rootfs.sh" "$binary" "$context/rootfs"

# The final stage of the release Dockerfile is the image's definition: its COPY is the
# rootfs made above, and each other instruction (ENV, EXPOSE, USER, ENTRYPOINT) is applied
# with `docker import --change`, which needs no builder and no base image.
changes=()
copies=0
while IFS= read -r line; do
	case $line in
	'' | '#'* | 'FROM scratch') ;;
	'COPY --from=build /rootfs/ /') copies=$((copies + 1)) ;;
	ENV\ * | EXPOSE\ * | USER\ * | ENTRYPOINT\ * | CMD\ * | LABEL\ * | WORKDIR\ *) changes+=(--change "$line") ;;
	*)
		echo "build-local-image: cannot apply this Dockerfile line with docker import: $line" >&2
		exit 1
		;;
	esac
done < <(sed -n '/^FROM scratch$/,$p' "$here/Dockerfile")
if ((copies != 1)); then
	echo "build-local-image: $here/Dockerfile has no 'FROM scratch' stage copying /rootfs/" >&2
	exit 1
fi

"$docker" rmi "$tag" >/dev/null 2>&1 || true
tar -C "$context/rootfs" --owner=0 --group=0 --numeric-owner -c . \
	| "$docker" import "${changes[@]}" - "$tag" >/dev/null
echo "$tag"
