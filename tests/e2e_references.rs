//! Reference namespaces are scoped to what their process mounts (issue 14): a process named
//! like a runtime daemon vouches only for that daemon's paths. Real dockerd, real kernel
//! namespaces: a containerized kubelet (RKE1 binds `/run:/run:rprivate`) copies a running
//! container's mounts into its private namespace; it must be reported holding them, and
//! must not keep another holder's copy of the removed container's mounts `at_risk`.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A process whose `comm` is `kubelet` (a copy of sleep by that name) in a private mount
/// namespace of its own, as a kubelet container's. Killed on drop.
struct FakeKubelet {
    pid: u32,
    child: Child,
    _dir: tempfile::TempDir,
}

impl FakeKubelet {
    fn spawn() -> FakeKubelet {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("kubelet");
        let sleep = which("sleep");
        fs::copy(&sleep, &bin).unwrap_or_else(|e| panic!("copy {sleep} to {bin:?}: {e}"));
        let child = Command::new("unshare")
            .args(["-m", "--propagation", "private"])
            .arg(&bin)
            .arg("1000000")
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn unshare (util-linux)");
        let pid = child.id();
        let own = mnt_ns("self").expect("read /proc/self/ns/mnt");
        poll_until(
            "the fake kubelet to run in a mount namespace of its own",
            Duration::from_secs(10),
            || {
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                match (comm.trim(), mnt_ns(&pid.to_string())) {
                    ("kubelet", Some(ns)) if ns != own => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
        );
        FakeKubelet {
            pid,
            child,
            _dir: dir,
        }
    }
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(tool: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .expect("run sh");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!path.is_empty(), "{tool} is not on the PATH (coreutils)");
    path
}

/// (holder pid, kind, status) of the exporter's leaks of one container.
fn held(exporter: &Exporter, container_id: &str) -> BTreeSet<(u64, String, String)> {
    let report = exporter.leaks_json();
    report["leaks"]
        .as_array()
        .expect("leaks array")
        .iter()
        .filter(|l| l["container"]["id"] == container_id)
        .map(|l| {
            (
                l["holder"]["pid"].as_u64().expect("holder pid"),
                l["kind"].as_str().unwrap().to_string(),
                l["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_containerized_kubelets_copies_of_docker_mounts_are_leaks_not_references() {
    let exporter = Exporter::start(&[]);
    let container = Container::run(
        "kubelet-copied",
        &["--ipc=shareable", "--network=none"],
        &["sleep", "1000000"],
    );
    let kubelet = FakeKubelet::spawn();
    let agent = Holder::spawn("kubelet-agent", Propagation::Private, 1);
    let kinds = ["netns", "rootfs", "shm"];
    let expect = |status: &str| -> BTreeSet<(u64, String, String)> {
        let agent_pid = *agent.pids.iter().min().expect("the agent's pids");
        [kubelet.pid as u64, agent_pid as u64]
            .into_iter()
            .flat_map(|pid| kinds.map(|k| (pid, k.to_string(), status.to_string())))
            .collect()
    };

    let running = expect("at_risk");
    poll_until(
        "the kubelet's and the agent's copies of the running container, at risk",
        Duration::from_secs(30),
        || match held(&exporter, &container.id) {
            got if got == running => Ok(()),
            got => Err(format!("{got:?}")),
        },
    );

    // Stopped, the daemon unmounts its shm: nothing vouches for the copies any more,
    // wherever they are held. (Deleting a mount point detaches every copy of it: overlay2
    // removes the merged directory on unmount, so the rootfs copies go; the netns file goes
    // at the daemon's next garbage collection, so netns copies are stale until then.)
    let id = container.id.clone();
    container.stop();
    let removed: BTreeSet<_> = expect("stale")
        .into_iter()
        .filter(|(_, kind, _)| kind == "shm")
        .collect();
    poll_until(
        "both holders' copies of the stopped container, stale",
        Duration::from_secs(30),
        || {
            let got = held(&exporter, &id);
            let (netns, rest): (BTreeSet<_>, BTreeSet<_>) =
                got.into_iter().partition(|(_, kind, _)| kind == "netns");
            if rest == removed && netns.iter().all(|(_, _, status)| status == "stale") {
                Ok(())
            } else {
                Err(format!("{rest:?} {netns:?}"))
            }
        },
    );
    drop(agent);
    drop(kubelet);
}
