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
        "mountleak_runtime_up == 0",
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
            "$labels.runtime",
            "systemctl restart",
            "nsenter -t",
            // A holder that is itself a container: each engine's own command.
            "docker restart",
            "podman restart",
            "crictl stop",
        ] {
            assert!(desc.contains(want), "{name}: description lacks {want}");
        }
        assert!(
            desc.contains(".Labels.container_state") || expr.contains("container_state=\""),
            "{name}: description does not say the container's state"
        );
    }
}

/// Docker is one runtime of several: no alert text speaks of it as if it were the only one.
/// Runtime-specific words appear only where the runtime label chose them.
#[test]
fn alert_texts_are_runtime_neutral() {
    for a in alerts() {
        let name = s(&a, "alert");
        for key in ["summary", "description"] {
            let text = s(&a["annotations"], key);
            assert!(
                !text.contains("Docker"),
                "{name}: {key} says \"Docker\" where any runtime applies:\n{text}"
            );
            // `docker`, `podman`, ... only inside an `if` (on the runtime label, or on the
            // unit's name: a holder container's scope), never as plain text at the top level.
            let mut depth = 0usize;
            let mut rest = text;
            loop {
                let (plain, action) = match rest.split_once("{{") {
                    Some((plain, after)) => {
                        let (action, after) = after
                            .split_once("}}")
                            .unwrap_or_else(|| panic!("{name}: unclosed {{{{ in {key}"));
                        rest = after;
                        (
                            plain,
                            Some(action.trim_matches(|c: char| c == '-' || c == ' ')),
                        )
                    }
                    None => (rest, None),
                };
                if depth == 0 {
                    for word in [
                        "docker",
                        "podman",
                        "containerd",
                        "cri-o",
                        "crio",
                        "crictl",
                        "ctr ",
                    ] {
                        assert!(
                            !plain.contains(word),
                            "{name}: {key} names {word:?} outside any condition: {plain:?}"
                        );
                    }
                }
                let Some(action) = action else { break };
                let first = action.split_whitespace().next().unwrap_or("");
                match first {
                    "if" | "range" | "with" => depth += 1,
                    "end" => depth = depth.checked_sub(1).expect("unbalanced end"),
                    _ => {}
                }
            }
            assert_eq!(depth, 0, "{name}: unbalanced if/end in {key}");
        }
    }
}

/// The runtime alert says which runtime and which of the exporter's flags points at it.
#[test]
fn runtime_alert_names_the_runtime_and_its_flag() {
    let a = alerts()
        .into_iter()
        .find(|a| s(a, "expr").contains("mountleak_runtime_up"))
        .expect("an alert on mountleak_runtime_up");
    assert!(
        s(&a["annotations"], "summary").contains("$labels.runtime"),
        "summary does not name the runtime"
    );
    let desc = s(&a["annotations"], "description");
    for want in [
        "$labels.runtime",
        "--docker.host",
        "--podman.host",
        "--containerd.address",
        "--cri-o.address",
        "--runtime.{{ $labels.runtime }}=false",
    ] {
        assert!(desc.contains(want), "description lacks {want}");
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

/// Issue 12: every Fix line an alert prints (as promtool rendered it in rules_test.yml, the
/// hostile names of its last group included) runs exactly the one command it names when
/// pasted into a root shell, with the label values as its arguments, byte for byte.
/// The release an alert offers before its fix runs one `mountleak_exporter release` naming
/// the mount's real path, whatever the label holds, in bash and (without `$'...'`) in sh.
fn check_release_line(description: &str, labels: &Value) {
    use common::paste::{paste, path_bytes};
    let release = description
        .split_once("Release (the holder keeps running): ")
        .and_then(|(_, r)| r.split_once(" Or restart. Fix: "))
        .map(|(r, _)| r)
        .unwrap_or_else(|| panic!("no release before the fix in: {description}"));
    for shell in ["bash", "sh"] {
        let (calls, other) = paste(release, shell);
        assert!(
            other.is_empty(),
            "{shell} ran more than `{release}`: {other}"
        );
        assert_eq!(calls.len(), 1, "{shell}: `{release}` made {calls:?}");
        let call = &calls[0];
        let words: Vec<String> = call
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        assert_eq!(
            words[..3],
            ["mountleak_exporter", "release", "--holder"],
            "`{release}`"
        );
        assert_eq!(words[4], "--mount", "`{release}`");
        assert_eq!(words.last().unwrap(), "--yes", "`{release}`");
        if shell == "bash" || !release.contains("$'") {
            assert_eq!(
                String::from_utf8_lossy(&call[5]),
                String::from_utf8_lossy(&path_bytes(s(labels, "mountpoint"))),
                "{shell}: `{release}`"
            );
        }
    }
}

#[test]
fn every_printed_fix_runs_one_command_with_the_labels_as_arguments() {
    use common::paste::{paste, path_bytes};
    let tests = yaml(RULES_TEST);
    let mut checked = 0;
    for t in tests["tests"].as_sequence().unwrap() {
        for case in t["alert_rule_test"].as_sequence().unwrap() {
            for alert in case["exp_alerts"].as_sequence().into_iter().flatten() {
                let description = s(&alert["exp_annotations"], "description");
                let Some((_, fix)) = description.rsplit_once("Fix: ") else {
                    continue;
                };
                check_release_line(description, &alert["exp_labels"]);
                let fix = fix.lines().next().unwrap();
                let labels = &alert["exp_labels"];
                for shell in ["bash", "sh"] {
                    let (calls, other) = paste(fix, shell);
                    assert!(other.is_empty(), "{shell} ran more than `{fix}`: {other}");
                    assert_eq!(calls.len(), 1, "{shell}: `{fix}` made {calls:?}");
                    let call = &calls[0];
                    let last = call.last().unwrap();
                    let want: Vec<u8> = match call[0].as_slice() {
                        b"nsenter" => path_bytes(s(labels, "mountpoint")),
                        b"systemctl" => s(labels, "unit").as_bytes().to_vec(),
                        _ => continue,
                    };
                    // dash reads bash's $'...' as `$` and a quoted word: a wrong path, one
                    // argument, nothing run (checked above).
                    if shell == "bash" || !fix.contains("$'") {
                        assert_eq!(
                            String::from_utf8_lossy(last),
                            String::from_utf8_lossy(&want),
                            "{shell}: `{fix}`"
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 10,
        "only {checked} Fix lines found in {RULES_TEST}"
    );
}
