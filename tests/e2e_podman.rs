//! End-to-end against Podman: a private `podman system service` (its own graph root, run
//! root, socket and CNI config, started and torn down by this test), a container run through
//! that service, a holder in a fake unit, and the real exporter watching Docker (the private
//! test daemon) and Podman at once.

mod common;

use common::runtimes::*;
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian packages the test needs (scripts/testenv.sh installs them).
const PREREQUISITES: &[(&str, &str)] = &[
    ("/usr/bin/podman", "podman"),
    ("/usr/bin/conmon", "conmon"),
    ("/usr/sbin/runc", "runc"),
    ("/usr/lib/cni/loopback", "containernetworking-plugins"),
    ("/bin/busybox", "busybox-static"),
];

/// CNI network with only a loopback plugin: Podman still gives the container its own netns
/// bind mount (`/run/netns/netns-<uuid>`), and nothing on the host (bridge, iptables) changes.
const NETWORK: &str = "mountleak-e2e-lo";
const IMAGE: &str = "localhost/mountleak-e2e/busybox:latest";
/// Where rootful Podman keeps netns bind mounts; not configurable.
const NETNS_DIR: &str = "/run/netns";
/// CNI's result cache; not configurable from Podman.
const CNI_CACHE: &str = "/var/lib/cni";
/// Root's containers/image blob info cache (`cache/`) sits here; not configurable from Podman.
const CONTAINERS_DIR: &str = "/var/lib/containers";
/// The cgroup (in each hierarchy) Podman's cgroupfs manager puts conmon and containers under.
const CGROUP_PARENT: &str = "libpod_parent";

/// A private Podman API service. Drop removes its containers, stops it and removes what it
/// left on the host; a run killed outright is cleaned up by the next run's `start`.
struct PodmanService {
    socket: String,
    graph_root: PathBuf,
    run_dir: PathBuf,
    lib_dir: PathBuf,
    service: Option<Child>,
}

impl PodmanService {
    fn start() -> PodmanService {
        require_files("the Podman test", PREREQUISITES);
        let instance = instance();
        let run_dir = PathBuf::from(format!("/run/{instance}/podman"));
        let lib_dir = PathBuf::from(format!("/var/lib/{instance}/podman"));
        let mut svc = PodmanService {
            socket: format!("{}/podman.sock", run_dir.display()),
            graph_root: lib_dir.join("storage"),
            run_dir,
            lib_dir,
            service: None,
        };
        svc.sweep();
        svc.write_config();
        svc.spawn();
        svc
    }

    fn host_url(&self) -> String {
        format!("unix://{}", self.socket)
    }

    fn write_config(&self) {
        let run = self.run_dir.display();
        fs::create_dir_all(self.run_dir.join("cni")).unwrap();
        fs::create_dir_all(&self.graph_root).unwrap();
        // No systemd or journald here: cgroupfs and a file for events.
        fs::write(
            self.run_dir.join("containers.conf"),
            format!(
                "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
                 runtime = \"runc\"\ntmp_dir = \"{run}/tmp\"\n\
                 [network]\nnetwork_config_dir = \"{run}/cni\"\ndefault_network = \"{NETWORK}\"\n"
            ),
        )
        .unwrap();
        fs::write(
            self.run_dir.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{run}/storage\"\n",
                self.graph_root.display()
            ),
        )
        .unwrap();
        fs::write(
            self.run_dir.join("cni").join(format!("{NETWORK}.conflist")),
            format!(
                r#"{{"cniVersion": "0.4.0", "name": "{NETWORK}", "plugins": [{{"type": "loopback"}}]}}"#
            ),
        )
        .unwrap();
    }

    /// `podman` with this service's configuration; `remote` goes through the socket.
    fn command(&self, remote: bool) -> Command {
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_CONF", self.run_dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.run_dir.join("storage.conf"))
            .env_remove("CONTAINER_HOST")
            .stdin(Stdio::null());
        if remote {
            cmd.args(["--remote", "--url", &self.host_url()]);
        }
        cmd
    }

    fn try_podman(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .command(true)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run podman: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!(
                "podman {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Runs `podman --remote <args>`: through the service, as an exporter user's would.
    fn podman(&self, args: &[&str]) -> String {
        self.try_podman(args).unwrap_or_else(|e| panic!("{e}"))
    }

    fn spawn(&mut self) {
        let log = fs::File::create(self.run_dir.join("service.log")).unwrap();
        let mut cmd = self.command(false);
        cmd.args(["system", "service", "--time=0", &self.host_url()])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; it only sets a flag of the child: the service
        // dies with the test process even when the test is killed outright.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn podman system service");
        fs::write(self.run_dir.join("service.pid"), child.id().to_string()).unwrap();
        self.service = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.try_podman(&["version"]).is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.service.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "podman system service exited with {status}:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "podman system service did not answer on {} within 30s:\n{}",
                self.socket,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.run_dir.join("service.log")).unwrap_or_default()
    }

    /// Stops the service (the exporter must then say Podman is down).
    fn stop_service(&mut self) {
        if let Some(mut child) = self.service.take() {
            // SAFETY: kill(2) on the process group we made for the service.
            unsafe {
                libc::kill(-(child.id() as libc::pid_t), libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Removes every container of this graph root (with the local CLI: it works without the
    /// service), stops the service and unmounts and removes our directories. Safe to repeat,
    /// and run first so that a killed run does not break the next.
    fn sweep(&mut self) {
        self.stop_service();
        let pidfile = self.run_dir.join("service.pid");
        if let Some(pid) = fs::read_to_string(&pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            && fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "podman")
        {
            // SAFETY: kill(2) of a leftover service of ours (pidfile and comm both match).
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        if self.run_dir.join("containers.conf").exists() {
            let _ = self
                .command(false)
                .args(["rm", "--force", "--all", "--time", "0"])
                .output();
        }
        unmount_and_remove(&[&self.run_dir, &self.lib_dir]);
        remove_fixed_leftovers();
    }
}

/// What Podman leaves at fixed host paths, removed only where nothing else can be using it
/// (so a developer's own Podman is left alone): the shared bind mount of /run/netns when no
/// netns is in it (`ip netns` makes it again when needed), CNI's empty result cache,
/// `libpod_parent` cgroups without processes, and root's blob info cache when there is no
/// Podman storage beside it. Done whether or not this run made them: a run that was killed
/// outright cannot say.
fn remove_fixed_leftovers() {
    let netns = Path::new(NETNS_DIR);
    if fs::read_dir(netns).is_ok_and(|mut d| d.next().is_none()) {
        if mounts_under(netns).len() == 1 {
            umount(NETNS_DIR);
        }
        let _ = fs::remove_dir(netns);
    }
    let cni = Path::new(CNI_CACHE);
    let _ = fs::remove_dir(cni.join("results"));
    let _ = fs::remove_dir(cni);
    for dir in cgroup_dirs(CGROUP_PARENT) {
        let _ = fs::remove_dir(dir.join("conmon"));
        let _ = fs::remove_dir(&dir);
    }
    let containers = Path::new(CONTAINERS_DIR);
    let only_cache =
        fs::read_dir(containers).is_ok_and(|d| d.flatten().all(|e| e.file_name() == "cache"));
    if only_cache {
        let _ = fs::remove_dir_all(containers);
    }
}

impl Drop for PodmanService {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- podman service log ---\n{}--- end ---", self.log());
        }
        self.sweep();
    }
}

/// Imports an image from a tarball holding a static busybox (`sh`, `sleep`).
fn import_image(podman: &PodmanService) {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("rootfs.tar");
    busybox_rootfs_tar(dir.path(), &tar);
    podman.podman(&["import", &tar.to_string_lossy(), IMAGE]);
}

/// The leak scenario on Podman: a container with a shareable IPC (Podman's default) and its
/// own netns, a holder with a private copy of the host's mount table in a fake unit; the
/// container stops; Podman's service goes away; the holder goes.
#[test]
fn podman_container_mounts_are_reported_from_at_risk_to_gone() {
    let mut podman = PodmanService::start();
    import_image(&podman);
    let podman_flags = [
        "--runtime.podman".to_string(),
        format!("--podman.host={}", podman.host_url()),
    ];
    let mut flags: Vec<&str> = podman_flags.iter().map(String::as_str).collect();
    // A shared development host can carry thousands of other leaks: never cut ours.
    flags.push("--metrics.max-series=1000000");
    let exporter = Exporter::start(&flags);

    let name = unique_name("podman");
    let id = podman.podman(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        NETWORK,
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        IMAGE,
        "sleep",
        "1000000",
    ]);
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "podman run printed {id:?}, not a container id"
    );
    let inspect = |format: &str| podman.podman(&["inspect", "--format", format, &id]);
    assert_eq!(inspect("{{.HostConfig.IpcMode}}"), "shareable");
    let rootfs = Leak {
        kind: "rootfs",
        mount_point: inspect("{{.GraphDriver.Data.MergedDir}}"),
    };
    let shm = Leak {
        kind: "shm",
        mount_point: format!(
            "{}/overlay-containers/{id}/userdata/shm",
            podman.graph_root.display()
        ),
    };
    let netns = Leak {
        kind: "netns",
        mount_point: inspect("{{.NetworkSettings.SandboxKey}}"),
    };
    assert!(
        rootfs
            .mount_point
            .starts_with(&format!("{}/overlay/", podman.graph_root.display())),
        "MergedDir {} is not under the graph root's overlay/",
        rootfs.mount_point
    );
    assert!(
        netns.mount_point.starts_with("/run/netns/netns-"),
        "SandboxKey {} is not a /run/netns/netns-<uuid> file",
        netns.mount_point
    );

    let graph_root = podman.graph_root.to_string_lossy().into_owned();
    let holder = Holder::spawn_keeping(
        "podman-private",
        Propagation::Private,
        2,
        &[&graph_root, NETNS_DIR],
    );
    let comm = comm_of(holder.pid);
    // The premise, on the kernel: the holder has untied copies of all three.
    let copies = held(&holder);
    for l in [&rootfs, &shm, &netns] {
        let tags = copies
            .get(&l.mount_point)
            .unwrap_or_else(|| panic!("the holder has no copy of {}", l.mount_point));
        assert!(tags.is_empty(), "{} copy has tags {tags:?}", l.kind);
    }
    let watched = Watched {
        runtime: "podman",
        id: &id,
        name: &name,
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

    // (1) Running: three private copies at risk, named after the container.
    wait(
        "(1) at_risk series of the running podman container",
        "running",
        "at_risk",
        &[rootfs.clone(), shm.clone(), netns.clone()],
    );
    let samples = exporter.scrape();
    assert_eq!(runtime_up(&samples, "podman"), Some(1.0));
    assert_eq!(
        runtime_up(&samples, "docker"),
        Some(1.0),
        "docker (the private test daemon) is watched at the same time"
    );

    // (2) Stopped: Podman unmounts all three and removes the merged dir and the netns file,
    // so the kernel detaches those copies; userdata/shm stays, and so does its copy (stale).
    podman.podman(&["stop", "--time", "1", &id]);
    assert_eq!(inspect("{{.State.Status}}"), "exited");
    let copies = held(&holder);
    let left: BTreeSet<&str> = [&rootfs, &shm, &netns]
        .iter()
        .filter(|l| copies.contains_key(&l.mount_point))
        .map(|l| l.kind)
        .collect();
    assert_eq!(
        left,
        BTreeSet::from(["shm"]),
        "after podman stop the holder should keep only the shm copy"
    );
    let stale_shm = [shm.clone()];
    wait(
        "(2) stale shm of the exited podman container",
        "exited",
        "stale",
        &stale_shm,
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
    assert_eq!(l["mount_point"], shm.mount_point.as_str(), "{l:#}");
    assert_eq!(l["runtime"], "podman", "{l:#}");
    assert_eq!(
        l["container"],
        serde_json::json!({"id": id, "name": name, "state": "exited", "runtime": "podman"}),
        "{l:#}"
    );
    assert_eq!(
        l["fix"],
        format!("systemctl restart {}", holder.unit).as_str(),
        "{l:#}"
    );
    assert_eq!(doc["scan"]["runtimes"]["podman"], true, "{}", doc["scan"]);

    // `scan` (a fresh process asking Podman itself) agrees and names the container.
    let text = scan_text(&podman_flags);
    let says = format!(
        "{} (pid {}, {comm}, 3 processes) holds 1 mount of podman container {name} (exited)",
        holder.unit, holder.pid
    );
    assert!(text.contains(&says), "want {says:?} in:\n{text}");
    assert!(text.contains("podman up"), "{text}");

    // (3) Podman's service goes away: the leak stays, its state becomes unknown, Docker stays up.
    podman.stop_service();
    wait(
        "(3) the stale shm with state unknown once podman is unreachable",
        "unknown",
        "stale",
        &stale_shm,
    );
    let samples = exporter.scrape();
    assert_eq!(runtime_up(&samples, "podman"), Some(0.0));
    assert_eq!(runtime_up(&samples, "docker"), Some(1.0));
    assert_eq!(one_value(&samples, "mountleak_docker_up", &[]), Some(1.0));

    // (4) The holder goes (what `systemctl restart` would do): its leak goes with it.
    holder.kill();
    poll_until("(4) no series left once the holder is killed", step, || {
        let got = scenario_series(&exporter.scrape(), "", &id);
        if got.is_empty() {
            Ok(())
        } else {
            Err(diff(&BTreeMap::new(), &got))
        }
    });
}
