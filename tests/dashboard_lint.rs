//! Lints of dashboards/mountleak.json (and of the runbook links of the alert rules) that
//! need no server: what breaks an import or a provisioning, or shows a wrong panel.
//! tests/e2e_prometheus.rs runs every query against a real Prometheus.

mod common;

use common::promql::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const DASHBOARD: &str = "dashboards/mountleak.json";

fn dashboard() -> Value {
    serde_json::from_str(&read_repo_file(DASHBOARD))
        .unwrap_or_else(|e| panic!("{DASHBOARD} is not JSON: {e}"))
}

/// Panels, nested row panels included.
fn panels(d: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p.clone());
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner.iter().cloned());
        }
    }
    assert!(!out.is_empty(), "no panels");
    out
}

fn title(p: &Value) -> String {
    p["title"].as_str().unwrap_or("(untitled)").to_string()
}

const DS: &str = "${datasource}";

fn datasource_uid(v: &Value) -> Option<&str> {
    match &v["datasource"] {
        Value::Object(o) => o.get("uid").and_then(Value::as_str),
        Value::String(s) => Some(s.as_str()),
        _ => None,
    }
}

#[test]
fn panel_ids_are_unique() {
    let mut seen = BTreeSet::new();
    for p in panels(&dashboard()) {
        let id = p["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("{}: no numeric id", title(&p)));
        assert!(
            seen.insert(id),
            "panel id {id} is used twice ({})",
            title(&p)
        );
    }
}

#[test]
fn grid_positions_fit_and_do_not_overlap() {
    let mut boxes: Vec<(String, [u64; 4])> = Vec::new();
    for p in panels(&dashboard()) {
        let g = &p["gridPos"];
        let get = |k: &str| {
            g[k].as_u64()
                .unwrap_or_else(|| panic!("{}: gridPos.{k} missing", title(&p)))
        };
        let b = [get("x"), get("y"), get("w"), get("h")];
        assert!(
            b[2] > 0 && b[3] > 0 && b[0] + b[2] <= 24,
            "{}: gridPos {b:?} does not fit 24 columns",
            title(&p)
        );
        for (other, o) in &boxes {
            let apart = b[0] + b[2] <= o[0]
                || o[0] + o[2] <= b[0]
                || b[1] + b[3] <= o[1]
                || o[1] + o[3] <= b[1];
            assert!(apart, "{} {b:?} overlaps {other} {o:?}", title(&p));
        }
        boxes.push((title(&p), b));
    }
}

#[test]
fn every_panel_has_title_description_unit_and_datasource() {
    for p in panels(&dashboard()) {
        if p["type"] == "row" {
            continue;
        }
        let t = title(&p);
        assert!(
            p["title"].as_str().is_some_and(|s| !s.trim().is_empty()),
            "a panel without title: {p}"
        );
        assert!(
            p["description"]
                .as_str()
                .is_some_and(|s| s.trim().len() > 20),
            "{t}: no description"
        );
        assert!(
            p["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{t}: no fieldConfig.defaults.unit"
        );
        assert_eq!(datasource_uid(&p), Some(DS), "{t}: panel datasource");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{t}: no targets");
        let mut refs = BTreeSet::new();
        for target in targets {
            assert_eq!(datasource_uid(target), Some(DS), "{t}: target datasource");
            assert!(
                refs.insert(target["refId"].as_str().unwrap_or("").to_string()),
                "{t}: refIds must be unique"
            );
        }
    }
}

#[test]
fn datasource_job_and_instance_are_variables_without_inputs() {
    let d = dashboard();
    let text = read_repo_file(DASHBOARD);
    assert!(
        d.get("__inputs").is_none(),
        "__inputs breaks file provisioning"
    );
    assert!(
        !text.contains("${DS_"),
        "a ${{DS_...}} input reference is left"
    );
    let vars = d["templating"]["list"].as_array().expect("templating.list");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no `{name}` variable"))
    };
    let ds = var("datasource");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    for name in ["job", "instance"] {
        let v = var(name);
        assert_eq!(v["type"], "query", "{name}");
        assert_eq!(datasource_uid(v), Some(DS), "{name} variable's datasource");
        let q = v["query"]
            .as_str()
            .or_else(|| v["query"]["query"].as_str())
            .unwrap_or("");
        assert!(q.starts_with("label_values("), "{name}: {q}");
    }
    let instance_q = var("instance")["query"].as_str().unwrap_or("");
    assert!(
        instance_q.contains("$job"),
        "instance choices should follow the job"
    );
}

/// Every selector of every query is filtered by both variables, and names a metric the
/// exporter exports: renaming a metric in docs/interfaces.md fails here.
#[test]
fn every_query_selects_by_job_and_instance_and_names_exported_metrics() {
    let exported = exported_metrics();
    let mut used = BTreeSet::new();
    for p in panels(&dashboard()) {
        for target in p["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or("");
            assert!(!expr.is_empty(), "{}: a target without expr", title(&p));
            let sels = selectors(expr).unwrap_or_else(|e| panic!("{}: {e}", title(&p)));
            assert!(!sels.is_empty(), "{}: no metric in {expr}", title(&p));
            for sel in sels {
                assert!(
                    exported.contains(&sel.name),
                    "{}: {} is not an exported metric (docs/interfaces.md)",
                    title(&p),
                    sel.name
                );
                assert!(
                    sel.has_matcher("job", "=~", "$job")
                        && sel.has_matcher("instance", "=~", "$instance"),
                    "{}: {}{{{}}} is not filtered by job=~\"$job\" and instance=~\"$instance\"",
                    title(&p),
                    sel.name,
                    sel.matchers
                );
                used.insert(sel.name);
            }
        }
    }
    // The dashboard shows everything the exporter has to say.
    let unused: Vec<_> = exported.difference(&used).collect();
    assert!(unused.is_empty(), "metrics on no panel: {unused:?}");
}

/// The metrics of docs/interfaces.md's table that carry a `runtime` label.
fn metrics_with_runtime_label() -> BTreeSet<String> {
    let text = read_repo_file("docs/interfaces.md");
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if let [_, name, labels_cell, ..] = cells.as_slice()
            && let Some(name) = name.strip_prefix('`').and_then(|n| n.strip_suffix('`'))
            && name.starts_with("mountleak_")
        {
            labels.insert(name.to_string(), labels_cell.to_string());
        }
    }
    let with: BTreeSet<String> = labels
        .into_iter()
        .filter(|(_, l)| {
            l.trim_matches('`')
                .split(',')
                .any(|x| x.trim().trim_matches('`') == "runtime")
        })
        .map(|(n, _)| n)
        .collect();
    assert!(
        with.contains("mountleak_runtime_up") && with.contains("mountleak_container_leaked_mounts"),
        "could not read the runtime labels of docs/interfaces.md's metric table: {with:?}"
    );
    with
}

/// A `runtime` variable (all runtimes by default, a regex that also matches the empty label
/// of a mount whose runtime is unknown) filters every query of a metric that has the label,
/// so one runtime's leaks can be looked at on a host that runs several.
#[test]
fn a_runtime_variable_filters_every_query_that_can_be_filtered() {
    let d = dashboard();
    let vars = d["templating"]["list"].as_array().expect("templating.list");
    let names: Vec<&str> = vars.iter().filter_map(|v| v["name"].as_str()).collect();
    let v = vars
        .iter()
        .find(|v| v["name"] == "runtime")
        .expect("no `runtime` variable");
    assert_eq!(v["type"], "query");
    assert_eq!(datasource_uid(v), Some(DS), "runtime variable's datasource");
    let q = v["query"].as_str().unwrap_or("");
    let series = q
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(", runtime)"))
        .unwrap_or("");
    let sels = selectors(series).unwrap_or_default();
    assert!(
        sels.len() == 1
            && sels[0].name == "mountleak_runtime_up"
            && sels[0].has_matcher("job", "=~", "$job")
            && sels[0].has_matcher("instance", "=~", "$instance"),
        "runtime choices should be the enabled runtimes of the selected exporters: {q}"
    );
    assert!(
        v["multi"] == true && v["includeAll"] == true && v["allValue"] == ".*",
        "runtime: multi-value, All by default, All = .* (also matches runtime=\"\")"
    );
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(
        pos("instance") < pos("runtime"),
        "runtime follows instance: {names:?}"
    );

    let filtered = metrics_with_runtime_label();
    let mut seen = BTreeSet::new();
    for p in panels(&d) {
        for target in p["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or("");
            for sel in selectors(expr).unwrap() {
                if filtered.contains(&sel.name) {
                    assert!(
                        sel.has_matcher("runtime", "=~", "$runtime"),
                        "{}: {}{{{}}} is not filtered by runtime=~\"$runtime\"",
                        title(&p),
                        sel.name,
                        sel.matchers
                    );
                    seen.insert(sel.name);
                }
            }
        }
    }
    assert_eq!(
        seen, filtered,
        "metrics with a runtime label on the dashboard"
    );
}

#[test]
fn runbook_links_of_the_alert_rules_exist() {
    let anchors = markdown_anchors("docs/runbook.md");
    let rules = read_repo_file("deploy/prometheus/rules.yml");
    let prefix = "https://github.com/mountleak/mountleak_exporter/blob/main/docs/runbook.md#";
    let mut n = 0;
    for line in rules.lines() {
        let Some(url) = line.trim().strip_prefix("runbook_url:") else {
            continue;
        };
        let url = url.trim();
        let anchor = url
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("runbook_url {url} does not point into docs/runbook.md"));
        assert!(
            anchors.contains(anchor),
            "docs/runbook.md has no heading for #{anchor}"
        );
        n += 1;
    }
    let alerts = rules
        .lines()
        .filter(|l| l.trim().starts_with("- alert:"))
        .count();
    assert!(
        n == alerts && n > 0,
        "{alerts} alerts but {n} runbook_url lines"
    );
    // And each runbook section says how to confirm and how to fix.
    let runbook = read_repo_file("docs/runbook.md");
    for section in runbook.split("\n## ").skip(1) {
        let heading = section.lines().next().unwrap_or("");
        for part in [
            "**Meaning.**",
            "**Confirm.**",
            "**Before restarting.**",
            "**Fix.**",
        ] {
            assert!(section.contains(part), "runbook {heading}: no {part}");
        }
    }
}

#[test]
fn promql_lexer_finds_the_selectors() {
    let names =
        |e: &str| -> Vec<String> { selectors(e).unwrap().into_iter().map(|s| s.name).collect() };
    assert_eq!(
        names(r#"count(count by (instance, unit) (a_b{job=~"$job", x="}"})) or vector(0)"#),
        ["a_b"]
    );
    assert_eq!(
        names("max without (pid, comm) (a{s=\"stale\"}) > on (job) group_left (x) b offset 5m"),
        ["a", "b"]
    );
    assert_eq!(names("time() - c_seconds"), ["c_seconds"]);
    assert_eq!(
        names("rate(d_total[$__rate_interval]) * 1e3 > bool 2"),
        ["d_total"]
    );
    assert_eq!(names("up{job=\"mountleak\"} == 0"), ["up"]);
    assert!(selectors("{__name__=\"x\"}").is_err());
    assert!(selectors("sum(a{b=\"c\"").is_err());
    let s = &selectors(r#"a{job=~"$job" , instance=~"$instance"}"#).unwrap()[0];
    assert!(s.has_matcher("job", "=~", "$job"));
    assert!(s.has_matcher("instance", "=~", "$instance"));
    assert!(!s.has_matcher("instance", "=", "$instance"));
    assert_eq!(github_anchor("MountleakStaleLeak"), "mountleakstaleleak");
    assert_eq!(github_anchor(" Fix: the `unit`, now"), "fix-the-unit-now");
    assert!(exported_metrics().contains("mountleak_series_dropped"));
}
