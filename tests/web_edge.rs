//! The network edge of the real binary: TLS and basic auth from a web config file (checked
//! with curl, a real TLS client), bounded connections and headers, slow clients, concurrent
//! scrapes sharing one scan, graceful SIGTERM. /proc is the incident fixture; no Docker.

mod common;

use common::require_tool;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Exporter {
    child: Child,
    port: u16,
}

impl Exporter {
    fn start(extra: &[&str]) -> Exporter {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc/incident");
        let child = Command::new(env!("CARGO_BIN_EXE_mountleak_exporter"))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--path.procfs={}", fixture.display()))
            .arg("--docker.host=unix:///nonexistent/docker.sock")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the exporter binary");
        let e = Exporter { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "exporter did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        e
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the server has closed its end (EOF or reset); does not block.
fn closed(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let r = s.peek(&mut [0u8; 1]);
    s.set_nonblocking(false).unwrap();
    !matches!(r, Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// One plain HTTP/1.1 request; returns (status, body).
fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let status = buf
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

fn tool(cmd: &str) -> Command {
    require_tool(cmd);
    Command::new(cmd)
}

fn curl(args: &[&str]) -> Output {
    tool("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .unwrap()
}

fn tls_files(dir: &Path) -> (PathBuf, PathBuf) {
    let (crt, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    make_cert(&crt, &key, "localhost");
    (crt, key)
}

/// A self-signed certificate for localhost and 127.0.0.1 whose subject is `CN=<cn>`.
fn make_cert(crt: &Path, key: &Path, cn: &str) {
    let out = tool("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/CN={cn}"),
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(crt)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tls_and_basic_auth_from_the_web_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = tls_files(dir.path());
    let hash = bcrypt::hash("s3cret", 6).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  min_version: TLS12\nbasic_auth_users:\n  prometheus: '{hash}'\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n",
            crt.display(),
            key.display()
        ),
    )
    .unwrap();
    let e = Exporter::start(&[&format!("--web.config.file={}", web.display())]);
    let url = format!("https://localhost:{}/metrics", e.port);
    let cacert = crt.to_str().unwrap();
    let status = |extra: &[&str]| {
        let mut args = vec![
            "--cacert",
            cacert,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &url,
        ];
        args.extend_from_slice(extra);
        String::from_utf8(curl(&args).stdout).unwrap()
    };
    assert_eq!(status(&["-u", "prometheus:s3cret"]), "200");
    assert_eq!(status(&["-u", "prometheus:wrong"]), "401");
    assert_eq!(status(&["-u", "someone:s3cret"]), "401");
    assert_eq!(status(&[]), "401");

    let ok = curl(&[
        "--cacert",
        cacert,
        "-D",
        "-",
        "-u",
        "prometheus:s3cret",
        &url,
    ]);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(
        text.contains(r#"mountleak_unit_leaked_mounts{status="stale",unit="httpd.service"} 2"#),
        "{text}"
    );
    assert!(
        text.to_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{text}"
    );

    // Plain HTTP to the TLS port gets no metrics.
    let plain = curl(&[
        "-u",
        "prometheus:s3cret",
        &format!("http://localhost:{}/metrics", e.port),
    ]);
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("mountleak_"));
}

#[test]
fn a_broken_web_config_stops_startup_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, "basic_auth_users:\n  prometheus: plaintext\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mountleak_exporter"))
        .args([
            "--web.listen-address=127.0.0.1:0",
            &format!("--web.config.file={}", web.display()),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bcrypt"), "{err}");
}

#[test]
fn connection_count_and_header_size_are_bounded() {
    let e = Exporter::start(&["--web.max-connections=4"]);
    let connect = || TcpStream::connect(("127.0.0.1", e.port)).unwrap();
    let mut idle: Vec<TcpStream> = (0..4).map(|_| connect()).collect();
    // Once the server holds the four, a fifth is closed at accept: reading gives EOF or a
    // reset, never a response. Under load the server may lag, so retry until the bound
    // shows, up to a deadline.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // The four must all be held: one the server closed is replaced. Under load the
        // server can still hold the readiness probe's connection when they arrive (the
        // fourth is then refused), and an idle connection is closed after the header read
        // timeout (10 s).
        for s in idle.iter_mut() {
            if closed(s) {
                *s = connect();
            }
        }
        let mut fifth = TcpStream::connect(("127.0.0.1", e.port)).unwrap();
        fifth
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut buf = [0u8; 64];
        if matches!(fifth.read(&mut buf), Ok(0) | Err(_)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "connections over the limit kept being served"
        );
        drop(fifth);
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(idle);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        get(e.port, "/healthz").0,
        200,
        "slots are freed when clients leave"
    );

    // A 64 KiB header is refused, not buffered.
    let mut s = TcpStream::connect(("127.0.0.1", e.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let big = "a".repeat(64 * 1024);
    let _ = write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n"
    );
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(!resp.contains("mountleak_"), "oversized request was served");
    assert!(
        resp.is_empty() || resp.starts_with("HTTP/1.1 431"),
        "{resp}"
    );
}

#[test]
fn slow_clients_and_a_connection_flood_do_not_block_scrapes() {
    let e = Exporter::start(&[]);
    let flood: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(("127.0.0.1", e.port)).unwrap())
        .collect();
    let port = e.port;
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        for b in b"GET /metrics HTTP/1.1\r\nHost: x\r\n" {
            if s.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    for _ in 0..5 {
        let (status, body) = get(e.port, "/metrics");
        assert_eq!(status, 200);
        assert!(body.contains("mountleak_scan_success 1"));
    }
    drop(flood);
    slow.join().unwrap();
}

#[test]
fn fifty_concurrent_scrapes_share_one_scan() {
    let e = Exporter::start(&["--scan.min-interval=30s"]);
    let port = e.port;
    let handles: Vec<_> = (0..50)
        .map(|_| std::thread::spawn(move || get(port, "/metrics")))
        .collect();
    let mut stamps = std::collections::HashSet::new();
    for h in handles {
        let (status, body) = h.join().unwrap();
        assert_eq!(status, 200);
        let stamp = body
            .lines()
            .find(|l| l.starts_with("mountleak_last_scan_timestamp_seconds "))
            .expect("timestamp line")
            .to_string();
        stamps.insert(stamp);
    }
    assert_eq!(
        stamps.len(),
        1,
        "50 scrapes saw {} different scans",
        stamps.len()
    );
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let mut e = Exporter::start(&[]);
    assert_eq!(get(e.port, "/healthz").0, 200);
    let status = Command::new("kill")
        .args(["-TERM", &e.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(code) = e.child.try_wait().unwrap() {
            assert!(code.success(), "exit status after SIGTERM: {code}");
            break;
        }
        assert!(Instant::now() < deadline, "still running 15s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut log = String::new();
    e.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("shut down"), "{log}");
}

#[test]
fn a_bad_telemetry_path_is_a_usage_error_not_a_panic() {
    for (path, why) in [
        ("metrics", "must start with /"),
        ("/", "taken by another page"),
        ("/healthz", "taken by another page"),
        ("/api/v1/leaks", "taken by another page"),
        ("/{id}", "is not allowed"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_mountleak_exporter"))
            .args([
                "--web.listen-address=127.0.0.1:0",
                &format!("--web.telemetry-path={path}"),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path:?}: {err}");
        assert!(
            err.contains("--web.telemetry-path") && err.contains(why),
            "{path:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{path:?}: {err}");
    }
}

/// Runs the binary with `yaml` as its web config; returns its log once it exits with a
/// failure. Panics if it starts serving instead (it accepted the config).
fn refused(dir: &Path, yaml: &str) -> String {
    let web = dir.join("web.yml");
    std::fs::write(&web, yaml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mountleak_exporter"))
        .args([
            "--web.listen-address=127.0.0.1:0",
            "--docker.host=unix:///nonexistent/docker.sock",
            &format!("--web.config.file={}", web.display()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the exporter started with this web config:\n{yaml}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.wait().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(!status.success(), "{yaml}: {log}");
    assert!(!log.contains("panicked"), "{log}");
    log
}

#[test]
fn web_config_mistakes_are_refused_at_startup_and_values_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = tls_files(dir.path());
    let tls = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
        crt.display(),
        key.display()
    );
    // A CA without a policy used to turn client certificates off: a client without one got 200.
    let log = refused(
        dir.path(),
        &format!("{tls}  client_ca_file: {}\n", crt.display()),
    );
    assert!(log.contains("client_auth_type"), "{log}");
    // A malformed hash used to be accepted, and every login then failed.
    let log = refused(dir.path(), "basic_auth_users:\n  prometheus: $2b$garbage\n");
    assert!(log.contains("not a bcrypt hash"), "{log}");
    // A plain password where a hash belongs, typed as a number: never in the error.
    let log = refused(dir.path(), "basic_auth_users:\n  prometheus: 271828182\n");
    assert!(
        log.contains("basic_auth_users") && !log.contains("271828182"),
        "{log}"
    );
    // Response headers that frame the response, or any header exporter-toolkit does not allow.
    let log = refused(
        dir.path(),
        "http_server_config:\n  headers:\n    Content-Length: '0'\n",
    );
    assert!(log.contains("cannot be configured"), "{log}");
    // A cost above the cap: each check would hold authentication for seconds.
    let cost14 = bcrypt::hash_with_salt("x", 4, [7; 16])
        .unwrap()
        .format_for_version(bcrypt::Version::TwoB)
        .replacen("$04$", "$14$", 1);
    let log = refused(
        dir.path(),
        &format!("basic_auth_users:\n  prometheus: '{cost14}'\n"),
    );
    assert!(log.contains("cost 14"), "{log}");
}

/// The subject of the certificate a new TLS connection to `port` is served.
fn served_subject(port: u16) -> String {
    let out = tool("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let pem = String::from_utf8_lossy(&out.stdout).to_string();
    let mut x509 = tool("openssl")
        .args(["x509", "-noout", "-subject"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    x509.stdin
        .take()
        .unwrap()
        .write_all(pem.as_bytes())
        .unwrap();
    let out = x509.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_rotated_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    make_cert(&crt, &key, "before-rotation");
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            crt.display(),
            key.display()
        ),
    )
    .unwrap();
    let mut e = Exporter::start(&[&format!("--web.config.file={}", web.display())]);
    assert!(served_subject(e.port).contains("CN = before-rotation"));
    // Rotated in place, as a renewal script would (cp over the old files).
    let (new_crt, new_key) = (dir.path().join("new.crt"), dir.path().join("new.key"));
    make_cert(&new_crt, &new_key, "after-rotation");
    std::fs::copy(&new_key, &key).unwrap();
    std::fs::copy(&new_crt, &crt).unwrap();
    let subject = served_subject(e.port);
    assert!(subject.contains("CN = after-rotation"), "{subject}");
    // Rotated by renaming new files over the old ones (cert-manager, atomic writers).
    make_cert(&new_crt, &new_key, "third");
    std::fs::rename(&new_key, &key).unwrap();
    std::fs::rename(&new_crt, &crt).unwrap();
    let subject = served_subject(e.port);
    assert!(subject.contains("CN = third"), "{subject}");
    // A half-written rotation (certificate without its key) keeps the last good pair.
    make_cert(&new_crt, &new_key, "fourth");
    std::fs::copy(&new_crt, &crt).unwrap();
    let subject = served_subject(e.port);
    assert!(subject.contains("CN = third"), "{subject}");
    std::fs::copy(&new_key, &key).unwrap();
    let subject = served_subject(e.port);
    assert!(subject.contains("CN = fourth"), "{subject}");
    // SIGHUP, the usual request to reload, does not end it (its default action would).
    let hup = Command::new("kill")
        .args(["-HUP", &e.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        e.child.try_wait().unwrap().is_none(),
        "SIGHUP ended the exporter"
    );
    // And the exporter still answers over TLS with it.
    let ok = curl(&[
        "--cacert",
        new_crt.to_str().unwrap(),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("https://localhost:{}/healthz", e.port),
    ]);
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "200");
}

/// Raw bytes to the server; every status line of the answers, until it closes.
fn status_lines(port: u16, raw: &[u8]) -> Vec<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf)
        .split("\r\n")
        .filter(|l| l.starts_with("HTTP/"))
        .map(str::to_string)
        .collect()
}

#[test]
fn ambiguous_request_framing_is_refused_not_smuggled() {
    let e = Exporter::start(&[]);
    let smuggled = "GET /api/v1/leaks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for (what, head) in [
        ("two lengths", "Content-Length: 6\r\nContent-Length: 60\r\n"),
        (
            "a length and chunked",
            "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n",
        ),
        (
            "chunked not last",
            "Transfer-Encoding: chunked, identity\r\n",
        ),
        ("space before the colon", "Transfer-Encoding : chunked\r\n"),
    ] {
        let raw = format!("POST /healthz HTTP/1.1\r\nHost: x\r\n{head}\r\n0\r\n\r\n{smuggled}");
        let lines = status_lines(e.port, raw.as_bytes());
        // One answer (an error, or the chunked body read as such), never a second one to a
        // request hidden in the first one's body.
        assert_eq!(lines.len(), 1, "{what}: {lines:?}");
        assert!(!lines[0].contains(" 200 "), "{what}: {lines:?}");
    }
}

#[test]
fn basic_auth_guards_every_path_and_method() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(&web, format!("basic_auth_users:\n  prometheus: '{hash}'\n")).unwrap();
    let e = Exporter::start(&[&format!("--web.config.file={}", web.display())]);
    for path in [
        "/",
        "/healthz",
        "/metrics",
        "/api/v1/leaks",
        "/nope",
        "/metrics/../healthz",
    ] {
        for method in ["GET", "HEAD", "POST", "OPTIONS", "DELETE"] {
            let raw = format!(
                "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let lines = status_lines(e.port, raw.as_bytes());
            assert_eq!(lines, ["HTTP/1.1 401 Unauthorized"], "{method} {path}");
        }
    }
}

#[test]
fn tls_is_1_2_or_later_with_aead_suites_only() {
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = tls_files(dir.path());
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            crt.display(),
            key.display()
        ),
    )
    .unwrap();
    let e = Exporter::start(&[&format!("--web.config.file={}", web.display())]);
    let cipher = |args: &[&str]| {
        let out = tool("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{}", e.port)])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        text.lines()
            .find_map(|l| l.split_once("Cipher is ").map(|(_, c)| c.to_string()))
            .unwrap_or_else(|| panic!("no cipher line in openssl's output: {text}"))
    };
    // Refused: TLS 1.1 (the client allowed to offer it), and CBC suites over TLS 1.2.
    assert_eq!(
        cipher(&["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]),
        "(NONE)"
    );
    assert_eq!(cipher(&["-tls1_2", "-cipher", "AES128-SHA"]), "(NONE)");
    assert_eq!(
        cipher(&["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA256"]),
        "(NONE)"
    );
    // Served: AEAD suites over TLS 1.2 and 1.3.
    assert_eq!(
        cipher(&["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"]),
        "ECDHE-RSA-AES128-GCM-SHA256"
    );
    assert!(cipher(&["-tls1_3"]).starts_with("TLS_"));
}
