//! The shipped alert rules (deploy/prometheus/) checked and unit-tested by promtool, plus
//! what promtool does not check: naming, severities, annotations, and that every alert has
//! a firing case in rules_test.yml.

mod common;

use common::promql::*;
use common::require_tool;
use serde_yaml::Value;
use std::collections::BTreeSet;
use std::process::Command;

const RULES: &str = "deploy/prometheus/rules.yml";
const RULES_TEST: &str = "deploy/prometheus/rules_test.yml";
const CONFIG: &str = "deploy/prometheus/prometheus.yml";

fn promtool(args: &[&str]) -> String {
    require_tool("promtool");
    let out = Command::new("promtool")
        .args(args)
        .current_dir(repo_path("deploy/prometheus"))
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool {} failed ({}):\n{text}",
        args.join(" "),
        out.status
    );
    text
}

fn file_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap()
}

fn yaml(rel: &str) -> Value {
    serde_yaml::from_str(&read_repo_file(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every alerting rule of rules.yml.
fn alerts() -> Vec<Value> {
    let doc = yaml(RULES);
    let mut out = Vec::new();
    for group in doc["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            assert!(
                rule.get("alert").is_some(),
                "rules.yml should hold alerting rules only: {rule:?}"
            );
            out.push(rule.clone());
        }
    }
    out
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

#[test]
fn promtool_checks_the_rules() {
    let out = promtool(&["check", "rules", file_name(RULES)]);
    let want = format!("SUCCESS: {} rules found", alerts().len());
    assert!(out.contains(&want), "expected {want:?}:\n{out}");
}

#[test]
fn promtool_unit_tests_pass() {
    let out = promtool(&["test", "rules", file_name(RULES_TEST)]);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn scrape_config_example_is_valid_and_loads_the_rules() {
    let out = promtool(&["check", "config", file_name(CONFIG)]);
    assert!(out.contains("SUCCESS: 1 rule files found"), "{out}");
    let config = yaml(CONFIG);
    let jobs = config["scrape_configs"].as_sequence().unwrap();
    let job = jobs
        .iter()
        .find(|j| s(j, "job_name") == "mountleak")
        .expect("a scrape job named mountleak (the exporter-health alerts select it)");
    let targets: Vec<&str> = job["static_configs"][0]["targets"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        !targets.is_empty() && targets.iter().all(|t| t.ends_with(":39101")),
        "targets should use the exporter's default port 39101: {targets:?}"
    );
}

#[test]
fn alerts_are_named_labelled_and_annotated() {
    let alerts = alerts();
    let mut names = BTreeSet::new();
    for a in &alerts {
        let name = s(a, "alert");
        assert!(
            name.starts_with("Mountleak")
                && name.chars().all(|c| c.is_ascii_alphanumeric())
                && name.chars().nth(9).is_some_and(|c| c.is_ascii_uppercase()),
            "{name}: alert names are CamelCase and start with Mountleak"
        );
        assert!(names.insert(name), "{name} defined twice");
        let severity = s(&a["labels"], "severity");
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        let ann = &a["annotations"];
        for key in ["summary", "description", "runbook_url"] {
            assert!(!s(ann, key).trim().is_empty(), "{name}: no {key}");
        }
        assert!(
            s(ann, "description").contains("{{"),
            "{name}: description is not templated"
        );
        assert!(
            s(a, "for").ends_with('m') || s(a, "for").ends_with('h'),
            "{name}: a `for:` of minutes or hours, so a blip does not page: {:?}",
            s(a, "for")
        );
    }
    // What the issue asks for, by expression.
    let by_expr = |needle: &str| alerts.iter().any(|a| s(a, "expr").contains(needle));
    for needle in [
        "status=\"stale\"",
        "status=\"at_risk\"",
        "container_state=\"removed\"",
        "up{job=~\"mountleak|mountleak-exporter\"} == 0",
        "mountleak_scan_success == 0",
        "mountleak_docker_up == 0",
    ] {
        assert!(by_expr(needle), "no alert whose expression has {needle}");
    }
}

/// The page names what to restart: the leak alerts' texts use every label that says so.
#[test]
fn leak_alert_descriptions_name_the_holder_and_the_container() {
    for a in alerts() {
        let expr = s(&a, "expr");
        if !expr.contains("mountleak_leak_first_seen_timestamp_seconds") {
            continue;
        }
        let name = s(&a, "alert");
        let desc = s(&a["annotations"], "description");
        for want in [
            "$labels.unit",
            ".Labels.pid",
            ".Labels.comm",
            "$labels.container_name",
            "$labels.kind",
            "$labels.mountpoint",
            "systemctl restart",
            "nsenter -t",
        ] {
            assert!(desc.contains(want), "{name}: description lacks {want}");
        }
        assert!(
            desc.contains(".Labels.container_state") || expr.contains("container_state=\""),
            "{name}: description does not say the container's state"
        );
    }
}

/// Metric names in the rules are ones the exporter exports (docs/interfaces.md) or
/// Prometheus's own `up`.
#[test]
fn rules_use_exported_metrics_only() {
    let exported = exported_metrics();
    for a in alerts() {
        let sels = selectors(s(&a, "expr")).unwrap();
        assert!(!sels.is_empty(), "{}: no selector", s(&a, "alert"));
        for sel in sels {
            assert!(
                exported.contains(&sel.name) || sel.name == "up",
                "{}: {} is not in docs/interfaces.md's metric table",
                s(&a, "alert"),
                sel.name
            );
        }
    }
}

/// Each alert has at least one unit test where it fires, and the leak alerts have one where
/// they must not.
#[test]
fn every_alert_has_a_firing_test_case() {
    let tests = yaml(RULES_TEST);
    let mut fired = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for t in tests["tests"].as_sequence().unwrap() {
        for case in t["alert_rule_test"].as_sequence().unwrap() {
            let name = s(case, "alertname").to_string();
            let n = case["exp_alerts"].as_sequence().map_or(0, Vec::len);
            if n > 0 {
                fired.insert(name);
            } else {
                silent.insert(name);
            }
        }
    }
    for a in alerts() {
        let name = s(&a, "alert");
        assert!(
            fired.contains(name),
            "rules_test.yml never sees {name} fire"
        );
        assert!(
            silent.contains(name),
            "rules_test.yml has no case where {name} must stay silent"
        );
    }
}

/// The README's Alerts table lists every alert with its shipped severity and runbook link.
#[test]
fn readme_lists_every_alert() {
    let readme = read_repo_file("README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Alerts\n"))
        .expect("README.md has no `## Alerts` section");
    for a in alerts() {
        let name = s(&a, "alert");
        let row = section
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("README's Alerts table has no row for {name}"));
        let severity = s(&a["labels"], "severity");
        assert!(
            row.contains(&format!("| {severity} |")),
            "README says another severity for {name}: {row}"
        );
        let anchor = format!("(docs/runbook.md#{})", github_anchor(name));
        assert!(
            row.contains(&anchor),
            "README row for {name} lacks {anchor}"
        );
    }
}
