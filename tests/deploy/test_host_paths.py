"""No deployment may hand the exporter the host's `/`, /var/lib/docker or a private /run.

A container that holds those (the default propagation is rprivate) keeps a copy of every
container mount below them, for as long as it runs: it becomes a leaker of the very mounts
it reports. The exporter needs exactly two things of the host's file system: /proc,
read-only at /host/proc, and the runtimes' sockets: the Docker socket file, or (Kubernetes,
where a runtime may be missing) the host's /run read-only at /host/run as a slave
(mountPropagation HostToContainer), whose copies receive every unmount and so pin nothing.
Checked in every Kubernetes manifest (as written, as kustomize builds them and as the Helm
chart renders them), every compose file, and every `docker run` in the docs.
"""

import os
import re
import shlex

import pytest
import yaml

from conftest import DEPLOY, REPO, helm_template, load_yaml_docs, run

ALLOWED = {
    "/proc": "the host's processes, mounted read-only at /host/proc",
    "/var/run/docker.sock": "the Docker socket",
    "/run/docker.sock": "the Docker socket",
}
FORBIDDEN = {
    "/": "the whole host tree: a copy of every mount on the host",
    "/var/lib/docker": "every container's rootfs, shm and volume mounts",
    "/run": "Docker's exec root: every container's netns bind mount",
    "/var/run": "Docker's exec root: every container's netns bind mount",
}


def host_path_problem(path):
    """Why this host path must not be mounted into the exporter's container (None if fine)."""
    if "$" in path:
        return "an interpolated host path can be anything"
    norm = os.path.normpath(path)
    if norm.startswith("//"):
        norm = norm[1:]
    if norm in ALLOWED:
        return None
    for bad, why in FORBIDDEN.items():
        if norm == bad or norm.startswith(bad.rstrip("/") + "/"):
            return f"{path} is (under) {bad}: {why}"
    return f"{path} is not one of the host paths the exporter needs ({', '.join(ALLOWED)})"


def pod_with_host_dir(path, propagation):
    mount = {"name": "d", "mountPath": "/host" + path, "readOnly": True}
    if propagation:
        mount["mountPropagation"] = propagation
    return {"kind": "Pod", "spec": {"containers": [{"name": "c", "volumeMounts": [mount]}],
                                     "volumes": [{"name": "d", "hostPath": {"path": path}}]}}


def test_rule_itself():
    assert host_path_problem("/proc") is None
    assert host_path_problem("/var/run/docker.sock") is None
    assert check_kubernetes([("x", pod_with_host_dir("/run/containerd", "HostToContainer"))]) == []
    assert check_kubernetes([("x", pod_with_host_dir("/run/containerd", None))])
    assert check_kubernetes([("x", pod_with_host_dir("/run/systemd", "HostToContainer"))])
    for bad in ("/", "//", "/var/lib/docker", "/var/lib/docker/overlay2", "/run", "/run/docker",
                "/var/run", "/var/run/docker/netns", "/proc/../", "/etc", "${HOST_ROOT}"):
        assert host_path_problem(bad), bad


# --- Kubernetes -----------------------------------------------------------------------------

def kubernetes_host_mounts(doc):
    """(host path, container mount) pairs of every pod spec in a Kubernetes object."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "containers" in node and "volumes" in node:
                host = {v["name"]: v["hostPath"]["path"] for v in node["volumes"] if "hostPath" in v}
                for c in node.get("containers", []) + node.get("initContainers", []):
                    for m in c.get("volumeMounts", []):
                        if m["name"] in host:
                            found.append((host[m["name"]], m))
                for name, path in host.items():
                    if not any(name == m["name"] for _, m in found):
                        found.append((path, None))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    return found


def kubernetes_docs():
    docs = []
    for kustomization in ("kubernetes", "kubernetes-k3s"):
        for path in sorted((DEPLOY / kustomization).rglob("*.yaml")):
            docs += [(path.name, d) for d in load_yaml_docs(path) if isinstance(d, dict) and "kind" in d]
        built = run(["kubectl", "kustomize", str(DEPLOY / kustomization)]).stdout
        docs += [(f"kustomize build {kustomization}", d) for d in yaml.safe_load_all(built) if d]
    chart = DEPLOY / "helm" / "mountleak-exporter"
    docs += [("helm template", d) for d in helm_template(chart)]
    # A runtime whose socket is outside /run gets its own mount; without Docker, each
    # runtime's directory is mounted instead of /run.
    docs += [("helm template (microk8s)", d) for d in helm_template(
        chart, "--set", "runtimes.containerd.socket=/var/snap/microk8s/common/run/containerd.sock")]
    docs += [("helm template (no docker)", d) for d in helm_template(chart, "--set", "runtimes.docker.enabled=false")]
    return docs


def run_problem(mount):
    """Why this mount of the host's /run is unsafe (None if it is a read-only slave at /host/run)."""
    if mount is None:
        return None
    if mount["mountPath"] != "/host/run" or mount.get("readOnly") is not True:
        return "/run must be mounted read-only at /host/run"
    if mount.get("mountPropagation") != "HostToContainer":
        return "/run must be mounted with mountPropagation HostToContainer (rslave): a private copy pins every runtime mount under it"
    return None


def check_kubernetes(docs):
    problems = []
    for source, doc in docs:
        for host, mount in kubernetes_host_mounts(doc):
            norm = os.path.normpath(host)
            if norm in ("/run", "/var/run") or norm in SOCKET_DIRS:
                why = run_problem(mount) if norm in ("/run", "/var/run") else slave_problem(mount)
                if why:
                    problems.append(f"{source}: {doc['kind']}: {why}")
                continue
            why = host_path_problem(host)
            if why:
                problems.append(f"{source}: {doc['kind']}: {why}")
            if os.path.normpath(host) == "/proc" and mount is not None:
                if mount["mountPath"] != "/host/proc" or mount.get("readOnly") is not True:
                    problems.append(f"{source}: /proc must be mounted read-only at /host/proc")
    return problems


# A runtime's own socket directory (the Helm chart mounts these instead of /run when Docker
# is off, and any directory a runtimes.<name>.socket value names): containerd's holds its
# task mounts, so each is a read-only slave like /run.
SOCKET_DIRS = ("/run/containerd", "/run/k3s/containerd", "/run/podman", "/run/crio", "/var/snap/microk8s/common/run")


def slave_problem(mount):
    if mount is not None and (mount.get("readOnly") is not True or mount.get("mountPropagation") != "HostToContainer"):
        return f"{mount['mountPath']} must be a read-only HostToContainer mount"
    return None


def test_kubernetes_manifests_mount_only_proc_and_the_socket():
    docs = kubernetes_docs()
    assert any(kubernetes_host_mounts(d) for _, d in docs), "found no hostPath at all: check the walker"
    assert check_kubernetes(docs) == []


@pytest.mark.parametrize("bad", ["/", "/var/lib/docker", "/run", "/var/run/docker"])
def test_kubernetes_check_catches_a_forbidden_host_path(bad):
    docs = [d for d in kubernetes_docs() if d[1]["kind"] == "DaemonSet"]
    _, ds = docs[0]
    ds["spec"]["template"]["spec"]["volumes"].append({"name": "bad", "hostPath": {"path": bad}})
    ds["spec"]["template"]["spec"]["containers"][0]["volumeMounts"].append({"name": "bad", "mountPath": "/rootfs"})
    assert check_kubernetes(docs[:1])


@pytest.mark.parametrize("change", [{"mountPropagation": "None"}, {"readOnly": False}, {"mountPath": "/run"}])
def test_kubernetes_check_catches_a_private_or_writable_run(change):
    _, ds = next(d for d in kubernetes_docs() if d[1]["kind"] == "DaemonSet")
    (m,) = [m for m in ds["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] if m["mountPath"] == "/host/run"]
    m.update(change)
    assert check_kubernetes([("x", ds)])


def test_kubernetes_check_catches_writable_proc():
    _, ds = next(d for d in kubernetes_docs() if d[1]["kind"] == "DaemonSet")
    for m in ds["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]:
        m.pop("readOnly", None)
    assert check_kubernetes([("x", ds)])


# --- compose --------------------------------------------------------------------------------

def compose_binds(service):
    """(host source, target, read_only) of a compose service's bind mounts."""
    binds = []
    for vol in service.get("volumes", []):
        if isinstance(vol, str):
            parts = vol.split(":")
            source, target = parts[0], parts[1] if len(parts) > 1 else parts[0]
            mode = parts[2] if len(parts) > 2 else "rw"
            if source.startswith(("/", ".", "~", "$")):
                binds.append((source, target, "ro" in mode.split(",")))
        elif vol.get("type") == "bind":
            binds.append((vol["source"], vol["target"], vol.get("read_only", False)))
    return binds


def check_compose(doc, base, label):
    """Problems of a compose document whose relative paths are relative to `base`."""
    problems = []
    for name, service in doc["services"].items():
        for source, target, read_only in compose_binds(service):
            if source.startswith(("/", "$", "~")):
                why = host_path_problem(source)
                if why:
                    problems.append(f"{label}: {name}: {why}")
                if os.path.normpath(source) == "/proc" and (target != "/host/proc" or not read_only):
                    problems.append(f"{label}: {name}: /proc must be mounted read-only at /host/proc")
            else:
                # Demo configuration shipped in this repository, nothing of the host's.
                resolved = (base / source).resolve()
                if REPO not in resolved.parents:
                    problems.append(f"{label}: {name}: {source} leaves the repository")
                elif not resolved.exists():
                    problems.append(f"{label}: {name}: {source} does not exist")
    return problems


COMPOSE_FILES = sorted((DEPLOY / "compose").glob("*.yml")) + sorted((DEPLOY / "compose").glob("*.yaml"))
COMPOSE_FILES = [p for p in COMPOSE_FILES if "services" in (load_yaml_docs(p) or [{}])[0]]


def test_there_is_a_compose_file():
    assert [p.name for p in COMPOSE_FILES] == ["compose.yml"]


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_mounts_only_proc_the_socket_and_repo_files(path):
    (doc,) = load_yaml_docs(path)
    assert check_compose(doc, path.parent, path.name) == []


@pytest.mark.parametrize("bad", ["/:/rootfs:ro", "/var/lib/docker:/var/lib/docker:ro", "/run:/run",
                                 "/proc:/host/proc", "../../..:/x", "./missing.yml:/x"])
def test_compose_check_catches_a_forbidden_mount(bad):
    path = DEPLOY / "compose" / "compose.yml"
    (doc,) = load_yaml_docs(path)
    doc["services"]["mountleak-exporter"]["volumes"].append(bad)
    assert check_compose(doc, path.parent, path.name)


# --- docker run in the docs -------------------------------------------------------------------

def docker_run_binds(markdown):
    """(host source, target, read_only) of every -v/--volume/--mount in `docker run` commands."""
    text = markdown.replace("\\\n", " ")
    binds = []
    for line in text.splitlines():
        if "docker run" not in line:
            continue
        words = shlex.split(line[line.index("docker run"):], comments=True)
        for i, word in enumerate(words):
            value = None
            if word in ("-v", "--volume", "--mount") and i + 1 < len(words):
                value, kind = words[i + 1], word
            elif word.startswith(("--volume=", "--mount=")):
                kind, value = word.split("=", 1)
            if value is None:
                continue
            if kind == "--mount":
                fields = dict(f.split("=", 1) if "=" in f else (f, "true") for f in value.split(","))
                if fields.get("type") == "bind":
                    binds.append((fields.get("source") or fields.get("src"),
                                  fields.get("target") or fields.get("dst") or fields.get("destination"),
                                  fields.get("readonly", fields.get("ro", "false")) in ("true", "1")))
            else:
                parts = value.split(":")
                binds.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
    return binds


def test_docs_docker_run_commands_mount_only_proc_and_the_socket():
    binds = docker_run_binds((REPO / "docs" / "deploy.md").read_text())
    assert binds, "docs/deploy.md shows no docker run with mounts: check the parser"
    problems = []
    for source, target, read_only in binds:
        why = host_path_problem(source)
        if why:
            problems.append(why)
        if os.path.normpath(source) == "/proc" and (target != "/host/proc" or not read_only):
            problems.append("/proc must be mounted read-only at /host/proc")
    assert problems == []


def test_docs_parser_sees_a_forbidden_mount():
    md = "```\ndocker run -d \\\n  -v /:/rootfs:ro --mount type=bind,source=/run,target=/run img\n```\n"
    sources = [s for s, _, _ in docker_run_binds(md)]
    assert sources == ["/", "/run"]
