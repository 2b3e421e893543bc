//! HTTP: `/metrics`, the landing page `/`, `/healthz`, `/api/v1/leaks`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::timeout::TimeoutLayer;

use crate::metrics;
use crate::report::{LeakReport, Report};
use crate::runtime::RuntimeKind;
use crate::scanner::Scanner;
use crate::web::EdgeCounters;

#[derive(Clone)]
pub struct AppState {
    pub scanner: Arc<Scanner>,
    pub telemetry_path: String,
    pub max_series: usize,
    /// What the server counts about connections (`web::serve`), shown in the metrics.
    pub edge: Arc<EdgeCounters>,
}

/// The handlers' state: the configured one and the bodies last rendered.
struct Shared {
    state: AppState,
    metrics: Rendered,
    leaks: Rendered,
    index: Rendered,
}

/// A body rendered from one report (and one value of what else it shows), reused while that
/// report is: scrapes within `--scan.min-interval` (two Prometheus servers, say) render once,
/// concurrent requests wait for one render, and clients that read slowly or never hold one
/// shared copy, not one each (fifty such clients on /api/v1/leaks used to hold fifty). Weak,
/// so the cache never keeps an expired report alive.
#[derive(Default)]
struct Rendered(tokio::sync::Mutex<Option<(Weak<Report>, u64, Bytes)>>);

impl Rendered {
    async fn get(
        &self,
        report: Arc<Report>,
        version: u64,
        render: impl FnOnce(Arc<Report>) -> Result<Vec<u8>, String> + Send + 'static,
    ) -> Result<Bytes, String> {
        let mut slot = self.0.lock().await;
        if let Some((r, v, body)) = slot.as_ref()
            && *v == version
            && r.upgrade().is_some_and(|r| Arc::ptr_eq(&r, &report))
        {
            return Ok(body.clone());
        }
        // An older report's body is of no more use: not kept through the new render, the
        // request's peak.
        *slot = None;
        let weak = Arc::downgrade(&report);
        let body = tokio::task::spawn_blocking(move || {
            let body = render(report);
            crate::memory::release_free_memory();
            body
        })
        .await
        .map_err(|e| e.to_string())??;
        let body = Bytes::from(body);
        *slot = Some((weak, version, body.clone()));
        Ok(body)
    }
}

pub fn router(state: AppState) -> Router {
    let telemetry = state.telemetry_path.clone();
    let mut router = Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/v1/leaks", get(leaks));
    router = router.route(&telemetry, get(metrics_handler));
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .with_state(Arc::new(Shared {
            state,
            metrics: Rendered::default(),
            leaks: Rendered::default(),
            index: Rendered::default(),
        }))
}

fn body(content_type: &'static str, rendered: Result<Bytes, String>) -> Response {
    match rendered {
        Ok(body) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn metrics_handler(State(shared): State<Arc<Shared>>) -> Response {
    let state = &shared.state;
    let report = state.scanner.report().await;
    let options = metrics::RenderOptions {
        min_interval_secs: state.scanner.min_interval().as_secs_f64(),
        max_series: state.max_series,
        connections_rejected: state.edge.connections_rejected(),
    };
    let rendered = shared
        .metrics
        .get(report, options.connections_rejected, move |r| {
            metrics::render(r, options)
                .map(String::into_bytes)
                .map_err(|e| e.to_string())
        })
        .await;
    body(metrics::CONTENT_TYPE, rendered)
}

async fn leaks(State(shared): State<Arc<Shared>>) -> Response {
    let report = shared.state.scanner.report().await;
    let rendered = shared
        .leaks
        .get(report, 0, |r| {
            serde_json::to_vec(&*r).map_err(|e| e.to_string())
        })
        .await;
    body("application/json", rendered)
}

async fn index(State(shared): State<Arc<Shared>>) -> Response {
    let report = shared.state.scanner.report().await;
    let telemetry_path = shared.state.telemetry_path.clone();
    let rendered = shared
        .index
        .get(report, 0, move |r| {
            Ok(render_index(&r, &telemetry_path).into_bytes())
        })
        .await;
    body("text/html; charset=utf-8", rendered)
}

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

fn row(report: &Report, l: &LeakReport, now: f64) -> String {
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
        "<tr class=\"{status}\"><td>{unit}</td><td>{pid} {comm} ({n} processes)</td><td>{container}</td><td>{kind}</td><td>{status}</td><td>{age}</td><td><code>{mp}</code></td><td><code>{fix}</code></td></tr>\n",
        status = l.status.as_str(),
        unit = esc(holder.unit.as_deref().unwrap_or("-")),
        pid = holder.pid,
        comm = esc(&holder.comm),
        n = holder.process_count,
        container = esc(&container),
        kind = l.kind().as_str(),
        age = age(l.first_seen.into(), now),
        mp = esc(l.mount_point()),
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

pub fn render_index(report: &Report, telemetry_path: &str) -> String {
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
