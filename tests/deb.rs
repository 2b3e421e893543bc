//! Issue 18: the Debian package `cargo deb` builds (scripts/test.sh builds it before the
//! tests), installed with dpkg on this machine as a user would install it: its files equal
//! the repository's (unit, sysusers, man page, completions), the postinst made the system
//! user and enabled the unit, systemd accepts the installed unit with its /usr/bin drop-in,
//! the installed binary serves metrics with the unit's credentials (this machine's PID 1 is
//! not systemd, so setpriv applies them as e2e_systemd_credentials does), and a purge
//! leaves nothing behind.

mod common;

use common::promql::{read_repo_file, repo_path};
use common::*;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

const PACKAGE: &str = "mountleak-exporter";
const USER: &str = "mountleak_exporter";
const UNIT: &str = "/usr/lib/systemd/system/mountleak_exporter.service";

fn run(cmd: &str, args: &[&str]) -> Output {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The package of this checkout's version, as `cargo deb` names it.
fn built_package() -> PathBuf {
    let deb = repo_path(&format!(
        "target/debian/{PACKAGE}_{}-1_amd64.deb",
        env!("CARGO_PKG_VERSION")
    ));
    assert!(
        deb.exists(),
        "{} is missing: build it with `cargo deb` (cargo install cargo-deb; scripts/test.sh does both)",
        deb.display()
    );
    deb
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", PACKAGE])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Purges the package (and the system user the postinst made: Debian keeps system users
/// on purge, a test machine should not) however the test ends.
struct Installed;

impl Installed {
    fn new(deb: &Path) -> Installed {
        assert!(
            !installed(),
            "{PACKAGE} is already installed on this machine: the test installs and purges its own"
        );
        let guard = Installed;
        run("dpkg", &["-i", deb.to_str().unwrap()]);
        guard
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", PACKAGE]).output();
        let _ = Command::new("userdel").arg(USER).output();
    }
}

fn gunzip(path: &str) -> String {
    let out = run("gzip", &["-dc", path]);
    String::from_utf8(out.stdout).unwrap()
}

fn passwd_entry(user: &str) -> Option<Vec<String>> {
    let out = Command::new("getent")
        .args(["passwd", user])
        .output()
        .ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .split(':')
            .map(str::to_string)
            .collect()
    })
}

/// The installed binary, started with the unit's user, group, supplementary group and
/// capabilities (deploy/systemd/mountleak_exporter.service: CAP_SYS_PTRACE only).
fn start_as_the_unit(port: u16) -> Child {
    Command::new("setpriv")
        .args([
            &format!("--reuid={USER}"),
            &format!("--regid={USER}"),
            "--init-groups",
            "--inh-caps=-all,+sys_ptrace",
            "--ambient-caps=-all,+sys_ptrace",
            "--bounding-set=-all,+sys_ptrace",
            "--no-new-privs",
            "/usr/bin/mountleak_exporter",
            &format!("--web.listen-address=127.0.0.1:{port}"),
            // No Docker daemon at the default socket here; the scan itself is the point.
            "--runtime.docker=false",
        ])
        .spawn()
        .expect("setpriv")
}

#[test]
fn the_deb_installs_runs_as_its_unit_and_purges_clean() {
    let deb = built_package();
    require_tool("dpkg");
    let guard = Installed::new(&deb);

    // Files: the repository's own, where Debian expects them.
    let same = |installed: &str, repo: &str| {
        assert!(
            fs::read(installed).unwrap_or_default() == fs::read(repo_path(repo)).unwrap(),
            "{installed} is not {repo}: rebuild the package with `cargo deb`"
        );
    };
    same(UNIT, "deploy/systemd/mountleak_exporter.service");
    same(
        "/usr/lib/sysusers.d/mountleak_exporter.conf",
        "deploy/systemd/mountleak_exporter.sysusers",
    );
    same(
        "/usr/share/bash-completion/completions/mountleak_exporter",
        "deploy/packaging/completions/mountleak_exporter.bash",
    );
    same(
        "/usr/share/zsh/vendor-completions/_mountleak_exporter",
        "deploy/packaging/completions/_mountleak_exporter",
    );
    same(
        "/usr/share/fish/vendor_completions.d/mountleak_exporter.fish",
        "deploy/packaging/completions/mountleak_exporter.fish",
    );
    assert_eq!(
        gunzip("/usr/share/man/man1/mountleak_exporter.1.gz"),
        read_repo_file("deploy/packaging/mountleak_exporter.1")
    );
    let conffiles = run("dpkg-query", &["-W", "-f=${Conffiles}", PACKAGE]);
    assert!(
        String::from_utf8_lossy(&conffiles.stdout).contains("/etc/default/mountleak_exporter "),
        "the environment file is a conffile (kept on upgrade and remove)"
    );

    // The postinst: the system user (sysusers: no login, home /, in the docker group) and
    // the unit enabled (deb-systemd-helper links it even where systemd does not run).
    let user = passwd_entry(USER).expect("the postinst creates the mountleak_exporter user");
    assert!(
        user[2].parse::<u32>().unwrap() < 1000,
        "a system uid: {user:?}"
    );
    assert_eq!(user[5..], ["/", "/usr/sbin/nologin"], "{user:?}");
    let groups = run("id", &["-nG", USER]);
    assert!(
        String::from_utf8_lossy(&groups.stdout)
            .split_whitespace()
            .any(|g| g == "docker"),
        "the user is in the docker group (sysusers `m` line)"
    );
    let wants = "/etc/systemd/system/multi-user.target.wants/mountleak_exporter.service";
    // (/lib is /usr/lib on a merged-/usr system, Debian 12's default.)
    fs::read_link(wants).expect("the unit is enabled");
    assert_eq!(
        fs::canonicalize(wants).unwrap(),
        fs::canonicalize(UNIT).unwrap()
    );

    // systemd loads the installed unit with the drop-in: without it ExecStart would name
    // /usr/local/bin, which the package does not install, and verify would say so.
    let verify = Command::new("systemd-analyze")
        .args(["verify", UNIT])
        .output()
        .expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&verify.stderr);
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !l.contains("Failed to parse system call, ignoring: "))
        .collect();
    assert!(complaints.is_empty(), "systemd-analyze verify: {stderr}");

    // The installed binary, as the unit runs it.
    let version = run("/usr/bin/mountleak_exporter", &["--version"]);
    assert!(
        String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")),
        "{version:?}"
    );
    let port = free_port();
    let mut child = start_as_the_unit(port);
    let metrics = poll_until(
        "the installed exporter to answer",
        Duration::from_secs(20),
        || match http_get(&format!("http://127.0.0.1:{port}/metrics")) {
            Ok((200, body)) => Ok(body),
            other => Err(format!("{other:?}")),
        },
    );
    let _ = child.kill();
    let _ = child.wait();
    let samples = parse_prometheus_text(&metrics).unwrap();
    let value = |name: &str| {
        samples
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} in:\n{metrics}"))
            .value
    };
    assert_eq!(value("mountleak_scan_success"), 1.0, "{metrics}");
    assert!(
        value("mountleak_mount_namespaces_scanned") >= 2.0,
        "CAP_SYS_PTRACE lets the unit's user see other namespaces:\n{metrics}"
    );

    // Purge: every file gone (the environment file too), the unit no longer enabled.
    run("dpkg", &["--purge", PACKAGE]);
    for path in [
        "/usr/bin/mountleak_exporter",
        UNIT,
        "/etc/default/mountleak_exporter",
        wants,
    ] {
        assert!(
            fs::symlink_metadata(path).is_err(),
            "{path} is left after purge"
        );
    }
    drop(guard);
    let mut rest = String::new();
    let _ = fs::File::open("/etc/passwd").map(|mut f| f.read_to_string(&mut rest));
    assert!(
        !rest.contains("mountleak_exporter:"),
        "the test user is removed"
    );
}
