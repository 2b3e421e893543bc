//! Issue 14: a chain of propagation heals like a single tie. A PrivateTmp unit's namespace
//! is a shared slave of the host's (`shared:N master:M`); a child of it that ran
//! `unshare --propagation slave` holds copies that are slaves of N (`master:N`). The
//! daemon's unmount reaches both, so neither is a leak, on the real kernel.

mod common;

use common::*;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the process group on drop.
struct Tree(Child);

impl Drop for Tree {
    fn drop(&mut self) {
        // SAFETY: signals our own child's process group only.
        unsafe {
            libc::kill(-(self.0.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

fn in_new_ns(pid: u32) -> bool {
    mnt_ns(&pid.to_string()).is_some_and(|ns| Some(ns) != mnt_ns("self"))
}

#[test]
fn a_slave_of_a_slave_of_the_hosts_mount_is_no_leak() {
    let container = Container::run(
        "chain",
        &["--ipc=shareable", "--network=none"],
        &["sleep", "1000000"],
    );
    let shm = container.shm_mount_point();
    // The outer namespace: a slave of the host's, then shared (as systemd sets up a unit's
    // namespace); the inner one: a slave of the outer's. Each prints its pid.
    let script = r#"mount --make-rshared / || exit 1
        echo $$
        unshare -m --propagation slave sh -c 'echo $$; exec sleep 1000000' &
        wait"#;
    let mut child = Command::new("unshare")
        .args(["-m", "--propagation", "slave", "sh", "-c", script])
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("unshare (util-linux)");
    let mut out = child.stdout.take().unwrap();
    let tree = Tree(child);
    let pids: Vec<u32> = {
        use std::io::Read;
        let mut buf = [0u8; 64];
        let mut text = String::new();
        while text.lines().count() < 2 {
            let n = out.read(&mut buf).unwrap();
            assert!(n > 0, "the holders exited early: {text}");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        text.lines().map(|l| l.trim().parse().unwrap()).collect()
    };
    let (outer, inner) = (pids[0], pids[1]);
    poll_until(
        "both holders in namespaces of their own",
        Duration::from_secs(10),
        || {
            if in_new_ns(outer)
                && in_new_ns(inner)
                && mnt_ns(&outer.to_string()) != mnt_ns(&inner.to_string())
            {
                Ok(())
            } else {
                Err("not yet".to_string())
            }
        },
    );
    // The premise, on the kernel: the chain is what the scenario says.
    let entry = |pid: u32| {
        let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
        mountinfo_entries(&mi)
            .into_iter()
            .find(|(mp, _)| *mp == shm)
            .unwrap_or_else(|| panic!("holder {pid} has no copy of {shm}"))
            .1
    };
    let (o, i) = (entry(outer), entry(inner));
    assert!(
        o.iter().any(|f| f.starts_with("shared:")) && o.iter().any(|f| f.starts_with("master:")),
        "outer copy is not a shared slave: {o:?}"
    );
    let outer_group = o.iter().find_map(|f| f.strip_prefix("shared:")).unwrap();
    assert!(
        i.iter()
            .any(|f| f.strip_prefix("master:") == Some(outer_group)),
        "inner copy is not a slave of the outer's group {outer_group}: {i:?}"
    );

    let out = run_scan(&["--output", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let held: Vec<_> = json["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["holder"]["pid"] == outer || l["holder"]["pid"] == inner)
        .collect();
    assert!(held.is_empty(), "tied copies reported as leaks: {held:#?}");
    assert!(
        json["scan"]["propagated_copies"].as_u64().unwrap() >= 2,
        "{:#}",
        json["scan"]
    );

    // And the kernel agrees that they heal: after the container stops, neither has it.
    container.stop();
    poll_until(
        "the shm unmount to reach both holders",
        Duration::from_secs(10),
        || {
            let left: Vec<u32> = [outer, inner]
                .into_iter()
                .filter(|p| {
                    std::fs::read_to_string(format!("/proc/{p}/mountinfo"))
                        .is_ok_and(|mi| mi.contains(&format!(" {shm} ")))
                })
                .collect();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("still held by {left:?}"))
            }
        },
    );
    drop(tree);
}
