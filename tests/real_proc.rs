//! The scan against the real /proc of this machine: zombies, unprivileged runs and hidepid.
//! Each gives correct output for what it could see and counts what it could not.

mod common;

use common::require_tool;
use std::path::Path;
use std::process::{Command, Output};

use mountleak_exporter::host;
use mountleak_exporter::layout::Layout;

fn layout() -> Layout {
    Layout::new(["/var/lib/docker"], ["/run/docker"])
}

fn setpriv() -> Command {
    require_tool("setpriv");
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
    c
}

fn scan_json(cmd: &mut Command, procfs: &Path) -> (Output, serde_json::Value) {
    let out = cmd
        .arg(env!("CARGO_BIN_EXE_mountleak_exporter"))
        .args([
            "scan",
            "--output",
            "json",
            "--docker.host=unix:///nonexistent/docker.sock",
        ])
        .arg(format!("--path.procfs={}", procfs.display()))
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "scan printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, v)
}

#[test]
fn a_zombie_is_counted_not_fatal() {
    assert!(
        nix_is_root(),
        "run as root (scripts/test.sh does): this test reads every process's /proc entries"
    );
    // A child we do not reap yet: a zombie until `wait`.
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap()
        .contains(") Z ")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "child did not become a zombie"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let snap = host::scan(Path::new("/proc"), &layout(), &Default::default()).unwrap();
    assert!(snap.errors.vanished >= 1, "{:?}", snap.errors);
    assert!(snap.namespaces.iter().all(|ns| !ns.pids.contains(&pid)));
    assert!(!snap.namespaces.is_empty() && snap.processes_scanned > 1);
    child.wait().unwrap();
}

fn nix_is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

#[test]
fn unprivileged_run_reports_what_it_could_not_read() {
    assert!(
        nix_is_root(),
        "run as root (scripts/test.sh does): the test drops to nobody itself"
    );
    let (out, v) = scan_json(&mut setpriv(), Path::new("/proc"));
    assert_ne!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["scan"]["success"], true);
    assert!(
        v["scan"]["errors"]["permission_denied"].as_u64().unwrap() > 0,
        "{}",
        v["scan"]
    );
    assert!(v["scan"]["processes_scanned"].as_u64().unwrap() > 1);
}

struct ProcMount(tempfile::TempDir);

impl Drop for ProcMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn hidepid_hides_processes_without_failing_the_scan() {
    assert!(
        nix_is_root(),
        "run as root (scripts/test.sh does): the test mounts a procfs"
    );
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("mount")
        .args(["-t", "proc", "-o", "hidepid=2", "proc"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "mount -t proc -o hidepid=2 failed");
    let m = ProcMount(dir);
    let (_, root_view) = scan_json(&mut Command::new("env"), m.0.path());
    let (out, hidden) = scan_json(&mut setpriv(), m.0.path());
    assert_ne!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(hidden["scan"]["success"], true);
    let seen = hidden["scan"]["processes_scanned"].as_u64().unwrap();
    let all = root_view["scan"]["processes_scanned"].as_u64().unwrap();
    assert!(
        seen >= 1 && seen < all,
        "nobody saw {seen} of {all} processes through hidepid=2"
    );
}
