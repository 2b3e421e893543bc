//! Helpers shared by the live tests: the private test daemon started by scripts/test.sh,
//! Drop guards for everything a test makes (containers, volumes, holder namespaces in fake
//! systemd units, the exporter itself), a scrape parser and a poll-until helper.
//!
//! Every guard cleans up on Drop, so a failing assertion (a panic) still leaves the machine
//! clean; scripts/testenv.sh down sweeps up after a test process that was killed outright.
#![allow(dead_code)] // each test binary uses its own subset

pub mod paste;
pub mod promql;
pub mod runtimes;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Read as _;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

pub mod daemon;
pub mod proxy;
pub mod scraper;

// ---------------------------------------------------------------------------------------
// The test environment

/// One private daemon of the test environment, as scripts/testenv.sh exports it.
#[derive(Debug)]
pub struct TestEnv {
    /// Its scripts/testenv.sh instance (`mountleak-test`, `mountleak-test-unstable`, ...).
    pub instance: String,
    /// What it runs: `debian12` (docker.io 20.10, overlay2), `unstable` (docker.io 28,
    /// overlay2) or `unstable-containerd` (docker.io 28, the containerd image store).
    pub setup: String,
    /// `unix:///run/mountleak-test/docker.sock`
    pub docker_host: String,
    /// The private daemon's `--data-root` (its DockerRootDir).
    pub docker_root: String,
    /// The private daemon's `--exec-root` (sandbox netns live in `<exec_root>/netns`).
    pub docker_exec_root: String,
    /// The docker client matching the daemon.
    pub docker_cli: String,
    /// A FROM scratch image with busybox (`sh`, `sleep`, ...).
    pub image: String,
}

fn required_var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: live tests need the private test daemon. Run them with \
             scripts/test.sh (as root), or bring the daemon up with `scripts/testenv.sh up` \
             and `eval \"$(scripts/testenv.sh env)\"` before `cargo nextest run`"
        ),
    }
}

/// The environment, read once. Panics with what to run when scripts/test.sh did not set it.
pub fn env() -> &'static TestEnv {
    static ENV: OnceLock<TestEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let env = TestEnv {
            instance: required_var("MOUNTLEAK_TEST_INSTANCE"),
            setup: std::env::var("MOUNTLEAK_TEST_SETUP").unwrap_or_else(|_| "debian12".into()),
            docker_host: required_var("MOUNTLEAK_TEST_DOCKER_HOST"),
            docker_root: required_var("MOUNTLEAK_TEST_DOCKER_ROOT"),
            docker_exec_root: required_var("MOUNTLEAK_TEST_DOCKER_EXEC_ROOT"),
            docker_cli: std::env::var("MOUNTLEAK_TEST_DOCKER_CLI")
                .unwrap_or_else(|_| "/usr/bin/docker".to_string()),
            image: required_var("MOUNTLEAK_TEST_IMAGE"),
        };
        assert!(
            is_root(),
            "live tests must run as root (they make mount namespaces and cgroups): use scripts/test.sh"
        );
        env
    })
}

/// The daemon running `setup` (scripts/testenv.sh `up` starts one of each and lists them in
/// MOUNTLEAK_TEST_SETUPS). Panics with what to run when it is not up.
pub fn setup_env(setup: &str) -> &'static TestEnv {
    static SETUPS: OnceLock<Vec<TestEnv>> = OnceLock::new();
    let all = SETUPS.get_or_init(|| {
        let main = env();
        required_var("MOUNTLEAK_TEST_SETUPS")
            .split_whitespace()
            .map(|instance| {
                let vars = testenv_vars(instance).unwrap_or_else(|e| panic!("{e}"));
                let var = |name: &str| {
                    vars.get(name)
                        .cloned()
                        .unwrap_or_else(|| panic!("testenv.sh env of {instance} printed no {name}"))
                };
                TestEnv {
                    instance: instance.to_string(),
                    setup: var("MOUNTLEAK_TEST_SETUP"),
                    docker_host: var("MOUNTLEAK_TEST_DOCKER_HOST"),
                    docker_root: var("MOUNTLEAK_TEST_DOCKER_ROOT"),
                    docker_exec_root: var("MOUNTLEAK_TEST_DOCKER_EXEC_ROOT"),
                    docker_cli: var("MOUNTLEAK_TEST_DOCKER_CLI"),
                    image: var("MOUNTLEAK_TEST_IMAGE"),
                }
            })
            .filter(|e| e.instance != main.instance)
            .collect()
    });
    let main = env();
    if main.setup == setup {
        return main;
    }
    let found = all.iter().find(|e| e.setup == setup).unwrap_or_else(|| {
        panic!(
            "no daemon of setup {setup} among MOUNTLEAK_TEST_SETUPS: scripts/testenv.sh up \
             starts one of each (run the tests with scripts/test.sh)"
        )
    });
    if let Err(e) = found.docker_try(&["version", "--format", "{{.Server.Version}}"]) {
        panic!(
            "the {setup} daemon ({}) does not answer: {e}; scripts/testenv.sh up starts it",
            found.instance
        );
    }
    found
}

/// The `export NAME='value'` lines of `scripts/testenv.sh env` for an instance.
pub fn testenv_vars(instance: &str) -> Result<BTreeMap<String, String>, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/testenv.sh");
    let out = Command::new(script)
        .arg("env")
        .env("MOUNTLEAK_TEST_INSTANCE", instance)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "MOUNTLEAK_TEST_INSTANCE={instance} {script} env failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (name, value) = l.strip_prefix("export ")?.split_once('=')?;
            let value = value.strip_prefix('\'')?.strip_suffix('\'')?;
            Some((name.to_string(), value.to_string()))
        })
        .collect())
}

impl TestEnv {
    /// Run this daemon's docker client against it; Err carries the command and stderr.
    pub fn docker_try(&self, args: &[&str]) -> Result<String, String> {
        docker_cli_try(&self.docker_cli, &self.docker_host, args)
    }

    /// Like [`TestEnv::docker_try`], panicking on failure.
    pub fn docker(&self, args: &[&str]) -> String {
        self.docker_try(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Whether it keeps images and container filesystems in containerd (the containerd
    /// image store, `"features": {"containerd-snapshotter": true}`).
    pub fn containerd_store(&self) -> bool {
        self.setup == "unstable-containerd"
    }

    /// The flags that point the exporter at this daemon.
    pub fn exporter_flags(&self) -> Vec<String> {
        vec![
            format!("--docker.host={}", self.docker_host),
            format!("--docker.exec-root={}", self.docker_exec_root),
            // A loaded CI machine can make the test daemon slow; tests that want a short
            // timeout pass their own (the last value of a flag wins).
            "--docker.timeout=15s".to_string(),
        ]
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A name unique to this test process and call: `mlt-<pid>-<n>-<label>`. Docker names,
/// volume names and units made by tests carry it, so assertions can filter to their own.
pub fn unique_name(label: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "mlt-{}-{}-{label}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

// ---------------------------------------------------------------------------------------
// Docker

/// Run the docker client against the private daemon; Err carries the command and stderr.
pub fn docker_try(args: &[&str]) -> Result<String, String> {
    env().docker_try(args)
}

/// Run docker client `cli` against daemon `host`; Err carries the command and stderr.
pub fn docker_cli_try(cli: &str, host: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cli)
        .args(args)
        .env("DOCKER_HOST", host)
        .env_remove("DOCKER_CONTEXT")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cli}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "docker {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Like [`docker_try`], panicking on failure.
pub fn docker(args: &[&str]) -> String {
    docker_try(args).unwrap_or_else(|e| panic!("{e}"))
}

/// A named local volume backed by tmpfs (`--opt type=tmpfs --opt device=tmpfs`): Docker
/// mounts it at `<root>/volumes/<name>/_data` while a container uses it. Removed on Drop.
/// Declare it before the containers that use it so they are dropped (removed) first.
pub struct Volume {
    pub name: String,
    daemon: &'static TestEnv,
    removed: bool,
}

impl Volume {
    pub fn create_tmpfs(label: &str) -> Volume {
        Volume::create_tmpfs_on(env(), label)
    }

    /// [`Volume::create_tmpfs`] on another of the test daemons.
    pub fn create_tmpfs_on(daemon: &'static TestEnv, label: &str) -> Volume {
        let name = unique_name(label);
        daemon.docker(&[
            "volume",
            "create",
            "--opt",
            "type=tmpfs",
            "--opt",
            "device=tmpfs",
            &name,
        ]);
        Volume {
            name,
            daemon,
            removed: false,
        }
    }

    /// `<docker root>/volumes/<name>/_data`
    pub fn mount_point(&self) -> String {
        format!("{}/volumes/{}/_data", self.daemon.docker_root, self.name)
    }

    /// `docker volume rm`, asserting it succeeds.
    pub fn remove(&mut self) {
        self.daemon.docker(&["volume", "rm", &self.name]);
        self.removed = true;
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.daemon.docker_try(&["volume", "rm", "-f", &self.name]);
        }
    }
}

/// A container on the private daemon, force-removed (with its anonymous volumes) on Drop.
pub struct Container {
    pub id: String,
    pub name: String,
    daemon: &'static TestEnv,
    removed: bool,
}

impl Container {
    /// `docker run -d --name <unique> <run_args> <image> <cmd>`.
    pub fn run(label: &str, run_args: &[&str], cmd: &[&str]) -> Container {
        Container::run_on(env(), label, run_args, cmd)
    }

    /// [`Container::run`] on another of the test daemons.
    pub fn run_on(
        daemon: &'static TestEnv,
        label: &str,
        run_args: &[&str],
        cmd: &[&str],
    ) -> Container {
        let name = unique_name(label);
        let mut args = vec!["run", "-d", "--name", &name];
        args.extend_from_slice(run_args);
        args.push(&daemon.image);
        args.extend_from_slice(cmd);
        let id = daemon.docker(&args);
        assert!(
            id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "docker run printed {id:?}, not a container id"
        );
        Container {
            id,
            name,
            daemon,
            removed: false,
        }
    }

    /// `docker inspect -f <format>`.
    pub fn inspect(&self, format: &str) -> String {
        self.daemon.docker(&["inspect", "-f", format, &self.id])
    }

    /// `GraphDriver.Data.MergedDir`: the rootfs mount point.
    pub fn merged_dir(&self) -> String {
        self.inspect("{{.GraphDriver.Data.MergedDir}}")
    }

    /// Where the engine mounts the container's rootfs: inspect's `GraphDriver.Data.MergedDir`
    /// for a graph driver; under the containerd image store, which has no MergedDir (asserted),
    /// `<root>/rootfs/<snapshotter>/<id>` (moby daemon/snapshotter/mount.go), the snapshotter
    /// being containerd's `overlayfs`, which inspect's `GraphDriver.Name` says.
    pub fn rootfs_mount_point(&self) -> String {
        if !self.daemon.containerd_store() {
            return self.merged_dir();
        }
        let graph = self.inspect("{{json .GraphDriver}}");
        let graph: serde_json::Value = serde_json::from_str(&graph)
            .unwrap_or_else(|e| panic!("GraphDriver {graph:?} is not JSON: {e}"));
        assert!(
            graph["Data"].get("MergedDir").is_none(),
            "the containerd image store gave a MergedDir: {graph}"
        );
        assert_eq!(graph["Name"], "overlayfs", "the snapshotter: {graph}");
        format!("{}/rootfs/overlayfs/{}", self.daemon.docker_root, self.id)
    }

    /// `NetworkSettings.SandboxKey` with `/var/run` spelt `/run`, as mountinfo shows it.
    pub fn sandbox_key(&self) -> String {
        let key = self.inspect("{{.NetworkSettings.SandboxKey}}");
        match key.strip_prefix("/var/run/") {
            Some(rest) => format!("/run/{rest}"),
            None => key,
        }
    }

    /// `<docker root>/containers/<id>/mounts/shm` (Docker 18+ with shareable IPC).
    pub fn shm_mount_point(&self) -> String {
        format!(
            "{}/containers/{}/mounts/shm",
            self.daemon.docker_root, self.id
        )
    }

    pub fn state(&self) -> String {
        self.inspect("{{.State.Status}}")
    }

    pub fn stop(&self) {
        self.daemon.docker(&["stop", "-t", "1", &self.id]);
    }

    /// `docker rm` (not forced: the container must be stopped).
    pub fn remove(&mut self) {
        self.daemon.docker(&["rm", &self.id]);
        self.removed = true;
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.daemon.docker_try(&["rm", "-f", "-v", &self.id]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Mount namespaces held by fake systemd units

/// How the holder's namespace is set up: `unshare -m --propagation <this>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    /// A private copy of the host's table, like a unit with PrivateTmp=true on a host whose
    /// mounts are not shared: its copies of container mounts outlive the daemon's unmounts.
    Private,
    /// Receives the host's mounts and unmounts: copies heal themselves.
    Slave,
}

impl Propagation {
    fn as_arg(self) -> &'static str {
        match self {
            Propagation::Private => "private",
            Propagation::Slave => "slave",
        }
    }
}

/// The cgroup hierarchies a systemd host puts a unit's processes in: the v1 `name=systemd`
/// one and the v2 one (hybrid hosts have both; pure v2 hosts only the latter).
pub fn unit_cgroup_hierarchies() -> Vec<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("read /proc/self/mountinfo");
    let mut v1_systemd = None;
    let mut v2 = Vec::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(fstype), Some(opts)) = (fields.get(sep + 1), fields.get(sep + 3)) else {
            continue;
        };
        let mount_point = PathBuf::from(fields[4]);
        if *fstype == "cgroup" && opts.split(',').any(|o| o == "name=systemd") {
            v1_systemd = Some(mount_point);
        } else if *fstype == "cgroup2" {
            v2.push(mount_point);
        }
    }
    let mut out: Vec<PathBuf> = v1_systemd.into_iter().collect();
    // Prefer the conventional hybrid location if several cgroup2 mounts exist.
    v2.sort_by_key(|p| p != Path::new("/sys/fs/cgroup/unified"));
    out.extend(v2.into_iter().take(1));
    assert!(
        !out.is_empty(),
        "no name=systemd or cgroup2 hierarchy is mounted: cannot fake a systemd unit"
    );
    out
}

/// A process tree in its own mount namespace (`unshare -m`), inside cgroup
/// `system.slice/<unit>` of every unit hierarchy, as systemd would place a service with
/// PrivateTmp=true. The namespace holds a `sh` (the leader, [`Holder::pid`]) and `sleepers`
/// `sleep` children. Drop kills the whole tree and removes the cgroup directories.
pub struct Holder {
    /// `mountleak-e2e-<test pid>-<n>-<label>.service`, the cgroup under `system.slice` (see
    /// [`Holder::spawn_in`]); scripts/testenv.sh down removes such cgroups whose test pid is
    /// gone.
    pub unit: String,
    /// The leader (`sh`); also the process group id of the tree.
    pub pid: u32,
    /// Every process of the namespace, leader first.
    pub pids: Vec<u32>,
    pub propagation: Propagation,
    child: Child,
    cgroup_dirs: Vec<PathBuf>,
}

static HOLDER_N: AtomicUsize = AtomicUsize::new(0);

impl Holder {
    /// A holder whose namespace is a full copy of the host's mount table.
    pub fn spawn(label: &str, propagation: Propagation, sleepers: usize) -> Holder {
        Holder::spawn_keeping(label, propagation, sleepers, &[])
    }

    /// A holder whose namespace keeps only `/` and the mounts at or under the `keep` paths
    /// (and their ancestors): everything else is lazily unmounted inside it right after
    /// `unshare`. A shared development host carries other people's mounts (benchmarks,
    /// other daemons) that a full copy would make this holder "hold" too, so tests that
    /// count a unit's leaks keep only their daemon's roots. Empty `keep` keeps everything.
    pub fn spawn_keeping(
        label: &str,
        propagation: Propagation,
        sleepers: usize,
        keep: &[&str],
    ) -> Holder {
        Holder::spawn_in(&format!("{label}.service"), "", propagation, sleepers, keep)
    }

    /// A holder in cgroup `system.slice/mountleak-e2e-<test pid>-<n>-<top>/<below>` (`below`
    /// may be empty): a unit's delegated subtree, or a cgroup named as an attacker would.
    pub fn spawn_in(
        top: &str,
        below: &str,
        propagation: Propagation,
        sleepers: usize,
        keep: &[&str],
    ) -> Holder {
        let unit = format!(
            "mountleak-e2e-{}-{}-{top}",
            std::process::id(),
            HOLDER_N.fetch_add(1, Ordering::Relaxed)
        );
        let mut cgroup_dirs = Vec::new();
        let mut leaves = Vec::new();
        for hier in unit_cgroup_hierarchies() {
            // Removed deepest first.
            let mut dir = hier.join("system.slice").join(&unit);
            let mut made = vec![dir.clone()];
            for part in below.split('/').filter(|p| !p.is_empty()) {
                dir.push(part);
                made.push(dir.clone());
            }
            fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
            leaves.push(dir);
            cgroup_dirs.extend(made.into_iter().rev());
        }
        for k in keep {
            assert!(
                k.starts_with('/') && !k.contains(char::is_whitespace),
                "keep path {k:?} must be absolute and without whitespace"
            );
        }
        // Runs inside the new namespace. Mountinfo fields: 1 id, 2 parent id, 5 mount point.
        // Kept: `/`, the keep paths, what is under them and their ancestors (unmounting an
        // ancestor would take them along). Only the topmost mounts that are not kept are
        // unmounted: a lazy unmount takes the whole subtree (a busy host has thousands).
        let inner = format!(
            r#"if [ -n "$HOLDER_KEEP" ]; then
                 awk -v keep="$HOLDER_KEEP" '
                   function kept(m,   i) {{
                     if (m == "/") return 1
                     for (i = 1; i <= n; i++)
                       if (m == k[i] || index(m, k[i] "/") == 1 || index(k[i], m "/") == 1) return 1
                     return 0
                   }}
                   BEGIN {{ n = split(keep, k, " ") }}
                   {{ par[NR] = $2; mp[NR] = $5; row[$1] = NR }}
                   END {{
                     for (r = 1; r <= NR; r++) {{
                       if (kept(mp[r])) continue
                       p = row[par[r]]
                       if (p == "" || kept(mp[p])) print mp[r]
                     }}
                   }}' /proc/self/mountinfo |
                 while read -r mp; do umount -l "$mp" 2>/dev/null || true; done
               fi
               i=0; while [ $i -lt {sleepers} ]; do sleep 1000000 & i=$((i+1)); done; wait"#
        );
        // The outer sh moves itself into the unit's cgroups before exec'ing unshare, so every
        // process of the namespace starts (and stays) inside the unit.
        let outer = format!(
            r#"inner="$1"; shift
               for f in "$@"; do echo $$ > "$f" || exit 1; done
               exec unshare -m --propagation {} sh -c "$inner" holder"#,
            propagation.as_arg()
        );
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(outer).arg("holder").arg(inner);
        cmd.env("HOLDER_KEEP", keep.join(" "));
        for dir in &leaves {
            cmd.arg(dir.join("cgroup.procs"));
        }
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn sh for the holder");
        let mut holder = Holder {
            unit,
            pid: child.id(),
            pids: Vec::new(),
            propagation,
            child,
            cgroup_dirs,
        };
        let own_ns = mnt_ns("self").expect("read /proc/self/ns/mnt");
        let leader = holder.pid;
        let want = sleepers + 1;
        holder.pids = poll_until(
            &format!(
                "holder {} to have {want} processes in a new mount namespace",
                holder.unit
            ),
            Duration::from_secs(10),
            || {
                let pids = process_group_members(leader);
                let in_new_ns = pids
                    .iter()
                    .filter(|p| mnt_ns(&p.to_string()).is_some_and(|ns| ns != own_ns))
                    .count();
                // Ready once only the leader and its sleeps are left (the pruning pipeline
                // runs short-lived processes in the group first).
                let sleeping = pids
                    .iter()
                    .filter(|p| {
                        fs::read_to_string(format!("/proc/{p}/comm"))
                            .is_ok_and(|c| c.trim() == "sleep")
                    })
                    .count();
                if pids.len() == want
                    && in_new_ns == want
                    && sleeping == sleepers
                    // Not "first": after the pid counter wraps, the sleeps' pids are lower.
                    && pids.contains(&leader)
                {
                    Ok(pids)
                } else {
                    Err(format!(
                        "pids {pids:?}, {in_new_ns} in a new namespace, {sleeping} sleeping"
                    ))
                }
            },
        );
        holder
    }

    /// The holder's current mountinfo text.
    pub fn mountinfo(&self) -> String {
        fs::read_to_string(format!("/proc/{}/mountinfo", self.pid))
            .unwrap_or_else(|e| panic!("read mountinfo of holder {}: {e}", self.pid))
    }

    /// Kill the tree and remove its cgroups now (Drop does it too).
    pub fn kill(mut self) {
        self.cleanup();
    }

    fn cleanup(&mut self) {
        if self.cgroup_dirs.is_empty() {
            return;
        }
        // SAFETY: kill(2) with a negative pid signals our own process group, nothing else.
        unsafe {
            libc::kill(-(self.pid as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.child.wait();
        for dir in std::mem::take(&mut self.cgroup_dirs) {
            // The killed processes leave the cgroup once they are reaped (they are children
            // of our leader, which the kernel reparents and reaps): wait for that briefly.
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match fs::remove_dir(&dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) if Instant::now() > deadline => {
                        eprintln!("could not remove cgroup {}: {e}", dir.display());
                        break;
                    }
                    Err(_) => sleep(Duration::from_millis(50)),
                }
            }
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// The mount namespace link of `/proc/<pid>/ns/mnt` (`mnt:[4026531832]`), if readable.
pub fn mnt_ns(pid: &str) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Live pids whose process group is `pgid`, sorted.
fn process_group_members(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised comm: state ppid pgrp ...
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.first() == Some(&"Z") {
            continue;
        }
        if fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) {
            out.push(pid);
        }
    }
    out.sort_unstable();
    out
}

/// Mount points (field 5, unescaped) of a mountinfo text with their optional fields
/// (`shared:N`, `master:N`, ...), for the tests' own sanity checks of the kernel's view.
pub fn mountinfo_entries(text: &str) -> Vec<(String, Vec<String>)> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            let mount_point = fields.get(4)?;
            let optional = fields[6..sep].iter().map(|s| s.to_string()).collect();
            Some((unescape_mountinfo(mount_point), optional))
        })
        .collect()
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

// ---------------------------------------------------------------------------------------
// The exporter

/// Path of the binary under test.
pub fn exporter_bin() -> &'static str {
    env!("CARGO_BIN_EXE_mountleak_exporter")
}

/// The flags that point the exporter at the private test daemon.
pub fn docker_flags() -> Vec<String> {
    env().exporter_flags()
}

/// A Command for the exporter binary with a clean environment (no DOCKER_HOST or
/// MOUNTLEAK_* leaking in from the caller).
pub fn exporter_command() -> Command {
    let mut cmd = Command::new(exporter_bin());
    for (key, _) in std::env::vars_os() {
        let key_s = key.to_string_lossy();
        if key_s.starts_with("MOUNTLEAK_") || key_s.starts_with("DOCKER_") {
            cmd.env_remove(&key);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// `mountleak_exporter scan <args> <docker flags>`: the one-shot report.
pub fn run_scan(args: &[&str]) -> Output {
    run_scan_on(env(), args)
}

/// [`run_scan`] against another of the test daemons.
pub fn run_scan_on(daemon: &TestEnv, args: &[&str]) -> Output {
    exporter_command()
        .arg("scan")
        .args(args)
        .args(daemon.exporter_flags())
        .output()
        .expect("run mountleak_exporter scan")
}

/// A running exporter on a free loopback port, killed on Drop.
pub struct Exporter {
    pub base_url: String,
    child: Child,
    log_path: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl Exporter {
    /// Start with [`docker_flags`], `--scan.min-interval 0s` (every scrape rescans) and
    /// `extra` flags; wait for `/healthz` to answer 200.
    pub fn start(extra: &[&str]) -> Exporter {
        Exporter::start_with_docker(&docker_flags(), extra)
    }

    /// Like [`Exporter::start`] with `docker` in place of [`docker_flags`] (another daemon, a
    /// proxy, or no Docker at all).
    pub fn start_with_docker(docker: &[String], extra: &[&str]) -> Exporter {
        let mut last_err = String::new();
        // A port picked free can be taken before the exporter binds it: retry on that.
        for _ in 0..3 {
            match Exporter::try_start(docker, extra) {
                Ok(e) => return e,
                Err(e) => last_err = e,
            }
        }
        panic!("the exporter did not come up: {last_err}");
    }

    fn try_start(docker: &[String], extra: &[&str]) -> Result<Exporter, String> {
        let port = free_port();
        let log_dir = tempfile::tempdir().expect("tempdir for the exporter's log");
        let log_path = log_dir.path().join("exporter.log");
        let log = fs::File::create(&log_path).expect("create exporter log");
        let child = exporter_command()
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--scan.min-interval=0s")
            .args(docker)
            .args(extra)
            .stdout(log.try_clone().expect("dup log fd"))
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", exporter_bin()))?;
        let mut exporter = Exporter {
            base_url: format!("http://127.0.0.1:{port}"),
            child,
            log_path,
            _log_dir: log_dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = exporter.child.try_wait() {
                return Err(format!("it exited with {status}; log:\n{}", exporter.log()));
            }
            if let Ok((200, _)) = http_get(&format!("{}/healthz", exporter.base_url)) {
                return Ok(exporter);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "/healthz did not answer 200 within 20s; log:\n{}",
                    exporter.log()
                ));
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// The exporter's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the exporter has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// GET a path; panics unless the answer is 200.
    pub fn get(&self, path: &str) -> String {
        match http_get(&format!("{}{path}", self.base_url)) {
            Ok((200, body)) => body,
            Ok((status, body)) => panic!("GET {path}: status {status}: {body}"),
            Err(e) => panic!("GET {path}: {e}; exporter log:\n{}", self.log()),
        }
    }

    /// Scrape `/metrics` and parse it.
    pub fn scrape(&self) -> Vec<Sample> {
        parse_prometheus_text(&self.get("/metrics"))
            .unwrap_or_else(|e| panic!("/metrics is not valid text format: {e}"))
    }

    /// `GET /api/v1/leaks` as JSON.
    pub fn leaks_json(&self) -> serde_json::Value {
        let body = self.get("/api/v1/leaks");
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("/api/v1/leaks is not JSON ({e}): {body}"))
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- exporter log ---\n{}--- end ---", self.log());
        }
    }
}

/// A TCP port free on 127.0.0.1 when asked (another process may take it before it is used).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// GET a URL: (status, body). Non-2xx statuses are answers, not errors.
pub fn http_get(url: &str) -> Result<(u16, String), String> {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    let agent = AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into()
    });
    let mut resp = agent.get(url).call().map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let mut body = String::new();
    resp.body_mut()
        .as_reader()
        .read_to_string(&mut body)
        .map_err(|e| e.to_string())?;
    Ok((status, body))
}

// ---------------------------------------------------------------------------------------
// Prometheus text format

/// One sample of a scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map(String::as_str).unwrap_or("")
    }

    /// Whether every `(name, value)` pair matches (a missing label matches "").
    pub fn matches(&self, labels: &[(&str, &str)]) -> bool {
        labels.iter().all(|(k, v)| self.label(k) == *v)
    }
}

impl std::fmt::Display for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{{", self.name)?;
        for (i, (k, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            write!(f, "{k}={v:?}")?;
        }
        write!(f, "}} {}", self.value)
    }
}

/// Samples named `name` whose labels match every pair.
pub fn select<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name == name && s.matches(labels))
        .collect()
}

/// Samples formatted one per line, for failure messages.
pub fn show(samples: &[&Sample]) -> String {
    if samples.is_empty() {
        return "(none)".to_string();
    }
    samples.iter().map(|s| format!("  {s}\n")).collect()
}

/// Parse the Prometheus text exposition format (0.0.4): comments and blank lines skipped,
/// label values unescaped, an optional timestamp ignored.
pub fn parse_prometheus_text(text: &str) -> Result<Vec<Sample>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_sample_line(line).map_err(|e| format!("line {}: {e}: {line}", n + 1))?);
    }
    Ok(out)
}

fn parse_sample_line(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or("no value")?;
    let name = &line[..name_end];
    if name.is_empty()
        || name.starts_with(|c: char| c.is_ascii_digit())
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(after_brace) = rest.strip_prefix('{') {
        let mut chars = after_brace.char_indices().peekable();
        loop {
            // Skip separators.
            while let Some((_, c)) = chars.peek() {
                if *c == ',' || c.is_whitespace() {
                    chars.next();
                } else {
                    break;
                }
            }
            let Some(&(start, c)) = chars.peek() else {
                return Err("unterminated label set".into());
            };
            if c == '}' {
                rest = &after_brace[start + 1..];
                break;
            }
            let mut key_end = start;
            while let Some(&(i, c)) = chars.peek() {
                if c == '=' {
                    key_end = i;
                    break;
                }
                chars.next();
            }
            let key = after_brace[start..key_end].trim().to_string();
            chars.next(); // '='
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {key} value is not quoted"));
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    None => return Err("unterminated label value".into()),
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        other => return Err(format!("bad escape {other:?}")),
                    },
                    Some((_, c)) => value.push(c),
                }
            }
            if labels.insert(key.clone(), value).is_some() {
                return Err(format!("label {key} appears twice"));
            }
        }
    }
    let mut parts = rest.split_whitespace();
    let value_text = parts.next().ok_or("no value")?;
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v
            .parse::<f64>()
            .map_err(|e| format!("bad value {v:?}: {e}"))?,
    };
    if let Some(ts) = parts.next() {
        ts.parse::<i64>()
            .map_err(|e| format!("bad timestamp {ts:?}: {e}"))?;
    }
    if parts.next().is_some() {
        return Err("trailing text".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

// ---------------------------------------------------------------------------------------
// Waiting

/// Call `check` every 250 ms until it returns Ok or `timeout` passes; on timeout panic with
/// `what` and the last thing `check` reported (so a failure says what was seen instead).
pub fn poll_until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(v) => return v,
            Err(last) => {
                if start.elapsed() > timeout {
                    panic!(
                        "timed out after {:.0?} waiting for {what}; last seen:\n{last}",
                        start.elapsed()
                    );
                }
            }
        }
        sleep(Duration::from_millis(250));
    }
}

/// Fails the test with what to install when a command-line tool it drives is missing.
pub fn require_tool(cmd: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .expect("run sh");
    assert!(
        found.status.success(),
        "{cmd} is needed for this test: scripts/test.sh installs it (scripts/testenv.sh APT_PACKAGES)"
    );
}

/// The scene most live tests start from: a tmpfs volume, a container using it with shareable
/// IPC and its own netns (`--network=none`), and a private holder (one sleeper) in a fake
/// systemd unit that copied the container's mounts, keeping only the daemon's roots.
/// Bind the tuple in this order so the holder is dropped first, then container, then volume.
pub fn leak_scene(label: &str) -> (Volume, Container, Holder) {
    let env = env();
    let volume = Volume::create_tmpfs(&format!("{label}-vol"));
    let container = Container::run(
        label,
        &[
            "--ipc=shareable",
            "--network=none",
            "-v",
            &format!("{}:/data", volume.name),
        ],
        &["sleep", "1000000"],
    );
    let roots = [env.docker_root.as_str(), env.docker_exec_root.as_str()];
    let holder = Holder::spawn_keeping(label, Propagation::Private, 1, &roots);
    (volume, container, holder)
}
