#!/usr/bin/env bash
# Placeholder until the full harness lands: format, lint, unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo nextest run --all-targets
