//! Docker faults against the real binary: the socket missing from the start, the daemon
//! stopped and started again, the daemon frozen (SIGSTOP), containers created and removed
//! while scrapes run. In each, a private holder pins a stopped container's mounts, and
//! every scrape must answer within the scrape timeout, tell the truth in
//! `mountleak_docker_up`, and keep every leak (with the container's last known name).
//!
//! Tests that stop or freeze dockerd do it to a child daemon of their own
//! ([`ChildDaemon`]): the shared one serves tests running in parallel.

mod common;

use common::daemon::ChildDaemon;
use common::proxy::DockerProxy;
use common::scraper::{Scrape, Scraper};
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Prometheus' default scrape timeout is 10 s: every scrape must answer well within it.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// One leaked mount of the holder, as the first-seen series labels it.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    kind: String,
    status: String,
    container_id: String,
    container_name: String,
    container_state: String,
    first_seen: f64,
}

/// What a scrape said, reduced to what these tests check.
#[derive(Clone, Debug, Default)]
struct View {
    docker_up: Option<f64>,
    scan_success: Option<f64>,
    /// The holder's leaks by mount point.
    leaks: BTreeMap<String, Seen>,
    /// `mountleak_volume_leaked_mounts` by volume name.
    volumes: BTreeMap<String, f64>,
}

fn view_of(samples: &[Sample], unit: &str) -> View {
    let one = |name: &str| select(samples, name, &[]).first().map(|s| s.value);
    let mut v = View {
        docker_up: one("mountleak_docker_up"),
        scan_success: one("mountleak_scan_success"),
        ..Default::default()
    };
    for s in select(
        samples,
        "mountleak_leak_first_seen_timestamp_seconds",
        &[("unit", unit)],
    ) {
        v.leaks.insert(
            s.label("mountpoint").to_string(),
            Seen {
                kind: s.label("kind").into(),
                status: s.label("status").into(),
                container_id: s.label("container_id").into(),
                container_name: s.label("container_name").into(),
                container_state: s.label("container_state").into(),
                first_seen: s.value,
            },
        );
    }
    for s in select(samples, "mountleak_volume_leaked_mounts", &[]) {
        v.volumes.insert(s.label("volume").to_string(), s.value);
    }
    v
}

/// A container of a child daemon with shareable IPC, its own netns and a tmpfs volume.
struct Ctr {
    id: String,
    name: String,
    volume: String,
    shm: String,
    volume_mp: String,
}

fn run_on(d: &ChildDaemon, label: &str) -> Ctr {
    let name = unique_name(label);
    let volume = format!("{name}-vol");
    d.docker(&create_tmpfs_volume(&volume));
    let id = d.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--ipc=shareable",
        "--network=none",
        "-v",
        &format!("{volume}:/data"),
        &d.image,
        "sleep",
        "1000000",
    ]);
    Ctr {
        shm: format!("{}/containers/{id}/mounts/shm", d.docker_root),
        volume_mp: format!("{}/volumes/{volume}/_data", d.docker_root),
        id,
        name,
        volume,
    }
}

/// Summary figures of a run of scrapes, printed for docs/reliability.md.
fn figures<T>(what: &str, records: &[Scrape<T>]) -> Duration {
    let max = records.iter().map(|r| r.latency).max().unwrap_or_default();
    eprintln!(
        "[figures] {what}: {} scrapes, max latency {:.0?}",
        records.len(),
        max
    );
    max
}

/// Every scrape answered 200 within the scrape timeout and the scan itself succeeded.
fn assert_answered(records: &[Scrape<View>]) {
    assert!(!records.is_empty(), "no scrapes were made");
    for r in records {
        let v = match &r.result {
            Ok(v) => v,
            Err(e) => panic!("a scrape failed after {:.1?}: {e}", r.latency),
        };
        assert!(
            r.latency < SCRAPE_TIMEOUT,
            "a scrape took {:.1?} (over {SCRAPE_TIMEOUT:?})",
            r.latency
        );
        assert_eq!(v.scan_success, Some(1.0), "scan failed: {v:?}");
    }
}

/// The owner of each mount point the holder may report: (container id, name).
type Owners = BTreeMap<String, (String, String)>;

/// Nothing invented: every reported leak is one of `owners`' mount points, tied to its
/// container by id and by the container's real name (never forgotten), and stale. Nothing
/// lost: `always` are in every scrape, with one first-seen time throughout.
fn assert_truthful(records: &[Scrape<View>], owners: &Owners, always: &[&str]) {
    let mut first_seen: BTreeMap<String, f64> = BTreeMap::new();
    for r in records {
        let v = r.result.as_ref().unwrap();
        for mp in always {
            assert!(
                v.leaks.contains_key(*mp),
                "leak {mp} missing from a scrape {:.1?} into the run: {v:#?}",
                r.at.elapsed()
            );
        }
        for (mp, seen) in &v.leaks {
            let (id, name) = owners
                .get(mp)
                .unwrap_or_else(|| panic!("reported a leak nobody made: {mp} {seen:?}"));
            assert_eq!(&seen.container_id, id, "{mp}: {seen:?}");
            assert_eq!(
                &seen.container_name, name,
                "{mp}: name lost or wrong: {seen:?}"
            );
            assert_eq!(seen.status, "stale", "{mp}: {seen:?}");
            let first = *first_seen.entry(mp.clone()).or_insert(seen.first_seen);
            assert_eq!(
                first, seen.first_seen,
                "{mp}: first-seen time changed: the leak was lost and found again"
            );
        }
    }
}

/// Kinds and mount points the holder may hold of a container: shm, volume, netns.
fn owners_of(c: &Ctr, sandbox_key: &str, owners: &mut Owners) {
    for mp in [&c.shm, &c.volume_mp] {
        owners.insert(mp.clone(), (c.id.clone(), c.name.clone()));
    }
    if !sandbox_key.is_empty() {
        let key = sandbox_key
            .strip_prefix("/var/run/")
            .map_or(sandbox_key.to_string(), |r| format!("/run/{r}"));
        owners.insert(key, (c.id.clone(), c.name.clone()));
    }
}

fn state_of(v: &View, mp: &str) -> String {
    v.leaks
        .get(mp)
        .map(|s| s.container_state.clone())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------

/// (a) No Docker socket at all from the start: the leak is found by its path alone, with the
/// container id the path carries and state `unknown`; `mountleak_docker_up` is 0.
#[test]
fn docker_socket_missing_from_the_start() {
    let env = env();
    let (volume, container, holder) = leak_scene("nosock");
    container.stop();

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("docker.sock");
    let exporter = Exporter::start_with_docker(
        &[
            format!("--docker.host=unix://{}", missing.display()),
            format!("--docker.root={}", env.docker_root),
            format!("--docker.exec-root={}", env.docker_exec_root),
        ],
        &["--metrics.max-series=1000000"],
    );
    let shm = container.shm_mount_point();
    let mut latencies = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let v = view_of(&exporter.scrape(), &holder.unit);
        latencies.push(started.elapsed());
        assert_eq!(v.docker_up, Some(0.0), "{v:?}");
        assert_eq!(v.scan_success, Some(1.0), "{v:?}");
        let seen = v
            .leaks
            .get(&shm)
            .unwrap_or_else(|| panic!("the shm leak {shm} is not reported: {v:#?}"));
        assert_eq!(
            (
                seen.kind.as_str(),
                seen.status.as_str(),
                seen.container_id.as_str(),
                seen.container_name.as_str(),
                seen.container_state.as_str()
            ),
            ("shm", "stale", container.id.as_str(), "", "unknown"),
            "the path names the container; Docker cannot say more"
        );
        let vol = v.leaks.get(&volume.mount_point()).unwrap_or_else(|| {
            panic!(
                "the volume leak {} is not reported: {v:#?}",
                volume.mount_point()
            )
        });
        assert_eq!(
            (vol.kind.as_str(), vol.container_state.as_str()),
            ("volume", ""),
            "no container is known to use the volume: {vol:?}"
        );
        assert_eq!(v.volumes.get(&volume.name), Some(&1.0), "{v:?}");
    }
    let max = latencies.iter().max().unwrap();
    assert!(*max < SCRAPE_TIMEOUT, "a scrape took {max:?}");
    eprintln!("[figures] socket missing: 5 scrapes, max latency {max:.0?}");

    // The one-shot report works without Docker too.
    let out = exporter_command()
        .args(["scan", "--output", "json"])
        .arg(format!("--docker.host=unix://{}", missing.display()))
        .arg(format!("--docker.root={}", env.docker_root))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "leaks found: exit 1");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["scan"]["docker_up"], false);
    let found = doc["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["mount_point"] == shm.as_str() && l["container"]["state"] == "unknown");
    assert!(found, "scan --output json lacks {shm}");
    drop(holder);
}

/// (b) dockerd stopped mid-run and started again. While it is away scrapes answer, the
/// leaks stay (states `unknown`, names kept), and docker_up is 0; a container removed
/// before the exporter gets back to Docker shows `removed` once it does. The exporter
/// talks to Docker through a proxy that the test holds shut after the restart, so the
/// removal surely happens while Docker is away from the exporter.
#[test]
fn docker_stopped_and_started_again() {
    let d = ChildDaemon::up("stop");
    let proxy = DockerProxy::start(&d.docker_host);
    let a = run_on(&d, "stays");
    let b = run_on(&d, "goes");
    let mut owners = Owners::new();
    for c in [&a, &b] {
        let key = d.docker(&["inspect", "-f", "{{.NetworkSettings.SandboxKey}}", &c.id]);
        owners_of(c, &key, &mut owners);
    }
    let roots = [d.docker_root.as_str(), d.docker_exec_root.as_str()];
    let holder = Holder::spawn_keeping("stop", Propagation::Private, 1, &roots);
    d.docker(&["stop", "-t", "1", &a.id, &b.id]);

    let exporter = Exporter::start_with_docker(
        &[
            format!("--docker.host={}", proxy.host),
            format!("--docker.root={}", d.docker_root),
            format!("--docker.exec-root={}", d.docker_exec_root),
        ],
        &["--docker.timeout=2s", "--metrics.max-series=1000000"],
    );
    let unit = holder.unit.clone();
    let scraper = Scraper::start(
        format!("{}/metrics", exporter.base_url),
        Duration::from_millis(200),
        move |s| view_of(s, &unit),
    );
    let start = Instant::now();
    let long = Duration::from_secs(60);
    // Until the first sync the exporter cannot know names: checks start from there.
    let synced = scraper.wait_for("Docker up, both containers exited", start, long, |v| {
        v.docker_up == Some(1.0)
            && [&a.shm, &a.volume_mp, &b.shm, &b.volume_mp]
                .iter()
                .all(|mp| state_of(v, mp) == "exited")
    });

    let stopped = Instant::now();
    d.stop_dockerd();
    let down = scraper.wait_for("docker_up 0 after dockerd stopped", stopped, long, |v| {
        v.docker_up == Some(0.0) && state_of(v, &a.shm) == "unknown"
    });
    let to_down = down.at.duration_since(stopped);

    // Docker comes back, but not yet for the exporter; b is removed meanwhile.
    proxy.shut();
    let shut = Instant::now();
    d.start_dockerd();
    let rm_at = Instant::now();
    d.docker(&["rm", &b.id]);
    // Removal takes the container directory, and with it the holder's shm copy.
    scraper.wait_for("b's shm copy to go with its directory", rm_at, long, |v| {
        !v.leaks.contains_key(&b.shm)
    });
    std::thread::sleep(Duration::from_secs(2));
    let opened = Instant::now();
    proxy.open();
    let back = scraper.wait_for(
        "docker_up 1 again, b removed with its name, a exited",
        opened,
        long,
        |v| {
            v.docker_up == Some(1.0)
                && state_of(v, &b.volume_mp) == "removed"
                && state_of(v, &a.shm) == "exited"
                && state_of(v, &a.volume_mp) == "exited"
                && v.volumes.get(&b.volume) == Some(&1.0)
        },
    );
    let to_up = back.at.duration_since(opened);
    std::thread::sleep(Duration::from_secs(1));
    let records = scraper.finish();

    assert_answered(&records);
    let records: Vec<_> = records.into_iter().filter(|r| r.at >= synced.at).collect();
    assert_truthful(&records, &owners, &[&a.shm, &a.volume_mp, &b.volume_mp]);
    for r in &records {
        let v = r.result.as_ref().unwrap();
        if r.at + r.latency < rm_at {
            assert!(
                v.leaks.contains_key(&b.shm),
                "b's shm lost before rm: {v:#?}"
            );
        }
        // Docker cannot have been seen up while it was stopped or shut off from the exporter.
        if r.at > down.at && r.at + r.latency < opened {
            assert_eq!(v.docker_up, Some(0.0), "docker_up lied while away: {v:?}");
        }
        for (mp, seen) in &v.leaks {
            let allowed: &[&str] = match seen.container_state.as_str() {
                "exited" | "unknown" => &[],
                "removed" => &[&b.id],
                other => panic!("{mp}: state {other:?}"),
            };
            if seen.container_state == "removed" {
                assert!(
                    allowed.contains(&seen.container_id.as_str()),
                    "{mp}: {seen:?}"
                );
                assert!(r.at + r.latency > rm_at, "removed before rm: {seen:?}");
            }
        }
    }
    let max = figures("dockerd stopped and restarted", &records);
    eprintln!(
        "[figures] docker_up 0 {to_down:.1?} after dockerd stopped; 1 again {to_up:.1?} after \
         the exporter could reach it; proxy shut {:.1?}; {} proxied requests",
        opened.duration_since(shut),
        proxy.requests().len()
    );
    assert!(max < SCRAPE_TIMEOUT);
    drop(exporter);
    drop(holder);
}

/// How soon after dockerd freezes docker_up must say 0 (ping every 10 s, 2 s timeout).
const DOWN_WITHIN: Duration = Duration::from_secs(15);

/// Resumes a SIGSTOPped process on Drop, so a failing test never leaves dockerd frozen.
struct Frozen(libc::pid_t);

impl Frozen {
    fn freeze(pid: u32) -> Frozen {
        let pid = pid as libc::pid_t;
        // SAFETY: kill(2) on a pid we read from our own child daemon's pidfile.
        assert_eq!(
            unsafe { libc::kill(pid, libc::SIGSTOP) },
            0,
            "SIGSTOP {pid}"
        );
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe {
            libc::kill(self.0, libc::SIGCONT);
        }
    }
}

/// (c) dockerd frozen (SIGSTOP): every call to it hangs. Scrapes still answer within the
/// scrape timeout, docker_up turns 0 within 15 s (a ping every 10 s, `--docker.timeout=2s`)
/// and returns to 1 by itself after SIGCONT.
#[test]
fn docker_frozen_then_thawed() {
    let d = ChildDaemon::up("freeze");
    let a = run_on(&d, "frozen");
    let key = d.docker(&["inspect", "-f", "{{.NetworkSettings.SandboxKey}}", &a.id]);
    let mut owners = Owners::new();
    owners_of(&a, &key, &mut owners);
    let roots = [d.docker_root.as_str(), d.docker_exec_root.as_str()];
    let holder = Holder::spawn_keeping("freeze", Propagation::Private, 1, &roots);
    d.docker(&["stop", "-t", "1", &a.id]);

    let exporter = Exporter::start_with_docker(
        &d.exporter_flags(),
        &["--docker.timeout=2s", "--metrics.max-series=1000000"],
    );
    let unit = holder.unit.clone();
    let scraper = Scraper::start(
        format!("{}/metrics", exporter.base_url),
        Duration::from_millis(200),
        move |s| view_of(s, &unit),
    );
    let long = Duration::from_secs(60);
    let synced = scraper.wait_for("Docker up, container exited", Instant::now(), long, |v| {
        v.docker_up == Some(1.0) && state_of(v, &a.shm) == "exited"
    });

    let frozen_at = Instant::now();
    let frozen = Frozen::freeze(d.dockerd_pid());
    let down = scraper.wait_for(
        "docker_up 0 while dockerd is frozen",
        frozen_at,
        long,
        |v| v.docker_up == Some(0.0),
    );
    let to_down = down.at.duration_since(frozen_at);
    // Stay frozen a while (reconnect attempts hang too and must not reach the scrapes), and
    // past DOWN_WITHIN, after which every scrape must say 0.
    std::thread::sleep(
        (frozen_at + DOWN_WITHIN + Duration::from_secs(8))
            .saturating_duration_since(Instant::now()),
    );
    let thawed_at = Instant::now();
    drop(frozen);
    let back = scraper.wait_for("docker_up 1 after SIGCONT", thawed_at, long, |v| {
        v.docker_up == Some(1.0) && state_of(v, &a.shm) == "exited"
    });
    let to_up = back.at.duration_since(thawed_at);
    let records = scraper.finish();

    assert_answered(&records);
    let records: Vec<_> = records.into_iter().filter(|r| r.at >= synced.at).collect();
    assert_truthful(&records, &owners, &[&a.shm, &a.volume_mp]);
    // A ping every 10 s with a 2 s timeout: docker_up must be 0 in every scrape that starts
    // 15 s after the freeze (or after the first 0), until the thaw.
    let mut after = 0;
    for r in &records {
        let v = r.result.as_ref().unwrap();
        let late = r.at >= (frozen_at + DOWN_WITHIN).min(down.at);
        if late && r.at + r.latency < thawed_at {
            assert_eq!(v.docker_up, Some(0.0), "docker_up lied while frozen: {v:?}");
            after += 1;
        }
        for (mp, seen) in &v.leaks {
            assert!(
                ["exited", "unknown"].contains(&seen.container_state.as_str()),
                "{mp}: {seen:?}"
            );
        }
    }
    assert!(
        after > 0,
        "no scrape between {DOWN_WITHIN:?} after the freeze and the thaw"
    );
    figures("dockerd frozen", &records);
    eprintln!(
        "[figures] docker_up 0 {to_down:.1?} after SIGSTOP; 1 again {to_up:.1?} after SIGCONT \
         (frozen {:.1?})",
        thawed_at.duration_since(frozen_at)
    );
    drop(exporter);
    drop(holder);
}

/// (d) Containers created and removed while scrapes run back to back: no scan fails, and
/// from the first scrape that sees the tracked container, Docker stays up, its volume leak is
/// in every scrape and walks running -> exited -> removed with its name kept, and none of the
/// churned containers is reported (the holder's namespace was made before them).
#[test]
fn containers_created_and_removed_during_scrapes() {
    let (mut volume, mut tracked, holder) = leak_scene("tracked");
    let exporter = Exporter::start(&["--metrics.max-series=1000000"]);
    let vol_mp = volume.mount_point();
    let unit = holder.unit.clone();
    let start = Instant::now();
    let scraper = Scraper::start(
        format!("{}/metrics", exporter.base_url),
        Duration::from_millis(50),
        move |s| view_of(s, &unit),
    );
    let synced = scraper.wait_for(
        "the tracked container's at_risk volume leak",
        start,
        Duration::from_secs(30),
        |v| state_of(v, &vol_mp) == "running",
    );

    const CHURN: usize = 16;
    let mut churned = Vec::new();
    let mut stopped_at = None;
    let mut removed_at = None;
    for i in 0..CHURN {
        let c = Container::run(
            "churn",
            &["--ipc=shareable", "--network=none"],
            &["sleep", "1000000"],
        );
        churned.push((c.id.clone(), c.name.clone()));
        drop(c); // docker rm -f
        // Taken as the command starts: dockerd emits the event (and the exporter may report
        // it) before the client's call returns (moby daemon/delete.go: `cleanupContainer`
        // logs `destroy` and then returns to the API handler).
        if i == CHURN / 2 {
            stopped_at = Some(Instant::now());
            tracked.stop();
        }
        if i == 3 * CHURN / 4 {
            removed_at = Some(Instant::now());
            tracked.remove();
        }
    }
    let (stopped_at, removed_at) = (stopped_at.unwrap(), removed_at.unwrap());
    scraper.wait_for(
        "the volume leak of the removed container, name kept",
        removed_at,
        Duration::from_secs(30),
        |v| state_of(v, &vol_mp) == "removed",
    );
    let records = scraper.finish();

    assert_answered(&records);
    // The first scrapes may come before the exporter's first Docker call has answered: they
    // rightly say docker_up 0 and know neither the tracked container nor Docker's data root
    // (learnt from its info). What is checked here starts once the exporter has seen Docker.
    let records: Vec<_> = records.into_iter().filter(|r| r.at >= synced.at).collect();
    let churned_ids: BTreeSet<&str> = churned.iter().map(|(id, _)| id.as_str()).collect();
    let mut first_seen = None;
    let mut last_rank = 0;
    for r in &records {
        let v = r.result.as_ref().unwrap();
        assert_eq!(v.docker_up, Some(1.0), "Docker never went away: {v:?}");
        let seen = v
            .leaks
            .get(&vol_mp)
            .unwrap_or_else(|| panic!("volume leak lost from a scrape: {v:#?}"));
        assert_eq!(seen.container_id, tracked.id);
        assert_eq!(seen.container_name, tracked.name, "name lost: {seen:?}");
        assert_eq!(*first_seen.get_or_insert(seen.first_seen), seen.first_seen);
        let rank = match seen.container_state.as_str() {
            "running" => 0,
            "exited" => 1,
            "removed" => 2,
            other => panic!("state {other:?} for a container Docker knows: {seen:?}"),
        };
        assert!(rank >= last_rank, "state went back to {seen:?}");
        last_rank = rank;
        if rank >= 1 {
            assert!(
                r.at + r.latency > stopped_at,
                "exited before stop: {seen:?}"
            );
        }
        if rank == 2 {
            assert!(r.at + r.latency > removed_at, "removed before rm: {seen:?}");
        }
        for (mp, s) in &v.leaks {
            assert!(
                !churned_ids.contains(s.container_id.as_str())
                    && !churned_ids.iter().any(|id| mp.contains(id)),
                "a churned container, never in the holder's namespace, is reported: {mp} {s:?}"
            );
        }
    }
    figures(
        &format!("{CHURN} containers created and removed during scrapes"),
        &records,
    );
    drop(holder);
    drop(exporter);
    volume.remove();
}

/// (e) A container started while the exporter connects (after its container list, before
/// its events stream reaches the daemon) is known by the time events flow, not reported
/// `removed` (the state of an id Docker does not list) until the next resync a minute later.
/// The proxy holds the events request back to open that window wide.
#[test]
fn a_container_started_while_the_exporter_connects_is_not_reported_removed() {
    // Under --docker.timeout, which also bounds the wait for the events response's headers.
    const HOLD: Duration = Duration::from_secs(8);
    let env = env();
    let proxy = DockerProxy::start(&env.docker_host);
    proxy.delay("/events", HOLD);
    let exporter = Exporter::start_with_docker(
        &[
            format!("--docker.host={}", proxy.host),
            format!("--docker.exec-root={}", env.docker_exec_root),
        ],
        &["--docker.timeout=20s", "--metrics.max-series=1000000"],
    );
    poll_until(
        "the exporter's first container list",
        Duration::from_secs(20),
        || {
            if proxy
                .requests()
                .iter()
                .any(|r| r.path() == "/containers/json")
            {
                Ok(())
            } else {
                Err(format!("{:?}", proxy.requests()))
            }
        },
    );
    let container = Container::run(
        "window",
        &["--ipc=shareable", "--network=none"],
        &["sleep", "1000000"],
    );
    let started = Instant::now();
    let events_at = poll_until("the events request", Duration::from_secs(20), || {
        proxy
            .requests()
            .iter()
            .find(|r| r.path() == "/events")
            .map(|r| r.at)
            .ok_or_else(|| "none yet".to_string())
    });
    assert!(
        started < events_at + HOLD,
        "the container started after the events request reached Docker: no window to test"
    );
    let roots = [env.docker_root.as_str(), env.docker_exec_root.as_str()];
    let holder = Holder::spawn_keeping("window", Propagation::Private, 1, &roots);
    let shm = container.shm_mount_point();
    // Well within the 60 s resync: only the events can have told it.
    poll_until(
        "the new container's leak, running and named",
        events_at + HOLD + Duration::from_secs(10) - Instant::now(),
        || {
            let v = view_of(&exporter.scrape(), &holder.unit);
            match v.leaks.get(&shm) {
                Some(s) if s.container_state == "running" && s.container_name == container.name => {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        },
    );
    drop(holder);
}
