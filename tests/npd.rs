//! node-problem-detector's custom plugin monitor running `mountleak_exporter scan` (issue 18,
//! part 5): deploy/node-problem-detector/mountleak-plugin-monitor.json passes the checks NPD
//! applies when it loads a config (node-problem-detector pkg/custompluginmonitor/types:
//! config.go `ApplyConfiguration` and `Validate`, types.go), and the real binary, run with the
//! rule's own arguments, keeps NPD's protocol: exit 0 OK, 1 problem, 2 unknown (types.go
//! `OK`/`NonOK`/`Unknown`), one line within `max_output_length`, well within the timeout even
//! when a runtime accepts connections and never answers.

mod common;

use common::*;
use serde_json::Value;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

fn config() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/node-problem-detector/mountleak-plugin-monitor.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("read the NPD config"))
        .expect("the NPD config is JSON")
}

/// Go's time.ParseDuration for what such configs use: a sequence of <number><unit>.
fn go_duration(s: &str) -> Result<Duration, String> {
    let mut total = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or(format!("no unit in {s}"))?;
        let (num, tail) = rest.split_at(n);
        let u = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(u);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("unknown unit {unit:?} in {s}")),
        };
        total += num.parse::<f64>().map_err(|e| format!("{s}: {e}"))? * scale;
        rest = next;
    }
    Ok(Duration::from_secs_f64(total))
}

/// The rule's settings, after NPD's defaults and checks.
struct Rule {
    args: Vec<String>,
    timeout: Duration,
    max_output: usize,
}

fn loaded() -> Rule {
    let c = config();
    assert_eq!(c["plugin"], "custom", "NPD supports only the custom plugin");
    assert!(c["source"].as_str().is_some_and(|s| !s.is_empty()));
    let global = &c["pluginConfig"];
    // Defaults of ApplyConfiguration: timeout 5s, invoke_interval 30s, max_output_length 80.
    let global_timeout = go_duration(global["timeout"].as_str().unwrap_or("5s")).unwrap();
    go_duration(global["invoke_interval"].as_str().unwrap_or("30s")).unwrap();
    let max_output = global["max_output_length"].as_u64().unwrap_or(80) as usize;
    let conditions: Vec<&str> = c["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["type"].as_str().unwrap())
        .collect();
    let rules = c["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 1, "one rule: the scan");
    let r = &rules[0];
    assert!(["temporary", "permanent"].contains(&r["type"].as_str().unwrap()));
    if r["type"] == "permanent" {
        // Validate: "Permanent problem ... does not have preset default condition."
        assert!(conditions.contains(&r["condition"].as_str().unwrap()));
    }
    let timeout = r["timeout"]
        .as_str()
        .map(|t| go_duration(t).unwrap())
        .unwrap_or(global_timeout);
    // Validate: "plugin timeout is greater than global timeout".
    assert!(
        timeout <= global_timeout,
        "{timeout:?} > {global_timeout:?}"
    );
    assert_eq!(
        r["path"], "/usr/local/bin/mountleak_exporter",
        "the documented install path"
    );
    let args: Vec<String> = r["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert!(args.iter().any(|a| a == "--output=oneline"), "{args:?}");
    assert!(max_output >= mountleak_exporter::report::ONELINE_MAX);
    Rule {
        args,
        timeout,
        max_output,
    }
}

/// The rule run as NPD runs it (plus `extra`): (exit code, stdout, elapsed).
fn run_rule(rule: &Rule, extra: &[String]) -> (i32, String, Duration) {
    let start = Instant::now();
    let out = exporter_command()
        .args(&rule.args)
        .args(extra)
        .output()
        .expect("run the exporter");
    let elapsed = start.elapsed();
    (
        out.status.code().expect("exited, not killed"),
        String::from_utf8(out.stdout).expect("UTF-8"),
        elapsed,
    )
}

fn assert_one_line(out: &str, max: usize) {
    let line = out
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("ends in a newline: {out:?}"));
    assert!(!line.contains('\n'), "one line: {out:?}");
    assert!(line.len() <= max, "{} bytes > {max}: {line}", line.len());
    assert!(
        line.bytes().all(|b| b == b' ' || b.is_ascii_graphic()),
        "printable ASCII: {line:?}"
    );
}

#[test]
fn a_hostile_holder_is_one_printable_line_within_npds_limit() {
    let rule = loaded();
    let app = Container::run(
        "npd-app",
        &["--ipc=shareable", "--network=none"],
        &["sleep", "1000000"],
    );
    // A unit name an attacker could give a delegated cgroup: long, with controls and quotes.
    let holder = Holder::spawn_in(
        &format!("x\u{1b}[2J\"$(id)`id`{}.service", "y".repeat(120)),
        "",
        Propagation::Private,
        1,
        &[],
    );
    let (code, out, elapsed) = run_rule(&rule, &docker_flags());
    assert_eq!(code, 1, "a leak is NPD's NonOK: {out}");
    assert_one_line(&out, rule.max_output);
    assert!(elapsed < rule.timeout, "{elapsed:?}");
    drop(holder);
    drop(app);
}

#[test]
fn a_runtime_that_never_answers_cannot_push_the_check_past_its_timeout() {
    let rule = loaded();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("frozen.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    // Accepts every connection and never writes a byte.
    let held = std::thread::spawn(move || {
        let mut streams = Vec::new();
        for s in listener.incoming().flatten().take(16) {
            streams.push(s);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let (code, out, elapsed) = run_rule(
        &rule,
        &[
            "--runtime.docker=true".to_string(),
            format!("--docker.host=unix://{}", socket.display()),
        ],
    );
    assert!(matches!(code, 0 | 1), "a scan, not a failure: {code} {out}");
    assert_one_line(&out, rule.max_output);
    assert!(
        elapsed < rule.timeout,
        "took {elapsed:?}, NPD kills the plugin at {:?}",
        rule.timeout
    );
    drop(held);
}

#[test]
fn a_scan_that_cannot_run_is_npds_unknown() {
    let rule = loaded();
    let (code, out, _) = run_rule(&rule, &["--path.procfs=/nonexistent/proc".to_string()]);
    assert_eq!(code, 2, "{out}");
    assert_one_line(&out, rule.max_output);
    assert!(out.starts_with("scan failed: "), "{out}");
}
