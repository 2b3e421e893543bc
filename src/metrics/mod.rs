//! Renders a [`Report`] as Prometheus metrics: a Collector that builds fresh families on
//! every collect, so series vanish with the leak they describe.

mod first_seen;
pub mod openmetrics;
pub mod process;

use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::proto::{self, LabelPair, MetricType};
use prometheus::{Encoder, Registry, TextEncoder};

use crate::classify::Status;
use crate::report::Report;
use crate::runtime::RuntimeKind;

pub const NAMESPACE: &str = "mountleak";

pub struct ReportCollector {
    report: Arc<Report>,
    options: RenderOptions,
}

#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    /// Shown in HELP: how long a scan is reused.
    pub min_interval_secs: f64,
    /// Cap on leak series over all leak families, so a leak storm cannot flood Prometheus.
    pub max_series: usize,
    /// Connections the HTTP server refused at `--web.max-connections` since it started.
    pub connections_rejected: u64,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            min_interval_secs: 5.0,
            max_series: 10_000,
            connections_rejected: 0,
        }
    }
}

/// Label values -> value; a BTreeMap keeps label sets unique and output stable.
type Series = BTreeMap<Vec<String>, f64>;

/// Builds one family as plain protobuf values rather than through a GaugeVec: a leak storm
/// makes thousands of series per scrape, and the vector's hashing and per-child locks cost
/// more than the rest of the scrape. Label pairs sorted by name, as the crate does.
fn family(spec: &Spec, help: String, rows: Rows) -> MetricFamily {
    let labels = spec.labels;
    let mut by_name: Vec<usize> = (0..labels.len()).collect();
    by_name.sort_by_key(|&i| labels[i]);
    let mut fam = MetricFamily::default();
    fam.set_name(format!("{NAMESPACE}_{}", spec.name));
    fam.set_help(help);
    fam.set_field_type(match spec.ty {
        Type::Gauge => MetricType::GAUGE,
        Type::Counter => MetricType::COUNTER,
    });
    let metrics = rows
        .into_iter()
        .map(|(mut values, v)| {
            let pairs = by_name
                .iter()
                .map(|&i| {
                    let mut p = LabelPair::default();
                    p.set_name(labels[i].to_string());
                    p.set_value(std::mem::take(&mut values[i]));
                    p
                })
                .collect();
            let mut m = proto::Metric::default();
            m.set_label(pairs);
            match spec.ty {
                Type::Gauge => {
                    let mut g = proto::Gauge::default();
                    g.set_value(v);
                    m.set_gauge(g);
                }
                Type::Counter => {
                    let mut c = proto::Counter::default();
                    c.set_value(v);
                    m.set_counter(c);
                }
            }
            m
        })
        .collect();
    fam.set_metric(metrics);
    fam
}

fn b(v: bool) -> f64 {
    if v { 1.0 } else { 0.0 }
}

impl ReportCollector {
    pub fn new(report: Arc<Report>, options: RenderOptions) -> Self {
        ReportCollector { report, options }
    }
}

/// Keeps at most `budget` series (the first in label order, so the cut is stable from
/// scrape to scrape) and counts the rest as dropped.
fn cap(series: Series, budget: &mut usize, dropped: &mut usize) -> Series {
    let keep = series.len().min(*budget);
    *budget -= keep;
    *dropped += series.len() - keep;
    series.into_iter().take(keep).collect()
}

const STATUSES: [Status; 2] = [Status::Stale, Status::AtRisk];

fn status_index(s: Status) -> usize {
    match s {
        Status::Stale => 0,
        Status::AtRisk => 1,
    }
}

/// Adds 1 to a series, allocating its label values only the first time it is seen.
fn bump(series: &mut Series, labels: &[&str]) {
    // Vec<String> borrows as [String], not [&str]: look up by an owned key only on a miss.
    let key: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
    *series.entry(key).or_default() += 1.0;
}

impl Collector for ReportCollector {
    fn desc(&self) -> Vec<&Desc> {
        // Unchecked collector: families differ from scrape to scrape.
        Vec::new()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut frame = Frame {
            report: &self.report,
            options: &self.options,
            leaks: leak_series(&self.report, self.options.max_series),
        };
        let cached = format!(
            " (from a scan of /proc reused for up to {}s)",
            self.options.min_interval_secs
        );
        FAMILIES
            .iter()
            .filter_map(|f| {
                let rows = (f.rows)(&mut frame)?;
                let help = if f.cached {
                    format!("{}{cached}.", f.help)
                } else {
                    f.help.to_string()
                };
                Some(family(f, help, rows))
            })
            .collect()
    }
}

/// What a family's rows are computed from: the report, the render options and the leak
/// series, already counted and cut to `--metrics.max-series`.
struct Frame<'a> {
    report: &'a Report,
    options: &'a RenderOptions,
    leaks: LeakSeries,
}

type Rows = Vec<(Vec<String>, f64)>;

#[derive(Clone, Copy)]
enum Type {
    Gauge,
    Counter,
}

/// One metric family: a new metric is one entry in [`FAMILIES`].
struct Spec {
    /// Without the `mountleak_` prefix.
    name: &'static str,
    help: &'static str,
    /// HELP says the value comes from a scan reused for `--scan.min-interval`.
    cached: bool,
    labels: &'static [&'static str],
    ty: Type,
    /// The family's series (taken from the frame, not copied: a leak storm's series are
    /// the largest thing a render holds); `None` leaves the family out.
    rows: fn(&mut Frame) -> Option<Rows>,
}

fn one(v: f64) -> Option<Rows> {
    Some(vec![(Vec::new(), v)])
}

const LEAK_LABELS: &[&str] = &[
    "unit",
    "pid",
    "comm",
    "runtime",
    "container_id",
    "container_name",
    "container_state",
    "kind",
    "status",
    "mountpoint",
];

/// Every family, in exposition order (the encoder sorts by name anyway).
const FAMILIES: &[Spec] = &[
    Spec {
        name: "process_leaked_mounts",
        help: "Leaked container mounts visible in this process's mount namespace; each namespace lists its lowest pids, see mountleak_holder_processes_unlisted",
        cached: true,
        labels: &["pid", "comm", "unit", "status"],
        ty: Type::Gauge,
        rows: |f| Some(std::mem::take(&mut f.leaks.process).into_iter().collect()),
    },
    Spec {
        name: "unit_leaked_mounts",
        help: "Distinct leaked container mounts held by the unit's mount namespaces",
        cached: true,
        labels: &["unit", "status"],
        ty: Type::Gauge,
        rows: |f| Some(std::mem::take(&mut f.leaks.unit).into_iter().collect()),
    },
    Spec {
        name: "container_leaked_mounts",
        help: "Foreign copies of this container's mounts held in other mount namespaces",
        cached: true,
        labels: &[
            "runtime",
            "container_id",
            "container_name",
            "container_state",
            "kind",
            "status",
        ],
        ty: Type::Gauge,
        rows: |f| Some(std::mem::take(&mut f.leaks.container).into_iter().collect()),
    },
    Spec {
        name: "volume_leaked_mounts",
        help: "Foreign copies of this named volume's mount held in other mount namespaces",
        cached: true,
        labels: &["runtime", "volume", "status"],
        ty: Type::Gauge,
        rows: |f| Some(std::mem::take(&mut f.leaks.volume).into_iter().collect()),
    },
    Spec {
        name: "pod_leaked_mounts",
        help: "Foreign copies of a Kubernetes pod's mounts (its containers' and kubelet's pod volumes) held in other mount namespaces",
        cached: true,
        labels: &["pod_namespace", "pod_name", "pod_uid", "kind", "status"],
        ty: Type::Gauge,
        rows: |f| Some(std::mem::take(&mut f.leaks.pod).into_iter().collect()),
    },
    Spec {
        name: "leak_first_seen_timestamp_seconds",
        help: "Unix time the exporter first saw this leaked mount in this holder's namespace; pid and comm are the namespace's oldest process",
        cached: true,
        labels: LEAK_LABELS,
        ty: Type::Gauge,
        rows: |f| Some(std::mem::take(&mut f.leaks.first_seen)),
    },
    Spec {
        name: "holder_processes_unlisted",
        help: "Processes in namespaces holding leaks without a mountleak_process_leaked_mounts series: beyond --scan.max-processes-per-namespace (each namespace lists its lowest pids) or gone while being read",
        cached: true,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| {
            let ns = &f.report.namespaces;
            one(ns
                .iter()
                .map(|n| n.holder.process_count.saturating_sub(n.processes.len()))
                .sum::<usize>() as f64)
        },
    },
    Spec {
        name: "propagated_mount_copies",
        help: "Foreign copies of container mounts tied to the daemon's by propagation; they heal themselves and are not leaks",
        cached: true,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(f.report.scan.propagated_copies as f64),
    },
    Spec {
        name: "unverified_mount_copies",
        help: "Copies at container-shaped paths that no runtime made: neither their device was seen in a reference namespace nor does a runtime know their owner, and their namespace was made inside a user namespace (unshare -Urm); not leaks",
        cached: true,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(f.report.scan.unverified_copies as f64),
    },
    Spec {
        name: "series_dropped",
        help: "Leak series left out of this scrape because of --metrics.max-series.",
        cached: false,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(f.leaks.dropped as f64),
    },
    Spec {
        name: "scan_duration_seconds",
        help: "Duration of the last scan of /proc.",
        cached: false,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(f.report.scan.duration_seconds),
    },
    Spec {
        name: "scan_success",
        help: "Whether the last scan could read the process table (1) or not (0).",
        cached: false,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(b(f.report.scan.success)),
    },
    Spec {
        name: "last_scan_timestamp_seconds",
        help: "Unix time of the last scan of /proc.",
        cached: false,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(f.report.scan.timestamp),
    },
    Spec {
        name: "processes_scanned",
        help: "Processes looked at by the last scan.",
        cached: false,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(f.report.scan.processes_scanned as f64),
    },
    Spec {
        name: "mount_namespaces_scanned",
        help: "Distinct mount namespaces the last scan covered: each one's table read once, or remembered unchanged since the scan before.",
        cached: false,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(f.report.scan.mount_namespaces_scanned as f64),
    },
    Spec {
        name: "scan_namespaces_reread",
        help: "Of the mount namespaces the last scan covered, those whose mount table it read (the others had not changed, or by a few mounts read one by one).",
        cached: false,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(f.report.scan.namespaces_reread as f64),
    },
    Spec {
        name: "scan_mode",
        help: "Always 1: how scans choose which mount tables to read (listmount: only those whose mount ids or tied mounts changed; full: every table, every scan).",
        cached: false,
        labels: &["mode"],
        ty: Type::Gauge,
        rows: |f| {
            Some(vec![(
                vec![f.report.scan.scan_mode.as_str().to_string()],
                1.0,
            )])
        },
    },
    Spec {
        name: "scan_errors",
        help: "What the last scan could not see, by reason: processes that vanished, permission denied, unparsable mountinfo lines naming a container path, other.",
        cached: false,
        labels: &["reason"],
        ty: Type::Gauge,
        rows: |f| {
            let by_reason = f.report.scan.errors.by_reason();
            Some(
                by_reason
                    .iter()
                    .map(|(r, n)| (vec![r.to_string()], *n as f64))
                    .collect(),
            )
        },
    },
    Spec {
        name: "docker_up",
        help: "Whether the last call to the Docker Engine API succeeded (1) or not (0). Same as mountleak_runtime_up{runtime=\"docker\"}.",
        cached: false,
        labels: &[],
        ty: Type::Gauge,
        // Only with Docker enabled: a Podman-only host must not look like a Docker outage.
        rows: |f| {
            let s = &f.report.scan;
            s.runtimes
                .contains_key(&RuntimeKind::Docker)
                .then(|| vec![(Vec::new(), b(s.docker_up))])
        },
    },
    Spec {
        name: "runtime_up",
        help: "Whether the last call to this enabled container runtime's API succeeded (1) or not (0).",
        cached: false,
        labels: &["runtime"],
        ty: Type::Gauge,
        rows: |f| {
            let up = &f.report.scan.runtimes;
            Some(
                up.iter()
                    .map(|(r, ok)| (vec![r.as_str().to_string()], b(*ok)))
                    .collect(),
            )
        },
    },
    Spec {
        name: "http_connections_rejected_total",
        help: "Connections the HTTP server closed at accept because --web.max-connections were open.",
        cached: false,
        labels: &[],
        ty: Type::Counter,
        rows: |f| one(f.options.connections_rejected as f64),
    },
    Spec {
        name: "build_info",
        help: "A metric with a constant '1' value labeled by version, revision and rustc version.",
        cached: false,
        labels: &["version", "revision", "rustversion"],
        ty: Type::Gauge,
        rows: |_| {
            let labels = [
                env!("CARGO_PKG_VERSION"),
                option_env!("MOUNTLEAK_REVISION").unwrap_or("unknown"),
                option_env!("MOUNTLEAK_RUSTC_VERSION").unwrap_or("unknown"),
            ];
            Some(vec![(labels.map(str::to_string).to_vec(), 1.0)])
        },
    },
];

/// The leak families' series, counted from the report and cut to the series budget.
struct LeakSeries {
    process: Series,
    unit: Series,
    container: Series,
    volume: Series,
    pod: Series,
    first_seen: Rows,
    dropped: usize,
}

fn leak_series(r: &Report, max_series: usize) -> LeakSeries {
    let (process, unit) = holder_counts(r);
    let (container, volume, pod) = owner_counts(r);
    // Aggregates first: they stay useful when the per-process detail is cut.
    let mut budget = max_series;
    let mut dropped = 0;
    let unit = cap(unit, &mut budget, &mut dropped);
    let container = cap(container, &mut budget, &mut dropped);
    let volume = cap(volume, &mut budget, &mut dropped);
    let pod = cap(pod, &mut budget, &mut dropped);
    let first_seen = first_seen::first_seen_series(r, &mut budget, &mut dropped);
    let process = cap(process, &mut budget, &mut dropped);
    LeakSeries {
        process,
        unit,
        container,
        volume,
        pod,
        first_seen,
        dropped,
    }
}

/// Per-process and per-unit counts, from per-namespace counts: a leak storm of K
/// namespaces x M mounts costs K x processes here, not K x M x processes.
fn holder_counts(r: &Report) -> (Series, Series) {
    let (mut process, mut unit) = (Series::new(), Series::new());
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    let mut per_ns = vec![[0u32; 2]; r.namespaces.len()];
    for l in &r.leaks {
        per_ns[l.namespace as usize][status_index(l.status)] += 1;
    }
    for (ns, counts) in r.namespaces.iter().zip(&per_ns) {
        let mut units: Vec<String> = ns.processes.iter().map(|p| opt(&p.unit)).collect();
        units.sort();
        units.dedup();
        for (status, &n) in STATUSES.iter().zip(counts) {
            if n == 0 {
                continue;
            }
            let status = status.as_str().to_string();
            for p in ns.processes.iter() {
                let key = vec![
                    p.pid.to_string(),
                    p.comm.clone(),
                    opt(&p.unit),
                    status.clone(),
                ];
                *process.entry(key).or_default() += n as f64;
            }
            // Each leak is one (namespace, mount): a unit counts it once, however many of
            // its processes share the namespace.
            for u in &units {
                *unit.entry(vec![u.clone(), status.clone()]).or_default() += n as f64;
            }
        }
    }
    (process, unit)
}

/// Per-container, per-volume and per-pod counts of foreign copies.
fn owner_counts(r: &Report) -> (Series, Series, Series) {
    let (mut container, mut volume, mut pod) = (Series::new(), Series::new(), Series::new());
    for l in &r.leaks {
        let status = l.status.as_str();
        let (cid, cname, cstate) = first_seen::container_labels(l);
        let runtime = l.runtime().map(|r| r.as_str()).unwrap_or("");
        let kind = l.kind().as_str();
        bump(&mut container, &[runtime, cid, cname, cstate, kind, status]);
        if let Some(p) = l.pod() {
            bump(&mut pod, &[&p.namespace, &p.name, &p.uid, kind, status]);
        }
        if let Some(v) = l.volume() {
            bump(&mut volume, &[runtime, v, status]);
        }
    }
    (container, volume, pod)
}

/// Renders the report in the Prometheus text format (version 0.0.4).
pub fn render(report: Arc<Report>, options: RenderOptions) -> crate::Result<String> {
    let registry = Registry::new();
    registry.register(Box::new(ReportCollector::new(report, options)))?;
    let mut buf = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut buf)?;
    // The body is cached until the next scan: without the doubling vector's slack.
    buf.shrink_to_fit();
    Ok(String::from_utf8(buf).expect("text encoder writes UTF-8"))
}

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ScanSummary;

    fn render_with(runtimes: &[(RuntimeKind, bool)]) -> String {
        let report = Report {
            scan: ScanSummary {
                success: true,
                docker_up: runtimes.contains(&(RuntimeKind::Docker, true)),
                runtimes: runtimes.iter().copied().collect(),
                ..Default::default()
            },
            ..Default::default()
        };
        render(Arc::new(report), RenderOptions::default()).unwrap()
    }

    #[test]
    fn one_up_series_per_enabled_runtime_and_docker_up_only_with_docker() {
        let podman_only = render_with(&[(RuntimeKind::Podman, true)]);
        assert!(podman_only.contains("mountleak_runtime_up{runtime=\"podman\"} 1\n"));
        assert!(!podman_only.contains("runtime=\"docker\""));
        assert!(
            !podman_only.contains("mountleak_docker_up"),
            "a Podman-only host is not a Docker outage"
        );
        let both = render_with(&[(RuntimeKind::Docker, false), (RuntimeKind::Podman, true)]);
        assert!(both.contains("mountleak_runtime_up{runtime=\"docker\"} 0\n"));
        assert!(both.contains("mountleak_runtime_up{runtime=\"podman\"} 1\n"));
        assert!(both.contains("mountleak_docker_up 0\n"));
    }

    #[test]
    fn pod_series_count_a_pods_leaks_by_kind() {
        use crate::classify::Leak;
        use crate::classify::MountOwner;
        use crate::classify::Status;
        use crate::host::MountTarget;
        use crate::layout::Kind;
        use crate::layout::{ContainerPath, PathId};
        use crate::report::{Holder, NamespaceReport};
        use crate::runtime::PodRef;
        let leak = |kind: Kind, uid: &str, name: &str| Leak {
            namespace: 0,
            mount_id: 1,
            target: Arc::new(MountTarget {
                major: 0,
                minor: 1,
                root: "/".into(),
                mount_point: format!("/x/{uid}/{kind:?}"),
                fs_type: "tmpfs".into(),
                source: "tmpfs".into(),
                path: ContainerPath {
                    kind,
                    id: PathId::Container("x".into()),
                    canonical: format!("/x/{uid}/{kind:?}"),
                    runtime: Some(RuntimeKind::Containerd),
                },
            }),
            status: Status::Stale,
            owner: Arc::new(MountOwner {
                container: None,
                volume: (kind == Kind::Volume).then(|| "kubernetes.io~secret/token".into()),
                runtime: Some(RuntimeKind::Containerd),
                known: false,
                pod: Some(PodRef {
                    uid: uid.into(),
                    name: name.into(),
                    namespace: if name.is_empty() { "" } else { "shop" }.into(),
                }),
            }),
            first_seen: 1,
        };
        let report = Report {
            scan: Default::default(),
            namespaces: vec![NamespaceReport {
                inode: 1,
                device: 4,
                root: "/".into(),
                holder: Holder {
                    pid: 500,
                    comm: "fluentd".into(),
                    unit: Some("fluentd.service".into()),
                    container_id: None,
                    container_engine: None,
                    process_count: 1,
                },
                leaked_mounts: 3,
                processes: Arc::from([]),
            }],
            leaks: vec![
                leak(Kind::Volume, "u1", "web-7d9f"),
                leak(Kind::Shm, "u1", "web-7d9f"),
                leak(Kind::Volume, "u2", ""),
            ],
        };
        let body = render(Arc::new(report), RenderOptions::default()).unwrap();
        for want in [
            r#"mountleak_pod_leaked_mounts{kind="volume",pod_name="web-7d9f",pod_namespace="shop",pod_uid="u1",status="stale"} 1"#,
            r#"mountleak_pod_leaked_mounts{kind="shm",pod_name="web-7d9f",pod_namespace="shop",pod_uid="u1",status="stale"} 1"#,
            r#"mountleak_pod_leaked_mounts{kind="volume",pod_name="",pod_namespace="",pod_uid="u2",status="stale"} 1"#,
            r#"mountleak_volume_leaked_mounts{runtime="containerd",status="stale",volume="kubernetes.io~secret/token"} 2"#,
        ] {
            assert!(body.contains(want), "no {want} in\n{body}");
        }
    }
}
