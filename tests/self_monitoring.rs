//! The exporter as a scraper and an operator see it (issue 18): its own `process_*` metrics
//! beside its families, valid for promtool, and gzip when the client asks for it (Prometheus
//! sends `Accept-Encoding: gzip`), plain otherwise. The real binary, real curl and gzip.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

#[test]
fn the_exporters_own_process_metrics_are_served_fresh() {
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let exporter = Exporter::start(&["--scan.min-interval=1h"]);
    let body = exporter.get("/metrics");
    promtool_check_metrics(&body);
    let samples = exporter.scrape();
    let start = value(&samples, "process_start_time_seconds");
    assert!(
        start >= before - 2.0 && start <= before + 30.0,
        "process_start_time_seconds {start}, test started at {before}"
    );
    assert!(value(&samples, "process_resident_memory_bytes") > 1e6);
    assert!(value(&samples, "process_open_fds") >= 3.0);
    assert!(value(&samples, "process_max_fds") >= value(&samples, "process_open_fds"));
    assert!(
        value(&samples, "process_cpu_seconds_total") >= 0.0,
        "present, a counter"
    );
    // Fresh at every scrape, though the report (one scan an hour) is cached: the exporter's
    // own file descriptors follow the connections it holds.
    let held: Vec<std::net::TcpStream> = (0..20)
        .map(|_| {
            std::net::TcpStream::connect(exporter.base_url.trim_start_matches("http://")).unwrap()
        })
        .collect();
    let fds = || value(&exporter.scrape(), "process_open_fds");
    let with = poll_until(
        "the held connections in process_open_fds",
        std::time::Duration::from_secs(10),
        || {
            let n = fds();
            if n >= value(&samples, "process_open_fds") + 15.0 {
                Ok(n)
            } else {
                Err(format!("{n}"))
            }
        },
    );
    drop(held);
    assert!(with > 0.0);
}

/// `curl` with or without asking for gzip: (response headers, body bytes as received).
fn fetch(url: &str, gzip: bool) -> (String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("headers");
    let body = dir.path().join("body");
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--fail", "-D"])
        .arg(&headers)
        .arg("-o")
        .arg(&body);
    if gzip {
        cmd.args(["-H", "Accept-Encoding: gzip"]);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("run curl (Debian package curl)");
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        std::fs::read_to_string(headers)
            .unwrap()
            .to_ascii_lowercase(),
        std::fs::read(body).unwrap(),
    )
}

fn gunzip(bytes: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run gzip");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "not gzip data");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn gzip_only_when_the_client_asks_for_it() {
    let exporter = Exporter::start(&["--scan.min-interval=1h"]);
    for path in ["/metrics", "/api/v1/leaks", "/"] {
        let url = format!("{}{path}", exporter.base_url);
        let (plain_headers, plain) = fetch(&url, false);
        assert!(
            !plain_headers.contains("content-encoding"),
            "{path}: {plain_headers}"
        );
        let (headers, compressed) = fetch(&url, true);
        assert!(
            headers.contains("content-encoding: gzip"),
            "{path}: {headers}"
        );
        let text = gunzip(&compressed);
        match path {
            "/metrics" => {
                promtool_check_metrics(&text);
                assert!(text.contains("mountleak_build_info{"));
            }
            "/api/v1/leaks" => {
                let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                assert!(v["leaks"].is_array());
                assert_eq!(text.as_bytes(), &plain[..], "the same report, compressed");
            }
            _ => assert_eq!(text.as_bytes(), &plain[..], "the same page, compressed"),
        }
    }
}

#[test]
fn version_says_what_was_built_as_prometheus_components_do() {
    let out = exporter_command()
        .arg("--version")
        .output()
        .expect("run the exporter");
    assert!(out.status.success(), "--version exits 0");
    let text = String::from_utf8(out.stdout).unwrap();
    let git = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run git (the test runs in a clone)");
    let revision = String::from_utf8_lossy(&git.stdout).trim().to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(
            format!(
                "mountleak_exporter, version {} (revision: {revision})",
                env!("CARGO_PKG_VERSION")
            )
            .as_str()
        ),
        "{text}"
    );
    let field = |name: &str| -> String {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("  {name}:")))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .trim()
            .to_string()
    };
    let date = field("build date");
    assert!(
        date.len() == 17
            && date.as_bytes()[8] == b'-'
            && date[..8].bytes().all(|b| b.is_ascii_digit()),
        "YYYYMMDD-HH:MM:SS: {date}"
    );
    assert!(field("rust version").starts_with("1."), "{text}");
    assert_eq!(
        field("platform"),
        format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH)
    );
    // -V and a subcommand's --version say the same.
    for args in [&["-V"][..], &["scan", "--version"]] {
        let again = exporter_command().args(args).output().unwrap();
        assert_eq!(String::from_utf8(again.stdout).unwrap(), text, "{args:?}");
    }
    // And build_info carries the same revision.
    let exporter = Exporter::start(&[]);
    let info = select(
        &exporter.scrape(),
        "mountleak_build_info",
        &[("revision", &revision)],
    )
    .len();
    assert_eq!(info, 1, "mountleak_build_info{{revision=\"{revision}\"}}");
}

#[test]
fn every_listen_address_serves_and_a_taken_one_stops_startup() {
    let second = free_port();
    let exporter = Exporter::start(&[&format!("--web.listen-address=127.0.0.1:{second}")]);
    let first = exporter.get("/healthz");
    let (status, body) = http_get(&format!("http://127.0.0.1:{second}/healthz")).expect("GET");
    assert_eq!((status, body.as_str()), (200, first.as_str()));
    let (status, metrics) = http_get(&format!("http://127.0.0.1:{second}/metrics")).expect("GET");
    assert_eq!(status, 200);
    assert!(metrics.contains("mountleak_build_info{"));

    // One address already taken: the exporter says which and does not start half-way.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = exporter_command()
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .output()
        .expect("run the exporter");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
}
