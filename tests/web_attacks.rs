//! Issue 12: network clients attacking the real binary's HTTP edge (items 4 and 5). Each test
//! loads the machine on purpose and measures latencies, so nextest runs them alone
//! (.config/nextest.toml). /proc is the incident fixture; no Docker.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Exporter {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

fn incident() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc/incident")
}

impl Exporter {
    /// The binary on a free port with `web_yml` (if any) as its web config, reading the
    /// incident fixture as /proc.
    fn start(web_yml: Option<&str>, extra: &[&str]) -> Exporter {
        Exporter::start_on(&incident(), web_yml, extra)
    }

    fn start_on(procfs: &Path, web_yml: Option<&str>, extra: &[&str]) -> Exporter {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.path().join("exporter.log")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mountleak_exporter"));
        cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--path.procfs={}", procfs.display()))
            .arg("--docker.host=unix:///nonexistent/docker.sock")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log);
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
        Exporter { child, port, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("exporter.log")).unwrap_or_default()
    }

    /// Resident memory of the exporter process, from /proc/<pid>/status.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
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

/// A /proc tree with `n` leaks: PID 1 (the host) has `n` shm mounts of containers, shared; an
/// httpd.service process holds a private copy of each (at risk: the host still has them).
fn leak_storm(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let base = "18 1 253:0 / / rw,relatime shared:1 - xfs /dev/root rw\n\
                60 18 253:2 / /var/lib/docker rw,relatime shared:30 - xfs /dev/docker rw\n";
    let (mut host, mut holder) = (base.to_string(), base.to_string());
    for i in 0..n {
        let id = format!("{i:064x}");
        let mp = format!("/var/lib/docker/containers/{id}/mounts/shm");
        let dev = format!("0:{}", 100 + i);
        host += &format!(
            "{} 60 {dev} / {mp} rw,nosuid,nodev,noexec,relatime shared:{} - tmpfs shm rw,size=65536k\n",
            1000 + i,
            1000 + i
        );
        holder += &format!(
            "{} 60 {dev} / {mp} rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k\n",
            100_000 + i
        );
    }
    for (pid, comm, cgroup, ns, mountinfo) in [
        ("1", "systemd", "/init.scope", 4026531840u64, host),
        (
            "4242",
            "httpd",
            "/system.slice/httpd.service",
            4026532211,
            holder,
        ),
    ] {
        let p = dir.path().join(pid);
        std::fs::create_dir_all(p.join("ns")).unwrap();
        std::fs::write(p.join("comm"), format!("{comm}\n")).unwrap();
        std::fs::write(p.join("cgroup"), format!("0::{cgroup}\n")).unwrap();
        std::fs::write(p.join("mountinfo"), mountinfo).unwrap();
        std::os::unix::fs::symlink(format!("mnt:[{ns}]"), p.join("ns/mnt")).unwrap();
        std::os::unix::fs::symlink("/", p.join("root")).unwrap();
    }
    dir
}

/// A connection whose receive buffer is 4 KiB: the server's writes stall after a few KiB
/// once the client stops reading, whatever the machine's TCP autotuning.
fn connect_small_window(port: u16) -> TcpStream {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor this function owns until it is handed to
    // TcpStream, which then closes it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let size: libc::c_int = 4096;
        let rc = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &size as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "setsockopt: {}", std::io::Error::last_os_error());
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
            },
            sin_zero: [0; 8],
        };
        let rc = libc::connect(
            fd,
            &addr as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
        TcpStream::from_raw_fd(fd)
    }
}

/// A client that asks for `path` `times` over (pipelined) and never reads an answer.
fn non_reader(port: u16, path: &str, times: usize) -> TcpStream {
    let mut s = connect_small_window(port);
    let one = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(one.repeat(times).as_bytes()).unwrap();
    s
}

/// One plain GET; None when the server closed the connection without an answer.
fn try_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text))
}

#[test]
fn clients_that_never_read_cannot_lock_scrapes_out() {
    let proc = leak_storm(5000);
    let e = Exporter::start_on(
        proc.path(),
        None,
        &["--web.max-connections=16", "--scan.min-interval=60s"],
    );
    let (status, body) = try_get(e.port, "/api/v1/leaks").expect("an answer");
    assert_eq!(status, 200);
    assert!(
        body.len() > 1_000_000,
        "the leak storm makes a big document: {}",
        body.len()
    );
    let attack = Instant::now();
    let held: Vec<TcpStream> = (0..16)
        .map(|_| non_reader(e.port, "/api/v1/leaks", 4))
        .collect();
    // The sixteen hold every slot: a scrape is turned away...
    let refused_until = Instant::now() + Duration::from_secs(10);
    while try_get(e.port, "/metrics").is_some() {
        assert!(
            Instant::now() < refused_until,
            "the non-reading clients never held every slot"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // ... until their writes time out and free them.
    let served = loop {
        if let Some((200, body)) = try_get(e.port, "/metrics") {
            break body;
        }
        assert!(
            attack.elapsed() < Duration::from_secs(40),
            "no scrape got through in 40 s while 16 clients sent requests and read nothing"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let waited = attack.elapsed();
    eprintln!("a scrape got through {waited:.1?} after 16 non-reading clients took every slot");
    // The write deadline is 10 s; allow as much again for a loaded machine.
    assert!(waited < Duration::from_secs(20), "{waited:.1?}");
    assert!(served.contains("mountleak_http_connections_rejected_total "));
    drop(held);
}

#[test]
fn fifty_non_reading_clients_do_not_grow_memory() {
    let proc = leak_storm(5000);
    let e = Exporter::start_on(proc.path(), None, &["--scan.min-interval=60s"]);
    // Warm: the scan and one rendering of the document.
    let (status, body) = try_get(e.port, "/api/v1/leaks").expect("an answer");
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(500));
    let before = e.rss_kib();
    let held: Vec<TcpStream> = (0..50)
        .map(|_| non_reader(e.port, "/api/v1/leaks", 4))
        .collect();
    let mut peak = before;
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(200));
        peak = peak.max(e.rss_kib());
    }
    drop(held);
    let grew_mib = (peak.saturating_sub(before)) as f64 / 1024.0;
    eprintln!(
        "document {:.1} MiB; RSS {:.1} MiB before, peak {:.1} MiB with 50 non-reading clients (+{grew_mib:.1} MiB)",
        body.len() as f64 / 1048576.0,
        before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    // Fifty copies would be 50 x the document (about 150 MiB); one shared copy is one.
    let limit = 10.0 * body.len() as f64 / 1048576.0;
    assert!(
        grew_mib < limit,
        "memory grew by {grew_mib:.1} MiB (limit {limit:.1} MiB)"
    );
}

#[test]
fn refused_connections_are_counted_and_logged() {
    let e = Exporter::start(None, &["--web.max-connections=4"]);
    let (_, body) = try_get(e.port, "/metrics").expect("an answer");
    assert!(
        body.contains("\nmountleak_http_connections_rejected_total 0\n"),
        "{body}"
    );
    let idle: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(("127.0.0.1", e.port)).unwrap())
        .collect();
    // Refused: closed at accept, no answer. The server may still hold the probe's
    // connection when the four arrive (then one of them is the refused one): count what
    // the client saw.
    let mut refused = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while refused < 5 {
        if try_get(e.port, "/healthz").is_none() {
            refused += 1;
        }
        assert!(
            Instant::now() < deadline,
            "the fifth connection kept being served"
        );
    }
    drop(idle);
    let counted = poll_counter(e.port);
    assert!(
        (refused..=refused + 1).contains(&counted),
        "client saw {refused} refused, the counter says {counted}"
    );
    let log = e.log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("level=warn") && l.contains("connection limit reached"))
        .collect();
    // Rate-limited: one line for the burst, not one per connection.
    assert_eq!(warnings.len(), 1, "{log}");
}

/// `mountleak_http_connections_rejected_total`, once a scrape gets through.
fn poll_counter(port: u16) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some((200, body)) = try_get(port, "/metrics") {
            return body
                .lines()
                .find_map(|l| l.strip_prefix("mountleak_http_connections_rejected_total "))
                .expect("the counter")
                .parse()
                .unwrap();
        }
        assert!(Instant::now() < deadline, "no scrape got through");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// In process, with short limits: `web::serve` closes a connection that outlives
/// `max_connection_age` plus `age_grace` even while its client reads (a byte now and then
/// keeps the write deadline from firing), and an idle one after `header_read_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_reader_is_closed_at_its_age_and_an_idle_one_at_the_header_timeout() {
    use mountleak_exporter::web;
    let app = axum::Router::new().route(
        "/big",
        axum::routing::get(|| async { vec![b'x'; 256 << 20] }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let limits = web::Limits {
        header_read_timeout: Duration::from_secs(1),
        write_timeout: Duration::from_secs(3),
        max_connection_age: Duration::from_secs(1),
        age_grace: Duration::from_secs(1),
        ..Default::default()
    };
    tokio::spawn(web::serve(
        listener,
        app,
        None,
        limits,
        Default::default(),
        std::future::pending(),
    ));
    let trickle = tokio::task::spawn_blocking(move || {
        let mut s = connect_small_window(port);
        s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = Instant::now();
        let mut total = 0usize;
        let mut buf = [0u8; 4096];
        // About 80 KiB/s: 256 MiB would take an hour.
        while started.elapsed() < Duration::from_secs(30) {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return (started.elapsed(), total, true),
                Ok(n) => total += n,
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        (started.elapsed(), total, false)
    });
    let idle = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let started = Instant::now();
        let closed = matches!(s.read(&mut [0u8; 1]), Ok(0) | Err(_));
        (started.elapsed(), closed)
    });
    let (took, total, closed) = trickle.await.unwrap();
    assert!(
        closed,
        "a trickling reader was still served after {took:.1?} ({total} bytes)"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(6),
        "closed after {took:.1?} ({total} bytes); age 1 s + grace 1 s"
    );
    let (took, closed) = idle.await.unwrap();
    assert!(
        closed && took < Duration::from_secs(4),
        "idle connection: {took:.1?}"
    );
}
