//! The 2019 incident (shared/seed) as a fixture /proc tree: eight httpd processes of
//! httpd.service, one mount namespace, holding etcd1's rootfs and shm after `docker stop`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use mountleak_exporter::classify::Status;
use mountleak_exporter::host::ScanOptions;
use mountleak_exporter::layout::Kind;
use mountleak_exporter::report::{Report, render_text};
use mountleak_exporter::runtime::{ContainerInfo, RuntimeKind, RuntimeView, StaticRuntime};
use mountleak_exporter::scanner::Memory;
use mountleak_exporter::{metrics, scanner};

const ETCD1: &str = "ca74eaa1b342c64a7f6c558299bedf74a5b7016c194e885bf290281161605d58";
const ETCD1_LAYER: &str = "1a90250c2b5b00295a8efce60142aebcf2f30cfa1d5ec7c029e250c5a3a90951";
const WEB: &str = "5f1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";
const WEB_LAYER: &str = "9e8d7c6b5a49382716051f2e3d4c5b6a79881726354a5b6c7d8e9f0a1b2c3d4e";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc/incident")
}

fn docker_view(up: bool) -> StaticRuntime {
    let c = |id: &str, name: &str, state: &str, layer: &str| ContainerInfo {
        merged_dir: Some(format!("/var/lib/docker/overlay2/{layer}/merged")),
        ..ContainerInfo::docker(id, name, state)
    };
    StaticRuntime(Arc::new(RuntimeView::docker(
        up,
        vec!["/var/lib/docker".into()],
        vec!["/run/docker".into()],
        [
            c(ETCD1, "etcd1", "exited", ETCD1_LAYER),
            c(WEB, "web", "running", WEB_LAYER),
        ],
    )))
}

fn scan(up: bool) -> Report {
    scanner::scan_once(
        &fixture(),
        &docker_view(up),
        &ScanOptions::default(),
        &mut Memory::default(),
    )
}

/// Timestamps and durations vary from run to run; pin them for golden comparisons.
fn pinned(mut r: Report) -> Report {
    r.scan.timestamp = 1_700_000_000.0;
    r.scan.duration_seconds = 0.004;
    for l in &mut r.leaks {
        l.first_seen = 1_699_999_000;
    }
    r
}

#[test]
fn finds_what_the_operator_grepped_for_by_hand() {
    let r = scan(true);
    assert!(r.scan.success);
    let summary: Vec<(Kind, Status, &str, &str)> = r
        .leaks
        .iter()
        .map(|l| {
            let c = l.container().expect("every leak here maps to a container");
            (l.kind(), l.status, c.name.as_str(), c.state.as_str())
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (Kind::Shm, Status::AtRisk, "web", "running"),
            (Kind::Shm, Status::Stale, "etcd1", "exited"),
            (Kind::Rootfs, Status::Stale, "etcd1", "exited"),
        ]
    );
    // One holding namespace, reported once.
    assert_eq!(r.namespaces.len(), 1);
    let ns = &r.namespaces[0];
    assert_eq!(ns.inode, 4026532211);
    assert_eq!(ns.leaked_mounts, 3);
    assert_eq!(ns.processes.len(), 8);
    for l in &r.leaks {
        let holder = r.holder(l);
        assert_eq!(holder.pid, 11987);
        assert_eq!(holder.comm, "httpd");
        assert_eq!(holder.unit.as_deref(), Some("httpd.service"));
        assert_eq!(holder.process_count, 8);
        assert_eq!(r.fix(l), "systemctl restart httpd.service");
        assert_eq!(l.namespace, 0);
        assert_eq!(l.runtime(), Some(RuntimeKind::Docker));
        assert_eq!(l.container().unwrap().runtime, RuntimeKind::Docker);
    }
    let shm = &r.leaks[1];
    assert_eq!(
        (
            shm.mount_id,
            shm.target.device().as_str(),
            shm.target.fs_type.as_str()
        ),
        (596, "0:57", "tmpfs")
    );
    // The slave copy of web's rootfs is tied to the host's peer group: not a leak.
    assert_eq!(r.scan.propagated_copies, 1);
    // httpd's namespace, the host's (systemd + dockerd), web's own; pid 15000 vanished.
    assert_eq!(r.scan.mount_namespaces_scanned, 3);
    assert_eq!(r.scan.processes_scanned, 12);
    assert_eq!(r.scan.errors.vanished, 1);
    assert_eq!(r.scan.errors.parse, 1);
}

#[test]
fn text_report_says_who_holds_what() {
    let text = render_text(&scan(true));
    assert!(
        text.contains("httpd.service (pid 11987, httpd, 8 processes) holds 2 mounts of container etcd1 (exited)"),
        "{text}"
    );
    assert!(
        text.contains("holds 1 mount of container web (running)"),
        "{text}"
    );
    assert!(
        text.contains("fix: systemctl restart httpd.service"),
        "{text}"
    );
}

#[test]
fn a_namespace_beyond_the_process_limit_lists_its_lowest_pids_and_keeps_its_counts() {
    let limited = ScanOptions {
        processes_per_namespace: 3,
    };
    let r = scanner::scan_once(
        &fixture(),
        &docker_view(true),
        &limited,
        &mut Memory::default(),
    );
    let ns = &r.namespaces[0];
    let listed: Vec<u32> = ns.processes.iter().map(|p| p.pid).collect();
    assert_eq!(listed, [11987, 12001, 12002]);
    assert_eq!(ns.holder.pid, 11987);
    assert_eq!(ns.holder.process_count, 8, "the count stays exact");
    assert_eq!(r.leaks.len(), 3, "the leaks do not depend on the limit");
    let text = render_text(&r);
    assert!(text.contains("(pid 11987, httpd, 8 processes)"), "{text}");

    let body = metrics::render(Arc::new(r), Default::default()).unwrap();
    let lines = |name: &str| -> Vec<String> {
        body.lines()
            .filter(|l| l.starts_with(name))
            .map(String::from)
            .collect()
    };
    // 3 processes x 2 statuses (stale, at_risk).
    assert_eq!(lines("mountleak_process_leaked_mounts{").len(), 6, "{body}");
    assert_eq!(
        lines("mountleak_holder_processes_unlisted "),
        ["mountleak_holder_processes_unlisted 5"]
    );
    assert!(
        body.contains("mountleak_unit_leaked_mounts{status=\"stale\",unit=\"httpd.service\"} 2"),
        "{body}"
    );
}

#[test]
fn without_docker_mounts_are_still_found_and_states_are_unknown() {
    let r = scan(false);
    assert_eq!(r.leaks.len(), 3);
    assert!(!r.scan.docker_up);
    assert_eq!(
        serde_json::to_value(&r.scan.runtimes).unwrap(),
        serde_json::json!({"docker": false})
    );
    let ids: Vec<_> = r
        .leaks
        .iter()
        .map(|l| l.container().map(|c| (c.id.as_str(), c.state.as_str())))
        .collect();
    assert_eq!(
        ids[1],
        Some((ETCD1, "unknown")),
        "the id is in the shm path"
    );
}

#[test]
fn metrics_match_golden_and_pass_promtool() {
    let body = metrics::render(Arc::new(pinned(scan(true))), Default::default()).unwrap();
    // The revision and compiler change from build to build: check their shape, then pin them.
    let build_line = body
        .lines()
        .find(|l| l.starts_with("mountleak_build_info{"))
        .expect("build info is exported");
    assert!(
        build_line.ends_with("} 1") && !build_line.contains("\"unknown\""),
        "{build_line}"
    );
    let body: String = body
        .lines()
        .map(|l| {
            if l == build_line {
                "mountleak_build_info{revision=\"REV\",rustversion=\"RUSTC\",version=\"VERSION\"} 1"
            } else {
                l
            }
        })
        .flat_map(|l| [l, "\n"])
        .collect();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/incident.metrics");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &body).unwrap();
    }
    let want = std::fs::read_to_string(&golden).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(
        body,
        want,
        "rendered metrics differ from {}",
        golden.display()
    );

    common::promtool_check_metrics(&body);
}

#[test]
fn first_seen_survives_rescans_and_resets_when_the_leak_goes() {
    let runtime = docker_view(true);
    let mut seen = Memory::default();
    let a = scanner::scan_once(&fixture(), &runtime, &ScanOptions::default(), &mut seen);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let b = scanner::scan_once(&fixture(), &runtime, &ScanOptions::default(), &mut seen);
    for (x, y) in a.leaks.iter().zip(&b.leaks) {
        assert_eq!(x.first_seen, y.first_seen);
    }
    assert!(b.scan.timestamp > a.scan.timestamp);
    let empty = tempfile::tempdir().unwrap();
    scanner::scan_once(empty.path(), &runtime, &ScanOptions::default(), &mut seen);
    // First-seen times are whole seconds: seen again in a later second, it is new again.
    let next_second = a.scan.timestamp.floor() + 1.0 - b.scan.timestamp;
    std::thread::sleep(std::time::Duration::from_secs_f64(
        next_second.max(0.0) + 0.05,
    ));
    let c = scanner::scan_once(&fixture(), &runtime, &ScanOptions::default(), &mut seen);
    assert!(c.leaks[0].first_seen > a.leaks[0].first_seen);
}

#[test]
fn unreadable_procfs_fails_the_scan_clearly() {
    let r = scanner::scan_once(
        Path::new("/nonexistent/proc"),
        &docker_view(true),
        &ScanOptions::default(),
        &mut Memory::default(),
    );
    assert!(!r.scan.success);
    assert!(
        r.scan
            .error
            .as_deref()
            .unwrap()
            .contains("/nonexistent/proc")
    );
    let body = metrics::render(Arc::new(r), Default::default()).unwrap();
    assert!(body.contains("mountleak_scan_success 0"), "{body}");
}

#[test]
fn series_cap_keeps_aggregates_and_counts_what_it_dropped() {
    let options = metrics::RenderOptions {
        max_series: 4,
        ..Default::default()
    };
    let body = metrics::render(Arc::new(scan(true)), options).unwrap();
    let leak_series = body
        .lines()
        .filter(|l| {
            !l.starts_with('#') && l.contains("leaked_mounts{")
                || l.starts_with("mountleak_leak_first_seen")
        })
        .count();
    assert_eq!(leak_series, 4, "{body}");
    assert!(
        body.contains(r#"mountleak_unit_leaked_mounts{status="stale",unit="httpd.service"} 2"#)
    );
    // 2 unit + 3 container + 3 first-seen + 16 process series, 4 kept.
    assert!(body.contains("mountleak_series_dropped 20"), "{body}");
}

#[test]
fn scan_into_a_closed_pipe_exits_with_its_verdict_not_a_panic() {
    // `mountleak_exporter scan | head -1`: the reader is gone before the report is written.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_mountleak_exporter"))
        .args(["scan", "--docker.host=unix:///nonexistent/docker.sock"])
        .arg(format!("--path.procfs={}", fixture().display()))
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "leaks found: {stderr}");
}

/// `--runtime.timeout` was `--docker.timeout`: the old flag and environment variable still
/// count, below the new ones. Seen from outside as how long `scan` waits for a Docker socket
/// that accepts connections and never answers.
#[test]
fn the_runtime_timeout_is_read_under_its_old_names_too() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("silent.sock");
    let _silent = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    type Env<'a> = &'a [(&'a str, &'a str)];
    // (environment, flags, the timeout that must apply)
    let cases: [(Env, &[&str], u64); 3] = [
        (&[("MOUNTLEAK_DOCKER_TIMEOUT", "1s")], &[], 1),
        (
            &[
                ("MOUNTLEAK_DOCKER_TIMEOUT", "1s"),
                ("MOUNTLEAK_RUNTIME_TIMEOUT", "3s"),
            ],
            &[],
            3,
        ),
        (
            &[("MOUNTLEAK_RUNTIME_TIMEOUT", "3s")],
            &["--docker.timeout=1s"],
            1,
        ),
    ];
    for (env, flags, want) in cases {
        let start = std::time::Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_mountleak_exporter"))
            .arg("scan")
            .arg(format!("--docker.host=unix://{}", sock.display()))
            .arg(format!("--path.procfs={}", fixture().display()))
            .args(flags)
            .env_remove("MOUNTLEAK_DOCKER_TIMEOUT")
            .env_remove("MOUNTLEAK_RUNTIME_TIMEOUT")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let took = start.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The client's own timeout and the scan's deadline are the same length: either may
        // fire first (under load the deadline did), and each says the runtime did not answer.
        assert!(
            stderr.contains("runtime unreachable") || stderr.contains("runtime did not answer"),
            "{env:?} {flags:?}: {stderr}"
        );
        let want = std::time::Duration::from_secs(want);
        assert!(
            took >= want && took < want + std::time::Duration::from_secs(2),
            "{env:?} {flags:?}: scan took {took:?}, the timeout should be {want:?}: {stderr}"
        );
    }
}
