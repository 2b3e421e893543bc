//! End-to-end tests against the private dockerd that scripts/test.sh starts.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// The premise of the leak scenario, checked on the kernel itself: a holder namespace made
/// with `--propagation private` while a container runs keeps untied copies of each of the
/// container's mounts, one made with `--propagation slave` keeps copies tied by `master:N`.
/// If this fails, the environment (not the exporter) is wrong: for example the daemon's
/// roots are not shared mounts (scripts/testenv.sh makes them so).
#[test]
fn holders_copy_the_container_mounts_with_the_expected_propagation() {
    for setup in SETUPS {
        premise(setup_env(setup));
    }
}

fn premise(daemon: &'static TestEnv) {
    let volume = Volume::create_tmpfs_on(daemon, "premise-vol");
    let container = Container::run_on(
        daemon,
        "premise",
        &[
            "--ipc=shareable",
            "--network=none",
            "-v",
            &format!("{}:/data", volume.name),
        ],
        &["sleep", "1000000"],
    );
    assert_eq!(container.state(), "running");
    let private = Holder::spawn("premise-private", Propagation::Private, 3);
    let slave = Holder::spawn("premise-slave", Propagation::Slave, 3);

    let expected = [
        ("rootfs", container.rootfs_mount_point()),
        ("shm", container.shm_mount_point()),
        ("netns", container.sandbox_key()),
        ("volume", volume.mount_point()),
    ];
    let netns_dir = format!("{}/netns/", daemon.docker_exec_root);
    assert!(
        expected[2].1.starts_with(&netns_dir),
        "SandboxKey {} is not under the exec root's netns/",
        expected[2].1
    );

    let host = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let host = mountinfo_entries(&host);
    let private_mi = mountinfo_entries(&private.mountinfo());
    let slave_mi = mountinfo_entries(&slave.mountinfo());
    for (kind, mount_point) in &expected {
        let tags = |entries: &[(String, Vec<String>)], who: &str| -> Vec<String> {
            entries
                .iter()
                .find(|(mp, _)| mp == mount_point)
                .unwrap_or_else(|| panic!("{who} has no {kind} mount at {mount_point}"))
                .1
                .clone()
        };
        let host_tags = tags(&host, "the host namespace");
        assert!(
            host_tags.iter().any(|t| t.starts_with("shared:")),
            "host's {kind} mount {mount_point} is not shared: {host_tags:?}"
        );
        let private_tags = tags(&private_mi, "the private holder");
        assert!(
            private_tags.is_empty(),
            "private holder's {kind} copy has propagation tags {private_tags:?}"
        );
        let slave_tags = tags(&slave_mi, "the slave holder");
        assert!(
            slave_tags.iter().any(|t| t.starts_with("master:")),
            "slave holder's {kind} copy is not a slave: {slave_tags:?}"
        );
    }

    // The holders sit in their fake units, in every unit hierarchy.
    for holder in [&private, &slave] {
        assert_eq!(holder.pids.len(), 4, "sh + 3 sleeps");
        for pid in &holder.pids {
            let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
            let want = format!("/system.slice/{}", holder.unit);
            let hits = cgroup.lines().filter(|l| l.ends_with(&want)).count();
            assert_eq!(
                hits,
                unit_cgroup_hierarchies().len(),
                "pid {pid} is not in {want} in every unit hierarchy:\n{cgroup}"
            );
        }
    }

    // Dropping a holder kills its processes and removes its cgroups.
    let dirs: Vec<_> = unit_cgroup_hierarchies()
        .into_iter()
        .map(|h| h.join("system.slice").join(&private.unit))
        .collect();
    let pids = private.pids.clone();
    private.kill();
    for dir in &dirs {
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
    for pid in pids {
        let alive = fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        assert!(!alive, "holder pid {pid} survived");
    }
    drop(slave);
    drop(container);
    assert!(
        !Path::new(&expected[1].1).exists(),
        "the container's directory survived its removal"
    );
}

#[test]
fn scrape_parser_reads_labels_escapes_and_special_values() {
    let text = "# HELP a_metric Something.\n# TYPE a_metric gauge\n\
                a_metric{unit=\"httpd.service\",path=\"/x\\\\y \\\"q\\\"\\nz\"} 8\n\
                b_total 1.5e3 1764380000000\n\
                c{} NaN\n\
                d{le=\"+Inf\",} +Inf\n";
    let samples = parse_prometheus_text(text).unwrap();
    assert_eq!(samples.len(), 4);
    assert_eq!(samples[0].name, "a_metric");
    assert_eq!(samples[0].label("unit"), "httpd.service");
    assert_eq!(samples[0].label("path"), "/x\\y \"q\"\nz");
    assert_eq!(samples[0].value, 8.0);
    assert_eq!(samples[1].value, 1500.0);
    assert!(samples[2].value.is_nan() && samples[2].labels.is_empty());
    assert_eq!(samples[3].value, f64::INFINITY);
    assert_eq!(
        select(&samples, "a_metric", &[("unit", "httpd.service")]).len(),
        1
    );
    assert!(select(&samples, "a_metric", &[("unit", "other")]).is_empty());

    for bad in [
        "x{a=\"1\"",
        "x{a=1} 2",
        "x{a=\"1\",a=\"2\"} 1",
        "x one",
        "x 1 2 3",
        "1x 2",
    ] {
        assert!(parse_prometheus_text(bad).is_err(), "accepted {bad:?}");
    }
}

// ---------------------------------------------------------------------------------------
// The leak scenario of the core issue, against the real binary.

const LEAK_METRICS: &[&str] = &[
    "mountleak_process_leaked_mounts",
    "mountleak_unit_leaked_mounts",
    "mountleak_container_leaked_mounts",
    "mountleak_volume_leaked_mounts",
    "mountleak_leak_first_seen_timestamp_seconds",
];

/// One of the container's mounts as the private holder should see it reported.
#[derive(Clone, Debug)]
struct Expect {
    kind: &'static str,
    mount_point: String,
    volume: Option<String>,
    status: &'static str,
}

/// A holder's identity, kept after the holder itself is gone.
struct HolderIds {
    unit: String,
    pid: u32,
    pids: Vec<u32>,
}

impl HolderIds {
    fn of(h: &Holder) -> HolderIds {
        HolderIds {
            unit: h.unit.clone(),
            pid: h.pid,
            pids: h.pids.clone(),
        }
    }
}

/// Everything the scenario owns, to pick its series out of a scrape of the whole host.
struct Scenario {
    daemon: &'static TestEnv,
    private: HolderIds,
    slave: HolderIds,
    comms: BTreeMap<u32, String>,
    container_id: String,
    container_name: String,
    volumes: Vec<String>,
}

impl Scenario {
    fn owns_labels(&self, s: &Sample) -> bool {
        let units = [self.private.unit.as_str(), self.slave.unit.as_str()];
        let pid_ours = s
            .label("pid")
            .parse::<u32>()
            .is_ok_and(|p| self.private.pids.contains(&p) || self.slave.pids.contains(&p));
        units.contains(&s.label("unit"))
            || pid_ours
            || s.label("container_id") == self.container_id
            || self.volumes.iter().any(|v| v == s.label("volume"))
    }

    /// This scenario's leak series as `name{labels}` -> value (first-seen values, which are
    /// timestamps, are checked for sanity and then replaced by 1).
    fn actual(&self, samples: &[Sample]) -> Result<BTreeMap<String, f64>, String> {
        let now = unix_now();
        let mut out = BTreeMap::new();
        for s in samples {
            if !LEAK_METRICS.contains(&s.name.as_str()) || !self.owns_labels(s) {
                continue;
            }
            let mut value = s.value;
            if s.name == "mountleak_leak_first_seen_timestamp_seconds" {
                if !(value > now - 3600.0 && value <= now + 1.0) {
                    return Err(format!("first-seen timestamp is not recent: {s}"));
                }
                value = 1.0;
            }
            out.insert(series_key(&s.name, &s.labels), value);
        }
        Ok(out)
    }

    /// What docs/interfaces.md says the scrape must hold for these leaks of the private holder.
    fn expected(&self, state: &str, leaks: &[Expect]) -> BTreeMap<String, f64> {
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        let mut add = |name: &str, labels: &[(&str, &str)], v: f64| {
            let labels = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            *out.entry(series_key(name, &labels)).or_default() += v;
        };
        let unit = self.private.unit.as_str();
        let leader = self.private.pid.to_string();
        for l in leaks {
            add(
                "mountleak_unit_leaked_mounts",
                &[("unit", unit), ("status", l.status)],
                1.0,
            );
            for pid in &self.private.pids {
                add(
                    "mountleak_process_leaked_mounts",
                    &[
                        ("pid", &pid.to_string()),
                        ("comm", &self.comms[pid]),
                        ("unit", unit),
                        ("status", l.status),
                    ],
                    1.0,
                );
            }
            let container = [
                ("runtime", "docker"),
                ("container_id", self.container_id.as_str()),
                ("container_name", self.container_name.as_str()),
                ("container_state", state),
                ("kind", l.kind),
                ("status", l.status),
            ];
            add("mountleak_container_leaked_mounts", &container, 1.0);
            if let Some(v) = &l.volume {
                add(
                    "mountleak_volume_leaked_mounts",
                    &[("runtime", "docker"), ("volume", v), ("status", l.status)],
                    1.0,
                );
            }
            let mut first_seen = vec![
                ("unit", unit),
                ("pid", leader.as_str()),
                ("comm", self.comms[&self.private.pid].as_str()),
                ("mountpoint", l.mount_point.as_str()),
            ];
            first_seen.extend_from_slice(&container);
            add(
                "mountleak_leak_first_seen_timestamp_seconds",
                &first_seen,
                1.0,
            );
        }
        out
    }

    /// The leaks expected right now: `base`, plus `netns` while its file exists. The daemon
    /// deletes a stopped container's netns file at its next garbage collection (a 60 s
    /// ticker), so the copy can vanish at any time after `docker stop`. Callers look at the
    /// file *after* reading the exporter: if it still exists then, it existed during the read.
    fn with_netns_if_present(&self, base: &[Expect], netns: Option<&Expect>) -> Vec<Expect> {
        let mut out = base.to_vec();
        if let Some(n) = netns
            && Path::new(&n.mount_point).exists()
        {
            out.push(n.clone());
        }
        out
    }

    /// Scrape until this scenario's series are exactly `expected(state, leaks)` (with the
    /// netns copy while its file exists). Returns whether the netns copy was reported.
    fn wait_for(
        &self,
        exporter: &Exporter,
        step: &str,
        state: &str,
        base: &[Expect],
        netns: Option<&Expect>,
        timeout: Duration,
    ) -> bool {
        let start = Instant::now();
        let netns_seen = poll_until(step, timeout, || {
            let got = self.actual(&exporter.scrape())?;
            let leaks = self.with_netns_if_present(base, netns);
            let want = self.expected(state, &leaks);
            if got == want {
                Ok(leaks.len() > base.len())
            } else {
                Err(diff(&want, &got))
            }
        });
        // What takes the time (CI budget): the steps that waited.
        if start.elapsed() > Duration::from_secs(2) {
            eprintln!("{}: {step}: {:.1?}", self.daemon.instance, start.elapsed());
        }
        netns_seen
    }

    /// (mount_point, status, container name) of this scenario's leaks in a leaks JSON document.
    fn json_leaks(&self, doc: &serde_json::Value) -> BTreeSet<(String, String, String)> {
        let leaks = doc["leaks"]
            .as_array()
            .unwrap_or_else(|| panic!("no leaks array in {doc}"));
        leaks
            .iter()
            .filter(|l| {
                let unit = l["holder"]["unit"].as_str().unwrap_or("");
                unit == self.private.unit
                    || unit == self.slave.unit
                    || l["container"]["id"].as_str() == Some(self.container_id.as_str())
                    || self.volumes.iter().any(|v| l["volume"].as_str() == Some(v))
            })
            .map(|l| {
                (
                    l["mount_point"].as_str().unwrap_or("").to_string(),
                    l["status"].as_str().unwrap_or("").to_string(),
                    l["container"]["name"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// `/api/v1/leaks` and `scan --output json` agree with each other and with the expected
    /// leaks on (mount point, status, container name), and `scan` exits 1 (leaks found).
    /// `scan` is a fresh process: it cannot know a container Docker no longer lists, so once
    /// the container is removed (`scan_knows_container` false) it must report the same
    /// mounts and statuses without a container.
    fn check_json_and_scan_agree(
        &self,
        exporter: &Exporter,
        step: &str,
        base: &[Expect],
        netns: Option<&Expect>,
        scan_knows_container: bool,
    ) {
        let tuples = |leaks: &[Expect], name: &str| -> BTreeSet<(String, String, String)> {
            leaks
                .iter()
                .map(|l| {
                    (
                        l.mount_point.clone(),
                        l.status.to_string(),
                        name.to_string(),
                    )
                })
                .collect()
        };
        poll_until(step, Duration::from_secs(30), || {
            let api = self.json_leaks(&exporter.leaks_json());
            let out = run_scan_on(self.daemon, &["--output", "json"]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                out.status.code(),
                Some(1),
                "scan must exit 1 while leaks exist; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let doc: serde_json::Value = serde_json::from_str(&stdout)
                .unwrap_or_else(|e| panic!("scan --output json is not JSON ({e}):\n{stdout}"));
            let scanned = self.json_leaks(&doc);
            let leaks = self.with_netns_if_present(base, netns);
            let want_api = tuples(&leaks, &self.container_name);
            let want_scan = if scan_knows_container {
                want_api.clone()
            } else {
                tuples(&leaks, "")
            };
            if api == want_api && scanned == want_scan {
                Ok(())
            } else {
                Err(format!(
                    "/api/v1/leaks: {api:#?}\nwant: {want_api:#?}\n\
                     scan --output json: {scanned:#?}\nwant: {want_scan:#?}"
                ))
            }
        });
    }
}

fn series_key(name: &str, labels: &BTreeMap<String, String>) -> String {
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

fn diff(want: &BTreeMap<String, f64>, got: &BTreeMap<String, f64>) -> String {
    let mut out = String::new();
    for (k, v) in want {
        match got.get(k) {
            Some(g) if g == v => {}
            Some(g) => out += &format!("  wrong value {k}: want {v}, got {g}\n"),
            None => out += &format!("  missing     {k} {v}\n"),
        }
    }
    for (k, v) in got {
        if !want.contains_key(k) {
            out += &format!("  unexpected  {k} {v}\n");
        }
    }
    out
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn with_status(leaks: &[Expect], status: &'static str) -> Vec<Expect> {
    leaks
        .iter()
        .map(|l| Expect {
            status,
            ..l.clone()
        })
        .collect()
}

/// The Docker setups of scripts/testenv.sh: Debian 12's docker.io 20.10 with overlay2,
/// Debian unstable's docker.io 28 with overlay2 and with the containerd image store.
const SETUPS: [&str; 3] = ["debian12", "unstable", "unstable-containerd"];

/// How the scenario's container is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// Docker's defaults: private IPC (its shm stays inside the container), the default
    /// network.
    Defaults,
    /// `--ipc=shareable --network=none`: shm at `containers/<id>/mounts/shm` and a netns
    /// bind mount on every engine.
    Shareable,
}

impl Variant {
    fn run_args(self) -> &'static [&'static str] {
        match self {
            Variant::Defaults => &[],
            Variant::Shareable => &["--ipc=shareable", "--network=none"],
        }
    }

    fn label(self) -> &'static str {
        match self {
            Variant::Defaults => "defaults",
            Variant::Shareable => "shareable",
        }
    }

    /// Whether `daemon` bind-mounts a netns for the container. Measured: with the test
    /// daemons' `--bridge=none`, 20.10 gives the default network no sandbox mount, 28
    /// does (its default network is `bridge` even without the bridge).
    fn has_netns(self, daemon: &TestEnv) -> bool {
        self == Variant::Shareable || daemon.setup != "debian12"
    }
}

#[test]
fn leaked_container_mounts_docker_20_10_overlay2() {
    scenario_on_setup("debian12", "20.10.", "overlay2");
}

#[test]
fn leaked_container_mounts_docker_28_overlay2() {
    scenario_on_setup("unstable", "28.", "overlay2");
}

/// The containerd image store: the rootfs is `<root>/rootfs/overlayfs/<container id>`.
#[test]
fn leaked_container_mounts_docker_28_containerd_store() {
    scenario_on_setup("unstable-containerd", "28.", "overlayfs");
}

/// The scenario on one setup's daemon, with Docker's defaults and with the shareable
/// variant, one exporter watching both; checks first that the daemon is the engine and
/// storage the setup names.
fn scenario_on_setup(setup: &str, version: &str, driver: &str) {
    let daemon = setup_env(setup);
    let server = daemon.docker(&["version", "--format", "{{.Server.Version}}"]);
    assert!(
        server.starts_with(version),
        "the {setup} daemon runs Docker {server}, not {version}x"
    );
    let storage = daemon.docker(&["info", "--format", "{{.Driver}} {{json .DriverStatus}}"]);
    assert!(
        storage.starts_with(&format!("{driver} ")),
        "the {setup} daemon's storage is {storage}, not {driver}"
    );
    assert_eq!(
        daemon.containerd_store(),
        storage.contains("io.containerd.snapshotter.v1"),
        "the {setup} daemon's storage: {storage}"
    );
    let exporter = Exporter::start_with_docker(&daemon.exporter_flags(), &[]);
    for variant in [Variant::Defaults, Variant::Shareable] {
        let start = Instant::now();
        leaked_container_mounts_are_reported_from_at_risk_to_gone(&exporter, daemon, variant);
        eprintln!(
            "{setup} (Docker {server}, {driver}), {}: scenario took {:.1?}",
            variant.label(),
            start.elapsed()
        );
    }
}

/// The core issue's scenario: a container with two named tmpfs volumes (and, per variant,
/// shareable IPC and its own netns); a unit with a private mount namespace (taken while
/// the container runs) and one with a slave namespace. Every step is asserted on the
/// scraped series.
fn leaked_container_mounts_are_reported_from_at_risk_to_gone(
    exporter: &Exporter,
    daemon: &'static TestEnv,
    variant: Variant,
) {
    // Volumes before the container: the container guard drops (and is removed) first.
    let mut vol_removed = Volume::create_tmpfs_on(daemon, "vol-removed");
    let vol_kept = Volume::create_tmpfs_on(daemon, "vol-kept");
    let mut run_args = variant.run_args().to_vec();
    let vol_args = [
        format!("{}:/data1", vol_removed.name),
        format!("{}:/data2", vol_kept.name),
    ];
    for v in &vol_args {
        run_args.extend(["-v", v.as_str()]);
    }
    let mut container = Container::run_on(
        daemon,
        &format!("e2e-{}", variant.label()),
        &run_args,
        &["sleep", "1000000"],
    );
    // Holders keep only the daemon's roots: the unit counts below must not pick up other
    // mounts a shared host happens to carry.
    let roots = [
        daemon.docker_root.as_str(),
        daemon.docker_exec_root.as_str(),
    ];
    let private = Holder::spawn_keeping("private", Propagation::Private, 3, &roots);
    let slave = Holder::spawn_keeping("slave", Propagation::Slave, 3, &roots);
    let comms = private
        .pids
        .iter()
        .map(|p| {
            let comm = fs::read_to_string(format!("/proc/{p}/comm")).unwrap();
            (*p, comm.trim().to_string())
        })
        .collect();
    let leak = |kind, mount_point: String, volume: Option<String>| Expect {
        kind,
        mount_point,
        volume,
        status: "at_risk",
    };
    let rootfs = leak("rootfs", container.rootfs_mount_point(), None);
    let shm = leak("shm", container.shm_mount_point(), None);
    let netns = container.sandbox_key();
    let netns_leak = leak("netns", netns.clone(), None);
    let vol1 = leak(
        "volume",
        vol_removed.mount_point(),
        Some(vol_removed.name.clone()),
    );
    let vol2 = leak(
        "volume",
        vol_kept.mount_point(),
        Some(vol_kept.name.clone()),
    );
    // What this engine mounts for the container, per variant: private IPC has no shm path.
    let mut running = vec![rootfs.clone(), vol1.clone(), vol2.clone()];
    let mut container_paths = vec![rootfs.clone()];
    if variant == Variant::Shareable {
        running.push(shm.clone());
        container_paths.push(shm.clone());
    }
    if variant.has_netns(daemon) {
        running.push(netns_leak.clone());
        container_paths.push(netns_leak.clone());
    }
    assert_daemon_mounts(daemon, &container, &running);
    let sc = Scenario {
        comms,
        daemon,
        container_id: container.id.clone(),
        container_name: container.name.clone(),
        volumes: vec![vol_removed.name.clone(), vol_kept.name.clone()],
        private: HolderIds::of(&private),
        slave: HolderIds::of(&slave),
    };
    let step_timeout = Duration::from_secs(30);

    // (1) Running, held by both units. The private unit's copies are at risk; the slave's
    // carry master:N for every kind (tests/fixtures/captured) and must never be reported.
    sc.wait_for(
        exporter,
        "(1) at_risk series of the running container",
        "running",
        &running,
        None,
        step_timeout,
    );
    let samples = exporter.scrape();
    let one = |name: &str| -> f64 {
        let found = select(&samples, name, &[]);
        assert_eq!(found.len(), 1, "{name}:\n{}", show(&found));
        found[0].value
    };
    assert_eq!(one("mountleak_docker_up"), 1.0);
    assert_eq!(
        one("mountleak_runtime_up"),
        1.0,
        "docker is the only runtime"
    );
    assert_eq!(
        select(&samples, "mountleak_runtime_up", &[("runtime", "docker")]).len(),
        1
    );
    assert_eq!(one("mountleak_scan_success"), 1.0);
    assert!(
        one("mountleak_propagated_mount_copies") >= running.len() as f64,
        "the slave unit's {} tied copies must be counted as propagated",
        running.len()
    );
    sc.check_json_and_scan_agree(exporter, "(1) JSON and scan agree", &running, None, true);
    check_leak_details(&sc, &exporter.leaks_json(), &running);

    // (3) Stopped: the daemon unmounted everything; the kernel detached the private rootfs
    // copy with the merged dir (a graph driver's `merged`, the containerd store's
    // `rootfs/<snapshotter>/<id>`: both removed), the others outlive the unmount (stale).
    container.stop();
    let stopped_at = Instant::now();
    assert_eq!(container.state(), "exited");
    let has_netns = variant.has_netns(daemon);
    let netns_stale = Expect {
        status: "stale",
        ..netns_leak.clone()
    };
    let netns_stale = has_netns.then_some(&netns_stale);
    let mut stopped = vec![vol1.clone(), vol2.clone()];
    if variant == Variant::Shareable {
        stopped.push(shm.clone());
    }
    let stopped = with_status(&stopped, "stale");
    let netns_seen_stopped = sc.wait_for(
        exporter,
        "(3) stale series after docker stop",
        "exited",
        &stopped,
        netns_stale,
        step_timeout,
    );
    sc.check_json_and_scan_agree(
        exporter,
        "(3) JSON and scan agree",
        &stopped,
        netns_stale,
        true,
    );
    let container_mounts: Vec<Expect> = stopped
        .iter()
        .filter(|l| l.volume.is_none())
        .cloned()
        .collect();
    poll_until("(3) scan's text report", step_timeout, || {
        let out = run_scan_on(daemon, &[]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let who = format!(
            "{} (pid {}, sh, 4 processes)",
            sc.private.unit, sc.private.pid
        );
        let n = sc
            .with_netns_if_present(&container_mounts, netns_stale)
            .len();
        let mut says: Vec<String> = sc
            .volumes
            .iter()
            .map(|v| {
                format!(
                    "{who} holds 1 mount of volume {v} (last used by container {}, exited)",
                    sc.container_name
                )
            })
            .collect();
        if n > 0 {
            says.push(format!(
                "{who} holds {n} mount{} of container {} (exited)",
                if n == 1 { "" } else { "s" },
                sc.container_name
            ));
        }
        // The release first, leaving the unit running; the restart second.
        says.push(format!(
            "release: mountleak_exporter release --holder {} --yes\n  fix: systemctl restart {}",
            sc.private.pid, sc.private.unit
        ));
        if out.status.code() == Some(1) && says.iter().all(|l| text.contains(l.as_str())) {
            Ok(())
        } else {
            Err(format!(
                "exit {:?}; want {says:#?} in:\n{text}",
                out.status.code()
            ))
        }
    });

    // (4) Removed: the container directory goes, and with it the shm copy. The volume copies
    // stay until `docker volume rm`; the removed container keeps its name.
    container.remove();
    let removed = with_status(&[vol1.clone(), vol2.clone()], "stale");
    let netns_seen_removed = sc.wait_for(
        exporter,
        "(4) series of the removed container",
        "removed",
        &removed,
        netns_stale,
        step_timeout,
    );
    // The netns copy lasts exactly as long as the daemon's netns file.
    sc.wait_for(
        exporter,
        "(4) the netns copy to go with the daemon's netns file",
        "removed",
        &removed,
        None,
        Duration::from_secs(120).saturating_sub(stopped_at.elapsed()),
    );
    assert!(
        !Path::new(&netns).exists(),
        "the netns copy was dropped from the report while {netns} still exists"
    );
    eprintln!(
        "{} {}: netns copy reported after stop: {netns_seen_stopped}, after rm: \
         {netns_seen_removed}; gone {:.0?} after docker stop",
        daemon.setup,
        variant.label(),
        stopped_at.elapsed()
    );
    sc.check_json_and_scan_agree(exporter, "(4) JSON and scan agree", &removed, None, false);

    vol_removed.remove();
    sc.wait_for(
        exporter,
        "(4) the volume copy to go after docker volume rm",
        "removed",
        &with_status(std::slice::from_ref(&vol2), "stale"),
        None,
        step_timeout,
    );

    // (5) The holder goes (what `systemctl restart` would do): its last leak goes with it.
    private.kill();
    sc.wait_for(
        exporter,
        "(5) every series gone once the holder is killed",
        "removed",
        &[],
        None,
        step_timeout,
    );
    let leftover = sc.json_leaks(&exporter.leaks_json());
    assert!(
        leftover.is_empty(),
        "/api/v1/leaks still lists {leftover:?}"
    );
    drop(slave);
}

/// The host's mount table has exactly the mounts `want` of this container and its volumes
/// under the daemon's roots: what this engine really mounts (no shm path under private IPC,
/// a netns bind mount or not), not what the test assumes.
fn assert_daemon_mounts(daemon: &TestEnv, container: &Container, want: &[Expect]) {
    let host = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let (id, rootfs, netns) = (
        container.id.as_str(),
        container.rootfs_mount_point(),
        container.sandbox_key(),
    );
    // A graph driver's layer directory does not spell the container id: the rootfs is
    // named by its mount point.
    let mine = |mp: &str| {
        mp.contains(id)
            || mp == rootfs
            || mp == netns
            || want
                .iter()
                .any(|w| w.volume.is_some() && w.mount_point == mp)
    };
    let roots = [&daemon.docker_root, &daemon.docker_exec_root];
    let got: BTreeSet<String> = mountinfo_entries(&host)
        .into_iter()
        .map(|(mp, _)| mp)
        .filter(|mp| roots.iter().any(|r| mp.starts_with(&format!("{r}/"))) && mine(mp))
        .collect();
    let want: BTreeSet<String> = want.iter().map(|w| w.mount_point.clone()).collect();
    assert_eq!(
        got, want,
        "{} ({}) mounts for container {id}",
        daemon.instance, daemon.setup
    );
}

/// The JSON of each of this scenario's leaks says who holds it and how to free it.
fn check_leak_details(sc: &Scenario, doc: &serde_json::Value, leaks: &[Expect]) {
    let scan = &doc["scan"];
    assert_eq!(scan["success"], true, "scan: {scan}");
    assert_eq!(scan["docker_up"], true, "scan: {scan}");
    for want in leaks {
        let found: Vec<&serde_json::Value> = doc["leaks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| {
                l["mount_point"] == want.mount_point.as_str()
                    && l["holder"]["unit"] == sc.private.unit.as_str()
            })
            .collect();
        assert_eq!(
            found.len(),
            1,
            "one leak of {} held by {} expected: {found:#?}",
            want.mount_point,
            sc.private.unit
        );
        let l = found[0];
        let ctx = format!("leak {l:#}");
        assert_eq!(l["kind"], want.kind, "{ctx}");
        assert_eq!(l["status"], want.status, "{ctx}");
        assert_eq!(l["container"]["id"], sc.container_id.as_str(), "{ctx}");
        assert_eq!(l["container"]["name"], sc.container_name.as_str(), "{ctx}");
        assert_eq!(l["container"]["state"], "running", "{ctx}");
        assert_eq!(l["container"]["runtime"], "docker", "{ctx}");
        assert_eq!(l["runtime"], "docker", "{ctx}");
        match &want.volume {
            Some(v) => assert_eq!(l["volume"], v.as_str(), "{ctx}"),
            None => assert!(l["volume"].is_null(), "{ctx}"),
        }
        let fs_type = match want.kind {
            "rootfs" => "overlay",
            "netns" => "nsfs",
            _ => "tmpfs",
        };
        assert_eq!(l["fs_type"], fs_type, "{ctx}");
        let holder = &l["holder"];
        assert_eq!(holder["unit"], sc.private.unit.as_str(), "{ctx}");
        assert_eq!(holder["pid"], sc.private.pid, "{ctx}");
        assert_eq!(holder["comm"], "sh", "{ctx}");
        assert_eq!(holder["process_count"], sc.private.pids.len(), "{ctx}");
        let ns = doc["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["inode"] == l["namespace"]["inode"])
            .unwrap_or_else(|| panic!("{ctx}: the leak's namespace is listed once"));
        assert_eq!(ns["holder"], *holder, "{ctx}");
        let pids: Vec<u64> = ns["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["pid"].as_u64().unwrap())
            .collect();
        let want_pids: Vec<u64> = sc.private.pids.iter().map(|&p| p as u64).collect();
        assert_eq!(pids, want_pids, "{ctx}");
        assert_eq!(
            l["fix"],
            format!("systemctl restart {}", sc.private.unit).as_str(),
            "{ctx}"
        );
        let first_seen = l["first_seen"].as_f64().unwrap_or(0.0);
        assert!(first_seen > unix_now() - 3600.0, "{ctx}");
    }
}

/// Issue 17, on the real dockerd, whose root is shared (as `/` is on systemd hosts): a
/// container that starts mounts its shm in a new peer group, and the scan after it must not
/// read every table for that: the remembered private container mounts are re-checked one by
/// one instead (the peer-group rule, src/host/tables.rs). Nor must its removal, which takes
/// shared mounts the host's remembered table holds. Checked on the host's namespace (the
/// daemon's: the exporter logs each table it reads at debug level): the container's own
/// namespace, and any another test makes meanwhile, is read afresh.
#[test]
fn a_container_start_and_removal_in_a_shared_root_do_not_make_the_next_scan_read_the_hosts_table() {
    use std::os::unix::fs::MetadataExt as _;
    // One container before the exporter starts: a daemon's first container can add its
    // netns directory to the layout (learnt from the sandbox key: runtime::netns_root), and
    // a new layout makes every table read once.
    let _running = Container::run("incr-before", &["--ipc", "shareable"], &["sleep", "600"]);
    let host = fs::metadata("/proc/self/ns/mnt").unwrap().ino();
    let exporter = Exporter::start(&["--log.level=debug"]);
    let host_reads = || {
        (exporter.log().lines())
            .filter(|l| {
                l.contains("reading a mount table") && l.contains(&format!(" inode={host} "))
            })
            .count()
    };
    // After the scrape that follows `change`: (tables read, namespaces, reads of the host's).
    let after = |change: &mut dyn FnMut()| {
        exporter.scrape();
        exporter.scrape();
        let before = host_reads();
        change();
        let s = exporter.scrape();
        (
            value(&s, "mountleak_scan_namespaces_reread"),
            value(&s, "mountleak_mount_namespaces_scanned"),
            host_reads() - before,
        )
    };
    // Another test may change the host's namespace at the same time in a way that takes a
    // read (remounting a remembered private mount shared, say): three tries; reading it after
    // every start or every removal fails all three.
    let (mut starts, mut removals) = (Vec::new(), Vec::new());
    for attempt in 0..3 {
        let mut started = None;
        starts.push(after(&mut || {
            let c = Container::run(
                &format!("incr-{attempt}"),
                &["--ipc", "shareable"],
                &["sleep", "600"],
            );
            let shm = c.shm_mount_point();
            let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
            let line = (mountinfo.lines())
                .find(|l| l.split(' ').nth(4) == Some(shm.as_str()))
                .unwrap_or_else(|| panic!("no {shm} in the host's mountinfo"));
            assert!(
                line.contains(" shared:"),
                "the premise: the new shm mount is in a peer group of its own (the daemon's \
                 root is shared: scripts/testenv.sh), but it reads: {line}"
            );
            started = Some(c);
        }));
        let mut c = started.take().unwrap();
        removals.push(after(&mut || {
            c.stop();
            c.remove();
        }));
        let unread = |v: &[(f64, f64, usize)]| v.iter().any(|&(_, _, host)| host == 0);
        if unread(&starts) && unread(&removals) {
            eprintln!(
                "[figures] (tables read, namespaces, of them the host's) after a container \
                 start: {starts:?}, after its removal: {removals:?}"
            );
            return;
        }
    }
    panic!(
        "the host's table was read after every container start or every removal ((tables \
         read, namespaces, host's read) after each start: {starts:?}, after each removal: \
         {removals:?})"
    );
}
