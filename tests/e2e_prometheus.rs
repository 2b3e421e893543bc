//! The dashboard and the alert rules against the real servers, during a real leak: Debian's
//! Prometheus scrapes the real exporter while a private holder pins a stopped container's
//! mounts; every dashboard query is run through Prometheus's HTTP API, and the shipped rules
//! (only `for:` shortened) go through a real Alertmanager to a webhook this test serves.

mod common;

use common::promql::*;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, sleep};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------
// Servers

/// A server process (Prometheus or Alertmanager) with its own data directory and log,
/// killed on Drop; its log is printed if the test is failing.
struct Server {
    name: &'static str,
    base_url: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl Server {
    /// Start `bin` with `args(port, dir)` on a free loopback port, until `/-/ready` answers.
    fn start(
        name: &'static str,
        bin: &str,
        files: &[(&str, String)],
        args: impl Fn(u16, &Path) -> Vec<String>,
    ) -> Server {
        require_tool(bin);
        let mut last = String::new();
        // A port found free can be taken before the server binds it: retry on that.
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("tempdir");
            for (file, text) in files {
                fs::write(dir.path().join(file), text).expect("write server config");
            }
            let port = free_port();
            let log = fs::File::create(dir.path().join("log")).expect("create log");
            let child = Command::new(bin)
                .args(args(port, dir.path()))
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
            let mut server = Server {
                name,
                base_url: format!("http://127.0.0.1:{port}"),
                child,
                dir,
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(status)) = server.child.try_wait() {
                    last = format!("{name} exited with {status}:\n{}", server.log());
                    break;
                }
                if let Ok((200, _)) = http_get(&format!("{}/-/ready", server.base_url)) {
                    return server;
                }
                if Instant::now() > deadline {
                    panic!("{name} not ready within 30s:\n{}", server.log());
                }
                sleep(Duration::from_millis(100));
            }
        }
        panic!("{name} did not start: {last}");
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn host_port(&self) -> &str {
        self.base_url.trim_start_matches("http://")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- {} log (last 40 lines) ---", self.name);
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

const JOB: &str = "mountleak";

/// Debian's Prometheus scraping `exporter` every second as job `mountleak`, evaluating
/// `rules` (a file body) every second and sending to `alertmanager`, if given.
fn start_prometheus(
    exporter: &Exporter,
    rules: Option<String>,
    alertmanager: Option<&Server>,
) -> Server {
    let target = exporter.base_url.trim_start_matches("http://");
    let mut config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: [\"{target}\"]\n"
    );
    let mut files = Vec::new();
    if let Some(rules) = rules {
        config.push_str("rule_files: [rules.yml]\n");
        files.push(("rules.yml", rules));
    }
    if let Some(am) = alertmanager {
        config.push_str(&format!(
            "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"{}\"]\n",
            am.host_port()
        ));
    }
    files.push(("prometheus.yml", config));
    Server::start("prometheus", "prometheus", &files, |port, dir| {
        vec![
            "--config.file=prometheus.yml".into(),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            // Resend firing alerts every second (default 1m), so Alertmanager hears soon.
            "--rules.alert.resend-delay=1s".into(),
        ]
    })
}

/// Debian's Alertmanager, posting every alert group (and its resolution) to `webhook`.
fn start_alertmanager(webhook: &Webhook) -> Server {
    let config = format!(
        "route:\n  receiver: test\n  group_by: [alertname, instance, unit]\n\
         \x20 group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
         receivers:\n  - name: test\n    webhook_configs:\n      - url: {}\n        send_resolved: true\n",
        webhook.url
    );
    Server::start(
        "alertmanager",
        "prometheus-alertmanager",
        &[("alertmanager.yml", config)],
        |port, dir| {
            vec![
                "--config.file=alertmanager.yml".into(),
                format!("--storage.path={}", dir.join("data").display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                // No gossip port: a single instance.
                "--cluster.listen-address=".into(),
            ]
        },
    )
}

// ---------------------------------------------------------------------------------------
// The webhook receiver

/// An HTTP server on a loopback port that keeps every JSON body POSTed to it.
struct Webhook {
    url: String,
    received: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Webhook {
    fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind webhook");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}/alerts", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (received.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => match read_post(stream) {
                        Ok(v) => r.lock().unwrap().push(v),
                        Err(e) => eprintln!("webhook: {e}"),
                    },
                    Err(_) => sleep(Duration::from_millis(20)),
                }
            }
        });
        Webhook {
            url,
            received,
            stop,
            thread: Some(thread),
        }
    }

    fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Read one HTTP request, answer 200 and close; the body parsed as JSON.
fn read_post(mut stream: TcpStream) -> Result<Value, String> {
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the headers ended".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .ok_or_else(|| format!("no Content-Length in {head:?}"))?;
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed mid-body".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    serde_json::from_slice(&buf[header_end..header_end + length])
        .map_err(|e| format!("webhook body is not JSON: {e}"))
}

// ---------------------------------------------------------------------------------------
// Prometheus's HTTP API

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One series of a query result: its labels and its last value.
#[derive(Debug, Clone)]
struct Row {
    labels: BTreeMap<String, String>,
    value: f64,
}

impl Row {
    fn l(&self, k: &str) -> &str {
        self.labels.get(k).map(String::as_str).unwrap_or("")
    }
}

fn show_rows(rows: &[Row]) -> String {
    if rows.is_empty() {
        return "  (no series)\n".into();
    }
    rows.iter()
        .map(|r| format!("  {:?} {}\n", r.labels, r.value))
        .collect()
}

fn api(prom: &Server, path_and_query: &str) -> Result<Value, String> {
    let url = format!("{}{path_and_query}", prom.base_url);
    let (status, body) = http_get(&url)?;
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{url}: {e}: {body}"))?;
    if status != 200 || v["status"] != "success" {
        return Err(format!("{url}: {status}: {body}"));
    }
    Ok(v["data"].clone())
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// An instant query, or a range query over the last 30 s (last value of each series).
fn query(prom: &Server, expr: &str, instant: bool) -> Result<Vec<Row>, String> {
    let q = url_encode(expr);
    let data = if instant {
        api(prom, &format!("/api/v1/query?query={q}"))?
    } else {
        let end = unix_now();
        api(
            prom,
            &format!(
                "/api/v1/query_range?query={q}&start={:.3}&end={end:.3}&step=1",
                end - 30.0
            ),
        )?
    };
    let mut rows = Vec::new();
    for r in data["result"].as_array().ok_or("no result array")? {
        let labels = r["metric"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let last = if instant {
            r["value"][1].clone()
        } else {
            r["values"]
                .as_array()
                .and_then(|v| v.last())
                .map(|p| p[1].clone())
                .unwrap_or(Value::Null)
        };
        let value = last
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad sample {r}"))?;
        rows.push(Row { labels, value });
    }
    Ok(rows)
}

/// Grafana's variables filled in as a user with this job and instance selected would get.
fn substitute(expr: &str, instance: &str) -> String {
    let mut out = expr.to_string();
    for (var, value) in [
        ("job", JOB),
        ("instance", instance),
        // The runtime variable's All.
        ("runtime", ".*"),
        // The cluster variable's All (also matches series without the label).
        ("cluster", ".*"),
        ("__rate_interval", "1m"),
        ("__interval", "1m"),
    ] {
        out = out
            .replace(&format!("${{{var}}}"), value)
            .replace(&format!("${var}"), value);
    }
    out.replace("${datasource}", "").replace("$datasource", "")
}

// ---------------------------------------------------------------------------------------
// The scenario

/// A stopped container whose shm, netns and named volume copies a private holder (a fake
/// systemd unit) keeps, and a running container it holds private copies of.
/// The pod uid the running container's labels name.
const POD_UID: &str = "0d6f4a1e-5c3b-4e2a-9f81-7b2c6d5e4f30";

struct Scene {
    // Drop order: the holder first, then the containers, then the volume.
    holder: Holder,
    stopped: Container,
    running: Option<Container>,
    volume: Volume,
}

impl Scene {
    fn new(label: &str, with_running: bool) -> Scene {
        let volume = Volume::create_tmpfs(&format!("{label}-vol"));
        let stopped = Container::run(
            &format!("{label}-stopped"),
            &[
                "--ipc=shareable",
                "--network=none",
                "-v",
                &format!("{}:/data", volume.name),
            ],
            &["sleep", "1000000"],
        );
        let running = with_running.then(|| {
            // Labelled as kubelet (through cri-dockerd) labels a pod's containers, so the pod
            // series have something to show.
            let pod_uid = format!("--label=io.kubernetes.pod.uid={POD_UID}");
            let pod_name = format!("--label=io.kubernetes.pod.name={label}-pod");
            Container::run(
                &format!("{label}-running"),
                &[
                    "--ipc=shareable",
                    "--network=none",
                    &pod_uid,
                    &pod_name,
                    "--label=io.kubernetes.pod.namespace=mountleak-e2e",
                ],
                &["sleep", "1000000"],
            )
        });
        let roots = [env().docker_root.as_str(), env().docker_exec_root.as_str()];
        let holder = Holder::spawn_keeping(label, Propagation::Private, 2, &roots);
        stopped.stop();
        Scene {
            holder,
            stopped,
            running,
            volume,
        }
    }

    /// The namespace's lowest pid and its comm: what the leak series name as the holder.
    fn leader(&self) -> (u32, String) {
        let pid = *self.holder.pids.iter().min().unwrap();
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).expect("holder comm");
        (pid, comm.trim().to_string())
    }

    /// Wait until the exporter's JSON shows the holder's stale shm and volume copies (and
    /// an at-risk copy of the running container, if there is one).
    fn wait_reported(&self, exporter: &Exporter) {
        let shm = self.stopped.shm_mount_point();
        let vol = self.volume.mount_point();
        poll_until(
            "the exporter to report the scenario's leaks",
            Duration::from_secs(60),
            || {
                let doc = exporter.leaks_json();
                let ours: Vec<&Value> = doc["leaks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|l| l["holder"]["unit"] == self.holder.unit.as_str())
                    .collect();
                let has = |mp: &str, status: &str| {
                    ours.iter()
                        .any(|l| l["mount_point"] == mp && l["status"] == status)
                };
                let risky = self.running.as_ref().is_none_or(|c| {
                    ours.iter().any(|l| {
                        l["status"] == "at_risk" && l["container"]["name"] == c.name.as_str()
                    })
                });
                if has(&shm, "stale") && has(&vol, "stale") && risky {
                    Ok(())
                } else {
                    Err(serde_json::to_string_pretty(&ours).unwrap())
                }
            },
        );
    }
}

fn dashboard() -> Value {
    serde_json::from_str(&read_repo_file("dashboards/mountleak.json")).expect("dashboard JSON")
}

/// What one dashboard query must return during the scenario: Ok, or what is missing.
type Check<'a> = Box<dyn Fn(&[Row]) -> Result<(), String> + 'a>;

fn single(rows: &[Row], ok: impl Fn(f64) -> bool, what: &str) -> Result<(), String> {
    match rows {
        [r] if ok(r.value) => Ok(()),
        _ => Err(format!("want one series with {what}")),
    }
}

fn has_row(
    rows: &[Row],
    labels: &[(&str, &str)],
    ok: impl Fn(f64) -> bool,
    what: &str,
) -> Result<(), String> {
    if rows
        .iter()
        .any(|r| labels.iter().all(|(k, v)| r.l(k) == *v) && ok(r.value))
    {
        Ok(())
    } else {
        Err(format!("want a series {labels:?} with {what}"))
    }
}

#[test]
fn every_dashboard_query_returns_the_leak_during_the_scenario() {
    let scene = Scene::new("prom-dash", true);
    let exporter = Exporter::start(&[]);
    scene.wait_reported(&exporter);
    let prom = start_prometheus(&exporter, None, None);
    let instance = exporter.base_url.trim_start_matches("http://").to_string();
    let unit = scene.holder.unit.as_str();
    let stopped = scene.stopped.name.as_str();
    let running = scene.running.as_ref().unwrap().name.as_str();
    let (leader, leader_comm) = scene.leader();
    let leader = leader.to_string();
    let shm = scene.stopped.shm_mount_point();
    let vol_mp = scene.volume.mount_point();

    // Each (panel title, refId) and what it must show. A panel without an entry fails the
    // test, so a new panel needs its check here.
    let mut checks: BTreeMap<(&str, &str), Check> = BTreeMap::new();
    let ge = |n: f64| move |v: f64| v >= n;
    checks.insert(
        ("Stale leaks", "A"),
        Box::new(move |r| single(r, ge(2.0), "value >= 2 (shm and volume)")),
    );
    checks.insert(
        ("At-risk copies", "A"),
        Box::new(move |r| single(r, ge(1.0), "value >= 1")),
    );
    checks.insert(
        ("Units holding leaks", "A"),
        Box::new(move |r| single(r, ge(1.0), "value >= 1")),
    );
    checks.insert(
        ("Containers affected", "A"),
        Box::new(move |r| single(r, ge(2.0), "value >= 2")),
    );
    checks.insert(
        ("Runtimes reachable", "A"),
        Box::new(|r| single(r, |v| v == 1.0, "value 1")),
    );
    checks.insert(
        ("Runtimes reachable", "B"),
        Box::new(|r| {
            has_row(r, &[("runtime", "docker")], |v| v == 1.0, "docker 1")?;
            single(r, |v| v == 1.0, "only docker, value 1")
        }),
    );
    checks.insert(
        ("Scans succeeding", "A"),
        Box::new(|r| single(r, |v| v == 1.0, "value 1")),
    );
    let (shm_c, vol_c) = (shm.clone(), vol_mp.clone());
    let pids: Vec<String> = scene.holder.pids.iter().map(u32::to_string).collect();
    checks.insert(
        ("Leaks", "A"),
        Box::new(move |r| {
            let age = |v: f64| (0.0..600.0).contains(&v);
            for mp in [shm_c.as_str(), vol_c.as_str()] {
                let row = r
                    .iter()
                    .find(|x| x.l("mountpoint") == mp && x.l("unit") == unit)
                    .ok_or(format!("no row for {mp} held by {unit}"))?;
                let want = [
                    ("container_name", stopped),
                    ("container_state", "exited"),
                    ("status", "stale"),
                    ("pid", leader.as_str()),
                    ("comm", leader_comm.as_str()),
                ];
                for (k, v) in want {
                    if row.l(k) != v {
                        return Err(format!("{mp}: {k} is {:?}, want {v:?}", row.l(k)));
                    }
                }
                if !age(row.value) {
                    return Err(format!("{mp}: age is not in seconds: {row:?}"));
                }
            }
            has_row(
                r,
                &[("unit", unit), ("kind", "shm"), ("status", "stale")],
                age,
                "an age in seconds",
            )?;
            has_row(
                r,
                &[
                    ("unit", unit),
                    ("container_name", running),
                    ("container_state", "running"),
                    ("status", "at_risk"),
                ],
                age,
                "an age in seconds",
            )
        }),
    );
    let pids_p = pids.clone();
    checks.insert(
        ("Processes holding leaked mounts", "A"),
        Box::new(move |r| {
            for pid in &pids_p {
                has_row(
                    r,
                    &[("pid", pid), ("unit", unit), ("status", "stale")],
                    ge(2.0),
                    ">= 2 stale mounts",
                )?;
            }
            Ok(())
        }),
    );
    checks.insert(
        ("Leaks over time", "A"),
        Box::new(move |r| {
            has_row(r, &[("status", "stale")], ge(2.0), ">= 2")?;
            has_row(r, &[("status", "at_risk")], ge(1.0), ">= 1")
        }),
    );
    checks.insert(
        ("Leaks by unit", "A"),
        Box::new(move |r| {
            has_row(r, &[("unit", unit), ("status", "stale")], ge(2.0), ">= 2")?;
            has_row(r, &[("unit", unit), ("status", "at_risk")], ge(1.0), ">= 1")
        }),
    );
    checks.insert(
        ("Leaked mounts by container", "A"),
        Box::new(move |r| {
            let s = [("container_name", stopped), ("container_state", "exited")];
            has_row(
                r,
                &[s[0], s[1], ("kind", "shm"), ("status", "stale")],
                ge(1.0),
                ">= 1",
            )?;
            has_row(
                r,
                &[
                    ("container_name", running),
                    ("kind", "rootfs"),
                    ("status", "at_risk"),
                ],
                ge(1.0),
                ">= 1",
            )
        }),
    );
    checks.insert(
        ("Leaked mounts by Kubernetes pod", "A"),
        Box::new(move |r| {
            has_row(
                r,
                &[
                    ("pod_namespace", "mountleak-e2e"),
                    ("kind", "rootfs"),
                    ("status", "at_risk"),
                ],
                ge(1.0),
                ">= 1 (the running container is labelled as a pod's)",
            )
        }),
    );
    let vol_name = scene.volume.name.clone();
    checks.insert(
        ("Leaked volume mounts", "A"),
        Box::new(move |r| {
            has_row(
                r,
                &[("volume", &vol_name), ("status", "stale")],
                ge(1.0),
                ">= 1",
            )
        }),
    );
    let inst = instance.clone();
    checks.insert(
        ("Scan duration", "A"),
        Box::new(move |r| {
            has_row(
                r,
                &[("instance", &inst)],
                |v| v > 0.0 && v < 30.0,
                "0 < seconds < 30",
            )
        }),
    );
    checks.insert(
        ("Processes and namespaces scanned", "A"),
        Box::new(move |r| single(r, ge(3.0), "processes >= 3")),
    );
    checks.insert(
        ("Processes and namespaces scanned", "B"),
        Box::new(move |r| {
            single(
                r,
                ge(2.0),
                "mount namespaces >= 2 (the host's and the holder's)",
            )
        }),
    );
    checks.insert(
        ("Processes and namespaces scanned", "C"),
        Box::new(move |r| {
            single(
                r,
                |v| v == 0.0,
                "0 unlisted: the holder's few processes are all under the limit",
            )
        }),
    );
    checks.insert(
        ("Processes and namespaces scanned", "D"),
        Box::new(move |r| {
            // The join names the mode; how many tables were read depends on what changed.
            match r {
                [x] if ["listmount", "full"].contains(&x.l("mode")) && x.value >= 0.0 => Ok(()),
                _ => Err("one row: tables read, labelled mode=listmount or full".into()),
            }
        }),
    );
    checks.insert(
        ("Scan errors by reason", "A"),
        Box::new(|r| {
            let reasons: BTreeSet<&str> = r.iter().map(|x| x.l("reason")).collect();
            let want: BTreeSet<&str> = ["vanished", "permission_denied", "parse", "other"].into();
            if reasons == want {
                Ok(())
            } else {
                Err(format!("want reasons {want:?}"))
            }
        }),
    );
    checks.insert(
        ("Time since last scan", "A"),
        Box::new(|r| single(r, |v| (0.0..30.0).contains(&v), "0 <= seconds < 30")),
    );
    checks.insert(
        ("Propagated, unverified copies and dropped series", "A"),
        Box::new(move |r| single(r, ge(0.0), "a count")),
    );
    checks.insert(
        ("Propagated, unverified copies and dropped series", "B"),
        Box::new(|r| single(r, |v| v == 0.0, "0 series dropped")),
    );
    checks.insert(
        ("Propagated, unverified copies and dropped series", "C"),
        // Other test instances on the machine may leave unvouched container-shaped mounts.
        Box::new(move |r| single(r, ge(0.0), "a count")),
    );
    checks.insert(
        ("HTTP connections refused", "A"),
        // A rate needs two scrapes in the window: no row yet, or 0 (nothing is refused here).
        Box::new(|r| {
            if r.iter().all(|x| x.value == 0.0) {
                Ok(())
            } else {
                Err("no connection refused".to_string())
            }
        }),
    );
    checks.insert(
        ("Exporter versions", "A"),
        Box::new(|r| {
            has_row(
                r,
                &[("version", env!("CARGO_PKG_VERSION"))],
                |v| v == 1.0,
                "value 1",
            )
        }),
    );

    // The panels' queries, as Grafana would send them.
    let d = dashboard();
    let mut queries = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        let title = p["title"].as_str().unwrap().to_string();
        for t in p["targets"].as_array().unwrap() {
            let refid = t["refId"].as_str().unwrap().to_string();
            let expr = substitute(t["expr"].as_str().unwrap(), &instance);
            assert!(
                !expr.contains('$'),
                "{title}/{refid}: unsubstituted variable in {expr}"
            );
            let instant = t["instant"] == true;
            assert!(
                checks.contains_key(&(title.as_str(), refid.as_str())),
                "panel {title:?} target {refid} has no check in this test: add one"
            );
            queries.push((title.clone(), refid, expr, instant));
        }
    }
    let panel_keys: BTreeSet<(String, String)> = queries
        .iter()
        .map(|(t, r, _, _)| (t.clone(), r.clone()))
        .collect();
    for (t, r) in checks.keys() {
        assert!(
            panel_keys.contains(&(t.to_string(), r.to_string())),
            "check for {t}/{r} matches no panel"
        );
    }

    // Every metric the queries name is in the exporter's real output.
    let scraped: BTreeSet<String> = exporter.scrape().into_iter().map(|s| s.name).collect();
    for (title, refid, expr, _) in &queries {
        for sel in selectors(expr).unwrap() {
            assert!(
                scraped.contains(&sel.name),
                "{title}/{refid}: {} is not in the exporter's /metrics during a leak",
                sel.name
            );
        }
    }

    // The variables' choices: label_values(mountleak_build_info, job) and the instances of it.
    poll_until(
        "the job and instance variables to list this exporter",
        Duration::from_secs(60),
        || {
            let m = url_encode("mountleak_build_info");
            let jobs = api(&prom, &format!("/api/v1/label/job/values?match[]={m}"))?;
            let m = url_encode(&format!("mountleak_build_info{{job=~\"{JOB}\"}}"));
            let insts = api(&prom, &format!("/api/v1/label/instance/values?match[]={m}"))?;
            let has = |v: &Value, s: &str| v.as_array().is_some_and(|a| a.iter().any(|x| x == s));
            if has(&jobs, JOB) && has(&insts, &instance) {
                Ok(())
            } else {
                Err(format!("jobs {jobs}, instances {insts}"))
            }
        },
    );

    let start = Instant::now();
    poll_until(
        "every dashboard query to show the scenario",
        Duration::from_secs(90),
        || {
            let mut failures = String::new();
            for (title, refid, expr, instant) in &queries {
                let check = &checks[&(title.as_str(), refid.as_str())];
                match query(&prom, expr, *instant) {
                    Ok(rows) => {
                        if let Err(e) = check(&rows) {
                            failures +=
                                &format!("{title}/{refid}: {e}\n  {expr}\n{}", show_rows(&rows));
                        }
                    }
                    Err(e) => failures += &format!("{title}/{refid}: {e}\n"),
                }
            }
            if failures.is_empty() {
                Ok(())
            } else {
                Err(failures)
            }
        },
    );
    eprintln!(
        "{} dashboard queries returned the scenario's series after {:.1?}",
        queries.len(),
        start.elapsed()
    );
}

/// The shipped rules with every `for:` shortened to 1s; nothing else changed.
fn rules_with_short_for() -> String {
    let shipped = read_repo_file("deploy/prometheus/rules.yml");
    let mut changed = 0;
    let out: Vec<String> = shipped
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("for: ") && !t.contains('#') {
                changed += 1;
                format!("{}for: 1s", &l[..l.len() - t.len()])
            } else {
                l.to_string()
            }
        })
        .collect();
    let alerts = shipped
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    assert_eq!(changed, alerts, "expected one `for:` per alert");
    out.join("\n") + "\n"
}

#[test]
fn stale_leak_alert_reaches_the_webhook_and_resolves_when_the_holder_exits() {
    let scene = Scene::new("prom-alert", false);
    let exporter = Exporter::start(&[]);
    scene.wait_reported(&exporter);
    let webhook = Webhook::start();
    let am = start_alertmanager(&webhook);
    let rules = rules_with_short_for();
    let prom = start_prometheus(&exporter, Some(rules), Some(&am));
    let unit = scene.holder.unit.clone();
    let container = scene.stopped.name.clone();
    let shm = scene.stopped.shm_mount_point();

    // All shipped rules loaded and evaluating without error.
    let n_alerts = rules_with_short_for().matches("- alert:").count();
    poll_until(
        "Prometheus to load the rules",
        Duration::from_secs(30),
        || {
            let data = api(&prom, "/api/v1/rules")?;
            let rules: Vec<&Value> = data["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().into_iter().flatten())
                .collect();
            let bad: Vec<&&Value> = rules.iter().filter(|r| r["health"] == "err").collect();
            if rules.len() == n_alerts
                && bad.is_empty()
                && rules.iter().all(|r| r["health"] == "ok")
            {
                Ok(())
            } else {
                Err(format!("{} rules, erroring: {bad:?}", rules.len()))
            }
        },
    );

    // The alert for the holder's copies of the stopped container, as the webhook got it:
    // one per unit and container, whatever number of mounts (issue 18).
    let ours = |a: &Value| {
        a["labels"]["alertname"] == "MountleakStaleLeak"
            && a["labels"]["unit"] == unit.as_str()
            && a["labels"]["container_name"] == container.as_str()
    };
    let start = Instant::now();
    let firing = poll_until(
        "the webhook to receive MountleakStaleLeak for the holder's copies",
        Duration::from_secs(90),
        || {
            let got = webhook.received();
            got.iter()
                .flat_map(|p| p["alerts"].as_array().into_iter().flatten())
                .find(|a| ours(a) && a["status"] == "firing")
                .cloned()
                .ok_or_else(|| format!("{} webhook posts so far: {:#?}", got.len(), got))
        },
    );
    let fired_after = start.elapsed();
    let labels = &firing["labels"];
    assert_eq!(labels["container_name"], container.as_str(), "{firing:#}");
    assert!(
        labels.get("mountpoint").is_none(),
        "grouped per container: {firing:#}"
    );
    assert_eq!(labels["severity"], "warning", "{firing:#}");
    assert_eq!(labels["job"], JOB, "{firing:#}");
    let summary = firing["annotations"]["summary"].as_str().unwrap_or("");
    assert_eq!(
        summary,
        format!("{unit} pins stale mounts of container {container}"),
        "{firing:#}"
    );
    let desc = firing["annotations"]["description"].as_str().unwrap_or("");
    let (leader, comm) = scene.leader();
    for want in [
        format!("{unit} (pid {leader}, {comm}) holds "),
        format!(
            "of container {container} (exited, id {})",
            &scene.stopped.id[..12]
        ),
        format!("{shm} (shm)"),
        format!(
            "mountleak_exporter release --holder {leader} --container {} --yes",
            scene.stopped.id
        ),
        format!("Fix: systemctl restart {unit}"),
    ] {
        assert!(desc.contains(&want), "description lacks {want:?}:\n{desc}");
    }
    assert!(
        firing["annotations"]["runbook_url"]
            .as_str()
            .is_some_and(|u| u.ends_with("docs/runbook.md#mountleakstaleleak")),
        "{firing:#}"
    );

    // The holder exits: the copy is gone, and so is the alert.
    let Scene {
        holder,
        stopped,
        running,
        volume,
    } = scene;
    holder.kill();
    let killed = Instant::now();
    poll_until(
        "the webhook to receive the resolution of MountleakStaleLeak",
        Duration::from_secs(90),
        || {
            let got = webhook.received();
            got.iter()
                .flat_map(|p| p["alerts"].as_array().into_iter().flatten())
                .find(|a| ours(a) && a["status"] == "resolved")
                .map(|_| ())
                .ok_or_else(|| {
                    let statuses: Vec<String> = got
                        .iter()
                        .flat_map(|p| p["alerts"].as_array().into_iter().flatten())
                        .filter(|a| ours(a))
                        .map(|a| a["status"].to_string())
                        .collect();
                    format!("our alert's statuses so far: {statuses:?}")
                })
        },
    );
    eprintln!(
        "stale-leak alert at the webhook {fired_after:.1?} after Prometheus started; \
         resolved {:.1?} after the holder was killed",
        killed.elapsed()
    );
    drop((stopped, running, volume));
}

/// Prometheus asks for OpenMetrics first and gets it: the counters' families are named
/// without `_total` in its metadata (the text format would name them with it), and their
/// samples are stored as `_total` series all the same.
#[test]
fn prometheus_scrapes_the_openmetrics_exposition() {
    let exporter = Exporter::start(&[]);
    let prom = start_prometheus(&exporter, None, None);
    poll_until(
        "Prometheus to know the exporter's counters by their OpenMetrics family names",
        Duration::from_secs(30),
        || {
            let mut seen = Vec::new();
            for family in ["mountleak_http_connections_rejected", "process_cpu_seconds"] {
                let data = api(&prom, &format!("/api/v1/metadata?metric={family}"))?;
                let ty = data[family][0]["type"].clone();
                if ty != "counter" {
                    return Err(format!("{family}: {data}"));
                }
                let rows = query(&prom, &format!("{family}_total"), true)?;
                if rows.is_empty() {
                    return Err(format!("no {family}_total series yet"));
                }
                seen.push(family);
            }
            Ok(seen)
        },
    );
    let text_family = api(&prom, "/api/v1/metadata?metric=process_cpu_seconds_total").unwrap();
    assert!(
        text_family.as_object().is_none_or(|m| m.is_empty()),
        "no family named as the text format names it: {text_family}"
    );
}
