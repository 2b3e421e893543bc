//! The monitoring mixin (mixin/): the rules, PrometheusRule and dashboard the repository
//! ships are exactly its rendering with the default config (regenerate with
//! mixin/generate.sh), and its config reaches every rule and panel as a user vendoring it
//! would set it. Real `jsonnet` (Debian's package) and `promtool`.

mod common;

use common::promql::*;
use common::require_tool;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const SHIPPED: &[&str] = &[
    "deploy/prometheus/rules.yml",
    "deploy/kubernetes/prometheusrule.yaml",
    "dashboards/mountleak.json",
];

fn jsonnet(args: &[&str]) -> String {
    require_tool("jsonnet");
    let out = Command::new("jsonnet")
        .args(args)
        .current_dir(repo_path("."))
        .output()
        .expect("run jsonnet");
    assert!(
        out.status.success(),
        "jsonnet {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_shipped_rules_and_dashboard_are_the_mixins_rendering() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    for file in SHIPPED {
        std::fs::create_dir_all(dir.path().join(file).parent().unwrap()).unwrap();
    }
    let written = jsonnet(&["-S", "-m", out, "mixin/generate.jsonnet"]);
    let mut written: Vec<&str> = written.lines().collect();
    written.sort_unstable();
    let mut want: Vec<String> = SHIPPED.iter().map(|f| format!("{out}/{f}")).collect();
    want.sort_unstable();
    assert_eq!(
        written, want,
        "mixin/generate.jsonnet writes another set of files"
    );
    for file in SHIPPED {
        let rendered = std::fs::read_to_string(Path::new(out).join(file)).unwrap();
        assert!(
            rendered == read_repo_file(file),
            "{file} differs from the mixin's rendering: edit mixin/ and run mixin/generate.sh"
        );
    }
}

/// The rule files read like hand-written ones for users who take them without jsonnet: keys
/// in Prometheus's order, the expressions as literal blocks, the long templates as folded
/// blocks of short lines, nothing quoted that need not be.
#[test]
fn the_rendered_rule_files_are_readable_yaml() {
    for file in [
        "deploy/prometheus/rules.yml",
        "deploy/kubernetes/prometheusrule.yaml",
    ] {
        let text = read_repo_file(file);
        let long: Vec<&str> = text
            .lines()
            .filter(|l| l.len() > 120 && !l.trim_start().starts_with("runbook_url: https://"))
            .collect();
        assert!(
            long.is_empty(),
            "{file}: lines over 120 characters: {long:#?}"
        );
        for want in [
            "- alert: MountleakStaleLeak\n",
            "expr: |\n",
            "for: 15m\n",
            "description: >-\n",
        ] {
            assert!(text.contains(want), "{file} lacks {want:?}");
        }
        let alert = text.find("- alert: MountleakStaleLeak").unwrap();
        let order: Vec<usize> = ["expr:", "for:", "labels:", "annotations:"]
            .iter()
            .map(|k| alert + text[alert..].find(k).unwrap())
            .collect();
        assert!(order.is_sorted(), "{file}: keys out of Prometheus's order");
    }
}

/// A user's config, as they would write it around the vendored mixin.
const CUSTOM: &str = "(import 'mixin/mixin.libsonnet') + { _config+:: {
    exporterSelector: 'job=\"node-agents\"',
    metricSelector: 'cluster=\"prod\"',
    staleLeakFor: '30m',
    exporterDownFor: '1h',
    leakMountsListed: 3,
    leakDetailLabels: ['pid', 'comm', 'container_state', 'kind', 'mountpoint', 'runtime'],
    runbookURLPattern: 'https://wiki.example/mountleak#%s',
    clusterLabel: 'k8s_cluster',
    dashboardUid: 'leaks-prod',
} }";

#[test]
fn the_mixins_config_reaches_every_rule_and_panel() {
    // The mixin's fields are hidden (`::`), as jsonnet-bundler users expect: name them.
    let program = format!(
        "local m = {CUSTOM}; {{ prometheusAlerts: m.prometheusAlerts, grafanaDashboards: m.grafanaDashboards }}"
    );
    let mixin: Value =
        serde_json::from_str(&jsonnet(&["-e", &program])).expect("the mixin renders to JSON");
    let rules = &mixin["prometheusAlerts"];
    let alerts: Vec<&Value> = rules["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let by_name = |n: &str| *alerts.iter().find(|a| a["alert"] == n).unwrap();
    for a in &alerts {
        let name = a["alert"].as_str().unwrap();
        let expr = a["expr"].as_str().unwrap();
        for sel in selectors(expr).unwrap() {
            if sel.name == "up" {
                assert!(sel.has_matcher("job", "=", "node-agents"), "{name}: {expr}");
            } else {
                assert!(sel.has_matcher("cluster", "=", "prod"), "{name}: {expr}");
            }
        }
        assert_eq!(
            a["annotations"]["runbook_url"],
            format!("https://wiki.example/mountleak#{}", name.to_lowercase()),
        );
    }
    let stale = by_name("MountleakStaleLeak");
    assert_eq!(stale["for"], "30m");
    let expr = stale["expr"].as_str().unwrap();
    assert!(
        expr.contains("min without (pid, comm, container_state, kind, mountpoint, runtime)"),
        "{expr}"
    );
    let description = stale["annotations"]["description"].as_str().unwrap();
    for want in ["bottomk(3,", "(the 3 oldest)", r#"cluster=\"prod\""#] {
        assert!(
            description.contains(want),
            "description lacks {want}: {description}"
        );
    }
    let down = by_name("MountleakExporterDown");
    assert!(
        down["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("for 1 hour."),
        "{down}"
    );

    // The rendering is a rule file Prometheus loads (templates included).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yml");
    std::fs::write(&file, serde_yaml::to_string(rules).unwrap()).unwrap();
    common::promtool(&["check", "rules", "rules.yml"], dir.path());

    // Every dashboard query reads the configured cluster label, and none the default's.
    let dashboard = &mixin["grafanaDashboards"]["mountleak.json"];
    assert_eq!(dashboard["uid"], "leaks-prod");
    let text = dashboard.to_string();
    let queries: Vec<&str> = text
        .split("\"expr\":\"")
        .skip(1)
        .chain(text.split("\"query\":\"label_values").skip(1))
        .map(|q| q.split("\",").next().unwrap())
        .collect();
    assert!(queries.len() > 20, "{} queries", queries.len());
    for q in queries {
        assert!(
            q.contains("k8s_cluster") && !q.replace("k8s_cluster", "").contains("cluster="),
            "a query ignores the configured cluster label: {q}"
        );
    }
}

/// The mixin's sources are formatted as `jsonnetfmt` formats them (jsonnet's own linter).
#[test]
fn the_mixin_is_jsonnetfmt_clean() {
    require_tool("jsonnetfmt");
    let mut files = vec!["mixin/generate.jsonnet".to_string()];
    for dir in ["mixin", "mixin/alerts", "mixin/dashboards", "mixin/lib"] {
        for entry in std::fs::read_dir(repo_path(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".libsonnet") {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        let out = Command::new("jsonnetfmt")
            .args(["--test", &file])
            .current_dir(repo_path("."))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file} is not jsonnetfmt-formatted (jsonnetfmt -i {file}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
