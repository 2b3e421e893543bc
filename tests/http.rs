//! The HTTP surface, driven in-process with `oneshot` against the incident fixture.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use mountleak_exporter::http::{AppState, router};
use mountleak_exporter::runtime::{RuntimeView, StaticRuntime};
use mountleak_exporter::scanner::Scanner;
use tower::ServiceExt;

fn app(telemetry_path: &str) -> axum::Router {
    app_with(telemetry_path, Duration::from_secs(5))
}

fn app_with(telemetry_path: &str, min_interval: Duration) -> axum::Router {
    let view = RuntimeView::docker(
        true,
        vec!["/var/lib/docker".into()],
        vec!["/run/docker".into()],
        [],
    );
    let scanner = Scanner::new(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc/incident"),
        Arc::new(StaticRuntime(Arc::new(view))),
        min_interval,
    );
    router(AppState {
        scanner: Arc::new(scanner),
        telemetry_path: telemetry_path.into(),
        max_series: 10_000,
        edge: Default::default(),
    })
}

async fn get(app: &axum::Router, path: &str) -> (StatusCode, String, String) {
    let resp = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ctype, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn metrics_are_served_in_the_text_format() {
    let app = app("/metrics");
    let (status, ctype, body) = get(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert!(
        body.contains(r#"mountleak_unit_leaked_mounts{status="stale",unit="httpd.service"} 2"#),
        "{body}"
    );
}

fn last_scan(body: &str) -> &str {
    body.lines()
        .find(|l| l.starts_with("mountleak_last_scan_timestamp_seconds "))
        .expect("last scan timestamp")
}

#[tokio::test]
async fn a_reused_scan_is_served_as_rendered_and_a_new_scan_is_rendered_anew() {
    // Within --scan.min-interval: the same scan, the same body (but for the process's own
    // families, read afresh at every scrape).
    let report_part = |body: &str| -> String {
        body.lines()
            .filter(|l| {
                !l.starts_with("process_")
                    && !l.starts_with("# HELP process_")
                    && !l.starts_with("# TYPE process_")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let app = app("/metrics");
    let (_, _, first) = get(&app, "/metrics").await;
    let (_, _, second) = get(&app, "/metrics").await;
    assert!(first.contains("\nprocess_open_fds "), "{first}");
    assert_eq!(report_part(&first), report_part(&second));
    // Without it: every scrape scans, and the render cache must not serve the old body.
    let app = app_with("/metrics", Duration::ZERO);
    let (_, _, first) = get(&app, "/metrics").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (_, _, second) = get(&app, "/metrics").await;
    assert_ne!(last_scan(&first), last_scan(&second));
}

#[tokio::test]
async fn telemetry_path_is_configurable() {
    let app = app("/custom");
    assert_eq!(get(&app, "/custom").await.0, StatusCode::OK);
    assert_eq!(get(&app, "/metrics").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn leaks_api_returns_every_leak_with_its_fix() {
    let app = app("/metrics");
    let (status, ctype, body) = get(&app, "/api/v1/leaks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "application/json");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let leaks = v["leaks"].as_array().unwrap();
    assert_eq!(leaks.len(), 3);
    let shm = leaks
        .iter()
        .find(|l| l["mount_id"] == 596)
        .expect("the incident's shm line");
    assert_eq!(shm["status"], "stale");
    assert_eq!(shm["kind"], "shm");
    assert_eq!(shm["fs_type"], "tmpfs");
    assert_eq!(shm["device"], "0:57");
    assert_eq!(shm["holder"]["unit"], "httpd.service");
    assert_eq!(shm["holder"]["process_count"], 8);
    // The holding namespace is listed once, with its processes, and named by each leak.
    let namespaces = v["namespaces"].as_array().unwrap();
    assert_eq!(namespaces.len(), 1);
    let ns = &namespaces[0];
    assert_eq!(ns["inode"], shm["namespace"]["inode"]);
    assert_eq!(ns["root"], shm["namespace"]["root"]);
    assert_eq!(ns["holder"], shm["holder"]);
    assert_eq!(ns["leaked_mounts"], 3);
    assert_eq!(ns["processes"].as_array().unwrap().len(), 8);
    assert_eq!(shm["fix"], "systemctl restart httpd.service");
    assert!(shm["first_seen"].as_f64().unwrap() > 0.0);
    assert_eq!(v["scan"]["success"], true);
    assert_eq!(v["scan"]["errors"]["vanished"], 1);
}

#[tokio::test]
async fn landing_page_shows_the_leaks_as_a_table() {
    let app = app("/metrics");
    let (status, ctype, body) = get(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("text/html"));
    assert!(body.contains("<table id=\"leaks\">"), "{body}");
    assert!(
        body.contains("<td>httpd.service</td><td>11987 httpd (8 processes)</td>"),
        "{body}"
    );
    assert!(body.contains("systemctl restart httpd.service"));
    assert!(body.contains("href=\"/metrics\""));
}

#[tokio::test]
async fn healthz_and_unknown_paths() {
    let app = app("/metrics");
    assert_eq!(
        get(&app, "/healthz").await,
        (
            StatusCode::OK,
            "text/plain; charset=utf-8".into(),
            "ok\n".into()
        )
    );
    assert_eq!(get(&app, "/nope").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn concurrent_scrapes_share_one_scan() {
    let app = app("/metrics");
    let mut handles = Vec::new();
    for _ in 0..20 {
        let app = app.clone();
        handles.push(tokio::spawn(
            async move { get(&app, "/api/v1/leaks").await.2 },
        ));
    }
    let mut stamps = std::collections::HashSet::new();
    for h in handles {
        let body = h.await.unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        stamps.insert(v["scan"]["timestamp"].to_string());
    }
    assert_eq!(
        stamps.len(),
        1,
        "20 concurrent requests within min-interval must see one scan"
    );
}
