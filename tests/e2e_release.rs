//! `mountleak_exporter release` end to end: real dockerd, real namespaces held by fake
//! systemd units, real unmounts. Every `--yes` names a selector: the private daemon is
//! shared by the other e2e tests, whose leaks are not this test's to release.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

/// `release <args> --output json` with the daemon's flags, under `prefix` (e.g. setpriv).
fn release_under(prefix: &[&str], args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(exporter_bin());
            c
        }
        None => exporter_command(),
    };
    let out: Output = cmd
        .arg("release")
        .args(args)
        .args(["--output", "json"])
        .args(docker_flags())
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .output()
        .expect("run mountleak_exporter release");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc = if out.stdout.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "release {args:?} printed no JSON ({e}): {}\n{stderr}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    };
    (out.status.code(), doc, stderr)
}

fn release(args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    release_under(&[], args)
}

/// The (mount point, result) of each copy the command printed.
fn copies(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    doc["copies"]
        .as_array()
        .unwrap_or_else(|| panic!("no copies in {doc}"))
        .iter()
        .map(|c| {
            (
                c["mount_point"].as_str().unwrap().to_string(),
                c["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The mount points of a mountinfo text.
fn mount_points(mountinfo: &str) -> BTreeSet<String> {
    mountinfo_entries(mountinfo)
        .into_iter()
        .map(|(mp, _)| mp)
        .collect()
}

/// The lines of a mountinfo text whose mount point is under one of `roots`: what a slave
/// namespace receives from other daemons on a shared host is not this test's.
fn lines_under(mountinfo: &str, roots: &[&str]) -> Vec<String> {
    mountinfo
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|mp| roots.iter().any(|r| mp.starts_with(r)))
        })
        .map(str::to_string)
        .collect()
}

/// Waits until `scan` reports `want` (mount point, status) for the holder.
fn wait_for_leaks(holder_pid: u32, want: &[(&str, &str)]) {
    let want: BTreeSet<(String, String)> = set(want);
    poll_until(
        "the scan to report the holder's leaks",
        Duration::from_secs(60),
        || {
            let out = run_scan(&["--output", "json"]);
            let doc: serde_json::Value =
                serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
            let got: BTreeSet<(String, String)> = doc["leaks"]
                .as_array()
                .ok_or("no leaks array")?
                .iter()
                .filter(|l| l["holder"]["pid"] == holder_pid)
                .map(|l| {
                    (
                        l["mount_point"].as_str().unwrap_or("").to_string(),
                        l["status"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            if want.is_subset(&got) {
                Ok(())
            } else {
                Err(format!("want {want:?}, got {got:?}"))
            }
        },
    );
}

/// `net:[<inode>]`, the root field of the nsfs mount at `path` in `mountinfo`.
fn nsfs_root(mountinfo: &str, path: &str) -> String {
    mountinfo
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .find(|f| f.get(4) == Some(&path))
        .map(|f| f[3].to_string())
        .unwrap_or_else(|| panic!("no mount at {path} in:\n{mountinfo}"))
}

/// Processes whose network namespace is `ns` (`net:[N]`), and processes whose table mounts it.
fn users_of_netns(ns: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|l| l.to_string_lossy() == ns) {
            out.push(format!("pid {pid} is in it"));
        }
        let info = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
        if info.lines().any(|l| l.split(' ').nth(3) == Some(ns)) {
            out.push(format!("pid {pid} mounts it"));
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

/// The incident: a unit's private namespace holds a stopped container's shm and a removed
/// container's netns and named volume. Selectors pick what they name; a dry run and a run
/// without privileges change nothing; `--yes` frees all three without disturbing the unit.
#[test]
fn the_incident_is_released_without_restarting_the_holder() {
    let env = env();
    let mut volume = Volume::create_tmpfs("rel-vol");
    let stopped = Container::run("rel-stopped", &["--ipc=shareable"], &["sleep", "1000000"]);
    let mut removed = Container::run(
        "rel-removed",
        &["--network=none", "-v", &format!("{}:/data", volume.name)],
        &["sleep", "1000000"],
    );
    let roots = [env.docker_root.as_str(), env.docker_exec_root.as_str()];
    let holder = Holder::spawn_keeping("rel-incident", Propagation::Private, 2, &roots);
    let slave = Holder::spawn_keeping("rel-slave", Propagation::Slave, 1, &roots);
    let shm = stopped.shm_mount_point();
    let netns = removed.sandbox_key();
    let vol = volume.mount_point();
    let netns_id = nsfs_root(&holder.mountinfo(), &netns);
    stopped.stop();
    removed.stop();
    removed.remove();
    let (s, n, v) = (shm.as_str(), netns.as_str(), vol.as_str());
    wait_for_leaks(holder.pid, &[(s, "stale"), (n, "stale"), (v, "stale")]);
    let before = holder.mountinfo();
    let slave_before = lines_under(&slave.mountinfo(), &roots);
    let ns_before = mnt_ns(&holder.pid.to_string()).unwrap();

    // Selectors, dry runs.
    let would = |items: &[&str]| -> BTreeSet<(String, String)> {
        items
            .iter()
            .map(|m| (m.to_string(), "would_release".to_string()))
            .collect()
    };
    let pid = holder.pid.to_string();
    let short_id = &stopped.id[..12];
    for (args, want) in [
        (vec!["--holder", holder.unit.as_str()], would(&[s, n, v])),
        (vec!["--holder", pid.as_str()], would(&[s, n, v])),
        (vec!["--container", stopped.name.as_str()], would(&[s])),
        (
            vec!["--container", short_id, "--holder", pid.as_str()],
            would(&[s]),
        ),
        (vec!["--volume", volume.name.as_str()], would(&[v])),
        (vec!["--mount", s, "--holder", pid.as_str()], would(&[s])),
    ] {
        let (code, doc, stderr) = release(&args);
        assert_eq!(code, Some(0), "dry run {args:?}: {stderr}");
        assert_eq!(doc["dry_run"], true);
        assert_eq!(copies(&doc), want, "dry run {args:?} selected:\n{doc:#}");
    }
    // No selector: every stale leak, ours among them; never the slave's tied copies.
    let (code, doc, stderr) = release(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(would(&[s, n, v]).is_subset(&copies(&doc)), "{doc:#}");
    for c in doc["copies"].as_array().unwrap() {
        assert_ne!(
            c["holder"]["pid"], slave.pid,
            "the slave's copy was selected: {c}"
        );
    }
    assert_eq!(
        holder.mountinfo(),
        before,
        "a dry run changed the holder's table"
    );

    // Without privileges: says what is missing, changes nothing.
    require_tool("setpriv");
    let unit = holder.unit.as_str();
    for (prefix, missing) in [
        (
            vec![
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--",
            ],
            "missing: cap_sys_chroot,cap_sys_ptrace,cap_sys_admin.",
        ),
        (
            vec![
                "setpriv",
                "--inh-caps=-all",
                "--bounding-set=-all,+sys_ptrace",
                "--",
            ],
            "missing: cap_sys_chroot,cap_sys_admin.",
        ),
        (
            vec![
                "setpriv",
                "--inh-caps=-all",
                "--bounding-set=-all,+sys_ptrace,+sys_admin",
                "--",
            ],
            "missing: cap_sys_chroot.",
        ),
    ] {
        let (code, doc, stderr) = release_under(&prefix, &["--yes", "--holder", unit]);
        assert_eq!(code, Some(2), "{prefix:?}: {doc}\n{stderr}");
        assert!(
            stderr.contains(missing),
            "{prefix:?} must say {missing:?}:\n{stderr}"
        );
        assert!(stderr.contains("Nothing was changed"), "{stderr}");
        assert_eq!(
            holder.mountinfo(),
            before,
            "{prefix:?} changed the holder's table"
        );
    }

    // Acting.
    let (code, doc, stderr) = release(&["--yes", "--holder", unit]);
    assert_eq!(code, Some(0), "{doc:#}\n{stderr}");
    assert_eq!(
        copies(&doc),
        set(&[(s, "released"), (n, "released"), (v, "released")]),
        "{doc:#}"
    );
    assert_eq!(
        stderr.matches("result=released").count(),
        3,
        "one log line each:\n{stderr}"
    );
    let left = doc["after"]["leaks"].as_array().unwrap();
    assert!(
        left.iter().all(|l| l["holder"]["pid"] != holder.pid),
        "the new scan still finds the holder's copies: {left:?}"
    );
    // The holder lives on, in the same namespace, every other mount in place.
    for p in &holder.pids {
        assert!(alive(*p), "holder process {p} is gone");
    }
    assert_eq!(
        mnt_ns(&pid).unwrap(),
        ns_before,
        "the holder changed namespace"
    );
    let mut expected = mount_points(&before);
    for gone in [s, n, v] {
        assert!(
            expected.remove(gone),
            "{gone} was not in the holder's table"
        );
    }
    assert_eq!(mount_points(&holder.mountinfo()), expected);
    assert_eq!(
        lines_under(&slave.mountinfo(), &roots),
        slave_before,
        "the slave's table changed"
    );
    // The removed container's network namespace is really freed.
    poll_until("the netns to be freed", Duration::from_secs(10), || {
        let users = users_of_netns(&netns_id);
        if users.is_empty() {
            Ok(())
        } else {
            Err(users.join("\n"))
        }
    });
    volume.remove();
}

/// An `at_risk` copy (its container still runs) is released only with --include-at-risk,
/// and only in the holder: the container keeps its rootfs and can still write to it.
#[test]
fn at_risk_copies_only_with_include_at_risk_and_the_container_keeps_running() {
    let env = env();
    let running = Container::run("rel-running", &[], &["sleep", "1000000"]);
    let roots = [env.docker_root.as_str(), env.docker_exec_root.as_str()];
    let holder = Holder::spawn_keeping("rel-atrisk", Propagation::Private, 1, &roots);
    let slave = Holder::spawn_keeping("rel-atrisk-slave", Propagation::Slave, 1, &roots);
    let rootfs = running.rootfs_mount_point();
    let r = rootfs.as_str();
    wait_for_leaks(holder.pid, &[(r, "at_risk")]);
    let id_prefix = &running.id[..10];

    let (code, doc, stderr) = release(&["--yes", "--container", id_prefix]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        copies(&doc),
        set(&[]),
        "at_risk selected without the flag: {doc:#}"
    );
    assert!(mount_points(&holder.mountinfo()).contains(r));

    let (code, doc, stderr) = release(&["--yes", "--include-at-risk", "--container", id_prefix]);
    assert_eq!(code, Some(0), "{doc:#}\n{stderr}");
    assert_eq!(copies(&doc), set(&[(r, "released")]), "{doc:#}");
    assert!(!mount_points(&holder.mountinfo()).contains(r));
    assert!(alive(holder.pid));
    // Nothing outside the holder: the host, dockerd and the slave still have the rootfs.
    let host = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(mount_points(&host).contains(r), "the host lost the rootfs");
    assert!(
        mount_points(&slave.mountinfo()).contains(r),
        "the slave lost the rootfs"
    );
    let wrote = env.docker(&[
        "exec",
        &running.id,
        "sh",
        "-c",
        "echo ok > /probe && cat /probe",
    ]);
    assert_eq!(wrote, "ok");
    assert_eq!(running.state(), "running");
}

/// A holder that exits between the scan and the act is reported; the rest is released.
#[test]
fn a_holder_gone_before_the_act_is_reported_and_the_rest_released() {
    let env = env();
    let stopped = Container::run("rel-race", &["--ipc=shareable"], &["sleep", "1000000"]);
    let roots = [env.docker_root.as_str(), env.docker_exec_root.as_str()];
    let stays = Holder::spawn_keeping("rel-stays", Propagation::Private, 1, &roots);
    let goes = Holder::spawn_keeping("rel-goes", Propagation::Private, 1, &roots);
    let shm = stopped.shm_mount_point();
    stopped.stop();
    wait_for_leaks(stays.pid, &[(shm.as_str(), "stale")]);
    wait_for_leaks(goes.pid, &[(shm.as_str(), "stale")]);
    let goes_pid = goes.pid;

    let mut child = exporter_command()
        .args([
            "release",
            "--yes",
            "--container",
            &stopped.name,
            "--output",
            "json",
        ])
        .args(["--pause-before-act", "5s"])
        .args(docker_flags())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the holder once the command has scanned and is about to act.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "no pause logged:\n{log}"
        );
        log.push_str(&line);
        if line.contains("pausing before acting") {
            break;
        }
    }
    goes.kill();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{doc:#}\n{log}{rest}");
    let by_pid = |pid: u32| -> &serde_json::Value {
        doc["copies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["holder"]["pid"] == pid)
            .unwrap_or_else(|| panic!("no copy of holder {pid}: {doc:#}"))
    };
    let gone = by_pid(goes_pid);
    assert_eq!(gone["result"], "skipped", "{gone}");
    assert!(
        gone["reason"]
            .as_str()
            .unwrap()
            .contains("processes are gone"),
        "{gone}"
    );
    assert_eq!(by_pid(stays.pid)["result"], "released", "{doc:#}");
    assert!(!mount_points(&stays.mountinfo()).contains(&shm));
    assert!(
        rest.contains("result=skipped"),
        "the skip is logged:\n{rest}"
    );
}

/// A child killed (and reaped) when dropped, even when an assertion fails first.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A holder whose processes are all chrooted (their root is not the namespace's): its
/// mount points are relative to that root, so `release` refuses it, saying why, and
/// changes nothing.
#[test]
fn a_chrooted_holder_is_refused_with_the_reason() {
    let stopped = Container::run("rel-chroot", &["--ipc=shareable"], &["sleep", "1000000"]);
    let shm = stopped.shm_mount_point();
    let dir = std::env::temp_dir().join(unique_name("rel-chroot-root"));
    fs::create_dir_all(&dir).unwrap();
    // In a private namespace of its own: all of / again at <dir>, then chroot into it, so
    // the chrooted process still sees the daemon's paths (relative to its root).
    let script = format!(
        "mount --rbind / {0} && exec chroot {0} sleep 1000000",
        dir.display()
    );
    let child = Killed(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    poll_until("the holder to chroot", Duration::from_secs(10), || {
        let root = fs::read_link(format!("/proc/{pid}/root")).map_err(|e| e.to_string())?;
        if root == dir {
            Ok(())
        } else {
            Err(format!("root {}", root.display()))
        }
    });
    stopped.stop();
    wait_for_leaks(pid, &[(shm.as_str(), "stale")]);
    let before = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let pid_s = pid.to_string();
    let (code, doc, stderr) = release(&["--yes", "--holder", &pid_s, "--mount", &shm]);
    let after = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    drop(child);
    let _ = fs::remove_dir(&dir);
    assert_eq!(code, Some(1), "{doc:#}\n{stderr}");
    let copy = &doc["copies"][0];
    assert_eq!(copy["result"], "skipped", "{doc:#}");
    let reason = copy["reason"].as_str().unwrap();
    assert!(reason.contains("the holder is chrooted"), "{reason}");
    assert!(reason.contains(&dir.display().to_string()), "{reason}");
    assert_eq!(after, before, "a refused release changed the table");
}

/// A copy that changed between the scan and the act (unmounted, and something else mounted
/// at its path) is skipped with the reason; the new mount is left alone.
#[test]
fn a_mount_replaced_after_the_scan_is_skipped_and_left_alone() {
    let env = env();
    let stopped = Container::run("rel-swap", &["--ipc=shareable"], &["sleep", "1000000"]);
    let roots = [env.docker_root.as_str(), env.docker_exec_root.as_str()];
    let holder = Holder::spawn_keeping("rel-swap", Propagation::Private, 1, &roots);
    let shm = stopped.shm_mount_point();
    stopped.stop();
    wait_for_leaks(holder.pid, &[(shm.as_str(), "stale")]);
    let pid = holder.pid.to_string();
    let mut child = exporter_command()
        .args(["release", "--yes", "--holder", &pid, "--mount", &shm])
        .args(["--output", "json", "--pause-before-act", "5s"])
        .args(docker_flags())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    while !log.contains("pausing before acting") {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "no pause logged:\n{log}"
        );
        log.push_str(&line);
    }
    // Inside the holder: the scanned copy goes, a new tmpfs takes its path. Busybox's
    // umount and mount call the kernel directly: util-linux's read /proc/self/mountinfo,
    // and the holder's namespace has no /proc (it keeps only the daemon's roots).
    require_tool("busybox");
    let swap = format!("busybox umount -l {shm} && busybox mount -t tmpfs swapped {shm}");
    let out = Command::new("nsenter")
        .args(["-t", &pid, "-m", "/bin/sh", "-c", &swap])
        .output()
        .unwrap();
    assert!(out.status.success(), "swapping the mount: {out:?}");
    let out = child.wait_with_output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    let copy = &doc["copies"][0];
    assert_eq!(copy["result"], "skipped", "{doc:#}");
    assert!(
        copy["reason"]
            .as_str()
            .unwrap()
            .contains("is no longer in the namespace"),
        "{copy}"
    );
    let swapped = holder
        .mountinfo()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(shm.as_str()) && l.contains(" - tmpfs swapped "));
    assert!(
        swapped,
        "the new mount was touched:\n{}",
        holder.mountinfo()
    );
}
