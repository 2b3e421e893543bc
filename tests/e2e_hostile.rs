//! Issue 12, attacks by whoever names a cgroup or a mount point, against the real binary:
//! the fix it prints must run exactly one command when pasted into a root shell, a
//! delegated cgroup must not pass for a host unit, and no name may forge a line of the
//! text report or merge two mounts into one series.

mod common;

use common::paste::{paste, path_bytes};
use common::*;
use std::process::Command;

/// The leaks of `scan --output json` held by namespace leader `pid`.
fn leaks_of(json: &serde_json::Value, pid: u32) -> Vec<serde_json::Value> {
    json["leaks"]
        .as_array()
        .expect("leaks")
        .iter()
        .filter(|l| l["holder"]["pid"] == pid)
        .cloned()
        .collect()
}

fn scan_json() -> serde_json::Value {
    let out = run_scan(&["--output", "json"]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("scan JSON: {e}\n{}", String::from_utf8_lossy(&out.stderr)))
}

/// A scrape once the exporter has heard from Docker: until then it knows only the default
/// data root, not the test daemon's, and recognises none of its paths.
fn scrape_synced(ex: &Exporter) -> Vec<Sample> {
    poll_until(
        "the exporter to reach the test's Docker",
        std::time::Duration::from_secs(20),
        || {
            let samples = ex.scrape();
            let up = select(&samples, "mountleak_runtime_up", &[("runtime", "docker")]);
            if up.len() == 1 && up[0].value == 1.0 {
                Ok(samples)
            } else {
                Err(format!("mountleak_runtime_up: {}", show(&up)))
            }
        },
    )
}

/// The fix pasted into bash runs one nsenter on the holder with the mount's real path.
fn assert_fix_unmounts(leak: &serde_json::Value, pid: u32) {
    let fix = leak["fix"].as_str().unwrap();
    let mount_point = leak["mount_point"].as_str().unwrap();
    let (calls, other) = paste(fix, "bash");
    assert!(
        other.is_empty(),
        "`{fix}` ran more than one command: {other}"
    );
    let want: Vec<Vec<u8>> = [
        b"nsenter".to_vec(),
        b"-t".to_vec(),
        pid.to_string().into_bytes(),
        b"-m".to_vec(),
        b"umount".to_vec(),
        b"-l".to_vec(),
        path_bytes(mount_point),
    ]
    .into();
    assert_eq!(calls, vec![want], "`{fix}`");
    // The release offered before it names the same holder and the same real path.
    let release = leak["release"].as_str().unwrap();
    let (calls, other) = paste(release, "bash");
    assert!(other.is_empty(), "`{release}` ran more: {other}");
    let mut want: Vec<Vec<u8>> = ["mountleak_exporter", "release", "--holder"]
        .map(|w| w.as_bytes().to_vec())
        .into();
    want.push(pid.to_string().into_bytes());
    want.push(b"--mount".to_vec());
    want.push(path_bytes(mount_point));
    if leak["status"] == "at_risk" {
        want.push(b"--include-at-risk".to_vec());
    }
    want.push(b"--yes".to_vec());
    assert_eq!(calls, vec![want], "`{release}`");
}

#[test]
fn a_hostile_unit_name_never_reaches_a_pasted_command() {
    let env = env();
    let (_volume, _container, holder) = leak_scene("hostile-name");
    drop(holder);
    let roots = [env.docker_root.as_str(), env.docker_exec_root.as_str()];
    // Any user with a delegated cgroup can pick this name; the old fix pasted it into
    // `systemctl restart`, running `id` three ways as root.
    let hostile = Holder::spawn_in(
        "x;id;$(id)`id`.service",
        "",
        Propagation::Private,
        1,
        &roots,
    );
    let json = scan_json();
    let leaks = leaks_of(&json, hostile.pid);
    assert!(
        !leaks.is_empty(),
        "no leak of the hostile holder in {json:#}"
    );
    for leak in &leaks {
        // Not a unit name systemd could have made: no unit, so no systemctl.
        assert_eq!(leak["holder"]["unit"], serde_json::Value::Null, "{leak:#}");
        assert_fix_unmounts(leak, hostile.pid);
    }
    let text = String::from_utf8(run_scan(&[]).stdout).unwrap();
    for line in text.lines().filter(|l| l.trim_start().starts_with("fix:")) {
        let fix = line.trim_start().trim_start_matches("fix:").trim();
        let (calls, other) = paste(fix, "bash");
        assert!(
            other.is_empty() && calls.len() == 1,
            "`{fix}`: {calls:?} {other}"
        );
    }
}

#[test]
fn a_users_own_docker_service_is_not_the_hosts() {
    let env = env();
    let (_volume, _container, holder) = leak_scene("user-unit");
    drop(holder);
    let roots = [env.docker_root.as_str(), env.docker_exec_root.as_str()];
    // systemd delegates everything below user@1000.service to user 1000, who may call a
    // cgroup docker.service: the old report said `systemctl restart docker.service`, which
    // restarts every container on the host.
    let spoof = Holder::spawn_in(
        "u.slice",
        "user@1000.service/app.slice/docker.service",
        Propagation::Private,
        1,
        &roots,
    );
    let json = scan_json();
    let leaks = leaks_of(&json, spoof.pid);
    assert!(
        !leaks.is_empty(),
        "no leak of the spoofing holder in {json:#}"
    );
    for leak in &leaks {
        assert_eq!(
            leak["holder"]["unit"], "user@1000.service/docker.service",
            "{leak:#}"
        );
        assert_fix_unmounts(leak, spoof.pid);
    }
}

/// A holder's own mounts at container-shaped paths whose names carry a newline, a forged
/// `fix:` line, an escape sequence and bytes that are not UTF-8 (in a scope: the fix is the
/// in-place unmount, which names the path).
#[test]
fn names_cannot_forge_report_lines_or_merge_series() {
    let env = env();
    let holder = Holder::spawn_in("odd-names.scope", "", Propagation::Private, 1, &["/tmp"]);
    let base = tempfile::tempdir_in("/tmp").unwrap();
    let volumes = format!("{}{}/volumes", base.path().display(), env.docker_root);
    // (name as bash's $'...' spells it, its display form)
    let names = [
        (r"a\377", r"a\377"),
        (r"a\376", r"a\376"),
        (r"x\n  fix: reboot", r"x\012  fix: reboot"),
        (r"e\033[2Jz", r"e\033[2Jz"),
    ];
    let script: String = names
        .iter()
        .map(|(n, _)| {
            format!(
                "d={volumes}/$'{n}'/_data; mkdir -p \"$d\" && mount -t tmpfs t \"$d\" || exit 1\n"
            )
        })
        .collect();
    let out = Command::new("nsenter")
        .args(["-t", &holder.pid.to_string(), "-m", "bash", "-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "mounting in the holder: {out:?}");

    let json = scan_json();
    let leaks = leaks_of(&json, holder.pid);
    for (_, display) in names {
        let want = format!("{volumes}/{display}/_data");
        let leak = leaks
            .iter()
            .find(|l| l["mount_point"] == want.as_str())
            .unwrap_or_else(|| panic!("no leak at {want} in {leaks:#?}"));
        assert_fix_unmounts(leak, holder.pid);
    }

    let text = String::from_utf8(run_scan(&[]).stdout).unwrap();
    assert!(
        !text.contains('\x1b') && !text.contains('\r'),
        "control characters in the text report:\n{text}"
    );
    let fixes = text
        .lines()
        .filter(|l| l.trim_start().starts_with("fix:"))
        .count();
    let paragraphs = text
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains(" holds "))
        .count();
    assert!(
        !text.lines().any(|l| l.trim() == "fix: reboot"),
        "a mount point forged a fix line:\n{text}"
    );
    assert!(fixes <= paragraphs, "more fix lines than holders:\n{text}");

    // No series cap: another test's leak storm on this host must not cut ours out.
    let ex = Exporter::start(&["--metrics.max-series=10000000"]);
    let samples = scrape_synced(&ex);
    let series = select(&samples, "mountleak_leak_first_seen_timestamp_seconds", &[]);
    for (_, display) in names {
        let want = format!("{volumes}/{display}/_data");
        assert_eq!(
            series
                .iter()
                .filter(|s| s.label("mountpoint") == want)
                .count(),
            1,
            "one series for {want}: {}\n{}\n{}",
            show(&series),
            ex.get("/metrics"),
            ex.log()
        );
    }
    drop(ex);
    // Unmount in the holder before the directories go.
    drop(holder);
}

/// Issue 12, item 3: any user can `unshare -Urm` and mount a tmpfs at a container-shaped
/// path. Without a runtime behind it that is no leak: it is counted as unverified, never
/// reported as stale (which would fire MountleakStaleLeak with the user's text in it).
#[test]
fn an_unprivileged_users_fake_container_mount_is_not_a_leak() {
    let env = env();
    let base = tempfile::tempdir_in("/tmp").unwrap();
    let chmod = Command::new("chmod")
        .args(["0777", &base.path().display().to_string()])
        .status()
        .unwrap();
    assert!(chmod.success());
    let fake_id = "f".repeat(64);
    let shm = format!(
        "{}{}/containers/{fake_id}/mounts/shm",
        base.path().display(),
        env.docker_root
    );
    // nobody, in a user and mount namespace of its own.
    let faker = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(["unshare", "-Urm", "sh", "-c"])
        .arg(r#"mkdir -p "$1" && mount -t tmpfs fake "$1" && exec sleep 1000000"#)
        .args(["faker", &shm])
        .spawn()
        .expect("setpriv and unshare (util-linux) are needed");
    // Killed on any exit, a failed assertion included: it holds the test's stdout.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let pid = faker.id();
    let _faker = Kill(faker);
    poll_until(
        "the unprivileged faker to mount its tmpfs (unprivileged user namespaces allowed?)",
        std::time::Duration::from_secs(10),
        || {
            let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
                .map_err(|e| e.to_string())?;
            if mi.contains(&format!("/containers/{fake_id}/mounts/shm")) {
                Ok(())
            } else {
                Err(format!("faker {pid} has no fake mount yet"))
            }
        },
    );
    let json = scan_json();
    let fakes: Vec<_> = json["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["mount_point"].as_str().unwrap_or("").contains(&fake_id))
        .collect();
    assert!(
        fakes.is_empty(),
        "a faked mount reported as a leak: {fakes:#?}"
    );
    assert!(
        json["scan"]["unverified_copies"].as_u64().unwrap() >= 1,
        "the fake copy is not counted: {:#}",
        json["scan"]
    );
    let ex = Exporter::start(&["--metrics.max-series=10000000"]);
    let samples = scrape_synced(&ex);
    let series = select(&samples, "mountleak_leak_first_seen_timestamp_seconds", &[]);
    assert!(
        !series
            .iter()
            .any(|s| s.label("mountpoint").contains(&fake_id)),
        "a leak series for the fake: {}",
        show(&series)
    );
    let unverified = select(&samples, "mountleak_unverified_mount_copies", &[]);
    assert!(
        unverified.len() == 1 && unverified[0].value >= 1.0,
        "mountleak_unverified_mount_copies: {}",
        show(&unverified)
    );
}
