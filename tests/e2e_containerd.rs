//! End-to-end against containerd: a private `containerd` (its own root, state and socket,
//! apart from the one the private dockerd uses), an image imported with `ctr` from an OCI
//! tarball, a task run with runc, a holder in a fake unit, and the real exporter watching
//! Docker (the private test daemon) and containerd at once.

mod common;

use common::runtimes::*;
use common::*;
use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PREREQUISITES: &[(&str, &str)] = &[
    ("/usr/bin/containerd", "containerd"),
    ("/usr/bin/ctr", "containerd"),
    ("/usr/bin/containerd-shim-runc-v2", "containerd"),
    ("/usr/sbin/runc", "runc"),
    ("/bin/busybox", "busybox-static"),
];

/// Our containerd namespace: `ctr` puts its tasks' cgroups at `/<namespace>/<id>`.
const NAMESPACE: &str = "mountleak-e2e";
const IMAGE: &str = "localhost/mountleak-e2e/busybox:latest";

/// A private containerd. Drop kills its tasks and shims, stops it and removes what it left
/// (mounts, directories, cgroups); a run killed outright is cleaned up by the next `start`.
struct Containerd {
    root: PathBuf,
    state: PathBuf,
    socket: String,
    daemon: Option<Child>,
}

impl Containerd {
    fn start() -> Containerd {
        require_files("the containerd test", PREREQUISITES);
        let instance = instance();
        let state = PathBuf::from(format!("/run/{instance}/e2e-containerd"));
        let mut c = Containerd {
            root: PathBuf::from(format!("/var/lib/{instance}/e2e-containerd")),
            // Beside the state directory, not in it, as k0s's /run/k0s/containerd.sock.
            socket: format!("/run/{instance}/e2e-containerd.sock"),
            state,
            daemon: None,
        };
        c.sweep();
        c.spawn();
        c
    }

    fn spawn(&mut self) {
        fs::create_dir_all(&self.state).unwrap();
        fs::create_dir_all(&self.root).unwrap();
        let state = self.state.display();
        // CRI is off: it would want a CNI configuration and kubelet; the task API is all ctr needs.
        let config = format!(
            "version = 2\nroot = \"{}\"\nstate = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{}\"\n[ttrpc]\n  address = \"{}.ttrpc\"\n\
             [debug]\n  address = \"{state}/debug.sock\"\n",
            self.root.display(),
            self.socket,
            self.socket,
        );
        fs::write(self.state.join("config.toml"), config).unwrap();
        let log = fs::File::create(self.state.join("containerd.log")).unwrap();
        let mut cmd = Command::new("containerd");
        cmd.arg("--config")
            .arg(self.state.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        // SAFETY: prctl only sets a flag of the child: the daemon dies with the test process.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        self.daemon = Some(cmd.spawn().expect("spawn containerd"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.try_ctr(&["version"]).is_err() {
            if let Some(Ok(Some(status))) = self.daemon.as_mut().map(|c| c.try_wait()) {
                panic!("containerd exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not answer on {} within 30s:\n{}",
                self.socket,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.state.join("containerd.log")).unwrap_or_default()
    }

    fn try_ctr(&self, args: &[&str]) -> Result<String, String> {
        run_for_output(
            Command::new("ctr")
                .args(["--address", &self.socket, "--namespace", NAMESPACE])
                .args(args),
            &format!("ctr {}", args.join(" ")),
        )
    }

    fn ctr(&self, args: &[&str]) -> String {
        self.try_ctr(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The task's status as `ctr task ls` prints it (RUNNING, STOPPED, ...).
    fn task_status(&self, id: &str) -> String {
        self.ctr(&["task", "ls"])
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.first() == Some(&id)).then(|| f.get(2).unwrap_or(&"").to_string())
            })
            .unwrap_or_default()
    }

    fn stop_daemon(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills our tasks (their processes sit in cgroup `/<namespace>/<id>`) and shims (they
    /// carry our socket on their command line), stops the daemon, unmounts and removes our
    /// directories and cgroups. Needs no daemon, so it also cleans a killed run.
    fn sweep(&mut self) {
        self.stop_daemon();
        let hierarchies = cgroup_dirs(NAMESPACE);
        for dir in &hierarchies {
            for task in subdirs(dir) {
                kill_all_in(&task);
            }
        }
        for p in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let comm = fs::read_to_string(p.path().join("comm")).unwrap_or_default();
            let cmdline = fs::read(p.path().join("cmdline")).unwrap_or_default();
            let ours = cmdline
                .split(|&b| b == 0)
                .any(|arg| arg == self.socket.as_bytes());
            if comm.starts_with("containerd-shim")
                && ours
                && let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>()
            {
                // SAFETY: kill(2) of a shim serving our private socket.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        unmount_and_remove(&[&self.state, &self.root]);
        for socket in [self.socket.clone(), format!("{}.ttrpc", self.socket)] {
            let _ = fs::remove_file(socket);
        }
        for dir in hierarchies {
            for task in subdirs(&dir) {
                rmdir_retrying(&task);
            }
            rmdir_retrying(&dir);
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- containerd log ---\n{}--- end ---", self.log());
        }
        self.sweep();
    }
}

/// The child cgroups of a cgroup directory (the rest of its entries are control files).
fn subdirs(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

fn kill_all_in(cgroup: &Path) {
    for pid in fs::read_to_string(cgroup.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|p| p.trim().parse::<i32>().ok())
    {
        // SAFETY: kill(2) of a process of our own containerd namespace's cgroup.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// A cgroup empties once its killed processes are reaped: give that a moment.
fn rmdir_retrying(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) if Instant::now() > deadline => {
                eprintln!("could not remove cgroup {}: {e}", dir.display());
                return;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The leak scenario on containerd: a task's rootfs (mounted by its shim) copied into a
/// holder's private namespace; the task stops; containerd goes away; the holder goes.
/// Deleting the task would unmount the rootfs and remove its directory, and the kernel
/// (3.18+) then detaches the copy: on these kernels a task's rootfs is at risk, not stale.
#[test]
fn containerd_task_rootfs_is_reported_from_running_to_gone() {
    let mut containerd = Containerd::start();
    let images = tempfile::tempdir().unwrap();
    containerd.ctr(&[
        "image",
        "import",
        &oci_archive(images.path(), IMAGE, serde_json::json!({"Cmd": ["sh"]})).to_string_lossy(),
    ]);

    // The state directory is not passed and the socket is not in it: the exporter must
    // take it from the daemon (its --config file's `state`, read through /proc).
    let containerd_flags = [
        "--runtime.containerd".to_string(),
        format!("--containerd.address=unix://{}", containerd.socket),
        format!("--containerd.namespaces=default,{NAMESPACE}"),
        "--containerd.state=/nonexistent/state".to_string(),
    ];
    let mut flags: Vec<&str> = containerd_flags.iter().map(String::as_str).collect();
    // A shared development host can carry thousands of other leaks: never cut ours.
    flags.push("--metrics.max-series=1000000");
    let exporter = Exporter::start(&flags);

    let id = unique_name("ctr");
    containerd.ctr(&[
        "run",
        "--detach",
        "--runtime",
        "io.containerd.runc.v2",
        IMAGE,
        &id,
        "sleep",
        "1000000",
    ]);
    let rootfs = Leak {
        kind: "rootfs",
        mount_point: format!(
            "{}/io.containerd.runtime.v2.task/{NAMESPACE}/{id}/rootfs",
            containerd.state.display()
        ),
    };
    let host = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        mountinfo_entries(&host)
            .iter()
            .any(|(mp, _)| *mp == rootfs.mount_point),
        "the shim did not mount the task's rootfs at {} in our namespace",
        rootfs.mount_point
    );

    let state_dir = containerd.state.to_string_lossy().into_owned();
    let holder =
        Holder::spawn_keeping("containerd-private", Propagation::Private, 2, &[&state_dir]);
    let comm = comm_of(holder.pid);
    let tags = held(&holder)
        .get(&rootfs.mount_point)
        .cloned()
        .unwrap_or_else(|| panic!("the holder has no copy of {}", rootfs.mount_point));
    assert!(tags.is_empty(), "the rootfs copy has tags {tags:?}");
    let watched = Watched {
        runtime: "containerd",
        id: &id,
        name: &id,
    };
    let scenario = Scenario {
        exporter: &exporter,
        holder: &holder,
        comm: &comm,
        watched,
    };
    let wait = |what: &str, state: &str, status: &str, leaks: &[Leak]| {
        scenario.wait(what, state, status, leaks)
    };
    let step = Duration::from_secs(30);

    // (1) Running: the holder's private copy of the rootfs is at risk.
    wait(
        "(1) at_risk rootfs of the running task",
        "running",
        "at_risk",
        std::slice::from_ref(&rootfs),
    );
    let samples = exporter.scrape();
    assert_eq!(runtime_up(&samples, "containerd"), Some(1.0));
    assert_eq!(
        runtime_up(&samples, "docker"),
        Some(1.0),
        "docker (the private test daemon) is watched at the same time"
    );

    // (2) The task is killed: containerd keeps the rootfs mounted until the task is deleted,
    // so the copy is still at risk, and the state follows the task (an event, not a resync).
    containerd.ctr(&["task", "kill", "--signal", "SIGKILL", &id]);
    poll_until("the task to stop", step, || {
        match containerd.task_status(&id).as_str() {
            "STOPPED" => Ok(()),
            other => Err(format!("task status {other:?}")),
        }
    });
    wait(
        "(2) at_risk rootfs of the stopped task",
        "stopped",
        "at_risk",
        std::slice::from_ref(&rootfs),
    );
    let doc = exporter.leaks_json();
    let ours: Vec<&serde_json::Value> = doc["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["holder"]["unit"] == holder.unit.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "{ours:#?}");
    let l = ours[0];
    assert_eq!(l["mount_point"], rootfs.mount_point.as_str(), "{l:#}");
    assert_eq!(l["fs_type"], "overlay", "{l:#}");
    assert_eq!(l["runtime"], "containerd", "{l:#}");
    assert_eq!(
        l["container"],
        serde_json::json!({"id": id, "name": id, "state": "stopped", "runtime": "containerd"}),
        "{l:#}"
    );
    assert!(l["pod"].is_null(), "{l:#}");
    assert_eq!(
        doc["scan"]["runtimes"]["containerd"], true,
        "{}",
        doc["scan"]
    );

    // `scan` (a fresh process asking containerd itself) agrees.
    let text = scan_text(&containerd_flags);
    let says = format!(
        "{} (pid {}, {comm}, 3 processes) holds 1 mount of containerd container {id} (stopped)",
        holder.unit, holder.pid
    );
    assert!(text.contains(&says), "want {says:?} in:\n{text}");
    assert!(text.contains("containerd up"), "{text}");

    // (3) containerd goes away: the leak stays with state unknown; Docker stays up.
    containerd.stop_daemon();
    wait(
        "(3) the rootfs with state unknown once containerd is unreachable",
        "unknown",
        "at_risk",
        std::slice::from_ref(&rootfs),
    );
    let samples = exporter.scrape();
    assert_eq!(runtime_up(&samples, "containerd"), Some(0.0));
    assert_eq!(runtime_up(&samples, "docker"), Some(1.0));

    // (4) The holder goes: so does the leak.
    holder.kill();
    poll_until("(4) no series left once the holder is killed", step, || {
        let got = scenario_series(&exporter.scrape(), "", &id);
        if got.is_empty() {
            Ok(())
        } else {
            Err(diff(&Default::default(), &got))
        }
    });
}
