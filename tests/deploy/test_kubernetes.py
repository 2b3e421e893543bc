"""Kubernetes manifests: schema-valid, least privilege, one source for the rules."""

import re
import shutil

import kubernetes_validate
import pytest
import yaml

from conftest import DEPLOY, REPO, load_yaml_docs, rules_select_job, run

K8S = DEPLOY / "kubernetes"
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


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    manifests = sorted(p.name for p in K8S.glob("*.yaml") if p.name not in NOT_OBJECTS)
    assert sorted(kustomization["resources"]) == manifests


def test_build_has_each_resource_once(built):
    assert sorted(built) == ["DaemonSet", "Namespace", "PrometheusRule", "Service", "ServiceMonitor"]
    assert len(kustomize()) == 5


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


def container(built):
    (c,) = built["DaemonSet"]["spec"]["template"]["spec"]["containers"]
    return c


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


def test_daemonset_gets_the_docker_socket_and_nothing_else_of_the_host(built):
    pod = built["DaemonSet"]["spec"]["template"]["spec"]
    host_paths = sorted(v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v)
    assert host_paths == ["/proc", "/var/run/docker.sock"]
    sock = next(v for v in pod["volumes"] if v["hostPath"]["path"] == "/var/run/docker.sock")
    assert sock["hostPath"]["type"] == "Socket"
    assert "--docker.host=unix:///var/run/docker.sock" in container(built)["args"]
    for key in ("hostNetwork", "hostIPC"):
        assert not pod.get(key, False), key
    assert pod["automountServiceAccountToken"] is False


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


def test_prometheusrule_is_what_the_generator_writes(tmp_path):
    out = tmp_path / "prometheusrule.yaml"
    run([str(K8S / "generate-prometheusrule.sh"), str(RULES), str(out)])
    assert out.read_text() == (K8S / "prometheusrule.yaml").read_text(), (
        "deploy/kubernetes/prometheusrule.yaml is stale: run deploy/kubernetes/generate-prometheusrule.sh"
    )


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
