//! Issue 17: the trap a scan that remembers namespaces between scrapes could fall into. An
//! open `/proc/<pid>/mountinfo` or `ns/mnt` fd holds a reference on that mount namespace:
//! kept across scans, it keeps the namespace, and every mount in it, alive after its last
//! process exits, and the exporter becomes the leaker it reports. Here a holder's private
//! namespace copies a container's network namespace bind mount; the container is removed, so
//! only that copy keeps the network namespace alive (a veth whose peer lives in it shows it,
//! as the user would see it with `ip link`). The exporter scrapes the holder's namespace,
//! then the holder exits: the network namespace must be gone within a second. A control run
//! holds an `ns/mnt` fd itself and sees the network namespace outlive the holder, so the
//! check can fail.

mod common;

use common::*;
use std::fs::File;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How soon the network namespace must go once the holder is reaped.
const FREED_WITHIN: Duration = Duration::from_secs(1);

static N: AtomicUsize = AtomicUsize::new(0);

/// A removed container whose network namespace only a holder's copy of its bind mount keeps
/// alive; `veth` lives in the host namespace, its peer in that network namespace.
struct Scene {
    holder: Option<Holder>,
    holder_pid: u32,
    veth: String,
    sandbox: String,
    container_id: String,
    _volume: Volume,
}

impl Drop for Scene {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .output();
    }
}

fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip (iproute2): {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn veth_exists(veth: &str) -> bool {
    ip(&["link", "show", "dev", veth]).is_ok()
}

fn scene(label: &str) -> Scene {
    require_tool("ip");
    let (volume, mut container, holder) = leak_scene(label);
    let sandbox = container.sandbox_key();
    assert!(
        holder
            .mountinfo()
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(sandbox.as_str())),
        "the holder did not copy the netns bind mount {sandbox}"
    );
    let pid = container.inspect("{{.State.Pid}}");
    let veth = format!(
        "mlv{}x{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    );
    ip(&[
        "link", "add", &veth, "type", "veth", "peer", "name", "mlpeer", "netns", &pid,
    ])
    .unwrap_or_else(|e| panic!("ip link add {veth} with a peer in netns of pid {pid}: {e}"));
    let container_id = container.id.clone();
    container.stop();
    container.remove();
    // The premise: the copy alone keeps the network namespace (and so the veth) alive.
    sleep(Duration::from_millis(500));
    assert!(
        veth_exists(&veth),
        "{veth} went with the container: the holder's copy does not pin its netns"
    );
    Scene {
        holder_pid: holder.pid,
        holder: Some(holder),
        veth,
        sandbox,
        container_id,
        _volume: volume,
    }
}

impl Scene {
    /// Kills the holder (Holder::kill returns once every process of it is reaped) and
    /// returns how long the veth outlived it, `None` if still there after `FREED_WITHIN`.
    fn kill_and_time(&mut self) -> Option<Duration> {
        self.holder.take().expect("holder").kill();
        let start = Instant::now();
        while start.elapsed() <= FREED_WITHIN {
            if !veth_exists(&self.veth) {
                return Some(start.elapsed());
            }
            sleep(Duration::from_millis(20));
        }
        None
    }
}

/// What the exporter's open fds name.
fn fd_targets(pid: u32) -> Vec<String> {
    let dir = format!("/proc/{pid}/fd");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {dir}: {e}"));
    entries
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|l| l.to_string_lossy().into_owned())
        .collect()
}

/// The exporter's open fds that name a mount namespace or a mount table.
fn pinning_fds(pid: u32) -> Vec<String> {
    let pinning =
        |l: &String| l.starts_with("mnt:[") || l.ends_with("/mountinfo") || l.ends_with("/ns/mnt");
    fd_targets(pid).into_iter().filter(pinning).collect()
}

fn assert_stale_netns_leak_seen(exporter: &Exporter, s: &Scene) {
    let doc = exporter.leaks_json();
    let found = doc["leaks"].as_array().is_some_and(|leaks| {
        leaks.iter().any(|l| {
            l["mount_point"] == s.sandbox.as_str()
                && l["holder"]["pid"] == s.holder_pid
                && l["status"] == "stale"
        })
    });
    assert!(
        found,
        "the exporter does not report the holder's copy of {} (container {}): {doc}",
        s.sandbox, s.container_id
    );
}

#[test]
fn a_holders_copies_are_freed_when_it_exits_however_often_it_was_scraped() {
    // Control: an ns/mnt fd held across the holder's exit keeps the network namespace.
    let mut control = scene("lifetime-control");
    let fd = File::open(format!("/proc/{}/ns/mnt", control.holder_pid)).expect("open ns/mnt");
    let kept = control.kill_and_time();
    assert_eq!(
        kept, None,
        "an open ns/mnt fd did not keep the network namespace alive: the check cannot see the trap"
    );
    drop(fd);
    poll_until(
        "the control's network namespace to go once the fd is closed",
        Duration::from_secs(5),
        || match veth_exists(&control.veth) {
            true => Err("veth still there".into()),
            false => Ok(()),
        },
    );

    // The exporter scrapes the holder's namespace again and again, then the holder exits.
    let exporter = Exporter::start(&[]);
    let mut s = scene("lifetime");
    for _ in 0..5 {
        exporter.scrape();
        assert_stale_netns_leak_seen(&exporter, &s);
    }
    let fds = pinning_fds(exporter.pid());
    assert!(fds.is_empty(), "the exporter keeps between scans: {fds:?}");
    // What it does keep, the holder's `ns` directory (to read `mnt` in it next scan), must
    // not keep its namespace: shown by the holder's copies going all the same.
    let ns_dir = format!("/proc/{}/ns", s.holder_pid);
    assert!(
        fd_targets(exporter.pid()).contains(&ns_dir),
        "the exporter keeps no fd of {ns_dir} between scans"
    );
    let took = s.kill_and_time();
    let Some(took) = took else {
        panic!(
            "the removed container's network namespace outlived its last holder by more than \
             {FREED_WITHIN:?} while the exporter ran (open fds: {:?})",
            pinning_fds(exporter.pid())
        );
    };
    eprintln!("[figures] network namespace destroyed {took:.0?} after its holder was reaped");
    // And the exporter says the leak is gone.
    let doc = exporter.leaks_json();
    let still = doc["leaks"]
        .as_array()
        .is_some_and(|l| l.iter().any(|l| l["mount_point"] == s.sandbox.as_str()));
    assert!(
        !still,
        "the leak is still reported after its holder exited: {doc}"
    );
}
