//! The shipped alert rules (deploy/prometheus/) checked and unit-tested by promtool, plus
//! what promtool does not check: naming, severities, annotations, and that every alert has
//! a firing case in rules_test.yml.

mod common;

use common::promql::*;
use serde_yaml::Value;
use std::collections::BTreeSet;

const RULES: &str = "deploy/prometheus/rules.yml";
const RULES_TEST: &str = "deploy/prometheus/rules_test.yml";
const CONFIG: &str = "deploy/prometheus/prometheus.yml";

/// `promtool ARGS` where the rule files are.
fn promtool(args: &[&str]) -> String {
    common::promtool(args, &repo_path("deploy/prometheus"))
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
            ".Labels.mountpoint",
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
            desc.contains(".Labels.kind") || expr.contains("kind=\""),
            "{name}: description does not say which kind of mount"
        );
        assert!(
            !desc.contains("Release (") || desc.contains("--container"),
            "{name}: the release does not select the alert's container"
        );
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

/// The labels of each input series of a rules_test.yml test group (`metric{k="v",...}`,
/// PromQL string escapes undone).
fn input_series(group: &Value) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut out = Vec::new();
    for input in group["input_series"].as_sequence().into_iter().flatten() {
        let series = s(input, "series");
        let (name, rest) = series.split_once('{').unwrap_or((series, "}"));
        let mut labels = std::collections::BTreeMap::from([("__name__".into(), name.into())]);
        let mut chars = rest.chars().peekable();
        loop {
            let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
            let key = key.trim_start_matches(',').trim().to_string();
            if key.is_empty() || key == "}" {
                break;
            }
            assert_eq!(chars.next(), Some('"'), "{series}");
            let mut value = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.push(chars.next().expect("escape")),
                    c => value.push(c),
                }
            }
            labels.insert(key, value);
        }
        out.push(labels);
    }
    out
}

/// The distinct mount points of the leak series an alert groups: the input series that
/// agree with every label the alert kept (a label it lacks: empty for unit and container).
fn grouped_mounts(group: &Value, alert_labels: &Value) -> Vec<String> {
    let mut mounts = BTreeSet::new();
    for series in input_series(group) {
        if series["__name__"] != "mountleak_leak_first_seen_timestamp_seconds" {
            continue;
        }
        let agrees = [
            "job",
            "instance",
            "unit",
            "container_id",
            "status",
            "kind",
            "container_state",
        ]
        .iter()
        .all(|&l| {
            let have = series.get(l).map_or("", String::as_str);
            match alert_labels.get(l).and_then(Value::as_str) {
                Some(want) => have == want,
                None => !["unit", "container_id"].contains(&l) || have.is_empty(),
            }
        });
        if agrees {
            mounts.insert(series["mountpoint"].clone());
        }
    }
    mounts.into_iter().collect()
}

/// Issue 12: every Fix line an alert prints (as promtool rendered it in rules_test.yml, the
/// hostile names of its last group included) runs exactly the one command it names when
/// pasted into a root shell, with the label values as its arguments, byte for byte.
/// The release an alert offers before its fix runs one `mountleak_exporter release`
/// selecting the alert's group: the container by its id, else its one mount by the real
/// path, else the holder's namespace; whatever the labels hold, in bash and (without
/// `$'...'`) in sh. A stale group's is carried out (`--yes`); an at-risk group's is a dry
/// run that includes at-risk copies (the holder may still use them).
fn check_release_line(description: &str, labels: &Value, mounts: &[String]) {
    use common::paste::{paste, path_bytes};
    let release = description
        .split_once(" Release")
        .and_then(|(_, r)| r.split_once("): "))
        .and_then(|(_, r)| r.split_once(" Or restart"))
        .map(|(r, _)| r)
        .unwrap_or_else(|| panic!("no release before the fix in: {description}"));
    let last = match s(labels, "status") {
        "at_risk" => "--include-at-risk",
        _ => "--yes",
    };
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
        assert_eq!(words.last().unwrap(), last, "`{release}`");
        let container = s(labels, "container_id");
        let exact = shell == "bash" || !release.contains("$'");
        match words[4].as_str() {
            "--container" => assert_eq!(words[5], container, "{shell}: `{release}`"),
            "--mount" => {
                assert!(container.is_empty() && mounts.len() == 1, "`{release}`");
                if exact {
                    assert_eq!(
                        String::from_utf8_lossy(&call[5]),
                        String::from_utf8_lossy(&path_bytes(&mounts[0])),
                        "{shell}: `{release}`"
                    );
                }
            }
            _ => assert!(
                container.is_empty() && mounts.len() > 1,
                "`{release}` selects neither the container nor the one mount"
            ),
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
                let labels = &alert["exp_labels"];
                let mounts = grouped_mounts(t, labels);
                assert!(!mounts.is_empty(), "no input series for {labels:?}");
                check_release_line(description, labels, &mounts);
                let fix = fix.lines().next().unwrap();
                for shell in ["bash", "sh"] {
                    let (calls, other) = paste(fix, shell);
                    assert!(other.is_empty(), "{shell} ran more than `{fix}`: {other}");
                    assert_eq!(calls.len(), 1, "{shell}: `{fix}` made {calls:?}");
                    let call = &calls[0];
                    // dash reads bash's $'...' as `$` and a quoted word: a wrong path, one
                    // argument, nothing run (checked above).
                    if shell == "sh" && fix.contains("$'") {
                        continue;
                    }
                    let args: Vec<String> = call
                        .iter()
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect();
                    match call[0].as_slice() {
                        // Every mount of the group, unmounted in the holder's namespace.
                        b"nsenter" => {
                            let want: Vec<String> = mounts
                                .iter()
                                .map(|m| String::from_utf8_lossy(&path_bytes(m)).into_owned())
                                .collect();
                            assert_eq!(args[1..6], ["-t", args[2].as_str(), "-m", "umount", "-l"]);
                            assert_eq!(args[6..], want, "{shell}: `{fix}`");
                        }
                        b"systemctl" => {
                            assert_eq!(args.last().unwrap(), s(labels, "unit"), "{shell}: `{fix}`")
                        }
                        _ => {}
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

/// Issue 18: a unit holding 500 mounts (250 of each of two containers) raises one
/// MountleakStaleLeak per container, not 500, saying how many and naming the oldest five;
/// promtool evaluates the shipped rules against the 500 series.
#[test]
fn a_unit_holding_500_mounts_raises_one_alert_per_container() {
    let dir = tempfile::tempdir().unwrap();
    let mut series = String::new();
    let mut expected = String::new();
    for (name, digit) in [("app-a", 'a'), ("app-b", 'b')] {
        let id: String = std::iter::repeat_n(digit, 64).collect();
        let mount = |i: usize| format!("/var/lib/docker/containers/{id}/mounts/m{i:03}");
        for i in 0..250 {
            series.push_str(&format!(
                "      - series: 'mountleak_leak_first_seen_timestamp_seconds{{job=\"mountleak\",\
                 instance=\"web1:39101\",unit=\"kubelet.service\",pid=\"900\",comm=\"kubelet\",\
                 runtime=\"docker\",container_id=\"{id}\",container_name=\"{name}\",\
                 container_state=\"exited\",kind=\"shm\",status=\"stale\",mountpoint=\"{}\"}}'\n\
                 \x20       values: '{}x20'\n",
                mount(i),
                1_764_379_000 + i
            ));
        }
        let oldest: Vec<String> = (0..5).map(|i| format!("{} (shm)", mount(i))).collect();
        let description = format!(
            "On web1:39101, kubelet.service (pid 900, kubelet) holds stale copies of 250 mounts \
             of container {name} (exited, id {}), first seen 2025-11-29 01:16:40 +0000 UTC \
             (the 5 oldest): {}. The docker runtime has unmounted them; these private copies \
             keep them alive (and make removing the container fail with \"device or resource \
             busy\" on kernels before 3.18). Release (the holder keeps running): \
             mountleak_exporter release --holder 900 --container {id} --yes Or restart. Fix: \
             systemctl restart kubelet.service",
            &id[..12],
            oldest.join(", ")
        );
        expected.push_str(&format!(
            "          - exp_labels: {{severity: warning, job: mountleak, instance: \"web1:39101\", \
             runtime: docker, unit: kubelet.service, container_id: \"{id}\", \
             container_name: {name}, status: stale}}\n\
             \x20           exp_annotations:\n\
             \x20             summary: kubelet.service pins stale mounts of container {name}\n\
             \x20             description: {}\n\
             \x20             runbook_url: {}\n",
            serde_json::to_string(&description).unwrap(),
            "https://github.com/mountleak/mountleak_exporter/blob/main/docs/runbook.md#mountleakstaleleak"
        ));
    }
    let test = format!(
        "rule_files: [{}]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n\
         {series}    alert_rule_test:\n      - eval_time: 16m\n        alertname: MountleakStaleLeak\n\
         \x20       exp_alerts:\n{expected}",
        repo_path(RULES).display()
    );
    let path = dir.path().join("many_test.yml");
    std::fs::write(&path, test).unwrap();
    let out = promtool(&["test", "rules", path.to_str().unwrap()]);
    assert!(out.contains("SUCCESS"), "{out}");
}
