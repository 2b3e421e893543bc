//! Process churn: thousands of short-lived processes born inside a holder's mount namespace,
//! entering it from outside (`nsenter`), making namespaces of their own (`unshare -m`) and
//! plain ones, while the real binary is scraped back to back. Every scrape must answer 200
//! with `mountleak_scan_success 1` and the holder's leaks, and the exporter's memory must not
//! grow: processes that vanish mid-scan are counted, not kept.

mod common;

use common::scraper::Scraper;
use common::*;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the churn runs.
const CHURN: Duration = Duration::from_secs(30);
/// Allowed growth of the exporter's resident memory from the first third of the run to the
/// last (the peaks of each): a leak of per-process state would grow with every one of the
/// thousands of processes; allocator noise stays well under this.
const RSS_GROWTH_BOUND_KIB: u64 = 8 * 1024;

#[derive(Clone, Debug, Default)]
struct Tick {
    scan_success: Option<f64>,
    /// `mountleak_unit_leaked_mounts` of the holder's unit (stale).
    unit_leaks: f64,
    /// `mountleak_container_leaked_mounts` of the container (shm) and the volume's.
    shm_leaks: f64,
    volume_leaks: f64,
    vanished: f64,
    processes: f64,
    namespaces: f64,
    scan_seconds: f64,
    /// The exporter's VmRSS right after the scrape, KiB.
    rss_kib: u64,
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Shell loops spawning processes for a while, each in its own process group (killed on
/// Drop, so a failing test leaves none behind).
struct Spawners(Vec<(String, Child)>);

impl Spawners {
    /// `sh -c` running `body` (one process) and a short `sleep` (another: the pause keeps
    /// four loops from starving everything else on two cores) until `secs` pass; prints how
    /// many processes it started.
    fn add(&mut self, what: &str, prefix: &[&str], body: &str, secs: u64) {
        let script = format!(
            "sleep {secs} & t=$!; n=0; while kill -0 $t 2>/dev/null; do {body}; sleep 0.01; n=$((n+2)); done; echo $n"
        );
        let mut cmd = Command::new(prefix.first().copied().unwrap_or("sh"));
        if prefix.is_empty() {
            cmd.arg("-c").arg(&script);
        } else {
            cmd.args(&prefix[1..]).args(["sh", "-c", &script]);
        }
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        self.0.push((what.to_string(), child));
    }

    /// Wait for every loop; (what, processes spawned) of each.
    fn wait(mut self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for (what, child) in std::mem::take(&mut self.0) {
            let o = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&o.stdout);
            let n = text.trim().parse().unwrap_or_else(|_| {
                panic!(
                    "{what} printed {text:?} ({}); stderr: {}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr)
                )
            });
            out.push((what, n));
        }
        out
    }
}

impl Drop for Spawners {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            // SAFETY: kill(2) of the process group we made for this loop.
            unsafe {
                libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }
}

#[test]
fn process_churn_in_and_out_of_a_holder_namespace() {
    require_tool("nsenter");
    require_tool("unshare");
    let (volume, container, holder) = leak_scene("proc-churn");
    container.stop();
    let must = [container.shm_mount_point(), volume.mount_point()];

    let exporter = Exporter::start(&["--metrics.max-series=1000000"]);
    let pid = exporter.pid();
    let (cid, vol, unit) = (
        container.id.clone(),
        volume.name.clone(),
        holder.unit.clone(),
    );
    let scraper = Scraper::start(
        format!("{}/metrics", exporter.base_url),
        Duration::from_millis(20),
        move |s| {
            let one = |name: &str, labels: &[(&str, &str)]| {
                select(s, name, labels).first().map(|x| x.value)
            };
            Tick {
                scan_success: one("mountleak_scan_success", &[]),
                unit_leaks: one(
                    "mountleak_unit_leaked_mounts",
                    &[("unit", &unit), ("status", "stale")],
                )
                .unwrap_or(0.0),
                shm_leaks: select(
                    s,
                    "mountleak_container_leaked_mounts",
                    &[("container_id", &cid), ("kind", "shm"), ("status", "stale")],
                )
                .iter()
                .map(|x| x.value)
                .sum(),
                volume_leaks: one(
                    "mountleak_volume_leaked_mounts",
                    &[("volume", &vol), ("status", "stale")],
                )
                .unwrap_or(0.0),
                vanished: one("mountleak_scan_errors", &[("reason", "vanished")]).unwrap_or(0.0),
                processes: one("mountleak_processes_scanned", &[]).unwrap_or(0.0),
                namespaces: one("mountleak_mount_namespaces_scanned", &[]).unwrap_or(0.0),
                scan_seconds: one("mountleak_scan_duration_seconds", &[]).unwrap_or(0.0),
                rss_kib: vm_rss_kib(pid),
            }
        },
    );
    let warm = scraper.wait_for(
        "the holder's leaks before the churn",
        Instant::now(),
        Duration::from_secs(30),
        |t| t.unit_leaks >= 2.0 && t.shm_leaks >= 1.0 && t.volume_leaks >= 1.0,
    );
    // The same, per namespace, from the JSON: the holder's namespace keeps its leaks and
    // keeps being named after the unit's process that made it (the oldest), whatever
    // short-lived processes come and go in it with lower (wrapped) pids.
    let ns = mnt_ns(&holder.pid.to_string()).expect("the holder's ns/mnt");
    let inode: u64 = ns
        .trim_start_matches("mnt:[")
        .trim_end_matches(']')
        .parse()
        .unwrap();
    let named = (holder.pid as u64, holder.unit.clone());
    let must_json = must.clone();
    let json_scraper = Scraper::start_raw(
        format!("{}/api/v1/leaks", exporter.base_url),
        Duration::from_millis(20),
        move |body| {
            let doc: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
            let mine: Vec<&serde_json::Value> = doc["leaks"]
                .as_array()
                .ok_or("no leaks array")?
                .iter()
                .filter(|l| l["namespace"]["inode"] == inode)
                .collect();
            for m in &must_json {
                if !mine.iter().any(|l| l["mount_point"] == m.as_str()) {
                    return Err(format!("{m} lost from the holder's namespace"));
                }
            }
            for l in &mine {
                let h = &l["holder"];
                let got = (
                    h["pid"].as_u64().unwrap_or(0),
                    h["unit"].as_str().unwrap_or("").to_string(),
                );
                if got != named {
                    return Err(format!(
                        "{} is held by {h}, not by {named:?}",
                        l["mount_point"]
                    ));
                }
            }
            Ok(mine.len())
        },
    );

    let h = holder.pid.to_string();
    let secs = CHURN.as_secs();
    let mut spawners = Spawners(Vec::new());
    spawners.add(
        "born inside the holder's namespace",
        &["nsenter", "-t", &h, "-m", "--"],
        "/bin/true",
        secs,
    );
    spawners.add(
        "entering the holder's namespace",
        &[],
        &format!("nsenter -t {h} -m -- /bin/true"),
        secs,
    );
    spawners.add(
        "in namespaces of their own",
        &[],
        "unshare -m --propagation private /bin/true",
        secs,
    );
    spawners.add("in the host namespace", &[], "/bin/true", secs);
    let churn_started = Instant::now();
    let spawned = spawners.wait();
    let churn_took = churn_started.elapsed();
    let records = scraper.finish();
    let json_records = json_scraper.finish();

    for r in &json_records {
        if let Err(e) = &r.result {
            panic!("GET /api/v1/leaks during the churn: {e}");
        }
        assert!(
            r.latency < Duration::from_secs(10),
            "GET /api/v1/leaks took {:.1?}",
            r.latency
        );
    }
    let records: Vec<_> = records.into_iter().filter(|r| r.at >= warm.at).collect();
    let mut ticks = Vec::new();
    for r in &records {
        let t = match &r.result {
            Ok(t) => t,
            Err(e) => panic!("a scrape failed during the churn: {e}"),
        };
        assert!(
            r.latency < Duration::from_secs(10),
            "a scrape took {:.1?} (the scan itself {:.1}s)",
            r.latency,
            t.scan_seconds
        );
        assert_eq!(t.scan_success, Some(1.0), "a scan failed: {t:?}");
        assert!(
            t.unit_leaks >= 2.0 && t.shm_leaks >= 1.0 && t.volume_leaks >= 1.0,
            "the holder's leaks were lost from a scrape: {t:?}"
        );
        ticks.push(t.clone());
    }
    let total: u64 = spawned.iter().map(|(_, n)| n).sum();
    assert!(
        total >= 2000,
        "only {total} processes were spawned: {spawned:?}"
    );
    assert!(ticks.len() >= 30, "only {} scrapes", ticks.len());
    assert!(
        json_records.len() >= 30,
        "only {} JSON scrapes",
        json_records.len()
    );

    let third = ticks.len() / 3;
    let peak = |ts: &[Tick]| ts.iter().map(|t| t.rss_kib).max().unwrap_or(0);
    let (first, last) = (peak(&ticks[..third]), peak(&ticks[ticks.len() - third..]));
    assert!(first > 0, "could not read the exporter's VmRSS");
    let log = exporter.log();
    assert!(!log.contains("panicked"), "the exporter panicked:\n{log}");

    let max_latency = records.iter().map(|r| r.latency).max().unwrap();
    let vanished: Vec<f64> = ticks.iter().map(|t| t.vanished).collect();
    let procs = ticks.iter().map(|t| t.processes as u64).max().unwrap();
    let nss = ticks.iter().map(|t| t.namespaces as u64).max().unwrap();
    let max_scan = ticks.iter().map(|t| t.scan_seconds).fold(0.0, f64::max);
    eprintln!(
        "[figures] process churn: {total} processes in {churn_took:.1?} ({spawned:?}); \
         {} scrapes of /metrics and {} of /api/v1/leaks, max latency {max_latency:.0?} (longest scan {max_scan:.3}s); up to {procs} processes and {nss} mount \
         namespaces per scan; vanished per scan max {}, total {}, in {} of {} scans; \
         VmRSS peak first third {first} KiB, last third {last} KiB",
        ticks.len(),
        json_records.len(),
        vanished.iter().cloned().fold(0.0, f64::max),
        vanished.iter().sum::<f64>(),
        vanished.iter().filter(|v| **v > 0.0).count(),
        ticks.len(),
    );
    assert!(
        last <= first + RSS_GROWTH_BOUND_KIB,
        "exporter RSS grew from {first} KiB to {last} KiB (bound +{RSS_GROWTH_BOUND_KIB} KiB)"
    );
    drop(holder);
}
