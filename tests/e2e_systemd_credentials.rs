//! The credentials deploy/systemd/mountleak_exporter.service gives the exporter, applied
//! with setpriv (this machine has no systemd to start the unit): a non-root user, the docker
//! group, CAP_SYS_PTRACE as its only (ambient) capability, no_new_privs. With them the binary
//! must see the leak scenario exactly as root does; without the capability it must not.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

/// Calls the exporter can do without: refused (EPERM), its scans read every mount table
/// instead of only the changed ones. The unit allows them by name, which a systemd whose
/// libseccomp predates them ignores (Debian 12's); a test below refuses them for real.
const OPTIONAL_CALLS: [(&str, u32); 2] = [
    // x86-64 numbers (arch/x86/entry/syscalls/syscall_64.tbl): an strace older than the
    // calls prints them as syscall_0x1c9 / syscall_0x1ca.
    ("statmount", 457),
    ("listmount", 458),
];

/// `[Service]` settings of the unit: key -> values, in order.
fn unit_service_settings() -> BTreeMap<String, Vec<String>> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd/mountleak_exporter.service");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut section = "";
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            section = line;
            continue;
        }
        if section == "[Service]" {
            let (key, value) = line.split_once('=').expect("key=value");
            out.entry(key.to_string())
                .or_default()
                .push(value.to_string());
        }
    }
    out
}

fn single<'a>(settings: &'a BTreeMap<String, Vec<String>>, key: &str) -> &'a str {
    match settings.get(key).map(Vec::as_slice) {
        Some([value]) => value,
        other => panic!("the unit should set {key}= once, has {other:?}"),
    }
}

/// `CAP_SYS_PTRACE CAP_X` -> `sys_ptrace,x` as setpriv spells capabilities.
fn setpriv_caps(value: &str) -> String {
    value
        .split_whitespace()
        .map(|c| c.trim_start_matches("CAP_").to_ascii_lowercase())
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn gid_of(group: &str) -> u32 {
    let groups = fs::read_to_string("/etc/group").expect("read /etc/group");
    groups
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&group)).then(|| f[2].parse().expect("numeric gid"))
        })
        .unwrap_or_else(|| panic!("no group {group} (Debian's docker.io package creates it)"))
}

/// setpriv arguments for the unit's credentials (`with_capabilities` false: the same, minus
/// every capability).
fn unit_credentials(with_capabilities: bool) -> Vec<String> {
    let s = unit_service_settings();
    let bounding = single(&s, "CapabilityBoundingSet");
    let ambient = single(&s, "AmbientCapabilities");
    assert_eq!(single(&s, "NoNewPrivileges"), "yes");
    let group = single(&s, "SupplementaryGroups");
    let caps = |v: &str| {
        if with_capabilities {
            format!("-all,{}", setpriv_caps(v))
        } else {
            "-all".to_string()
        }
    };
    // The unit's own user exists only where it is installed: any unprivileged uid will do.
    vec![
        "--reuid=65534".to_string(),
        "--regid=65534".to_string(),
        format!("--groups={}", gid_of(group)),
        format!("--inh-caps={}", caps(ambient)),
        format!("--ambient-caps={}", caps(ambient)),
        format!("--bounding-set={}", caps(bounding)),
        "--no-new-privs".to_string(),
    ]
}

/// The binary under test, copied where the unprivileged uid may execute it (the checkout
/// may sit below a directory only root can enter). Removed with the returned TempDir.
fn binary_for_any_user() -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod tempdir");
    let bin = dir.path().join("mountleak_exporter");
    fs::copy(exporter_bin(), &bin).expect("copy the exporter binary");
    (dir, bin)
}

/// `scan --output json` under the given setpriv credentials (none: as root).
fn scan_as(credentials: Option<Vec<String>>) -> Value {
    let (_dir, bin) = binary_for_any_user();
    let mut cmd = match &credentials {
        Some(args) => {
            let mut c = Command::new("setpriv");
            c.args(args).arg("--").arg(&bin);
            c
        }
        None => Command::new(exporter_bin()),
    };
    cmd.arg("scan")
        .arg("--output=json")
        .args(docker_flags())
        .env_remove("DOCKER_HOST");
    let out = cmd.output().expect("run the exporter's scan");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "scan as {credentials:?} exited {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Leaks of the test's own container held by its holder, without the per-run first_seen.
fn leaks_in_scope(report: &Value, unit: &str, container_id: &str) -> BTreeSet<String> {
    report["leaks"]
        .as_array()
        .expect("leaks array")
        .iter()
        .filter(|l| l["holder"]["unit"] == unit && l["container"]["id"] == container_id)
        .map(|l| {
            let mut l = l.clone();
            l.as_object_mut().unwrap().remove("first_seen");
            l.to_string()
        })
        .collect()
}

#[test]
fn the_units_credentials_see_what_root_sees() {
    let socket = env().docker_host.trim_start_matches("unix://").to_string();
    let socket_gid = fs::metadata(&socket)
        .expect("stat the daemon's socket")
        .gid();
    let group = unit_service_settings()["SupplementaryGroups"][0].clone();
    assert_eq!(
        socket_gid,
        gid_of(&group),
        "the private daemon's socket should belong to the {group} group, as on a Docker host"
    );

    let app = Container::run(
        "unit-app",
        &["--ipc=shareable", "--network=none"],
        &["sleep", "1000000"],
    );
    let holder = Holder::spawn("unit-holder", Propagation::Private, 1);

    let as_root = scan_as(None);
    let expected = leaks_in_scope(&as_root, &holder.unit, &app.id);
    let kinds: BTreeSet<String> = expected
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        ["rootfs", "shm", "netns"]
            .iter()
            .all(|k| kinds.contains(*k)),
        "root sees the holder's copies of the container's mounts: {kinds:?}"
    );

    let as_unit = scan_as(Some(unit_credentials(true)));
    assert_eq!(
        as_unit["scan"]["docker_up"], true,
        "the docker group opens the socket"
    );
    assert_eq!(
        leaks_in_scope(&as_unit, &holder.unit, &app.id),
        expected,
        "the unit's credentials see the same leaks as root"
    );

    let without = scan_as(Some(unit_credentials(false)));
    assert!(
        leaks_in_scope(&without, &holder.unit, &app.id).is_empty(),
        "without CAP_SYS_PTRACE the holder's namespace is unreadable"
    );
    assert!(
        without["scan"]["errors"]["permission_denied"]
            .as_u64()
            .unwrap()
            > 0
    );
}

/// Every system call in `@group` (groups nest), as `systemd-analyze syscall-filter` lists it.
fn syscall_group(group: &str, out: &mut BTreeSet<String>) {
    let listing = Command::new("systemd-analyze")
        .args(["syscall-filter", group])
        .output()
        .expect("run systemd-analyze (Debian package systemd)");
    assert!(
        listing.status.success(),
        "systemd-analyze syscall-filter {group} failed"
    );
    for word in String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && *l != group)
    {
        if word.starts_with('@') {
            syscall_group(word, out);
        } else {
            out.insert(word.to_string());
        }
    }
}

/// What the unit's `SystemCallFilter=` lines let through: the allow lists, minus the `~` lists.
fn unit_allowed_syscalls() -> BTreeSet<String> {
    let expand = |words: &str| {
        let mut set = BTreeSet::new();
        for w in words.split_whitespace() {
            if w.starts_with('@') {
                syscall_group(w, &mut set);
            } else {
                set.insert(w.to_string());
            }
        }
        set
    };
    let mut allowed = BTreeSet::new();
    let mut denied = BTreeSet::new();
    for line in &unit_service_settings()["SystemCallFilter"] {
        match line.strip_prefix('~') {
            Some(deny) => denied.extend(expand(deny)),
            None => allowed.extend(expand(line)),
        }
    }
    assert!(!allowed.is_empty(), "the unit has an allow list");
    &allowed - &denied
}

/// The exporter serving under the unit's credentials, run by `strace -f`, in a process group
/// of its own: if the test fails before it stops the exporter, dropping this kills strace and
/// the exporter, so neither outlives the test (nor keeps its port, the Docker socket open).
struct Traced {
    strace: Child,
    trace: PathBuf,
    base: String,
    stopped: bool,
}

impl Traced {
    /// `wrapper`: argv run between setpriv and the exporter, which it must exec in place.
    fn start(bin: &Path, trace: &Path, wrapper: &[String]) -> Traced {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        let strace = Command::new("strace")
            .args(["-f", "-qq", "-o"])
            .arg(trace)
            .arg("setpriv")
            .args(unit_credentials(true))
            .arg("--")
            .args(wrapper)
            .arg(bin)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--scan.min-interval=0s")
            .args(docker_flags())
            .env_remove("DOCKER_HOST")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .expect("run strace (Debian package strace)");
        let traced = Traced {
            strace,
            trace: trace.to_path_buf(),
            base: format!("http://127.0.0.1:{port}"),
            stopped: false,
        };
        poll_until(
            "the traced exporter to serve /healthz",
            Duration::from_secs(30),
            || match http_get(&format!("{}/healthz", traced.base)) {
                Ok((200, _)) => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
        traced
    }

    /// The exporter's pid: the first one strace wrote (setpriv execs it in place).
    fn exporter_pid(&self) -> i32 {
        fs::read_to_string(&self.trace)
            .expect("read the trace")
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a pid at the start of the trace")
    }

    /// SIGTERM to the exporter, as systemd stops it; strace's exit status is the exporter's.
    fn terminate(mut self) -> ExitStatus {
        // SAFETY: kill(2) on the pid of our own traced child.
        unsafe {
            libc::kill(self.exporter_pid(), libc::SIGTERM);
        }
        let status = self.strace.wait().expect("wait for strace");
        self.stopped = true;
        status
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        if !self.stopped {
            // SAFETY: kill(2) on the process group our own child leads.
            unsafe {
                libc::kill(-(self.strace.id() as i32), libc::SIGKILL);
            }
            let _ = self.strace.wait();
        }
    }
}

/// A test that fails while the traced exporter serves leaves neither strace nor the
/// exporter running.
#[test]
fn a_failing_trace_test_leaves_no_exporter_behind() {
    let (dir, bin) = binary_for_any_user();
    let trace = dir.path().join("trace");
    let started = std::panic::catch_unwind(|| {
        let traced = Traced::start(&bin, &trace, &[]);
        let pids = (traced.strace.id() as i32, traced.exporter_pid());
        std::panic::panic_any(pids);
    })
    .expect_err("the closure panics");
    let (strace, exporter) = *started
        .downcast::<(i32, i32)>()
        .expect("the pids as panic payload");
    // Reaped (strace by the guard, the exporter by whoever it was reparented to), or at least
    // dead: a zombie holds no port and no socket.
    let alive = |pid: i32| {
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
            .unwrap_or(false)
    };
    poll_until(
        "strace and the exporter to be gone after the failure",
        Duration::from_secs(10),
        || match (alive(strace), alive(exporter)) {
            (false, false) => Ok(()),
            other => Err(format!(
                "alive (strace {strace}, exporter {exporter}): {other:?}"
            )),
        },
    );
}

/// The exporter serving under the unit's credentials with every system call it makes
/// recorded by strace: it must need none that the unit's filter refuses (systemd would answer
/// those with EPERM: SystemCallErrorNumber=).
#[test]
fn the_units_system_call_filter_allows_what_the_exporter_calls() {
    let allowed = unit_allowed_syscalls();
    let app = Container::run(
        "filter-app",
        &["--ipc=shareable", "--network=none"],
        &["sleep", "1000000"],
    );
    let holder = Holder::spawn("filter-holder", Propagation::Private, 1);

    let (dir, bin) = binary_for_any_user();
    let trace = dir.path().join("trace");
    let traced = Traced::start(&bin, &trace, &[]);
    let base = traced.base.clone();
    // Every page, twice (the second scan reuses what the first learnt), and a 404.
    for _ in 0..2 {
        for path in ["/metrics", "/api/v1/leaks", "/", "/healthz", "/nope"] {
            http_get(&format!("{base}{path}")).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        }
    }
    let leaks = http_get(&format!("{base}/api/v1/leaks")).unwrap().1;
    assert!(
        leaks.contains(&holder.unit),
        "the traced exporter saw the holder: {leaks}"
    );

    // SIGTERM is how systemd stops it.
    let status = traced.terminate();
    assert!(
        status.success(),
        "the exporter stops cleanly on SIGTERM: {status}"
    );

    let text = fs::read_to_string(&trace).expect("read the trace");
    // Only what follows the exec of the exporter: setpriv's own calls come before it.
    let lines: Vec<&str> = text.lines().collect();
    let exec = lines
        .iter()
        .rposition(|l| {
            l.contains("execve(") && l.contains(bin.to_str().unwrap()) && l.ends_with("= 0")
        })
        .expect("the exporter's execve in the trace");
    let used: BTreeSet<String> = lines[exec + 1..]
        .iter()
        .filter_map(|l| {
            let call = l.split_whitespace().nth(1)?;
            let name = call.split('(').next()?;
            let name = OPTIONAL_CALLS
                .iter()
                .find(|(_, nr)| name == format!("syscall_{nr:#x}"))
                .map_or(name, |(known, _)| known);
            (call.contains('(')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
            .then(|| name.to_string())
        })
        .collect();
    assert!(
        used.len() > 20,
        "the trace shows the exporter's calls: {used:?}"
    );
    for (call, _) in OPTIONAL_CALLS {
        assert!(
            allowed.contains(call),
            "the unit names {call} in SystemCallFilter= (systemd versions that know it allow it)"
        );
    }
    // Where this systemd cannot name them they are refused: the next test covers that.
    let refused: Vec<&String> = used.difference(&allowed).collect();
    assert!(
        refused.is_empty(),
        "the exporter calls {refused:?}, which the unit's SystemCallFilter= refuses (all it calls: {used:?})"
    );

    // RestrictAddressFamilies= likewise: every socket the exporter opened is of a family it allows.
    let settings = unit_service_settings();
    let families_allowed: BTreeSet<&str> = single(&settings, "RestrictAddressFamilies")
        .split_whitespace()
        .collect();
    let families_used: BTreeSet<&str> = lines[exec + 1..]
        .iter()
        .filter_map(|l| {
            l.split_once(" socket(")
                .or_else(|| l.split_once(" socketpair("))
        })
        .filter_map(|(_, args)| args.split([',', ')']).next())
        .collect();
    assert!(
        families_used.contains("AF_UNIX"),
        "the trace shows the Docker socket: {families_used:?}"
    );
    assert!(
        families_used.is_subset(&families_allowed),
        "sockets of families {families_used:?}, the unit allows {families_allowed:?}"
    );
    drop(holder);
    drop(app);
}

/// argv that refuses the given calls with EPERM (a seccomp filter, as systemd's
/// `SystemCallErrorNumber=EPERM` does) and execs the rest of the command line in place.
fn refusing(calls: &[(&str, u32)]) -> Vec<String> {
    const SCRIPT: &str = "import os, sys, seccomp\n\
        f = seccomp.SyscallFilter(seccomp.ALLOW)\n\
        for nr in sys.argv[1].split(','):\n    f.add_rule(seccomp.ERRNO(1), int(nr))\n\
        f.load()\n\
        os.execv(sys.argv[2], sys.argv[2:])\n";
    let python = "/usr/bin/python3";
    let probe = Command::new(python)
        .args(["-c", "import seccomp"])
        .output()
        .expect("run /usr/bin/python3 (Debian package python3)");
    assert!(
        probe.status.success(),
        "python3 cannot import seccomp (Debian package python3-seccomp): {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let numbers: Vec<String> = calls.iter().map(|(_, nr)| nr.to_string()).collect();
    vec![
        python.to_string(),
        "-c".to_string(),
        SCRIPT.to_string(),
        numbers.join(","),
    ]
}

/// The `mode` label of `mountleak_scan_mode`.
fn scan_mode(base: &str) -> String {
    let metrics = http_get(&format!("{base}/metrics")).expect("scrape").1;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("mountleak_scan_mode{mode=\""))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no mountleak_scan_mode in {metrics}"))
        .to_string()
}

/// Under a systemd too old to name listmount/statmount the unit's filter refuses them: the
/// exporter must notice, read every table on every scan, and report exactly the same leaks.
#[test]
fn refused_listmount_leaves_full_scans_that_find_the_same_leaks() {
    let app = Container::run(
        "refused-app",
        &["--ipc=shareable", "--network=none"],
        &["sleep", "1000000"],
    );
    let holder = Holder::spawn("refused-holder", Propagation::Private, 1);
    let (dir, bin) = binary_for_any_user();
    let plain = Traced::start(&bin, &dir.path().join("plain"), &[]);
    let filtered = Traced::start(
        &bin,
        &dir.path().join("filtered"),
        &refusing(&OPTIONAL_CALLS),
    );

    let leaks = |t: &Traced| {
        let body = http_get(&format!("{}/api/v1/leaks", t.base))
            .expect("GET leaks")
            .1;
        let report: Value = serde_json::from_str(&body).expect("leaks JSON");
        leaks_in_scope(&report, &holder.unit, &app.id)
    };
    // Until each has synced with Docker, a scan recognises none of its paths.
    let with = poll_until(
        "the exporter to see the holder's copies of the container's mounts",
        Duration::from_secs(30),
        || match leaks(&plain) {
            l if l.len() >= 2 => Ok(l),
            l => Err(format!("{l:?}")),
        },
    );
    poll_until(
        "the exporter refused listmount to report the same leaks",
        Duration::from_secs(30),
        || match leaks(&filtered) {
            l if l == with => Ok(()),
            l => Err(format!("{l:?}, want {with:?}")),
        },
    );
    assert_eq!(scan_mode(&plain.base), "listmount");
    assert_eq!(
        scan_mode(&filtered.base),
        "full",
        "refused, the scans read every table"
    );

    let trace = fs::read_to_string(&filtered.trace).expect("read the trace");
    let listmount = |l: &&str| l.contains("syscall_0x1ca(") || l.contains("listmount(");
    assert!(
        trace
            .lines()
            .filter(listmount)
            .any(|l| l.contains("= -1 EPERM")),
        "the filtered exporter tried listmount and was refused: {:?}",
        trace.lines().filter(listmount).collect::<Vec<_>>()
    );
    assert!(filtered.terminate().success());
    assert!(plain.terminate().success());
}
