//! Issue 5: a scrape costs no Docker API call per container. Container details come from
//! inspect results cached at start-up and kept fresh by the events stream; a scrape only reads
//! that cache. Checked on the real binary against the private dockerd, with a recording proxy
//! on the exporter's Docker socket: many containers, many scrapes, then one removal.
//!
//! Two exporters watch the same containers, each through its own proxy: one resyncs every 2 s
//! (a resync lists the containers and must not re-inspect the unchanged ones), the other only
//! every 10 min, so anything it learns during the test it learned from events.

mod common;

use common::proxy::{DockerProxy, INSPECT, Request, count_by_endpoint};
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Enough containers that a per-container cost stands out from a constant one.
const CONTAINERS: usize = 40;
/// Scrapes of each exporter in the scrape phase.
const SCRAPES: usize = 50;
/// Pause between scrapes, so the phase spans several resyncs of the periodic exporter.
const SCRAPE_PAUSE: Duration = Duration::from_millis(100);
const PERIODIC_RESYNC: Duration = Duration::from_secs(2);
/// The exporter's ping period (src/runtime/watch.rs), at most the resync interval.
const PING_PERIOD: Duration = Duration::from_secs(10);

/// One exporter behind its own recording proxy.
struct Watched {
    label: &'static str,
    resync: Duration,
    /// Declared before the proxy so that it is dropped (killed) first: the other order cuts
    /// its events stream and makes it log a Docker outage.
    exporter: Exporter,
    proxy: DockerProxy,
}

impl Watched {
    fn start(label: &'static str, resync: Duration) -> Watched {
        let env = env();
        let proxy = DockerProxy::start(&env.docker_host);
        let exporter = Exporter::start_with_docker(
            &[
                format!("--docker.host={}", proxy.host),
                format!("--docker.exec-root={}", env.docker_exec_root),
                "--docker.timeout=15s".to_string(),
            ],
            &[&format!("--docker.resync-interval={}s", resync.as_secs())],
        );
        Watched {
            label,
            resync,
            exporter,
            proxy,
        }
    }

    /// Container id -> state, from one scrape's `mountleak_container_leaked_mounts`
    /// (the holder copied every container's mounts, so each known container has a series).
    fn states(&self) -> BTreeMap<String, String> {
        self.scrape().0
    }

    /// [`Watched::states`] and `mountleak_last_scan_timestamp_seconds` of one scrape.
    fn scrape(&self) -> (BTreeMap<String, String>, f64) {
        let samples = self.exporter.scrape();
        let mut states = BTreeMap::new();
        for s in select(&samples, "mountleak_container_leaked_mounts", &[]) {
            states.insert(
                s.label("container_id").to_string(),
                s.label("container_state").to_string(),
            );
        }
        let scanned = select(&samples, "mountleak_last_scan_timestamp_seconds", &[]);
        assert_eq!(scanned.len(), 1, "{}", show(&scanned));
        (states, scanned[0].value)
    }

    /// Requests whose head arrived in `[from, to)`.
    fn requests_between(&self, from: Instant, to: Instant) -> Vec<Request> {
        self.proxy
            .requests()
            .into_iter()
            .filter(|r| r.at >= from && r.at < to)
            .collect()
    }

    /// Most list and ping calls a window of `d` can hold: one each per period, plus one for
    /// a tick right at either edge. Independent of containers and scrapes.
    fn clock_bound(&self, d: Duration) -> (usize, usize) {
        let per = |period: Duration| (d.as_secs_f64() / period.as_secs_f64()).floor() as usize + 1;
        (per(self.resync), per(PING_PERIOD.min(self.resync)))
    }

    /// Checks a window in which nothing happened to `ours` (ids) except what `events` shows:
    /// no inspect of ours beyond `allowed_inspects`, inspects of other containers only where an
    /// event explains them, and lists and pings no more than the clock allows. Returns the
    /// calls by endpoint.
    fn check_window(
        &self,
        phase: &str,
        from: Instant,
        to: Instant,
        ours: &BTreeSet<String>,
        allowed_inspects: &BTreeMap<String, usize>,
        events: &[(String, String)],
    ) -> BTreeMap<&'static str, usize> {
        let requests = self.requests_between(from, to);
        let by_endpoint = count_by_endpoint(&requests);
        let what = format!("{} exporter, {phase}", self.label);
        let mut inspects: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &requests {
            assert!(
                r.endpoint().is_some(),
                "{what}: a request outside the read-only endpoints: {r:?}"
            );
            if let Some(id) = r.inspected() {
                *inspects.entry(id).or_default() += 1;
            }
        }
        let mut explained = 0;
        for (id, n) in &inspects {
            let allowed = allowed_inspects.get(*id).copied().unwrap_or(0);
            if ours.contains(*id) {
                assert!(
                    *n <= allowed,
                    "{what}: container {id} was inspected {n} times (at most {allowed} expected); \
                     all calls: {by_endpoint:?}"
                );
                explained += n;
            } else {
                // Not one of ours (another test's leftover changing state): only an event
                // may cause it.
                let seen = events.iter().filter(|(e, _)| e == id).count();
                assert!(
                    seen > 0 && *n <= seen,
                    "{what}: container {id} was inspected {n} times, {seen} events explain it"
                );
                explained += n;
            }
        }
        let d = to - from;
        let (max_lists, max_pings) = self.clock_bound(d);
        let lists = by_endpoint.get("/containers/json").copied().unwrap_or(0);
        assert!(
            lists <= max_lists,
            "{what}: {lists} list calls in {d:.1?} with a resync every {:?} (at most {max_lists}): \
             lists follow the clock, not scrapes; all calls: {by_endpoint:?}",
            self.resync
        );
        let total = requests.len();
        assert!(
            total <= max_lists + max_pings + explained,
            "{what}: {total} calls in {d:.1?}; the clock allows {max_lists} lists + {max_pings} \
             pings and {explained} inspects are explained: {by_endpoint:?}"
        );
        by_endpoint
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// Container events the daemon reports between two unix times: (id, action).
fn docker_events(since: f64, until: f64) -> Vec<(String, String)> {
    let out = docker(&[
        "events",
        "--since",
        &format!("{since:.3}"),
        "--until",
        &format!("{until:.3}"),
        "--filter",
        "type=container",
        "--format",
        "{{.Actor.ID}} {{.Action}}",
    ]);
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, action)| (id.to_string(), action.to_string()))
        .collect()
}

/// `n` containers with their own netns, started a few at a time.
fn run_containers(n: usize) -> Vec<Container> {
    let threads = 4;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..n)
                        .step_by(threads)
                        .map(|i| {
                            Container::run(
                                &format!("api{i}"),
                                &["--network=none"],
                                &["sleep", "1000000"],
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a container start failed"))
            .collect()
    })
}

/// Force-removes the containers a few at a time (each Drop is one `docker rm -f`).
fn remove_containers(containers: Vec<Container>) {
    let mut chunks: Vec<Vec<Container>> = (0..4).map(|_| Vec::new()).collect();
    for (i, c) in containers.into_iter().enumerate() {
        chunks[i % 4].push(c);
    }
    std::thread::scope(|s| {
        for chunk in chunks {
            s.spawn(move || drop(chunk));
        }
    });
}

/// Waits until the proxy is quiet: the events stream is open, and for a whole second nothing
/// but pings went through (the start-up inspects, and those of start events replayed from
/// before the list, are over).
fn wait_quiet(w: &Watched) {
    poll_until(
        &format!("the {} exporter's start-up calls to end", w.label),
        Duration::from_secs(30),
        || {
            let requests = w.proxy.requests();
            if !requests.iter().any(|r| r.endpoint() == Some("/events")) {
                return Err("no /events request yet".to_string());
            }
            let busy = requests
                .iter()
                .filter(|r| r.endpoint() != Some("/_ping"))
                .any(|r| r.at.elapsed() < Duration::from_secs(1));
            if busy {
                Err(format!("{} requests, the last within 1s", requests.len()))
            } else {
                Ok(())
            }
        },
    );
}

#[test]
fn scrapes_make_no_docker_call_per_container() {
    let env = env();
    let test_start = Instant::now();

    // The victim has a named volume: after `docker rm` its copy stays in the holder, so the
    // exporter keeps reporting the container, as removed.
    let volume = Volume::create_tmpfs("api-vol");
    let victim = Container::run(
        "api-victim",
        &["--network=none", "-v", &format!("{}:/data", volume.name)],
        &["sleep", "1000000"],
    );
    let containers = run_containers(CONTAINERS - 1);
    let last_started = Instant::now();
    let ours: BTreeSet<String> = containers
        .iter()
        .chain([&victim])
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(ours.len(), CONTAINERS);
    // A private copy of every container's mounts: each container then has leaks, and the
    // exporter names them with what Docker told it (id, state).
    let roots = [env.docker_root.as_str(), env.docker_exec_root.as_str()];
    let holder = Holder::spawn_keeping("api", Propagation::Private, 1, &roots);
    let started = test_start.elapsed();
    // The exporters' events streams replay from 2-3 s before they start: start them later
    // than that, so that their start-up is the plain one (one inspect per container).
    sleep(Duration::from_secs(4).saturating_sub(last_started.elapsed()));

    let periodic = Watched::start("periodic", PERIODIC_RESYNC);
    let events_only = Watched::start("events-only", Duration::from_secs(600));
    let exporters = [&periodic, &events_only];
    for w in exporters {
        poll_until(
            &format!(
                "the {} exporter to know all {CONTAINERS} containers",
                w.label
            ),
            Duration::from_secs(60),
            || {
                let states = w.states();
                let missing: Vec<&String> = ours
                    .iter()
                    .filter(|id| states.get(*id).map(String::as_str) != Some("running"))
                    .collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{} not known as running", missing.len()))
                }
            },
        );
    }
    for w in exporters {
        wait_quiet(w);
    }
    // Start-up: one list, then one inspect per container, plus one per event the stream
    // replays (it opens from a little before the list, see src/runtime/watch.rs).
    let mut startup = Vec::new();
    for w in exporters {
        let requests = w.proxy.requests();
        let since: f64 = requests
            .iter()
            .filter(|r| r.endpoint() == Some("/events"))
            .find_map(|r| {
                let query = r.target.split_once('?')?.1;
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("since="))?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("{} exporter: no /events?since= request", w.label));
        let replayed = docker_events(since, unix_now());
        let mut inspects: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &requests {
            if let Some(id) = r.inspected() {
                *inspects.entry(id).or_default() += 1;
            }
        }
        for id in &ours {
            let n = inspects.get(id.as_str()).copied().unwrap_or(0);
            let events = replayed.iter().filter(|(e, _)| e == id).count();
            assert!(
                n >= 1 && n <= 1 + events,
                "{} exporter: container {id} inspected {n} times at start-up ({events} events \
                 replayed)",
                w.label
            );
        }
        startup.push(count_by_endpoint(&requests));
    }

    // The scrape phase: every scrape rescans (--scan.min-interval=0s) and reports all the
    // containers with their state, yet Docker hears nothing per scrape.
    let phase_unix = unix_now();
    let phase_start = Instant::now();
    let mut scans: Vec<Vec<f64>> = vec![Vec::new(); exporters.len()];
    for i in 0..SCRAPES {
        for (k, w) in exporters.iter().enumerate() {
            let (states, scanned_at) = w.scrape();
            scans[k].push(scanned_at);
            let not_running = ours
                .iter()
                .filter(|id| states.get(*id).map(String::as_str) != Some("running"))
                .count();
            assert_eq!(
                not_running, 0,
                "{} exporter, scrape {i}: {not_running} of our containers not reported running",
                w.label
            );
        }
        sleep(SCRAPE_PAUSE);
    }
    let phase_end = Instant::now();
    let phase = phase_end - phase_start;
    for (k, w) in exporters.iter().enumerate() {
        // Every scrape ran a scan of its own (--scan.min-interval=0s): none reused an
        // earlier one, which would make no call for a reason other than the cache.
        assert!(
            scans[k].windows(2).all(|p| p[1] > p[0]),
            "{} exporter: a scrape reused an earlier scan: {:?}",
            w.label,
            scans[k]
        );
    }
    assert!(
        phase >= 2 * PERIODIC_RESYNC,
        "the scrape phase took {phase:?}: too short to span two resyncs"
    );
    let phase_events = docker_events(phase_unix - 5.0, unix_now());
    let none = BTreeMap::new();
    let mut scrape_calls = Vec::new();
    for w in exporters {
        scrape_calls.push(w.check_window(
            "scrape phase",
            phase_start,
            phase_end,
            &ours,
            &none,
            &phase_events,
        ));
    }
    // The periodic exporter did resync during the phase: its lists of all the containers
    // cost no inspect of the unchanged ones (checked above), and were not vacuous.
    let periodic_lists = scrape_calls[0]
        .get("/containers/json")
        .copied()
        .unwrap_or(0);
    assert!(
        periodic_lists >= 1,
        "the periodic exporter never resynced in {phase:?}: {:?}",
        scrape_calls[0]
    );
    assert_eq!(
        scrape_calls[1].get("/containers/json"),
        None,
        "the events-only exporter listed containers during the scrape phase"
    );

    // A removal: the exporters learn it from the events stream, with at most one inspect
    // (of the `die` event; `destroy` needs none), and scrapes still cost nothing.
    let removal_unix = unix_now();
    let removal_start = Instant::now();
    docker(&["rm", "-f", &victim.id]);
    let mut removal_scrapes = 0;
    let mut learned = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while learned.len() < exporters.len() {
        for w in exporters {
            if learned.contains_key(w.label) {
                continue;
            }
            removal_scrapes += 1;
            if w.states().get(&victim.id).map(String::as_str) == Some("removed") {
                learned.insert(w.label, removal_start.elapsed());
            }
        }
        assert!(
            Instant::now() < deadline,
            "after 30s, the removal of {} is still not reported (learned by: {learned:?})",
            victim.id
        );
        sleep(Duration::from_millis(50));
    }
    // A few more scrapes after the removal: they cost nothing either.
    for _ in 0..10 {
        for w in exporters {
            removal_scrapes += 1;
            let states = w.states();
            assert_eq!(states.get(&victim.id).map(String::as_str), Some("removed"));
        }
        sleep(SCRAPE_PAUSE);
    }
    let removal_end = Instant::now();
    let removal_events = docker_events(removal_unix - 5.0, unix_now());
    let victim_events: Vec<&str> = removal_events
        .iter()
        .filter(|(id, _)| *id == victim.id)
        .map(|(_, a)| a.as_str())
        .collect();
    assert!(
        victim_events.contains(&"destroy"),
        "docker reported no destroy event for the removed container: {removal_events:?}"
    );
    let mut removal_calls = Vec::new();
    for w in exporters {
        // One inspect for the `die` event. The periodic exporter may add one more: a resync
        // that lists the container between `die` and `destroy` sees its state change.
        let allowed = if w.resync == PERIODIC_RESYNC { 2 } else { 1 };
        removal_calls.push(w.check_window(
            "removal",
            removal_start,
            removal_end,
            &ours,
            &BTreeMap::from([(victim.id.clone(), allowed)]),
            &removal_events,
        ));
    }
    // The events-only exporter cannot have learned it from a list.
    assert_eq!(
        removal_calls[1].get("/containers/json"),
        None,
        "the events-only exporter listed containers during the removal"
    );

    drop(victim);
    let show_calls = |m: &BTreeMap<&str, usize>| {
        let total: usize = m.values().sum();
        let parts: Vec<String> = m
            .iter()
            .map(|(e, n)| {
                let e = if *e == INSPECT { "inspect" } else { e };
                format!("{e}={n}")
            })
            .collect();
        format!("{total} ({})", parts.join(" "))
    };
    for (i, w) in exporters.iter().enumerate() {
        eprintln!(
            "[figures] {} exporter (resync {:?}): {CONTAINERS} containers, {SCRAPES} scrapes in \
             {phase:.1?}; Docker calls at start-up {}; during the scrapes {}; removal learned \
             in {:.2?} over {removal_scrapes} scrapes (both exporters) with {}; a per-container \
             cost would be {} calls per phase",
            w.label,
            w.resync,
            show_calls(&startup[i]),
            show_calls(&scrape_calls[i]),
            learned[w.label],
            show_calls(&removal_calls[i]),
            CONTAINERS * SCRAPES,
        );
    }
    eprintln!(
        "[figures] set-up {started:.1?} ({CONTAINERS} containers and a holder), whole test \
         {:.1?}",
        test_start.elapsed()
    );

    drop(periodic);
    drop(events_only);
    drop(holder);
    remove_containers(containers);
    drop(volume);
}
