//! Pure: the landing page (`/`), the report as an HTML table. Every name in it is escaped:
//! cgroup paths, comm, mount points and container names are anyone's choice.

use crate::classify::Leak;
use crate::report::Report;
use crate::runtime::RuntimeKind;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn age(first_seen: f64, now: f64) -> String {
    let s = (now - first_seen).max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        3600..86400 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

/// Rows shown on the landing page; the JSON has them all.
const MAX_ROWS: usize = 1000;

fn row(report: &Report, l: &Leak, now: f64) -> String {
    let holder = report.holder(l);
    let container = match l.container() {
        Some(c) if !c.name.is_empty() => format!("{} ({})", c.name, c.state),
        Some(c) => format!("{} ({})", crate::report::short(&c.id), c.state),
        None => "-".into(),
    };
    let container = match l.volume() {
        Some(v) => format!("volume {v}; {container}"),
        None => container,
    };
    format!(
        "<tr class=\"{status}\"><td>{unit}</td><td>{pid} {comm} ({n} processes)</td><td>{container}</td><td>{kind}</td><td>{status}</td><td>{age}</td><td><code>{mp}</code></td><td><code>{release}</code><br>or <code>{fix}</code></td></tr>\n",
        status = l.status.as_str(),
        unit = esc(holder.unit.as_deref().unwrap_or("-")),
        pid = holder.pid,
        comm = esc(&holder.comm),
        n = holder.process_count,
        container = esc(&container),
        kind = l.kind().as_str(),
        age = age(l.first_seen.into(), now),
        mp = esc(l.mount_point()),
        release = esc(&report.release(l)),
        fix = esc(&report.fix(l)),
    )
}

/// `Docker reachable, Podman unreachable (its container states are unknown)`
fn runtimes_status(runtimes: &std::collections::BTreeMap<RuntimeKind, bool>) -> String {
    if runtimes.is_empty() {
        return "No container runtime enabled".into();
    }
    let parts: Vec<String> = runtimes
        .iter()
        .map(|(r, up)| {
            let name = match r {
                RuntimeKind::Docker => "Docker",
                RuntimeKind::Podman => "Podman",
                RuntimeKind::Containerd => "containerd",
                RuntimeKind::CriO => "CRI-O",
            };
            if *up {
                format!("{name} reachable")
            } else {
                format!("{name} unreachable (its container states are unknown)")
            }
        })
        .collect();
    parts.join(", ")
}

/// The landing page: the leak table, the scan's status and links.
pub fn render(report: &Report, telemetry_path: &str) -> String {
    let s = &report.scan;
    let rows: String = report
        .leaks
        .iter()
        .take(MAX_ROWS)
        .map(|l| row(report, l, s.timestamp))
        .collect();
    // A leak storm must not make the page (or the browser) the next problem.
    let more = match report.leaks.len().saturating_sub(MAX_ROWS) {
        0 => String::new(),
        n => format!("<p id=\"more\">{n} more leaks: see <a href=\"/api/v1/leaks\">JSON</a>.</p>"),
    };
    let table = if report.leaks.is_empty() {
        "<p id=\"none\">No leaked container mounts.</p>".to_string()
    } else {
        format!(
            "<table id=\"leaks\"><thead><tr><th>Unit</th><th>Holder</th><th>Container</th><th>Kind</th><th>Status</th><th>Age</th><th>Mount point</th><th>Fix</th></tr></thead><tbody>\n{rows}</tbody></table>{more}"
        )
    };
    let status = if s.success {
        format!(
            "Scanned {} processes in {} mount namespaces in {:.3}s. Not seen: {} vanished, {} permission denied, {} unparsable lines. {}.",
            s.processes_scanned,
            s.mount_namespaces_scanned,
            s.duration_seconds,
            s.errors.vanished,
            s.errors.permission_denied,
            s.errors.parse,
            runtimes_status(&s.runtimes)
        )
    } else {
        format!(
            "Scan failed: {}",
            esc(s.error.as_deref().unwrap_or("unknown error"))
        )
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mountleak_exporter</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }}
tr.stale td {{ background: #fde2e1; }}
tr.at_risk td {{ background: #fff4d6; }}
code {{ font-size: 0.9em; }}
td code {{ word-break: break-all; }}
td:last-child code {{ white-space: nowrap; word-break: normal; }}
</style></head>
<body>
<h1>mountleak_exporter</h1>
<p>Container mounts held in other processes' mount namespaces. <b>stale</b>: the daemon already unmounted it, the copy pins it. <b>at_risk</b>: a private copy of a live mount, stale once the container stops.</p>
{table}
<p id="scan">{status}</p>
<p><a href="{tp}">Metrics</a> · <a href="/api/v1/leaks">JSON</a> · <a href="/healthz">Health</a></p>
</body></html>
"#,
        tp = esc(telemetry_path),
    )
}
