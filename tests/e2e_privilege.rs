//! Least privilege, checked on the real binary: it asks Docker only read-only questions
//! (a recording proxy sits on its socket), never writes to /proc nor touches mounts or
//! namespaces (strace), never lets a container's environment out (a secret in `-e`), needs
//! no capability but CAP_SYS_PTRACE, and with `--runtime.drop-capabilities` keeps only that.

mod common;

use common::proxy::{DockerProxy, endpoint as allowed_endpoint, parse_requests};
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

#[test]
fn the_proxys_parser_splits_keep_alive_requests() {
    let wire = b"GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: d\r\n\r\n\
                 POST /v1.41/containers/x/stop HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
                 POST /build HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
                 HEAD /_ping HTTP/1.1\r\n\r\n";
    for chunk in [1, 7, wire.len()] {
        let (got, garbage) = parse_requests(wire, chunk);
        let summary: Vec<(&str, &str, usize)> = got
            .iter()
            .map(|r| (r.method.as_str(), r.path(), r.body_len))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("GET", "/containers/json", 0),
                ("POST", "/containers/x/stop", 5),
                ("POST", "/build", 3),
                ("HEAD", "/_ping", 0),
            ],
            "fed in pieces of {chunk}"
        );
        assert!(garbage.is_empty());
    }
    let (_, garbage) = parse_requests(b"\x16\x03\x01 not http\r\n\r\n", 64);
    assert_eq!(garbage.len(), 1);
    assert_eq!(
        allowed_endpoint("/containers/json"),
        Some("/containers/json")
    );
    assert_eq!(
        allowed_endpoint("/containers/abc/json"),
        Some("/containers/<id>/json")
    );
    for bad in [
        "/containers/abc/stop",
        "/containers/create",
        "/containers/a/b/json",
        "/exec/x/start",
        "/containers//json",
    ] {
        assert_eq!(allowed_endpoint(bad), None, "{bad}");
    }
}

/// (3a) Every request the exporter sends to Docker, through a container's whole life (start,
/// events, stop, rm) and several resyncs and pings, is a GET (or HEAD) of a read-only
/// endpoint, without a body.
#[test]
fn docker_is_only_asked_read_only_questions() {
    let env = env();
    let proxy = DockerProxy::start(&env.docker_host);
    let exporter = Exporter::start_with_docker(
        &[
            format!("--docker.host={}", proxy.host),
            format!("--docker.exec-root={}", env.docker_exec_root),
        ],
        // Resync (and ping) every 2 s, so the run covers them several times.
        &[
            "--docker.resync-interval=2s",
            "--metrics.max-series=1000000",
        ],
    );
    let (mut volume, mut container, holder) = leak_scene("ro");
    let vol = volume.mount_point();
    let state_is = |want: &str| -> Result<(), String> {
        let samples = exporter.scrape();
        let found = select(
            &samples,
            "mountleak_leak_first_seen_timestamp_seconds",
            &[("unit", &holder.unit), ("mountpoint", &vol)],
        );
        if found.len() == 1 && found[0].label("container_state") == want {
            Ok(())
        } else {
            Err(show(&found))
        }
    };
    let t = Duration::from_secs(30);
    poll_until("the running container's leak", t, || state_is("running"));
    container.stop();
    poll_until("the stopped container's leak", t, || state_is("exited"));
    container.remove();
    poll_until("the removed container's leak", t, || state_is("removed"));
    // A few more resync and ping rounds.
    sleep(Duration::from_secs(5));
    drop(exporter);

    let requests = proxy.requests();
    let garbage = proxy.garbage();
    assert!(
        garbage.is_empty(),
        "unparseable bytes sent to Docker: {garbage:?}"
    );
    let mut by_endpoint: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &requests {
        assert!(
            r.method == "GET" || r.method == "HEAD",
            "a {} request reached Docker: {r:?}",
            r.method
        );
        assert_eq!(r.body_len, 0, "a request with a body: {r:?}");
        let endpoint = allowed_endpoint(r.path())
            .unwrap_or_else(|| panic!("a request to an endpoint outside the read-only set: {r:?}"));
        *by_endpoint.entry(endpoint).or_default() += 1;
    }
    // The scenario exercised every endpoint: the assertions above were not vacuous.
    for e in [
        "/_ping",
        "/version",
        "/info",
        "/containers/json",
        "/containers/<id>/json",
        "/events",
    ] {
        assert!(
            by_endpoint.contains_key(e),
            "{e} never called: {by_endpoint:?}"
        );
    }
    let inspected: BTreeSet<&str> = requests
        .iter()
        .filter_map(|r| r.path().strip_prefix("/containers/")?.strip_suffix("/json"))
        .collect();
    assert!(inspected.contains(container.id.as_str()), "{inspected:?}");
    eprintln!(
        "[figures] Docker requests recorded by the proxy: {} ({by_endpoint:?})",
        requests.len()
    );
    drop(holder);
    volume.remove();
}

// ---------------------------------------------------------------------------------------
// strace: no writes to /proc, no mount or namespace changes

/// One traced call: the line strace printed.
struct Call<'a> {
    name: &'a str,
    line: &'a str,
}

/// Calls in `strace -f -y` output (`<pid> name(args) = ret`, or split into
/// `<unfinished ...>` / `<... name resumed>` halves, of which the first has the arguments).
fn calls(trace: &str) -> Vec<Call<'_>> {
    trace
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start();
            let rest = rest.split_once(' ').map_or(rest, |(pid, r)| {
                if pid.bytes().all(|b| b.is_ascii_digit()) {
                    r.trim_start() // strace pads the pid column
                } else {
                    rest
                }
            });
            if rest.starts_with("<...") || rest.starts_with("+++") || rest.starts_with("---") {
                return None;
            }
            let name = &rest[..rest.find('(')?];
            Some(Call { name, line: rest })
        })
        .collect()
}

/// The first quoted argument of a call (a path), unescaped minimally.
fn quoted_arg(line: &str) -> Option<String> {
    let start = line.find('"')? + 1;
    let end = start + line[start..].find('"')?;
    Some(line[start..end].to_string())
}

/// `openat(3</proc/12>, "mountinfo", ...)`: the directory fd's path, as `-y` shows it.
fn dirfd_path(line: &str) -> Option<String> {
    let args = &line[line.find('(')? + 1..];
    let first = args.split(',').next()?;
    let p = first.split_once('<')?.1.strip_suffix('>')?;
    Some(p.to_string())
}

const WRITE_FLAGS: [&str; 5] = ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"];

/// Violations in a trace: opens for writing under `procfs` (or anywhere: the exporter
/// writes no file at all), writes to a file under `procfs`, and any call that changes
/// mounts, namespaces or the filesystem.
/// The path an open-like call names, resolved against its directory fd.
fn opened_path(c: &Call) -> Option<String> {
    let path = quoted_arg(c.line)?;
    Some(if path.starts_with('/') {
        path
    } else if c.name == "openat" || c.name == "openat2" {
        format!("{}/{path}", dirfd_path(c.line).unwrap_or_default())
    } else {
        path
    })
}

fn violations(trace: &str, procfs: &str) -> Vec<String> {
    let mut out = Vec::new();
    for c in calls(trace) {
        match c.name {
            "open" | "openat" | "openat2" | "creat" => {
                let Some(full) = opened_path(&c) else {
                    continue;
                };
                let writes = c.name == "creat" || WRITE_FLAGS.iter().any(|f| c.line.contains(f));
                if writes {
                    let under = if full.starts_with(procfs) {
                        " under procfs"
                    } else {
                        ""
                    };
                    out.push(format!("open for writing{under}: {}", c.line));
                }
            }
            "write" | "pwrite64" | "writev" | "pwritev" | "pwritev2" => {
                // `write(7</proc/1/...>, ...)`: the fd's path, as -y shows it.
                if let Some(p) = dirfd_path(c.line)
                    && p.starts_with(procfs)
                {
                    out.push(format!("write to procfs: {}", c.line));
                }
            }
            "mount" | "umount2" | "unshare" | "setns" | "chroot" | "pivot_root" | "mkdir"
            | "mkdirat" | "unlink" | "unlinkat" | "rmdir" | "rename" | "renameat" | "renameat2"
            | "truncate" | "ftruncate" | "ptrace" | "process_vm_writev" => {
                out.push(format!("{}: {}", c.name, c.line));
            }
            _ => {}
        }
    }
    out
}

#[test]
fn the_trace_checker_catches_what_it_should() {
    let trace = "\
101 openat(AT_FDCWD</work>, \"/proc/5/mountinfo\", O_RDONLY|O_CLOEXEC) = 9</proc/5/mountinfo>
101   openat(3</proc/5>, \"oom_score_adj\", O_WRONLY|O_CLOEXEC <unfinished ...>
102 <... openat resumed>) = 10</proc/5/oom_score_adj>
102 write(2</tmp/log>, \"x\", 1) = 1
102 write(11</proc/sys/vm/drop_caches>, \"3\", 1) = 1
103 unshare(CLONE_NEWNS) = 0
103 openat(AT_FDCWD</>, \"/tmp/x\", O_RDWR|O_CREAT, 0600) = 4</tmp/x>
+++ exited with 0 +++
";
    let v = violations(trace, "/proc");
    assert_eq!(v.len(), 4, "{v:#?}");
    assert!(v[0].contains("under procfs") && v[0].contains("oom_score_adj"));
    assert!(v[1].starts_with("write to procfs"));
    assert!(v[2].starts_with("unshare"));
    assert!(v[3].starts_with("open for writing: ") && v[3].contains("/tmp/x"));
    assert!(
        violations(
            "101 openat(AT_FDCWD</>, \"/proc/1/cgroup\", O_RDONLY) = 3\n",
            "/proc"
        )
        .is_empty()
    );
}

/// strace running the exporter. Drop kills both: a killed strace would only detach, and
/// leave the exporter running.
struct Traced(std::process::Child);

impl Traced {
    fn signal_child(&self, sig: libc::c_int) {
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.0.id()))
            .unwrap_or_default();
        for pid in children
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            // SAFETY: kill(2) of strace's child, the exporter we started.
            unsafe {
                libc::kill(pid, sig);
            }
        }
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        self.signal_child(libc::SIGKILL);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const TRACED: &str = "open,openat,?openat2,creat,write,pwrite64,writev,?pwritev,?pwritev2,\
                      mount,umount2,unshare,setns,chroot,pivot_root,mkdir,mkdirat,unlink,unlinkat,\
                      rmdir,rename,renameat,?renameat2,truncate,ftruncate,ptrace,process_vm_writev";

/// (3b) Under strace, while it serves scrapes of a real leak and runs `scan`: nothing is
/// opened for writing (under /proc or anywhere), nothing written to /proc, no mount,
/// namespace or filesystem change. The trace must show the holder's tables being read, so
/// the check is not vacuous.
#[test]
fn never_writes_to_proc_nor_touches_mounts_under_strace() {
    require_tool("strace");
    let env = env();
    let container = Container::run(
        "strace",
        &["--ipc=shareable", "--network=none"],
        &["sleep", "1000000"],
    );
    let roots = [env.docker_root.as_str(), env.docker_exec_root.as_str()];
    let holder = Holder::spawn_keeping("strace", Propagation::Private, 1, &roots);
    let dir = tempfile::tempdir().unwrap();

    // Serve under strace.
    let serve_trace = dir.path().join("serve.trace");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let strace = Command::new("strace")
        .args([
            "-f",
            "-y",
            "-qq",
            "-s",
            "256",
            "-e",
            &format!("trace={TRACED}"),
            "-o",
        ])
        .arg(&serve_trace)
        .arg(exporter_bin())
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--scan.min-interval=0s")
        .arg("--metrics.max-series=1000000")
        .args(docker_flags())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strace");
    let mut strace = Traced(strace);
    let base = format!("http://127.0.0.1:{port}");
    poll_until(
        "the traced exporter to report the holder's leak",
        Duration::from_secs(60),
        || {
            let (status, body) = http_get(&format!("{base}/metrics"))?;
            if status == 200 && body.contains(&holder.unit) && body.contains(&container.id) {
                Ok(())
            } else {
                Err(format!("status {status}"))
            }
        },
    );
    for path in ["/metrics", "/api/v1/leaks", "/", "/healthz"] {
        for _ in 0..2 {
            let (status, _) = http_get(&format!("{base}{path}")).unwrap();
            assert_eq!(status, 200, "{path}");
        }
    }
    // SIGTERM the exporter (strace's child): it shuts down and strace exits with it.
    strace.signal_child(libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(20);
    while strace.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "strace did not exit after the exporter's SIGTERM"
        );
        sleep(Duration::from_millis(100));
    }
    let mut stderr = String::new();
    strace
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(strace.0.wait().unwrap().success(), "strace: {stderr}");

    // The one-shot scan under strace too.
    let scan_trace = dir.path().join("scan.trace");
    let out = Command::new("strace")
        .args([
            "-f",
            "-y",
            "-qq",
            "-s",
            "256",
            "-e",
            &format!("trace={TRACED}"),
            "-o",
        ])
        .arg(&scan_trace)
        .arg(exporter_bin())
        .args(["scan", "--output", "json"])
        .args(docker_flags())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "scan finds the leak (exit 1)");

    for (what, path) in [("serve", &serve_trace), ("scan", &scan_trace)] {
        let trace = std::fs::read_to_string(path).unwrap();
        let opened: BTreeSet<String> = calls(&trace)
            .iter()
            .filter(|c| c.name.starts_with("open"))
            .filter_map(opened_path)
            .collect();
        let reads = |f: &str| opened.contains(&format!("/proc/{}/{f}", holder.pid));
        assert!(
            reads("mountinfo") && reads("cgroup"),
            "{what}: the trace does not show the holder's mountinfo and cgroup being read:\n{}",
            &trace[..trace.len().min(4000)]
        );
        let v = violations(&trace, "/proc");
        assert!(
            v.is_empty(),
            "{what}: {} violations:\n{}",
            v.len(),
            v.join("\n")
        );
        let opens = calls(&trace)
            .iter()
            .filter(|c| c.name.starts_with("open"))
            .count();
        eprintln!(
            "[figures] strace {what}: {} lines, {opens} opens, no violation",
            trace.lines().count()
        );
    }
    drop(holder);
    drop(container);
}

// ---------------------------------------------------------------------------------------
// Secrets

/// (3c) A container's environment (inspect output carries it) appears nowhere: not in the
/// trace-level log, not in /metrics, /api/v1/leaks or the landing page, not in `scan`.
#[test]
fn container_environment_never_leaves_the_exporter() {
    let env = env();
    let secret = format!(
        "s3cr3t-{:x}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let exporter = Exporter::start(&["--log.level=trace", "--metrics.max-series=1000000"]);
    let mut volume = Volume::create_tmpfs("secret-vol");
    let mut container = Container::run(
        "secret",
        &[
            "--ipc=shareable",
            "--network=none",
            "-e",
            &format!("MOUNTLEAK_SECRET={secret}"),
            "--label",
            &format!("mountleak.secret={secret}"),
            "-v",
            &format!("{}:/data", volume.name),
        ],
        &["sleep", "1000000"],
    );
    assert!(
        container.inspect("{{json .Config.Env}}").contains(&secret),
        "the secret is in the inspect output the exporter reads"
    );
    let roots = [env.docker_root.as_str(), env.docker_exec_root.as_str()];
    let holder = Holder::spawn_keeping("secret", Propagation::Private, 1, &roots);
    let t = Duration::from_secs(30);
    let mut bodies = Vec::new();
    let collect = |bodies: &mut Vec<(String, String)>| {
        for path in ["/metrics", "/api/v1/leaks", "/"] {
            bodies.push((path.to_string(), exporter.get(path)));
        }
    };
    poll_until("the container's leak with its name", t, || {
        let body = exporter.get("/metrics");
        if body.contains(&container.name) && body.contains(&holder.unit) {
            Ok(())
        } else {
            Err("not yet".into())
        }
    });
    collect(&mut bodies);
    container.stop();
    collect(&mut bodies);
    let out = run_scan(&["--output", "json", "--log.level=trace"]);
    bodies.push((
        "scan stdout".into(),
        String::from_utf8_lossy(&out.stdout).into(),
    ));
    bodies.push((
        "scan stderr".into(),
        String::from_utf8_lossy(&out.stderr).into(),
    ));
    container.remove();
    poll_until("the removed container's volume leak", t, || {
        let body = exporter.get("/metrics");
        if body.contains("container_state=\"removed\"") && body.contains(&container.name) {
            Ok(())
        } else {
            Err("not yet".into())
        }
    });
    collect(&mut bodies);
    let log = exporter.log();
    // The log is verbose (trace) and speaks of this container: the check below is not vacuous.
    assert!(
        log.contains(&container.id) && log.lines().count() > 20,
        "the trace-level log does not mention the container:\n{log}"
    );
    bodies.push(("log".into(), log));
    for (what, text) in &bodies {
        assert!(!text.contains(&secret), "the secret appears in {what}");
    }
    let log_lines = bodies.last().unwrap().1.lines().count();
    eprintln!(
        "[figures] secret absent from {} documents ({} trace-level log lines)",
        bodies.len(),
        log_lines
    );
    drop(holder);
    volume.remove();
}

// ---------------------------------------------------------------------------------------
// Capabilities

/// `mountleak_exporter scan --output json` under `setpriv --bounding-set <set>` (root keeps
/// its uid; its capabilities become the bounding set), or as plain root when `set` is None.
fn scan_with_bounding(set: Option<&str>) -> serde_json::Value {
    let mut cmd = match set {
        Some(set) => {
            require_tool("setpriv");
            let mut c = Command::new("setpriv");
            c.arg(format!("--bounding-set={set}"))
                .arg("--")
                .arg(exporter_bin());
            c
        }
        None => Command::new(exporter_bin()),
    };
    let out = cmd
        .args(["scan", "--output", "json"])
        .args(docker_flags())
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "scan under {set:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The entry of `doc["namespaces"]` a leak names.
fn namespace_of<'a>(doc: &'a serde_json::Value, leak: &serde_json::Value) -> &'a serde_json::Value {
    doc["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| {
            n["inode"] == leak["namespace"]["inode"] && n["root"] == leak["namespace"]["root"]
        })
        .expect("every leak's namespace is listed")
}

/// (mount point, holder unit, holder pid) of the leaks of `unit`.
fn leaks_of(doc: &serde_json::Value, unit: &str) -> BTreeSet<(String, String, u64)> {
    doc["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| {
            namespace_of(doc, l)["processes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["unit"] == unit)
        })
        .map(|l| {
            (
                l["mount_point"].as_str().unwrap().to_string(),
                l["holder"]["unit"].as_str().unwrap_or("").to_string(),
                l["holder"]["pid"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn leaks_of_container(doc: &serde_json::Value, container_id: &str) -> usize {
    doc["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["container"]["id"] == container_id)
        .count()
}

/// Root with CAP_SYS_PTRACE alone sees what full root sees; without it the holder (a root
/// process with every capability) cannot be read and its leak is lost, counted as
/// permission_denied. So CAP_SYS_PTRACE is needed, and nothing else is.
#[test]
fn cap_sys_ptrace_is_the_only_capability_needed() {
    let env = env();
    let container = Container::run(
        "caps",
        &["--ipc=shareable", "--network=none"],
        &["sleep", "1000000"],
    );
    let roots = [env.docker_root.as_str(), env.docker_exec_root.as_str()];
    let holder = Holder::spawn_keeping("caps", Propagation::Private, 1, &roots);
    let (full, ptrace_only) = poll_until(
        "the same view with only cap_sys_ptrace",
        Duration::from_secs(30),
        || {
            let full = scan_with_bounding(None);
            let ptrace_only = scan_with_bounding(Some("-all,+sys_ptrace"));
            let (a, b) = (
                leaks_of(&full, &holder.unit),
                leaks_of(&ptrace_only, &holder.unit),
            );
            let denied = |d: &serde_json::Value| d["scan"]["errors"]["permission_denied"].as_u64();
            if !a.is_empty() && a == b && denied(&full) == denied(&ptrace_only) {
                Ok((full, ptrace_only))
            } else {
                Err(format!(
                    "full root: {a:?} {}\ncap_sys_ptrace: {b:?} {}",
                    full["scan"], ptrace_only["scan"]
                ))
            }
        },
    );
    assert_eq!(
        leaks_of_container(&full, &container.id),
        leaks_of_container(&ptrace_only, &container.id)
    );
    let none = scan_with_bounding(Some("-all"));
    assert!(
        leaks_of(&none, &holder.unit).is_empty(),
        "without cap_sys_ptrace the holder should be unreadable: {:?}",
        leaks_of(&none, &holder.unit)
    );
    let denied = |d: &serde_json::Value| d["scan"]["errors"]["permission_denied"].as_u64().unwrap();
    assert!(
        denied(&none) > denied(&full),
        "without cap_sys_ptrace: {} denied, full root: {}",
        none["scan"],
        full["scan"]
    );
    eprintln!(
        "[figures] permission_denied: full root {}, cap_sys_ptrace only {}, no capability {}",
        denied(&full),
        denied(&ptrace_only),
        denied(&none)
    );
    drop(holder);
}

/// The exporter's stderr when served under `prefix` (e.g. setpriv) for a moment.
fn startup_log(prefix: &[&str], extra: &[&str]) -> String {
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(exporter_bin());
            c
        }
        None => Command::new(exporter_bin()),
    };
    let mut child = cmd
        .args([
            "--web.listen-address=127.0.0.1:0",
            "--docker.host=unix:///nonexistent/docker.sock",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) of our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let _ = child.wait();
    reader.join().unwrap()
}

/// At startup it says what it holds, and warns about more (or less) than it needs.
#[test]
fn startup_log_names_capabilities_and_warns_about_extra_ones() {
    require_tool("setpriv");
    let root = startup_log(&[], &[]);
    assert!(
        root.contains("capabilities") && root.contains("cap_sys_admin"),
        "{root}"
    );
    assert!(
        root.lines().any(|l| l.contains("level=warn")
            && l.contains("does not need")
            && l.contains("cap_sys_admin")),
        "no warning about extra capabilities as full root:\n{root}"
    );
    let exact = startup_log(&["setpriv", "--bounding-set=-all,+sys_ptrace", "--"], &[]);
    // Only the capability check is under test: the run has no Docker, which warns too.
    assert!(
        !exact
            .lines()
            .any(|l| l.contains("level=warn") && l.contains("source=privilege.rs:")),
        "warned about capabilities with exactly what it needs:\n{exact}"
    );
    assert!(exact.contains("effective=cap_sys_ptrace"), "{exact}");
    let none = startup_log(&["setpriv", "--bounding-set=-all", "--"], &[]);
    assert!(
        none.lines()
            .any(|l| l.contains("level=warn") && l.contains("missing=cap_sys_ptrace")),
        "no warning about the missing capability:\n{none}"
    );
}

/// `--runtime.drop-capabilities`: every thread keeps only cap_sys_ptrace (effective,
/// permitted, bounding; nothing inheritable or ambient), and the leak is still reported with
/// the holder read in full.
#[test]
fn drop_capabilities_keeps_only_cap_sys_ptrace_and_still_reports_the_leak() {
    let env = env();
    let container = Container::run(
        "dropcaps",
        &["--ipc=shareable", "--network=none"],
        &["sleep", "1000000"],
    );
    let roots = [env.docker_root.as_str(), env.docker_exec_root.as_str()];
    let holder = Holder::spawn_keeping("dropcaps", Propagation::Private, 1, &roots);
    let exporter = Exporter::start(&[
        "--runtime.drop-capabilities",
        "--metrics.max-series=1000000",
    ]);
    poll_until(
        "the leak, read through cap_sys_ptrace alone",
        Duration::from_secs(30),
        || {
            let doc = exporter.leaks_json();
            let got = leaks_of(&doc, &holder.unit);
            let held: Vec<_> = doc["leaks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|l| {
                    l["container"]["id"] == container.id.as_str()
                        && l["holder"]["unit"] == holder.unit.as_str()
                })
                .collect();
            let comms_read = held
                .iter()
                .all(|l| l["holder"]["comm"] == "sh" && l["holder"]["process_count"] == 2);
            if !held.is_empty() && comms_read && got.iter().all(|g| g.2 == holder.pid as u64) {
                Ok(())
            } else {
                Err(format!("{got:?} {}", doc["scan"]))
            }
        },
    );
    let want = format!("{:016x}", 1u64 << 19);
    let tasks = std::fs::read_dir(format!("/proc/{}/task", exporter.pid())).unwrap();
    let mut n = 0;
    for task in tasks {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        assert_eq!(field("CapEff:"), want, "{status}");
        assert_eq!(field("CapPrm:"), want, "{status}");
        assert_eq!(field("CapBnd:"), want, "{status}");
        assert_eq!(field("CapInh:"), "0000000000000000", "{status}");
        assert_eq!(field("CapAmb:"), "0000000000000000", "{status}");
        n += 1;
    }
    assert!(n >= 2, "only {n} threads checked");
    let log = exporter.log();
    assert!(log.contains("dropped capabilities"), "{log}");
    assert!(
        !log.contains("does not need"),
        "warned although it dropped:\n{log}"
    );
    eprintln!("[figures] --runtime.drop-capabilities: {n} threads with CapEff={want}");

    // Incremental scans (issue 17) need nothing more on Linux 6.18+, where listmount(2)
    // takes the namespace's ns/mnt fd; before, naming another namespace by id needs
    // CAP_SYS_ADMIN, so the exporter scans in full.
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut v = release
        .trim()
        .split(['.', '-'])
        .map(|x| x.parse::<u32>().unwrap_or(0));
    let fd_naming = (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (6, 18);
    exporter.scrape();
    let samples = exporter.scrape();
    let value = |name: &str, labels: &[(&str, &str)]| {
        select(&samples, name, labels).first().map(|s| s.value)
    };
    let mode = if fd_naming { "listmount" } else { "full" };
    assert_eq!(
        value("mountleak_scan_mode", &[("mode", mode)]),
        Some(1.0),
        "kernel {}: {}",
        release.trim(),
        show(&select(&samples, "mountleak_scan_mode", &[]))
    );
    let (read, covered) = (
        value("mountleak_scan_namespaces_reread", &[]).unwrap(),
        value("mountleak_mount_namespaces_scanned", &[]).unwrap(),
    );
    if fd_naming {
        assert!(
            read < covered,
            "a steady scrape read {read} of {covered} tables"
        );
    }
    // The container stops: the reference's table changes, the holder's does not; its copy
    // is now reported stale.
    container.stop();
    let shm = container.shm_mount_point();
    poll_until(
        "the holder's copy of shm reported stale",
        Duration::from_secs(30),
        || {
            let doc = exporter.leaks_json();
            let stale = doc["leaks"].as_array().unwrap().iter().any(|l| {
                l["mount_point"] == shm.as_str()
                    && l["holder"]["unit"] == holder.unit.as_str()
                    && l["status"] == "stale"
            });
            if stale {
                Ok(())
            } else {
                Err(doc["scan"].to_string())
            }
        },
    );
    eprintln!(
        "[figures] with only cap_sys_ptrace: mode {mode}, a steady scrape read {read} of {covered} tables"
    );
    drop(holder);
}
