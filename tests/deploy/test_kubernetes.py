"""Kubernetes manifests: schema-valid, least privilege, one source for the rules."""

import json
import os
import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from conftest import DEPLOY, REPO, load_yaml_docs, rules_select_job, run

K8S = DEPLOY / "kubernetes"
K3S = DEPLOY / "kubernetes-k3s"
RULES = DEPLOY / "prometheus" / "rules.yml"
# The oldest Kubernetes with securityContext.appArmorProfile (1.30) and the newest the
# validator knows.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
NOT_OBJECTS = ("kustomization.yaml", "prometheus-selector-labels.yaml")


def kustomize(directory=K8S):
    return [d for d in yaml.safe_load_all(run(["kubectl", "kustomize", str(directory)]).stdout) if d]


@pytest.fixture(scope="module")
def built():
    docs = kustomize()
    return {doc["kind"]: doc for doc in docs}


def container(built):
    (c,) = built["DaemonSet"]["spec"]["template"]["spec"]["containers"]
    return c


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    manifests = sorted(p.name for p in K8S.glob("*.yaml") if p.name not in NOT_OBJECTS)
    assert sorted(kustomization["resources"]) == manifests


KINDS = ["DaemonSet", "Namespace", "NetworkPolicy", "PrometheusRule", "ResourceQuota", "Service",
         "ServiceMonitor"]


def test_build_has_each_resource_once(built):
    assert sorted(built) == KINDS
    assert len(kustomize()) == len(KINDS)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_k3s_overlay_validates_and_changes_only_containerd(built, version):
    docs = kustomize(K3S)
    assert sorted(d["kind"] for d in docs) == KINDS
    k3s = {d["kind"]: d for d in docs}
    for kind, doc in k3s.items():
        if kind not in CRD_KINDS:
            kubernetes_validate.validate(doc, version, strict=True)
        if kind != "DaemonSet":
            assert doc == built[kind], kind
    env = {e["name"]: e["value"] for e in container(k3s)["env"]}
    base = {e["name"]: e["value"] for e in container(built)["env"]}
    changed = {k for k in env.keys() | base.keys() if env.get(k) != base.get(k)}
    assert changed == {"MOUNTLEAK_CONTAINERD_ADDRESS", "MOUNTLEAK_CONTAINERD_STATE"}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_built_resources_validate_against_kubernetes_schemas(built, version):
    for kind, doc in built.items():
        if kind in CRD_KINDS:
            continue
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize(
    "path", sorted(p for p in K8S.glob("*.yaml") if p.name not in NOT_OBJECTS), ids=lambda p: p.name
)
def test_each_file_validates_on_its_own(path):
    for doc in load_yaml_docs(path):
        if doc["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)


def test_validator_rejects_a_misspelt_field(built):
    ds = yaml.safe_load(yaml.safe_dump(built["DaemonSet"]))
    ds["spec"]["template"]["spec"]["hostPid"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(ds, KUBERNETES_VERSIONS[-1], strict=True)


def test_daemonset_sees_the_host_processes_through_proc_read_only(built):
    pod = built["DaemonSet"]["spec"]["template"]["spec"]
    c = container(built)
    assert pod["hostPID"] is True
    assert "--path.procfs=/host/proc" in c["args"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    (proc_mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/host/proc"]
    assert volumes[proc_mount["name"]]["hostPath"]["path"] == "/proc"
    assert proc_mount["readOnly"] is True
    assert proc_mount.get("mountPropagation", "None") == "None"


def test_daemonset_gets_the_host_run_as_a_read_only_slave_and_nothing_else(built):
    pod = built["DaemonSet"]["spec"]["template"]["spec"]
    host = {v["name"]: v["hostPath"] for v in pod["volumes"] if "hostPath" in v}
    assert sorted(h["path"] for h in host.values()) == ["/proc", "/run"]
    (run_mount,) = [m for m in container(built)["volumeMounts"] if host[m["name"]]["path"] == "/run"]
    assert run_mount["mountPath"] == "/host/run"
    assert run_mount["readOnly"] is True
    # rslave: every unmount on the host reaches the copy, so it never pins a runtime's mount.
    assert run_mount["mountPropagation"] == "HostToContainer"
    # Exists on every node; never created, never a socket that stops the pod where it is missing.
    assert host[run_mount["name"]]["type"] == "Directory"
    for key in ("hostNetwork", "hostIPC"):
        assert not pod.get(key, False), key
    assert pod["automountServiceAccountToken"] is False


def test_daemonset_is_node_critical(built):
    pod = built["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "system-node-critical"
    quota = built["ResourceQuota"]["spec"]
    (scope,) = quota["scopeSelector"]["matchExpressions"]
    assert scope == {"operator": "In", "scopeName": "PriorityClass", "values": ["system-node-critical"]}
    assert int(quota["hard"]["pods"]) >= 1000


def test_networkpolicy_admits_only_the_prometheus_namespace_to_the_port(built):
    pod_labels = built["DaemonSet"]["spec"]["template"]["metadata"]["labels"]
    policy = built["NetworkPolicy"]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    (peer,) = rule["from"]
    assert peer == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    (port,) = rule["ports"]
    container_ports = {p["name"]: p["containerPort"] for p in container(built)["ports"]}
    assert container_ports[port["port"]] == 39101


# --- node layouts -------------------------------------------------------------------------
# The runtime sockets of a node of each kind, as host paths. Sources: moby's default
# DOCKER_HOST (/var/run/docker.sock, /var/run being /run) and the containerd dockerd starts
# itself when there is no system one (/run/docker/containerd/containerd.sock, libcontainerd/
# supervisor); containerd's defaults (defaults/defaults_unix.go: /run/containerd); k3s's
# embedded containerd (pkg/agent/config: /run/k3s/containerd/containerd.sock); CRI-O's
# default listen socket (cri-o internal/config: /var/run/crio/crio.sock).
NODE_LAYOUTS = {
    "docker": ["/run/docker.sock", "/run/docker/containerd/containerd.sock"],
    "docker-on-system-containerd": ["/run/docker.sock", "/run/containerd/containerd.sock"],
    "containerd": ["/run/containerd/containerd.sock"],
    "k3s": ["/run/k3s/containerd/containerd.sock"],
    "cri-o": ["/run/crio/crio.sock"],
}
# The runtime flags' environment variables: (toggle, address).
RUNTIME_ENV = {
    "docker": ("MOUNTLEAK_RUNTIME_DOCKER", "DOCKER_HOST"),
    "containerd": ("MOUNTLEAK_RUNTIME_CONTAINERD", "MOUNTLEAK_CONTAINERD_ADDRESS"),
    "podman": ("MOUNTLEAK_RUNTIME_PODMAN", "MOUNTLEAK_PODMAN_HOST"),
    "cri-o": ("MOUNTLEAK_RUNTIME_CRI_O", "MOUNTLEAK_CRI_O_ADDRESS"),
}
# (manifests, layout): the runtimes watched, and containerd's state as the host sees it.
EXPECTED = {
    (K8S, "docker"): ({"docker"}, None),
    (K8S, "docker-on-system-containerd"): ({"docker", "containerd"}, "/run/containerd"),
    (K8S, "containerd"): ({"containerd"}, "/run/containerd"),
    (K3S, "k3s"): ({"containerd"}, "/run/k3s/containerd"),
    (K8S, "cri-o"): ({"cri-o"}, None),
    # The default manifests on a k3s node: the pod runs, watching nothing (hence the overlay).
    (K8S, "k3s"): (set(), None),
}
LAYOUT_IDS = [f"{m.name}-{layout}" for m, layout in EXPECTED]


def daemonset_of(manifests):
    return next(d for d in kustomize(manifests) if d["kind"] == "DaemonSet")


def host_dirs(files):
    dirs = {"/", "/proc"}
    for f in files:
        parts = f.split("/")[1:-1]
        dirs |= {"/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return dirs


def mounts_on(ds, files):
    """How the pod would start on a node with these socket files: [(mountPath, hostPath)],
    or an AssertionError saying which hostPath stops it (kubelet's hostPath type checks)."""
    pod = ds["spec"]["template"]["spec"]
    dirs = host_dirs(files)
    volumes = {v["name"]: v["hostPath"] for v in pod["volumes"] if "hostPath" in v}
    for name, hp in volumes.items():
        kind = hp.get("type", "")
        if kind == "Directory":
            assert hp["path"] in dirs, f"{name}: no directory {hp['path']}: the pod does not start"
        elif kind == "Socket":
            assert hp["path"] in files, f"{name}: no socket {hp['path']}: the pod does not start"
        else:
            # "" or *OrCreate would make a directory on the node where the runtime puts its socket.
            assert kind == "DirectoryOrCreate" and hp["path"] not in files, f"{name}: {kind or 'unchecked'} {hp['path']}"
    (c,) = pod["containers"]
    return [(m["mountPath"], volumes[m["name"]]["path"]) for m in c["volumeMounts"] if m["name"] in volumes]


def to_host(path, mounts):
    """The host path a container path shows (the longest mount containing it), or None."""
    best = None
    for mount_path, host_path in mounts:
        if path == mount_path or path.startswith(mount_path.rstrip("/") + "/"):
            if best is None or len(mount_path) > len(best[0]):
                best = (mount_path, host_path)
    return None if best is None else best[1] + path[len(best[0]):]


def socket_file(address):
    return address.removeprefix("unix://") if address.startswith("unix://") or "://" not in address else None


def watched_on(ds, files):
    """The runtimes the exporter watches on a node with these socket files: the flags'
    `auto` resolved the way the binary does (docs/interfaces.md), through the pod's mounts."""
    mounts = mounts_on(ds, files)
    env = {e["name"]: e["value"] for e in ds["spec"]["template"]["spec"]["containers"][0]["env"]}
    watched = set()
    for runtime, (toggle, address) in RUNTIME_ENV.items():
        host = to_host(socket_file(env[address]), mounts)
        if env[toggle] == "true" or env[toggle] == "auto" and host in files:
            watched.add(runtime)
    return watched, env


@pytest.mark.parametrize("manifests,layout", EXPECTED, ids=LAYOUT_IDS)
def test_pod_starts_and_watches_the_runtimes_of_the_node(manifests, layout):
    ds = daemonset_of(manifests)
    env = {e["name"]: e["value"] for e in ds["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert all(env[toggle] == "auto" for toggle, _ in RUNTIME_ENV.values()), "each runtime chosen by its socket"
    watched, env = watched_on(ds, NODE_LAYOUTS[layout])
    want, state = EXPECTED[(manifests, layout)]
    assert watched == want
    if "containerd" in want:
        assert env["MOUNTLEAK_CONTAINERD_STATE"] == state


def test_layout_check_catches_a_pod_that_would_not_start():
    ds = daemonset_of(K8S)
    pod = ds["spec"]["template"]["spec"]
    pod["volumes"].append({"name": "sock", "hostPath": {"path": "/run/docker.sock", "type": "Socket"}})
    with pytest.raises(AssertionError, match="does not start"):
        mounts_on(ds, NODE_LAYOUTS["containerd"])
    pod["volumes"][-1]["hostPath"] = {"path": "/run/docker.sock"}
    with pytest.raises(AssertionError, match="unchecked"):
        mounts_on(ds, NODE_LAYOUTS["docker"])


# The same, with the real exporter: the node's sockets are links to the private dockerd's and
# containerd's sockets (scripts/testenv.sh), the container's /host/run is that fake /run,
# and `scan` says which runtimes it watched and whether each answered.
def private_daemon_socket(var):
    value = os.environ.get(var)
    assert value, f"{var} is not set: run scripts/testenv.sh up and eval \"$(scripts/testenv.sh env)\" first"
    path = socket_file(value)
    assert path and os.path.exists(path), f"{var}={value}: no socket there (is the test daemon up?)"
    return path


@pytest.fixture(scope="module")
def exporter_binary():
    run(["cargo", "build", "--locked", "--quiet", "--bin", "mountleak_exporter"], cwd=REPO)
    target = os.environ.get("CARGO_TARGET_DIR", str(REPO / "target"))
    return os.path.join(target, "debug", "mountleak_exporter")


# CRI-O's layout is left out here: the test environment's containerd serves no CRI (the CRI
# client runs against containerd's CRI plugin for real in tests/e2e_cri.rs).
REAL_DAEMON_LAYOUTS = [k for k in EXPECTED if k[1] != "cri-o"]


@pytest.mark.parametrize("manifests,layout", REAL_DAEMON_LAYOUTS,
                         ids=[f"{m.name}-{layout}" for m, layout in REAL_DAEMON_LAYOUTS])
def test_exporter_with_the_pods_settings_watches_the_runtimes_of_the_node(manifests, layout, tmp_path,
                                                                          exporter_binary):
    real = {"docker": private_daemon_socket("MOUNTLEAK_TEST_DOCKER_HOST"),
            "containerd": private_daemon_socket("MOUNTLEAK_TEST_CONTAINERD_SOCK")}
    ds = daemonset_of(manifests)
    mounts = dict(mounts_on(ds, NODE_LAYOUTS[layout]))
    assert mounts["/host/run"] == "/run"
    fake_run = tmp_path / "run"
    for f in NODE_LAYOUTS[layout]:
        link = fake_run / os.path.relpath(f, "/run")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(real["docker" if f.endswith("docker.sock") else "containerd"])
    c = ds["spec"]["template"]["spec"]["containers"][0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOUNTLEAK_", "DOCKER_"))}
    env.update({e["name"]: e["value"].replace("/host/run", str(fake_run)) for e in c["env"]})
    args = [a.replace("/host/proc", "/proc") for a in c["args"] if not a.startswith("--web.")]
    proc = subprocess.run([exporter_binary, "scan", "--output", "json", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    runtimes = json.loads(proc.stdout)["scan"]["runtimes"]
    want, _ = EXPECTED[(manifests, layout)]
    assert runtimes == {r: True for r in want}, proc.stderr


def test_daemonset_drops_every_capability_but_sys_ptrace(built):
    sc = container(built)["securityContext"]
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["SYS_PTRACE"]}
    # Kubernetes gives added capabilities to uid 0 only (no ambient capabilities).
    assert sc["runAsUser"] == 0
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["privileged"] is False
    assert sc["readOnlyRootFilesystem"] is True
    # The runtimes' default AppArmor profiles deny ptrace read of host processes.
    assert sc["appArmorProfile"] == {"type": "Unconfined"}
    pod = built["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_daemonset_runs_on_every_node_with_bounded_resources(built):
    pod = built["DaemonSet"]["spec"]["template"]["spec"]
    assert {"operator": "Exists"} in pod["tolerations"]
    resources = container(built)["resources"]
    for bound in ("requests", "limits"):
        assert set(resources[bound]) == {"cpu", "memory"}, bound


def test_namespace_allows_the_privileged_pod(built):
    labels = built["Namespace"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    for kind, doc in built.items():
        if kind != "Namespace":
            assert doc["metadata"]["namespace"] == built["Namespace"]["metadata"]["name"], kind


def test_service_and_servicemonitor_reach_the_pods(built):
    pod_labels = built["DaemonSet"]["spec"]["template"]["metadata"]["labels"]
    svc = built["Service"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    (port,) = svc["spec"]["ports"]
    assert port["port"] == 39101
    container_ports = {p["name"]: p["containerPort"] for p in container(built)["ports"]}
    assert container_ports[port["targetPort"]] == 39101
    assert "--web.listen-address=:39101" in container(built)["args"]

    sm = built["ServiceMonitor"]
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["port"] == port["name"]
    assert endpoint["path"] == "/metrics"


# prometheus-operator's CRDs are not in kubernetes-validate's schemas: check by hand what
# these manifests use, key by key, so a misspelt field fails as it would in the CRD schema.
SERVICEMONITOR_SPEC_KEYS = {"selector", "endpoints", "namespaceSelector", "jobLabel",
                            "targetLabels", "podTargetLabels", "sampleLimit"}
ENDPOINT_KEYS = {"port", "targetPort", "path", "scheme", "interval", "scrapeTimeout",
                 "honorLabels", "honorTimestamps", "relabelings", "metricRelabelings"}
RELABEL_KEYS = {"sourceLabels", "separator", "targetLabel", "regex", "modulus",
                "replacement", "action"}
RELABEL_ACTIONS = {"replace", "keep", "drop", "hashmod", "labelmap", "labeldrop",
                   "labelkeep", "lowercase", "uppercase", "keepequal", "dropequal"}
RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
GROUP_KEYS = {"name", "interval", "rules", "limit", "partial_response_strategy", "query_offset"}
DURATION = r"^[0-9]+(ms|s|m|h|d|w|y)$"


def check_metadata(doc, kind):
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["kind"] == kind
    assert set(doc) == {"apiVersion", "kind", "metadata", "spec"}
    assert isinstance(doc["metadata"]["name"], str)
    assert all(isinstance(v, str) for v in doc["metadata"].get("labels", {}).values())


def check_servicemonitor(doc):
    check_metadata(doc, "ServiceMonitor")
    spec = doc["spec"]
    assert set(spec) <= SERVICEMONITOR_SPEC_KEYS, set(spec) - SERVICEMONITOR_SPEC_KEYS
    assert set(spec["selector"]) <= {"matchLabels", "matchExpressions"}
    assert spec["endpoints"], "at least one endpoint"
    for ep in spec["endpoints"]:
        assert set(ep) <= ENDPOINT_KEYS, set(ep) - ENDPOINT_KEYS
        for key in ("interval", "scrapeTimeout"):
            if key in ep:
                assert re.match(DURATION, ep[key]), ep[key]
        for rl in ep.get("relabelings", []) + ep.get("metricRelabelings", []):
            assert set(rl) <= RELABEL_KEYS, set(rl) - RELABEL_KEYS
            assert rl.get("action", "replace") in RELABEL_ACTIONS
            assert isinstance(rl.get("sourceLabels", []), list)


def check_prometheusrule(doc):
    check_metadata(doc, "PrometheusRule")
    assert set(doc["spec"]) == {"groups"}
    names = [g["name"] for g in doc["spec"]["groups"]]
    assert len(names) == len(set(names)), "group names are unique"
    for group in doc["spec"]["groups"]:
        assert set(group) <= GROUP_KEYS, set(group) - GROUP_KEYS
        for rule in group["rules"]:
            assert set(rule) <= RULE_KEYS, set(rule) - RULE_KEYS
            assert ("alert" in rule) != ("record" in rule)
            assert isinstance(rule["expr"], (str, int, float))
            if "for" in rule:
                assert re.match(DURATION, rule["for"]), rule["for"]
            for key in ("labels", "annotations"):
                assert all(isinstance(v, str) for v in rule.get(key, {}).values()), key


def test_servicemonitor_structure(built):
    check_servicemonitor(built["ServiceMonitor"])


def test_prometheusrule_structure(built):
    check_prometheusrule(built["PrometheusRule"])


def test_crd_checks_catch_a_misspelt_field(built):
    sm = yaml.safe_load(yaml.safe_dump(built["ServiceMonitor"]))
    sm["spec"]["endpoints"][0]["relabellings"] = sm["spec"]["endpoints"][0].pop("relabelings")
    with pytest.raises(AssertionError):
        check_servicemonitor(sm)
    pr = yaml.safe_load(yaml.safe_dump(built["PrometheusRule"]))
    pr["spec"]["groups"][0]["rules"][0]["expresion"] = "up"
    with pytest.raises(AssertionError):
        check_prometheusrule(pr)


def test_prometheusrule_carries_exactly_the_rules_of_deploy_prometheus(built):
    rules = yaml.safe_load(RULES.read_text())
    assert built["PrometheusRule"]["spec"] == rules


def test_release_label_hook_reaches_only_the_operator_resources(built, tmp_path):
    assert built["ServiceMonitor"]["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert built["PrometheusRule"]["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    for kind in ("DaemonSet", "Service", "Namespace"):
        assert "release" not in built[kind]["metadata"].get("labels", {}), kind
    # A user's own value: edit the patch file, build again.
    copy = tmp_path / "kubernetes"
    shutil.copytree(K8S, copy)
    patch = copy / "prometheus-selector-labels.yaml"
    patch.write_text(patch.read_text().replace("value: kube-prometheus-stack", "value: my-monitoring"))
    rebuilt = {d["kind"]: d for d in kustomize(copy)}
    assert rebuilt["ServiceMonitor"]["metadata"]["labels"]["release"] == "my-monitoring"
    assert rebuilt["PrometheusRule"]["metadata"]["labels"]["release"] == "my-monitoring"


def test_image_is_set_in_one_place(built):
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    assert container(built)["image"] == f"{image['newName']}:{image['newTag']}"
    cargo = (REPO / "Cargo.toml").read_text()
    assert f'version = "{image["newTag"]}"' in cargo, "image tag follows the crate version"


def test_the_rules_select_the_servicemonitor_job(built):
    # prometheus-operator names the job after the Service (no jobLabel, no job relabeling here).
    (endpoint,) = built["ServiceMonitor"]["spec"]["endpoints"]
    assert "jobLabel" not in built["ServiceMonitor"]["spec"]
    assert all(r.get("targetLabel") != "job" for r in endpoint.get("relabelings", []))
    job = built["Service"]["metadata"]["name"]
    assert rules_select_job(job), f"deploy/prometheus/rules.yml does not select job={job!r}"
    assert not rules_select_job("node"), "the check itself tells jobs apart"
