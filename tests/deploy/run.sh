#!/usr/bin/env bash
# Static and offline tests of deploy/: the systemd unit, the container files, the Kubernetes
# manifests and the compose demo. Called by scripts/test.sh; runs alone too (as root: one
# test chroots).
# Python packages go to a venv under target/ (pinned in requirements.txt); the tools below
# must already be on the machine, and a missing one fails the run with its name.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
need() {
	if ! command -v "$1" >/dev/null; then
		missing+=("$1 ($2)")
	fi
}
need python3 "CPython 3 with the venv module"
need kubectl "kubectl with kustomize v5: google-cloud-cli's kubectl on this machine image"
need systemd-analyze "Debian package systemd"
need systemd-sysusers "Debian package systemd"
need ldd "Debian package libc-bin"
need shellcheck "Debian package shellcheck"
need busybox "Debian package busybox-static"
need docker-compose "Debian package docker-compose"
need promtool "Debian package prometheus"
if ((${#missing[@]})); then
	printf 'tests/deploy: missing tool: %s\n' "${missing[@]}" >&2
	exit 2
fi

venv=target/deploy-venv
stamp=$venv/.requirements
if [[ ! -x $venv/bin/python ]] || ! cmp -s tests/deploy/requirements.txt "$stamp"; then
	rm -rf "$venv"
	python3 -m venv "$venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/deploy/requirements.txt
	cp tests/deploy/requirements.txt "$stamp"
fi

# Arguments pick tests (a file, -k EXPR); none runs them all.
if (($# == 0)); then
	set -- tests/deploy
fi
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
