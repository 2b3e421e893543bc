//! Issue 12: network clients attacking the real binary's HTTP edge (items 4 and 5). Each test
//! loads the machine on purpose and measures latencies, so nextest runs them alone
//! (.config/nextest.toml). /proc is the incident fixture; no Docker.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Exporter {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Exporter {
    /// The binary on a free port with `web_yml` (if any) as its web config.
    fn start(web_yml: Option<&str>, extra: &[&str]) -> Exporter {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc/incident");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mountleak_exporter"));
        cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--path.procfs={}", fixture.display()))
            .arg("--docker.host=unix:///nonexistent/docker.sock")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(yml) = web_yml {
            let web = dir.path().join("web.yml");
            std::fs::write(&web, yml).unwrap();
            cmd.arg(format!("--web.config.file={}", web.display()));
        }
        let child = cmd.spawn().expect("start the exporter binary");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "exporter did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Exporter {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One request with basic auth `user:pass`; (status, body, time to the whole response).
fn get_as(port: u16, path: &str, credentials: &str) -> (u16, String, Duration) {
    let start = Instant::now();
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new(), start.elapsed());
    };
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\nConnection: close\r\n\r\n",
        base64(credentials.as_bytes())
    );
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text, start.elapsed())
}

fn web_yml_with_user(password: &str, cost: u32) -> String {
    let hash = bcrypt::hash(password, cost).unwrap();
    format!("basic_auth_users:\n  prometheus: '{hash}'\n")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Cost 8 takes about as long in this debug build as the usual cost 10 does in a release
/// build (~70 ms on this machine).
const COST: u32 = 8;

#[test]
fn a_bad_password_flood_leaves_legitimate_scrapes_fast() {
    let e = Exporter::start(Some(&web_yml_with_user("s3cret", COST)), &[]);
    let port = e.port;
    // Prometheus' first scrape pays for one bcrypt check; later ones are remembered.
    let (status, _, _) = get_as(port, "/metrics", "prometheus:s3cret");
    assert_eq!(status, 200);

    // 1,000 wrong passwords, 400 at a time, each a different one (nothing to remember).
    const FLOOD: usize = 1000;
    const CONCURRENCY: usize = 400;
    let next = Arc::new(AtomicUsize::new(0));
    let granted = Arc::new(AtomicUsize::new(0));
    let flooders: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (next, granted) = (next.clone(), granted.clone());
            std::thread::spawn(move || {
                while next.fetch_add(1, Ordering::Relaxed) < FLOOD {
                    let n = next.load(Ordering::Relaxed);
                    let (status, _, _) = get_as(port, "/metrics", &format!("prometheus:wrong-{n}"));
                    if status == 200 {
                        granted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // Scrapes alongside, as Prometheus would go on making them.
    let mut scrapes = Vec::new();
    let started = Instant::now();
    while flooders.iter().any(|f| !f.is_finished()) {
        let (status, body, took) = get_as(port, "/metrics", "prometheus:s3cret");
        scrapes.push((status, took));
        assert_eq!(
            status, 200,
            "a legitimate scrape failed during the flood: {body}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    for f in flooders {
        f.join().unwrap();
    }
    assert_eq!(
        granted.load(Ordering::Relaxed),
        0,
        "a wrong password was let in"
    );
    let worst = scrapes.iter().map(|s| s.1).max().unwrap();
    eprintln!(
        "flood of {FLOOD} at {CONCURRENCY}: {:.1?}; {} legitimate scrapes, median {:.2?}, worst {worst:.2?}",
        started.elapsed(),
        scrapes.len(),
        median(scrapes.iter().map(|s| s.1).collect()),
    );
    assert!(scrapes.len() >= 3, "the flood ended before it was measured");
    // Prometheus' default scrape timeout is 10 s; a remembered login costs no bcrypt at all.
    assert!(
        worst < Duration::from_secs(2),
        "a legitimate scrape took {worst:.2?} during the flood"
    );
}

#[test]
fn unknown_users_are_answered_as_slowly_as_known_ones() {
    let e = Exporter::start(Some(&web_yml_with_user("s3cret", COST)), &[]);
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    // Interleaved, so a burst of load elsewhere on the machine hits both alike.
    for i in 0..15 {
        let (status, _, took) = get_as(e.port, "/healthz", &format!("prometheus:wrong-{i}"));
        assert_eq!(status, 401);
        known.push(took);
        let (status, _, took) = get_as(e.port, "/healthz", &format!("nobody-{i}:wrong-{i}"));
        assert_eq!(status, 401);
        unknown.push(took);
    }
    let (known, unknown) = (median(known), median(unknown));
    let ratio = known.as_secs_f64() / unknown.as_secs_f64();
    eprintln!("median wrong password: known user {known:.2?}, unknown user {unknown:.2?}");
    // Without a dummy check the ratio was over 50 (a bcrypt check against none).
    assert!(
        (0.5..2.0).contains(&ratio),
        "known user {known:.2?} vs unknown {unknown:.2?}: the answer time tells which users exist"
    );
}
