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
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A process whose `comm` is `name` (a copy of sleep by that name) in a private mount
/// namespace of its own, as a kubelet container's or rootless Podman's pause process, after
/// mounting a tmpfs at `mount` (if any) inside it. Killed on drop.
struct FakeKubelet {
    pid: u32,
    child: Child,
    _dir: tempfile::TempDir,
}

impl FakeKubelet {
    fn spawn() -> FakeKubelet {
        FakeKubelet::named("kubelet", None)
    }

    fn named(name: &str, mount: Option<&Path>) -> FakeKubelet {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join(name);
        let sleep = which("sleep");
        fs::copy(&sleep, &bin).unwrap_or_else(|e| panic!("copy {sleep} to {bin:?}: {e}"));
        let script = match mount {
            Some(m) => format!(
                "mount -t tmpfs tmpfs '{}' && exec \"$0\" 1000000",
                m.display()
            ),
            None => "exec \"$0\" 1000000".to_string(),
        };
        let child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .arg(&bin)
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn unshare (util-linux)");
        let pid = child.id();
        let own = mnt_ns("self").expect("read /proc/self/ns/mnt");
        poll_until(
            &format!("the fake {name} to run in a mount namespace of its own"),
            Duration::from_secs(10),
            || {
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                match (comm.trim(), mnt_ns(&pid.to_string())) {
                    (c, Some(ns)) if c == name && ns != own => Ok(()),
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

/// Rootless Podman mounts its containers only inside its pause process's namespace
/// (`catatonit -P`, podman pkg/rootless), where no podman or conmon need be running: that
/// namespace is the reference for them, not a holder. The same table held by a process of
/// another name is a leak.
#[test]
fn rootless_podmans_pause_process_is_no_stale_holder() {
    let storage = format!("/var/lib/{}/e2e-rootless/storage", env().instance);
    let id = "3f1c5e7a9b2d4f6081a3c5e7092b4d6f8a1c3e5f7092b4d6f8a1c3e5f7092b4d";
    let shm = Path::new(&storage).join(format!("overlay-containers/{id}/userdata/shm"));
    fs::create_dir_all(&shm).unwrap();
    let exporter = Exporter::start(&[
        "--runtime.podman",
        "--podman.host=unix:///nonexistent/podman.sock",
        &format!("--podman.root={storage}"),
    ]);
    let held_by = |pid: u32| -> Vec<String> {
        exporter.leaks_json()["leaks"]
            .as_array()
            .expect("leaks array")
            .iter()
            .filter(|l| l["holder"]["pid"] == pid)
            .map(|l| l["status"].as_str().unwrap().to_string())
            .collect()
    };
    let pause = FakeKubelet::named("catatonit", Some(&shm));
    let other = FakeKubelet::named("sleeper", Some(&shm));
    poll_until(
        "the same mount held by another process to be reported stale",
        Duration::from_secs(30),
        || match held_by(other.pid) {
            s if s == ["stale"] => Ok(()),
            s => Err(format!("{s:?}")),
        },
    );
    assert_eq!(
        held_by(pause.pid),
        Vec::<String>::new(),
        "the pause process holds nothing"
    );
    drop(pause);
    drop(other);
    let _ = fs::remove_dir_all(format!("/var/lib/{}/e2e-rootless", env().instance));
}
