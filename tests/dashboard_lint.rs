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
        let url = url.trim().trim_matches('"');
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

// ---------------------------------------------------------------------------------------
// Grafana's dashboard-linter (github.com/grafana/dashboard-linter, lint/rule_*.go), the rules
// that need no server, checked here since its Go binary is not packaged anywhere reachable:
// template-datasource-rule, template-job-rule, template-instance-rule,
// template-label-promql-rule, panel-units-rule, target-counter-agg-rule,
// target-rate-interval-rule. panel-title-description-rule, panel-datasource-rule and
// target-job/instance-rule are the tests above.

fn variable(d: &Value, name: &str) -> Value {
    d["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no `{name}` variable"))
        .clone()
}

/// template-job-rule / template-instance-rule: a Prometheus query on `$datasource`,
/// labelled with the capitalised name, multi-select, `allValue` `.+`.
fn linter_template_problems(v: &Value) -> Vec<String> {
    let name = v["name"].as_str().unwrap_or("");
    let mut label = name.to_string();
    label[..1].make_ascii_uppercase();
    let mut problems = Vec::new();
    if datasource_uid(v) != Some(DS) {
        problems.push(format!("{name}: datasource is not {DS}"));
    }
    if v["type"] != "query" {
        problems.push(format!("{name}: not a query variable"));
    }
    if v["label"] != label.as_str() {
        problems.push(format!("{name}: label is not {label:?}"));
    }
    if v["multi"] != true {
        problems.push(format!("{name}: not multi-select"));
    }
    if v["allValue"] != ".+" {
        problems.push(format!("{name}: allValue is not \".+\""));
    }
    problems
}

#[test]
fn dashboard_linter_template_rules() {
    let d = dashboard();
    let ds = variable(&d, "datasource");
    assert_eq!(
        (&ds["type"], &ds["label"]),
        (&Value::from("datasource"), &Value::from("Data source")),
        "template-datasource-rule"
    );
    for name in ["job", "instance"] {
        let v = variable(&d, name);
        assert_eq!(linter_template_problems(&v), Vec::<String>::new());
        assert_eq!(v["includeAll"], true, "{name}: All selectable");
    }
    // The rule itself: the single-select job this dashboard used to have fails it.
    let mut old = variable(&d, "job");
    old["multi"] = false.into();
    old.as_object_mut().unwrap().remove("allValue");
    assert_eq!(linter_template_problems(&old).len(), 2);
}

/// template-label-promql-rule: every query variable is one of Grafana's Prometheus variable
/// functions, around a selector that parses.
#[test]
fn dashboard_linter_template_label_promql_rule() {
    let d = dashboard();
    let mut n = 0;
    for v in d["templating"]["list"].as_array().unwrap() {
        if v["type"] != "query" {
            continue;
        }
        let q = v["query"].as_str().unwrap_or("");
        let (func, arg) = q
            .strip_suffix(')')
            .and_then(|q| q.split_once('('))
            .unwrap_or_else(|| panic!("{}: {q:?} is not func(...)", v["name"]));
        assert!(
            ["label_names", "label_values", "metrics", "query_result"].contains(&func),
            "{}: {func} is not a Grafana variable function",
            v["name"]
        );
        let series = match func {
            "label_values" => arg.rsplit_once(',').map_or(arg, |(s, _)| s),
            _ => arg,
        };
        let sels = selectors(series).unwrap_or_else(|e| panic!("{}: {e}", v["name"]));
        assert!(!sels.is_empty(), "{}: no selector in {q}", v["name"]);
        n += 1;
    }
    assert!(
        n >= 4,
        "the query variables: cluster, job, instance, runtime"
    );
}

/// Units Grafana knows (grafana/packages/grafana-data/src/valueFormats/categories.ts, the list
/// panel-units-rule checks against), those a dashboard like this one may use. A unit outside
/// it is shown raw: add it here only after checking it in that file.
const GRAFANA_UNITS: &[&str] = &[
    "none",
    "string",
    "short",
    "percent",
    "percentunit",
    "bytes",
    "decbytes",
    "ns",
    "µs",
    "ms",
    "s",
    "m",
    "h",
    "d",
    "dtdurationms",
    "dtdurations",
    "dateTimeAsIso",
    "dateTimeFromNow",
    "ops",
    "cps",
    "bool",
    "bool_yes_no",
    "bool_on_off",
];

#[test]
fn dashboard_linter_panel_units_rule() {
    for p in panels(&dashboard()) {
        if p["type"] == "row" {
            continue;
        }
        let unit = p["fieldConfig"]["defaults"]["unit"].as_str().unwrap_or("");
        assert!(
            GRAFANA_UNITS.contains(&unit),
            "{}: unit {unit:?} is not a Grafana unit id",
            title(&p)
        );
        for o in p["fieldConfig"]["overrides"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for prop in o["properties"].as_array().into_iter().flatten() {
                if prop["id"] == "unit" {
                    let unit = prop["value"].as_str().unwrap_or("");
                    assert!(
                        GRAFANA_UNITS.contains(&unit),
                        "{}: override unit {unit:?}",
                        title(&p)
                    );
                }
            }
        }
    }
}

/// Each range selector `f(name{...}[range])`: (f, name, range); f is empty for a subquery or
/// a bare range. Enough for this dashboard's expressions: it reads back from each `[`.
fn range_selectors(expr: &str) -> Vec<(String, String, String)> {
    let b: Vec<char> = expr.chars().collect();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    for (open, _) in b.iter().enumerate().filter(|(_, c)| **c == '[') {
        let Some(len) = b[open..].iter().position(|c| *c == ']') else {
            continue;
        };
        let range: String = b[open + 1..open + len].iter().collect();
        let mut i = open;
        while i > 0 && b[i - 1].is_whitespace() {
            i -= 1;
        }
        if i > 0 && b[i - 1] == '}' {
            while i > 0 && b[i - 1] != '{' {
                i -= 1;
            }
            i = i.saturating_sub(1);
        }
        let end = i;
        while i > 0 && ident(b[i - 1]) {
            i -= 1;
        }
        let name: String = b[i..end].iter().collect();
        while i > 0 && b[i - 1].is_whitespace() {
            i -= 1;
        }
        let mut func = String::new();
        if i > 0 && b[i - 1] == '(' {
            let close = i - 1;
            let mut j = close;
            while j > 0 && ident(b[j - 1]) {
                j -= 1;
            }
            func = b[j..close].iter().collect();
        }
        out.push((func, name, range));
    }
    out
}

/// target-counter-agg-rule and target-rate-interval-rule for one expression.
fn linter_target_problems(expr: &str) -> Vec<String> {
    let ranges = range_selectors(expr);
    let mut problems = Vec::new();
    for sel in selectors(expr).unwrap_or_default() {
        let aggregated = ranges
            .iter()
            .any(|(f, n, _)| *n == sel.name && ["rate", "irate", "increase"].contains(&f.as_str()));
        if sel.name.ends_with("_total") && !aggregated {
            problems.push(format!("counter {} without rate/irate/increase", sel.name));
        }
    }
    for (f, n, range) in &ranges {
        if (f == "rate" || f == "irate") && range != "$__rate_interval" {
            problems.push(format!("{f}({n}[{range}]) should use $__rate_interval"));
        }
    }
    problems
}

#[test]
fn dashboard_linter_counter_and_rate_interval_rules() {
    for p in panels(&dashboard()) {
        for target in p["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or("");
            assert_eq!(
                linter_target_problems(expr),
                Vec::<String>::new(),
                "{}: {expr}",
                title(&p)
            );
        }
    }
    // The rules themselves.
    assert_eq!(
        linter_target_problems(r#"sum(a_total{job=~"$job"})"#).len(),
        1
    );
    assert_eq!(
        linter_target_problems("rate(a_total{x=\"]\"}[5m])").len(),
        1
    );
    assert!(linter_target_problems("sum(rate(a_total{j=\"x\"}[$__rate_interval]))").is_empty());
    assert!(linter_target_problems("increase(a_total[1h])").is_empty());
    assert!(linter_target_problems("max_over_time(b[5m])").is_empty());
    assert_eq!(
        range_selectors("rate(a{b=\"c\"}[$__rate_interval]) + max_over_time(x [1h])"),
        [
            ("rate".into(), "a".into(), "$__rate_interval".into()),
            ("max_over_time".into(), "x".into(), "1h".into())
        ]
    );
}

/// A `cluster` variable for Prometheus setups that add the label (external_labels, or
/// relabeling on a central Prometheus); its All is `.*`, which also matches series without
/// it, so a single-cluster setup sees everything. Every selector and the other variables'
/// choices follow it.
#[test]
fn a_cluster_variable_filters_every_query() {
    let d = dashboard();
    let v = variable(&d, "cluster");
    assert_eq!(v["type"], "query");
    assert_eq!(datasource_uid(&v), Some(DS));
    assert_eq!(v["query"], "label_values(mountleak_build_info, cluster)");
    assert!(v["multi"] == true && v["includeAll"] == true && v["allValue"] == ".*");
    let names: Vec<String> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        names[..3],
        ["datasource", "cluster", "job"],
        "cluster comes first"
    );
    for name in ["job", "instance", "runtime"] {
        let q = variable(&d, name)["query"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(q.contains(r#"cluster=~"$cluster""#), "{name}: {q}");
    }
    for p in panels(&d) {
        for target in p["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or("");
            for sel in selectors(expr).unwrap() {
                assert!(
                    sel.has_matcher("cluster", "=~", "$cluster"),
                    "{}: {}{{{}}} is not filtered by cluster",
                    title(&p),
                    sel.name,
                    sel.matchers
                );
            }
        }
    }
}
