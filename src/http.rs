//! HTTP: `/metrics`, the landing page `/`, `/healthz`, `/api/v1/leaks`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::timeout::TimeoutLayer;

use crate::landing;
use crate::metrics;
use crate::report::Report;
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
    /// The owner families' text of the last `/metrics` render, for the next one.
    leak_text: Arc<metrics::LeakText>,
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
        // gzip when the client asks for it (Prometheus does): a storm's /metrics or JSON
        // is mostly repeated label text. Only gzip, the one scrapers send. At the fastest
        // level: label text compresses about 20:1 there too, and the default level cost a
        // storm's scrape more CPU than rendering it (bench/README.md).
        .layer(
            CompressionLayer::new()
                .gzip(true)
                .no_br()
                .no_deflate()
                .no_zstd()
                .quality(CompressionLevel::Fastest),
        )
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .with_state(Arc::new(Shared {
            state,
            metrics: Rendered::default(),
            leak_text: Arc::default(),
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

async fn metrics_handler(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(metrics::openmetrics::wanted);
    let state = &shared.state;
    let report = state.scanner.report().await;
    let options = metrics::RenderOptions {
        min_interval_secs: state.scanner.min_interval().as_secs_f64(),
        max_series: state.max_series,
        connections_rejected: state.edge.connections_rejected(),
    };
    let leak_text = shared.leak_text.clone();
    let rendered = shared
        .metrics
        .get(report, options.connections_rejected, move |r| {
            metrics::render_reusing(&r, options, &leak_text)
                .map(String::into_bytes)
                .map_err(|e| e.to_string())
        })
        .await
        // The process's own families change between two scrapes of one report.
        .map(|cached| {
            let mut body = cached.to_vec();
            body.extend_from_slice(metrics::process::render().as_bytes());
            Bytes::from(body)
        });
    if !openmetrics {
        return body(metrics::CONTENT_TYPE, rendered);
    }
    let converted = rendered.map(|text| {
        let text = String::from_utf8_lossy(&text);
        Bytes::from(metrics::openmetrics::from_text(&text))
    });
    body(metrics::openmetrics::CONTENT_TYPE, converted)
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
            Ok(landing::render(&r, &telemetry_path).into_bytes())
        })
        .await;
    body("text/html; charset=utf-8", rendered)
}
