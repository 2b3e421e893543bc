#!/usr/bin/env bash
# Render the mixin into the files the repository ships (deploy/prometheus/rules.yml,
# deploy/kubernetes/prometheusrule.yaml, dashboards/mountleak.json). Needs jsonnet
# (Debian: apt install jsonnet). usage: mixin/generate.sh [OUTDIR]   (default: the repo)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top}
cd "$top"
mkdir -p "$out/deploy/prometheus" "$out/deploy/kubernetes" "$out/dashboards"
jsonnet -S -m "$out" mixin/generate.jsonnet >/dev/null
