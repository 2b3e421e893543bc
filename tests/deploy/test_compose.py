"""The compose demo stack: valid for docker-compose, least privilege, its config checks out."""

import json
import os
import shutil
import subprocess

import pytest
import yaml

from conftest import DEPLOY, REPO, rules_select_job, run

COMPOSE = DEPLOY / "compose" / "compose.yml"


@pytest.fixture(scope="module")
def config():
    """The stack as docker-compose itself reads it (interpolated, paths made absolute)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MOUNTLEAK_IMAGE", "PROMETHEUS_IMAGE", "GRAFANA_IMAGE")}
    out = run(["docker-compose", "-f", str(COMPOSE), "config"], env=env).stdout
    return yaml.safe_load(out)


def binds(service):
    """{target: (source, read_only)} of a service in docker-compose's normalised output."""
    result = {}
    for vol in service.get("volumes", []):
        if isinstance(vol, str):
            source, target, *mode = vol.split(":")
            result[target] = (source, "ro" in (mode[0].split(",") if mode else []))
        else:
            result[vol["target"]] = (vol.get("source"), vol.get("read_only", False))
    return result


def test_docker_compose_accepts_the_file(config):
    assert set(config["services"]) == {"mountleak-exporter", "prometheus", "grafana"}


def test_docker_compose_rejects_a_broken_file(tmp_path):
    broken = tmp_path / "compose.yml"
    broken.write_text(COMPOSE.read_text().replace("    pid: host\n", "    pid: [host]\n"))
    proc = subprocess.run(["docker-compose", "-f", str(broken), "config", "-q"],
                          capture_output=True, text=True)
    assert proc.returncode != 0, "docker-compose config accepted `pid: [host]`"


def test_exporter_gets_what_the_privilege_table_lists(config):
    svc = config["services"]["mountleak-exporter"]
    assert svc["pid"] == "host"
    assert svc["cap_drop"] == ["ALL"]
    assert svc["cap_add"] == ["SYS_PTRACE"]
    assert "apparmor=unconfined" in svc["security_opt"]
    assert "no-new-privileges:true" in svc["security_opt"]
    assert svc["read_only"] is True
    assert str(svc["user"]) == "0:0"
    assert "--path.procfs=/host/proc" in svc["command"]
    assert not svc.get("privileged", False)
    assert svc.get("network_mode") != "host"
    mounts = binds(svc)
    assert mounts == {"/host/proc": ("/proc", True), "/var/run/docker.sock": ("/var/run/docker.sock", True)}


def test_ports_are_published_on_loopback_only(config):
    for name, svc in config["services"].items():
        for port in svc.get("ports", []):
            text = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port['published']}"
            assert text.startswith("127.0.0.1:"), f"{name}: {port}"


def test_exporter_image_builds_from_the_release_dockerfile(config):
    build = config["services"]["mountleak-exporter"]["build"]
    dockerfile = os.path.join(build["context"], build["dockerfile"])
    assert os.path.samefile(dockerfile, DEPLOY / "container" / "Dockerfile")
    assert os.path.samefile(build["context"], REPO)


def test_prometheus_config_and_rules_load_as_mounted(config, tmp_path):
    """Lay the files out as the container sees them and let promtool check them."""
    prom = config["services"]["prometheus"]
    mounts = binds(prom)
    args = prom["command"]
    config_path = next(a.split("=", 1)[1] for a in args if a.startswith("--config.file="))
    for target, (source, _) in mounts.items():
        if source and os.path.isabs(source) and os.path.exists(source):
            dest = tmp_path / target.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, dest) if os.path.isfile(source) else shutil.copytree(source, dest)
    laid_out = tmp_path / config_path.lstrip("/")
    out = run(["promtool", "check", "config", str(laid_out)])
    text = out.stdout + out.stderr
    assert "SUCCESS: 1 rule files found" in text, text
    rules_target = next(t for t, (s, _) in mounts.items() if s and s.endswith("deploy/prometheus/rules.yml"))
    assert rules_target.startswith(os.path.dirname(config_path) + "/rules/")


def test_prometheus_scrapes_the_exporter_service(config):
    prom_config = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    (job,) = prom_config["scrape_configs"]
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == ["mountleak-exporter:39101"]
    assert "mountleak-exporter" in config["services"]
    assert rules_select_job(job["job_name"]), "the rules select this job"


def test_grafana_is_provisioned_with_prometheus_and_the_dashboards(config):
    graf = config["services"]["grafana"]
    mounts = binds(graf)
    prov_source, _ = mounts["/etc/grafana/provisioning"]
    (ds,) = yaml.safe_load(open(os.path.join(prov_source, "datasources", "prometheus.yml")))["datasources"]
    assert ds["type"] == "prometheus"
    assert ds["url"] == "http://prometheus:9090"
    assert ds["isDefault"] is True
    (provider,) = yaml.safe_load(open(os.path.join(prov_source, "dashboards", "mountleak.yml")))["providers"]
    dash_source, _ = mounts[provider["options"]["path"]]
    dashboards = sorted(p for p in os.listdir(dash_source) if p.endswith(".json"))
    assert dashboards, f"no dashboard JSON in {dash_source}"
    for name in dashboards:
        text = open(os.path.join(dash_source, name)).read()
        dash = json.loads(text)
        # ${DS_...} inputs only work through the import UI, not file provisioning.
        assert "__inputs" not in dash and "${DS_" not in text, name
