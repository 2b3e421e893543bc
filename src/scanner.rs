//! One scrape's worth of work, shared: scan /proc, classify against the runtime's view,
//! build the report. Single-flight (concurrent callers wait for one scan) and reused for
//! `min_interval`, as the Prometheus exporter guidelines suggest for expensive collection.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Mutex;

use crate::classify;
use crate::host;
use crate::report::{self, FirstSeen, Report, ScanSummary};
use crate::runtime::{Runtime, RuntimeKind, RuntimeView};

pub struct Scanner {
    procfs: PathBuf,
    runtime: Arc<dyn Runtime>,
    min_interval: Duration,
    options: host::ScanOptions,
    state: Mutex<State>,
}

struct State {
    last: Option<(Instant, Arc<Report>)>,
    memory: Memory,
}

/// What one scan leaves for the next: when each copy was first seen, which mounts the
/// reference namespaces have held, (incremental scans) each namespace's table and what the
/// classifier decided for it, and the leaks it reported.
/// `Default` reads every table every scan.
#[derive(Debug, Default)]
pub struct Memory {
    pub first_seen: FirstSeen,
    pub references: classify::ReferenceHistory,
    pub tables: host::Tables,
    pub classified: classify::Remembered,
    /// The last report's leaks, to version the next one's (`Report::leaks_version`).
    pub leaks: report::LeakContent,
}

impl Memory {
    /// A long-running exporter's: scans read only the tables that changed (same reports).
    pub fn incremental() -> Memory {
        Memory {
            tables: host::Tables::incremental(),
            ..Memory::default()
        }
    }
}

impl Scanner {
    pub fn new(procfs: PathBuf, runtime: Arc<dyn Runtime>, min_interval: Duration) -> Scanner {
        Scanner {
            procfs,
            runtime,
            min_interval,
            options: host::ScanOptions::default(),
            state: Mutex::new(State {
                last: None,
                memory: Memory::incremental(),
            }),
        }
    }

    pub fn with_options(mut self, options: host::ScanOptions) -> Scanner {
        self.options = options;
        self
    }

    pub fn min_interval(&self) -> Duration {
        self.min_interval
    }

    /// The latest report, scanning if the cached one is older than `min_interval`.
    pub async fn report(&self) -> Arc<Report> {
        let mut state = self.state.lock().await;
        if let Some((at, report)) = &state.last
            && at.elapsed() < self.min_interval
        {
            return report.clone();
        }
        // Expired: let the old report go before the new one is built (requests still
        // rendering it keep their own reference).
        state.last = None;
        let procfs = self.procfs.clone();
        let runtime = self.runtime.clone();
        let options = self.options;
        let mut memory = std::mem::take(&mut state.memory);
        // The scan blocks on /proc reads: keep it off the async workers.
        let joined = tokio::task::spawn_blocking(move || {
            let report = scan_once(&procfs, runtime.as_ref(), &options, &mut memory);
            crate::memory::release_free_memory();
            (report, memory)
        })
        .await;
        let report = match joined {
            Ok((report, memory)) => {
                state.memory = memory;
                report
            }
            Err(e) => {
                // The scan panicked with the memory: start again from nothing.
                state.memory = Memory::incremental();
                failed(now(), 0.0, &self.runtime.view(), e.to_string())
            }
        };
        let report = Arc::new(report);
        state.last = Some((Instant::now(), report.clone()));
        report
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn failed(timestamp: f64, duration: f64, view: &RuntimeView, error: String) -> Report {
    Report {
        scan: ScanSummary {
            timestamp,
            duration_seconds: duration,
            success: false,
            error: Some(error),
            docker_up: view.is_up(RuntimeKind::Docker),
            runtimes: view.runtimes.clone(),
            ..Default::default()
        },
        namespaces: Vec::new(),
        leaks: Vec::new(),
        leaks_version: 0,
    }
}

/// The classification, reusing the last one's decisions where the tables are remembered
/// (incremental scans, at most `host::MAX_REMEMBERED_COPIES` copies: holding the decisions
/// then costs one copy of the leaks). Else the leaks share what they need of the snapshot
/// and its tables go as they are classified.
fn classify_with(
    snapshot: host::HostSnapshot,
    view: &Arc<RuntimeView>,
    memory: &mut Memory,
) -> classify::Classified {
    let copies: usize = (snapshot.namespaces.iter())
        .map(|n| n.container_mounts.len())
        .sum();
    if snapshot.mode == host::ScanMode::Listmount && copies <= host::MAX_REMEMBERED_COPIES {
        return memory
            .classified
            .classify(snapshot, view, &mut memory.references);
    }
    // Forgotten, as the tables are: the history goes on without it.
    memory.classified = classify::Remembered::default();
    classify::classify(snapshot, view, &mut memory.references)
}

/// One synchronous scan: the whole data flow of a scrape.
pub fn scan_once(
    procfs: &std::path::Path,
    runtime: &dyn Runtime,
    options: &host::ScanOptions,
    memory: &mut Memory,
) -> Report {
    let span = tracing::info_span!("scan", procfs = %procfs.display(), runtime = runtime.name());
    let _enter = span.enter();
    let started = Instant::now();
    let timestamp = now();
    let view = runtime.view();
    let snapshot = match host::scan_with(procfs, &view.layout(), options, &mut memory.tables) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "scan failed");
            return failed(
                timestamp,
                started.elapsed().as_secs_f64(),
                &view,
                e.to_string(),
            );
        }
    };
    let (processes_scanned, mount_namespaces_scanned, errors) = (
        snapshot.processes_scanned,
        snapshot.namespaces.len() as u64,
        snapshot.errors,
    );
    let (namespaces_reread, scan_mode) = (snapshot.namespaces_reread, snapshot.mode);
    let classified = classify_with(snapshot, &view, memory);
    let summary = ScanSummary {
        timestamp,
        duration_seconds: started.elapsed().as_secs_f64(),
        success: true,
        error: None,
        processes_scanned,
        mount_namespaces_scanned,
        namespaces_reread,
        scan_mode,
        errors,
        docker_up: view.is_up(RuntimeKind::Docker),
        runtimes: view.runtimes.clone(),
        propagated_copies: 0,
        unverified_copies: 0,
    };
    let mut report = report::build(summary, classified, &mut memory.first_seen);
    report.leaks_version = memory.leaks.version_of(&report);
    tracing::debug!(
        leaks = report.leaks.len(),
        leaks_version = report.leaks_version,
        processes = report.scan.processes_scanned,
        namespaces = report.scan.mount_namespaces_scanned,
        seconds = report.scan.duration_seconds,
        "scan done"
    );
    report
}
