#!/usr/bin/env bash
# THE test command (README, .ci/run): on a Debian 12 machine as root it installs what the
# tests need, fetches Debian unstable's Docker 28 into target/ and starts private Docker 20.10
# and 28 daemons (scripts/testenv.sh), then runs format, lint and every
# test, end-to-end ones included. The private daemon and everything the tests made are torn
# down on any exit, Ctrl-C included.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $EUID -ne 0 ]]; then
	echo "scripts/test.sh must run as root: the end-to-end tests start dockerd, make mount" >&2
	echo "namespaces and cgroups" >&2
	exit 2
fi

for tool in cargo rustfmt cargo-clippy; do
	if ! command -v "$tool" >/dev/null; then
		echo "missing $tool: install the Rust toolchain (rustup) first" >&2
		exit 2
	fi
done
if ! cargo nextest --version >/dev/null 2>&1; then
	echo "[test] cargo-nextest missing: installing it from crates.io" >&2
	cargo install --locked cargo-nextest
fi

# Lint first: cheap, and needs no daemon.
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# The benchmark's tools (bench/Cargo.toml), a package of their own: lint and unit tests.
cargo fmt --manifest-path bench/Cargo.toml -- --check
cargo clippy --manifest-path bench/Cargo.toml --target-dir target --all-targets -- -D warnings
cargo test --quiet --manifest-path bench/Cargo.toml --target-dir target

# --- Fuzzing (docs/fuzzing.md): a bounded smoke run of each cargo-fuzz target, about 2
# minutes of fuzzing plus its own build. Needs no daemon. cargo-fuzz comes from crates.io;
# libFuzzer is C++ that libfuzzer-sys compiles, hence g++ (from Debian).
if ! command -v c++ >/dev/null; then
	echo "[test] no C++ compiler: installing g++ for libFuzzer" >&2
	MOUNTLEAK_TEST_EXTRA_PACKAGES=g++ scripts/testenv.sh install
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
	echo "[test] cargo-fuzz missing: installing it from crates.io" >&2
	cargo install --locked cargo-fuzz
fi
scripts/fuzz.sh
# --- end of fuzzing

# The Debian package (Cargo.toml's [package.metadata.deb]); tests/deb.rs installs it with
# dpkg, checks it and purges it. cargo-deb comes from crates.io.
if ! cargo deb --version >/dev/null 2>&1; then
	echo "[test] cargo-deb missing: installing it from crates.io" >&2
	cargo install --locked cargo-deb
fi
cargo deb

teardown() {
	local rc=$?
	trap - EXIT INT TERM
	scripts/testenv.sh down || echo "[test] teardown failed: see scripts/testenv.sh down" >&2
	exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

scripts/testenv.sh up
eval "$(scripts/testenv.sh env)"

# Deployment files (deploy/): offline checks of the unit, image files and manifests, in a
# Python venv under target/ (their e2e tests are e2e_container_image, e2e_systemd_credentials).
tests/deploy/run.sh

cargo nextest run --all-targets --no-fail-fast
