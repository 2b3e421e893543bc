"""The Helm chart: a real `helm lint` and `helm template`, every rendered object valid, the
same DaemonSet as deploy/kubernetes for the default values, the rules of deploy/prometheus."""

import copy

import kubernetes_validate
import pytest
import yaml

from conftest import DEPLOY, REPO, helm_template, run
from test_kubernetes import (CRD_KINDS, KUBERNETES_VERSIONS, NODE_LAYOUTS, check_prometheusrule,
                             check_servicemonitor, kustomize, watched_on)

CHART = DEPLOY / "helm" / "mountleak-exporter"
RULES = DEPLOY / "prometheus" / "rules.yml"

# Every optional object on, with the settings users of the node-exporter chart set.
ALL_ON = [
    "--set", "prometheus.monitor.enabled=true",
    "--set", "prometheus.monitor.additionalLabels.release=kube-prometheus-stack",
    "--set", "prometheus.podMonitor.enabled=true",
    "--set", "prometheus.podMonitor.additionalLabels.release=kube-prometheus-stack",
    "--set", "prometheusRule.enabled=true",
    "--set", "prometheusRule.additionalLabels.release=kube-prometheus-stack",
    "--set", "webConfig.config.basic_auth_users.prometheus=$2y$10$abcdefghijklmnopqrstuv",
    "--set", "extraArgs[0]=--log.level=debug",
    "--set", "priorityClassName=high-priority",
    "--set", "image.registry=registry.example.com",
    "--set", "image.digest=sha256:" + "0" * 64,
]


def by_kind(docs):
    out = {}
    for d in docs:
        assert d["kind"] not in out, f"two {d['kind']}"
        out[d["kind"]] = d
    return out


@pytest.fixture(scope="module")
def default():
    return by_kind(helm_template(CHART))


@pytest.fixture(scope="module")
def all_on():
    return by_kind(helm_template(CHART, *ALL_ON))


def test_helm_lint_strict_passes_with_default_and_every_option():
    run(["helm", "lint", "--strict", str(CHART)])
    run(["helm", "lint", "--strict", str(CHART), *ALL_ON])


def test_helm_lint_fails_on_a_broken_template(tmp_path):
    # The linter itself is live: a chart with a template error fails it.
    broken = tmp_path / "mountleak-exporter"
    run(["cp", "-rL", str(CHART), str(broken)])
    (broken / "templates" / "service.yaml").write_text("{{ .Values.service.port | nope }}\n")
    proc = run(["sh", "-c", f"helm lint --strict {broken} || echo FAILED"])
    assert "FAILED" in proc.stdout


def test_default_values_render_the_objects_of_deploy_kubernetes(default):
    # No Namespace (helm install --create-namespace does not label it: NOTES.txt says how),
    # and the prometheus-operator objects only when asked for (their CRDs may be missing).
    assert sorted(default) == ["DaemonSet", "NetworkPolicy", "ResourceQuota", "Service"]


def test_every_option_renders_every_object(all_on):
    assert sorted(all_on) == ["DaemonSet", "NetworkPolicy", "PodMonitor", "PrometheusRule", "ResourceQuota",
                              "Secret", "Service", "ServiceMonitor"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("values", ["default", "all_on"])
def test_rendered_objects_validate_against_kubernetes_schemas(values, version, request):
    for kind, doc in request.getfixturevalue(values).items():
        if kind in CRD_KINDS | {"PodMonitor"}:
            continue
        kubernetes_validate.validate(doc, version, strict=True)


def test_operator_objects_have_the_crd_fields(all_on):
    check_servicemonitor(all_on["ServiceMonitor"])
    pm = copy.deepcopy(all_on["PodMonitor"])
    pm["kind"] = "ServiceMonitor"
    pm["spec"]["endpoints"] = pm["spec"].pop("podMetricsEndpoints")
    check_servicemonitor(pm)
    check_prometheusrule(all_on["PrometheusRule"])


def test_chart_and_kustomize_render_the_same_daemonset(default):
    (kustomized,) = [d for d in kustomize() if d["kind"] == "DaemonSet"]
    chart = default["DaemonSet"]
    assert chart["spec"]["template"]["spec"] == kustomized["spec"]["template"]["spec"]
    assert chart["spec"]["updateStrategy"] == kustomized["spec"]["updateStrategy"]
    assert chart["metadata"]["namespace"] == kustomized["metadata"]["namespace"]
    # The kustomize labels are the chart's, less Helm's bookkeeping.
    assert kustomized["spec"]["template"]["metadata"]["labels"].items() <= \
        chart["spec"]["template"]["metadata"]["labels"].items()
    assert {k: v for k, v in default["NetworkPolicy"]["spec"].items() if k != "podSelector"} == \
        {k: v for k, v in by_kind(kustomize())["NetworkPolicy"]["spec"].items() if k != "podSelector"}
    assert default["ResourceQuota"]["spec"] == by_kind(kustomize())["ResourceQuota"]["spec"]


def test_prometheusrule_carries_exactly_the_rules_of_deploy_prometheus(all_on):
    assert all_on["PrometheusRule"]["spec"] == yaml.safe_load(RULES.read_text())
    link = CHART / "files" / "rules.yml"
    assert link.is_symlink() and link.resolve() == RULES.resolve(), "files/rules.yml links to the one source"


def test_selector_labels_and_namespaces_are_configurable(all_on):
    for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule"):
        assert all_on[kind]["metadata"]["labels"]["release"] == "kube-prometheus-stack", kind
    for kind in ("DaemonSet", "Service", "NetworkPolicy"):
        assert "release" not in all_on[kind]["metadata"]["labels"], kind
    docs = by_kind(helm_template(CHART, *ALL_ON, "--set", "prometheus.monitor.namespace=monitoring",
                                 "--set", "networkPolicy.prometheusNamespace=observability"))
    assert docs["ServiceMonitor"]["metadata"]["namespace"] == "monitoring"
    assert docs["ServiceMonitor"]["spec"]["namespaceSelector"] == {"matchNames": ["mountleak-exporter"]}
    peer = docs["NetworkPolicy"]["spec"]["ingress"][0]["from"][0]
    assert peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "observability"


def test_monitors_reach_the_pods_and_name_the_job_the_rules_select(all_on):
    pod_labels = all_on["DaemonSet"]["spec"]["template"]["metadata"]["labels"]
    svc = all_on["Service"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    sm, pm = all_on["ServiceMonitor"]["spec"], all_on["PodMonitor"]["spec"]
    assert sm["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert pm["selector"]["matchLabels"].items() <= pod_labels.items()
    # prometheus-operator takes the job from the label jobLabel names.
    from conftest import rules_select_job
    assert rules_select_job(svc["metadata"]["labels"][sm["jobLabel"]])
    assert rules_select_job(pod_labels[pm["jobLabel"]])
    for endpoint in sm["endpoints"] + pm["podMetricsEndpoints"]:
        assert endpoint["port"] == "metrics"
        assert {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "instance",
                "action": "replace"} in endpoint["relabelings"]
    # Another release name keeps the job.
    other = by_kind(helm_template(CHART, *ALL_ON, release="monitoring-mle"))
    assert other["Service"]["metadata"]["labels"]["app.kubernetes.io/name"] == "mountleak-exporter"


def test_web_config_is_a_secret_passed_to_the_exporter(all_on):
    c = all_on["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]
    assert "--web.config.file=/etc/mountleak_exporter/web-config.yml" in c["args"]
    assert "--log.level=debug" in c["args"]
    secret = all_on["Secret"]
    assert yaml.safe_load(secret["stringData"]["web-config.yml"]) == {
        "basic_auth_users": {"prometheus": "$2y$10$abcdefghijklmnopqrstuv"}}
    volumes = {v["name"]: v for v in all_on["DaemonSet"]["spec"]["template"]["spec"]["volumes"]}
    assert volumes["web-config"]["secret"]["secretName"] == secret["metadata"]["name"]
    # Basic auth would refuse kubelet's HTTP probe.
    assert "tcpSocket" in c["readinessProbe"] and "tcpSocket" in c["livenessProbe"]
    existing = by_kind(helm_template(CHART, "--set", "webConfig.existingSecret=my-web-config"))
    assert "Secret" not in existing
    volumes = {v["name"]: v for v in existing["DaemonSet"]["spec"]["template"]["spec"]["volumes"]}
    assert volumes["web-config"]["secret"]["secretName"] == "my-web-config"


def test_image_resources_placement_and_priority_are_values(all_on):
    pod = all_on["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.example.com/mountleak_exporter@sha256:" + "0" * 64
    assert pod["priorityClassName"] == "high-priority"
    assert all_on["ResourceQuota"]["spec"]["scopeSelector"]["matchExpressions"][0]["values"] == ["high-priority"]
    docs = by_kind(helm_template(
        CHART, "--set", "nodeSelector.pool=docker", "--set", "tolerations=null",
        "--set", "resources.limits.memory=1Gi", "--set", "priorityClassName=",
        "--set", "runtimes.docker.enabled=false", "--set", "runtimes.podman.enabled=true"))
    pod = docs["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", "pool": "docker"}
    assert "tolerations" not in pod and "priorityClassName" not in pod
    assert "ResourceQuota" not in docs
    c = pod["containers"][0]
    assert c["resources"]["limits"]["memory"] == "1Gi"
    env = {e["name"]: e["value"] for e in c["env"]}
    assert (env["MOUNTLEAK_RUNTIME_DOCKER"], env["MOUNTLEAK_RUNTIME_PODMAN"]) == ("false", "true")


def test_k3s_values_match_the_k3s_overlay():
    docs = by_kind(helm_template(CHART, "--set", "runtimes.containerd.socket=/run/k3s/containerd/containerd.sock",
                                 "--set", "runtimes.containerd.state=/run/k3s/containerd"))
    (overlay,) = [d for d in kustomize(DEPLOY / "kubernetes-k3s") if d["kind"] == "DaemonSet"]
    chart, overlay = docs["DaemonSet"]["spec"]["template"]["spec"], overlay["spec"]["template"]["spec"]
    # The overlay's strategic merge puts the patched variables first: compare them by name.
    for pod in (chart, overlay):
        pod["containers"][0]["env"].sort(key=lambda e: e["name"])
    assert chart == overlay


def helm_refuses(*args):
    proc = run(["sh", "-c", 'helm template x "$0" "$@" 2>&1 || echo FAILED', str(CHART), *args])
    assert proc.stdout.rstrip().endswith("FAILED"), proc.stdout
    return proc.stdout


def test_a_bad_or_misspelt_value_is_refused():
    # values.schema.json, checked by helm template/install/lint.
    assert "/runtimes/docker/enabled" in helm_refuses("--set", "runtimes.docker.enabled=maybe")
    assert "'enable' not allowed" in helm_refuses("--set", "prometheus.monitor.enable=true")
    assert "/runtimes/containerd/socket" in helm_refuses("--set", "runtimes.containerd.socket=run/c.sock")
    # The template's own check, for a value the schema lets through as a string.
    assert "must be auto, true or false" in helm_refuses("--skip-schema-validation",
                                                         "--set", "runtimes.docker.enabled=maybe")


def test_chart_version_follows_the_crate():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    cargo = (REPO / "Cargo.toml").read_text()
    assert f'version = "{chart["appVersion"]}"' in cargo
    assert chart["version"] == chart["appVersion"]


K3S_VALUES = ["--set", "runtimes.containerd.socket=/run/k3s/containerd/containerd.sock",
              "--set", "runtimes.containerd.state=/run/k3s/containerd"]
NO_DOCKER = ["--set", "runtimes.docker.enabled=false"]


@pytest.mark.parametrize("layout,values,want", [
    ("docker", [], {"docker"}),
    ("containerd", [], {"containerd"}),
    ("k3s", K3S_VALUES, {"containerd"}),
    ("containerd", NO_DOCKER, {"containerd"}),
    ("k3s", K3S_VALUES + NO_DOCKER, {"containerd"}),
    ("docker", NO_DOCKER, set()),
    ("cri-o", [], {"cri-o"}),
    ("cri-o", NO_DOCKER, {"cri-o"}),
], ids=["docker", "containerd", "k3s", "containerd-without-docker", "k3s-without-docker", "docker-without-docker",
        "cri-o", "cri-o-without-docker"])
def test_chart_pod_starts_and_watches_the_runtimes_of_the_node(layout, values, want):
    ds = by_kind(helm_template(CHART, *values))["DaemonSet"]
    watched, _ = watched_on(ds, NODE_LAYOUTS[layout])
    assert watched == want


def test_without_docker_only_the_other_runtimes_directories_are_mounted():
    pod = by_kind(helm_template(CHART, *NO_DOCKER))["DaemonSet"]["spec"]["template"]["spec"]
    host = {v["name"]: v["hostPath"] for v in pod["volumes"] if "hostPath" in v}
    assert sorted((h["path"], h["type"]) for h in host.values()) == [
        ("/proc", "Directory"), ("/run/containerd", "DirectoryOrCreate"), ("/run/crio", "DirectoryOrCreate"),
        ("/run/podman", "DirectoryOrCreate")]
    for m in pod["containers"][0]["volumeMounts"]:
        if m["name"] in host and host[m["name"]]["path"] != "/proc":
            assert m["mountPath"] == "/host" + host[m["name"]]["path"]
            assert m["readOnly"] is True and m["mountPropagation"] == "HostToContainer"
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(by_kind(helm_template(CHART, *NO_DOCKER))["DaemonSet"], version, strict=True)


def test_packaged_chart_carries_the_rules_and_renders_the_same(tmp_path, all_on):
    # `helm package` stores the linked rules file itself: the chart works away from the repo.
    run(["helm", "package", str(CHART), "-d", str(tmp_path)])
    (tgz,) = tmp_path.glob("mountleak-exporter-*.tgz")
    assert by_kind(helm_template(tgz, *ALL_ON)) == all_on
