//! Renders a [`Report`] as Prometheus metrics: fresh families from every report, so series
//! vanish with the leak they describe; the text of the families drawn from the leaks' owners
//! is reused while a report's leaks and holders are the last one's ([`LeakText`]).

mod first_seen;
pub mod openmetrics;
pub mod process;

use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus::proto::MetricFamily;
use prometheus::proto::{self, LabelPair, MetricType};
use prometheus::{Encoder, TextEncoder};

use crate::classify::Status;
use crate::report::Report;
use crate::runtime::RuntimeKind;

pub const NAMESPACE: &str = "mountleak";

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

/// The text of the owner families (container, volume, pod, first seen: drawn from the leaks
/// and their holders, and the bulk of a leak storm's series) from the last render, reused
/// while the reports carry the same nonzero [`Report::leaks_version`], HELP is the same and
/// so is the series budget left to them: in a steady state (nothing leaked, healed or changed
/// holder since the last scan) a render counts only the holders' processes and the scan.
#[derive(Debug, Default)]
pub struct LeakText(std::sync::Mutex<Option<OwnerText>>);

#[derive(Debug)]
struct OwnerText {
    /// The leaks version and HELP's reuse interval (as bits: f64 is not Eq).
    key: (u64, u64),
    cut: Cut,
    /// By [`FAMILIES`] index; empty for the families that are not [`Spec::reusable`].
    texts: Vec<String>,
}

/// How the owner families were cut to the series budget (see [`leak_series`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Cut {
    /// The budget left to them, and after them.
    before: usize,
    after: usize,
    /// Their series left out.
    dropped: usize,
}

/// One family's text exposition, as the registry and encoder would write it: empty families
/// left out, series sorted by their label values taken in label-name order.
fn family_text(spec: &Spec, help: String, rows: Rows) -> crate::Result<String> {
    let mut fam = family(spec, help, rows);
    if fam.get_metric().is_empty() {
        return Ok(String::new());
    }
    fn values(m: &proto::Metric) -> impl Iterator<Item = &str> {
        m.get_label().iter().map(|p| p.value())
    }
    fam.mut_metric().sort_by(|a, b| values(a).cmp(values(b)));
    let mut buf = Vec::new();
    TextEncoder::new().encode(std::slice::from_ref(&fam), &mut buf)?;
    Ok(String::from_utf8(buf).expect("text encoder writes UTF-8"))
}

/// Every family's text, in [`FAMILIES`] order, and how the owner families were cut; those
/// taken from `last` when its key is `key` and it was cut the same.
fn family_texts(
    report: &Report,
    options: &RenderOptions,
    key: Option<(u64, u64)>,
    last: Option<OwnerText>,
) -> crate::Result<(Vec<String>, Cut)> {
    let mut kept = last.filter(|l| Some(l.key) == key);
    let mut frame = Frame {
        report,
        options,
        reuse: kept.as_ref().map(|k| k.cut),
        leaks: None,
    };
    let cached = format!(
        " (from a scan of /proc reused for up to {}s)",
        options.min_interval_secs
    );
    let mut texts = Vec::with_capacity(FAMILIES.len());
    for (i, f) in FAMILIES.iter().enumerate() {
        if f.reusable
            && frame.leaks().owners_reused
            && let Some(kept) = kept.as_mut()
        {
            texts.push(std::mem::take(&mut kept.texts[i]));
            continue;
        }
        let Some(rows) = (f.rows)(&mut frame) else {
            texts.push(String::new());
            continue;
        };
        let help = if f.cached {
            format!("{}{cached}.", f.help)
        } else {
            f.help.to_string()
        };
        texts.push(family_text(f, help, rows)?);
    }
    let cut = frame.leaks().owners;
    Ok((texts, cut))
}

/// What a family's rows are computed from: the report, the render options and the leak
/// series, already counted and cut to `--metrics.max-series`.
struct Frame<'a> {
    report: &'a Report,
    options: &'a RenderOptions,
    /// How the owner families' text kept from the last render was cut, if it may be reused.
    reuse: Option<Cut>,
    /// Counted on first use.
    leaks: Option<LeakSeries>,
}

impl Frame<'_> {
    fn leaks(&mut self) -> &mut LeakSeries {
        let (report, max_series, reuse) = (self.report, self.options.max_series, self.reuse);
        self.leaks
            .get_or_insert_with(|| leak_series(report, max_series, reuse))
    }
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
    /// An owner family, drawn from the leaks and their holders only (not from the scan, nor
    /// from the holders' namespaces' other processes): its text is reused while they are the
    /// same ([`LeakText`]).
    reusable: bool,
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
        reusable: false,
        labels: &["pid", "comm", "unit", "status"],
        ty: Type::Gauge,
        rows: |f| Some(std::mem::take(&mut f.leaks().process).into_iter().collect()),
    },
    Spec {
        name: "unit_leaked_mounts",
        help: "Distinct leaked container mounts held by the unit's mount namespaces",
        cached: true,
        reusable: false,
        labels: &["unit", "status"],
        ty: Type::Gauge,
        rows: |f| Some(std::mem::take(&mut f.leaks().unit).into_iter().collect()),
    },
    Spec {
        name: "container_leaked_mounts",
        help: "Foreign copies of this container's mounts held in other mount namespaces",
        cached: true,
        reusable: true,
        labels: &[
            "runtime",
            "container_id",
            "container_name",
            "container_state",
            "kind",
            "status",
        ],
        ty: Type::Gauge,
        rows: |f| {
            Some(
                std::mem::take(&mut f.leaks().container)
                    .into_iter()
                    .collect(),
            )
        },
    },
    Spec {
        name: "volume_leaked_mounts",
        help: "Foreign copies of this named volume's mount held in other mount namespaces",
        cached: true,
        reusable: true,
        labels: &["runtime", "volume", "status"],
        ty: Type::Gauge,
        rows: |f| Some(std::mem::take(&mut f.leaks().volume).into_iter().collect()),
    },
    Spec {
        name: "pod_leaked_mounts",
        help: "Foreign copies of a Kubernetes pod's mounts (its containers' and kubelet's pod volumes) held in other mount namespaces",
        cached: true,
        reusable: true,
        labels: &["pod_namespace", "pod_name", "pod_uid", "kind", "status"],
        ty: Type::Gauge,
        rows: |f| Some(std::mem::take(&mut f.leaks().pod).into_iter().collect()),
    },
    Spec {
        name: "leak_first_seen_timestamp_seconds",
        help: "Unix time the exporter first saw this leaked mount in this holder's namespace; pid and comm are the namespace's oldest process",
        cached: true,
        reusable: true,
        labels: LEAK_LABELS,
        ty: Type::Gauge,
        rows: |f| Some(std::mem::take(&mut f.leaks().first_seen)),
    },
    Spec {
        name: "holder_processes_unlisted",
        help: "Processes in namespaces holding leaks without a mountleak_process_leaked_mounts series: beyond --scan.max-processes-per-namespace (each namespace lists its lowest pids) or gone while being read",
        cached: true,
        reusable: false,
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
        reusable: false,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(f.report.scan.propagated_copies as f64),
    },
    Spec {
        name: "unverified_mount_copies",
        help: "Copies at container-shaped paths that no runtime made: neither their device was seen in a reference namespace nor does a runtime know their owner, and their namespace was made inside a user namespace (unshare -Urm); not leaks",
        cached: true,
        reusable: false,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(f.report.scan.unverified_copies as f64),
    },
    Spec {
        name: "series_dropped",
        help: "Leak series left out of this scrape because of --metrics.max-series.",
        cached: false,
        reusable: false,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(f.leaks().dropped as f64),
    },
    Spec {
        name: "scan_duration_seconds",
        help: "Duration of the last scan of /proc.",
        cached: false,
        reusable: false,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(f.report.scan.duration_seconds),
    },
    Spec {
        name: "scan_success",
        help: "Whether the last scan could read the process table (1) or not (0).",
        cached: false,
        reusable: false,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(b(f.report.scan.success)),
    },
    Spec {
        name: "last_scan_timestamp_seconds",
        help: "Unix time of the last scan of /proc.",
        cached: false,
        reusable: false,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(f.report.scan.timestamp),
    },
    Spec {
        name: "processes_scanned",
        help: "Processes looked at by the last scan.",
        cached: false,
        reusable: false,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(f.report.scan.processes_scanned as f64),
    },
    Spec {
        name: "mount_namespaces_scanned",
        help: "Distinct mount namespaces the last scan covered: each one's table read once, or remembered unchanged since the scan before.",
        cached: false,
        reusable: false,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(f.report.scan.mount_namespaces_scanned as f64),
    },
    Spec {
        name: "scan_namespaces_reread",
        help: "Of the mount namespaces the last scan covered, those whose mount table it read (the others had not changed, or by a few mounts read one by one).",
        cached: false,
        reusable: false,
        labels: &[],
        ty: Type::Gauge,
        rows: |f| one(f.report.scan.namespaces_reread as f64),
    },
    Spec {
        name: "scan_mode",
        help: "Always 1: how scans choose which mount tables to read (listmount: only those whose mount ids or tied mounts changed; full: every table, every scan).",
        cached: false,
        reusable: false,
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
        reusable: false,
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
        reusable: false,
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
        reusable: false,
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
        reusable: false,
        labels: &[],
        ty: Type::Counter,
        rows: |f| one(f.options.connections_rejected as f64),
    },
    Spec {
        name: "build_info",
        help: "A metric with a constant '1' value labeled by version, revision and rustc version.",
        cached: false,
        reusable: false,
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
#[derive(Default)]
struct LeakSeries {
    process: Series,
    unit: Series,
    container: Series,
    volume: Series,
    pod: Series,
    first_seen: Rows,
    dropped: usize,
    owners: Cut,
    /// The owner families were not counted: their text is the last render's.
    owners_reused: bool,
}

/// The leak series; the owner families' only when `reuse` (how the last render cut them,
/// whose text is kept) was not cut from the same budget.
fn leak_series(r: &Report, max_series: usize, reuse: Option<Cut>) -> LeakSeries {
    let (process, unit) = holder_counts(r);
    // Aggregates first: they stay useful when the per-process detail is cut.
    let mut budget = max_series;
    let mut dropped = 0;
    let mut s = LeakSeries {
        unit: cap(unit, &mut budget, &mut dropped),
        ..LeakSeries::default()
    };
    match reuse.filter(|c| c.before == budget) {
        Some(cut) => (s.owners, s.owners_reused) = (cut, true),
        None => s.owners = owner_series(r, budget, &mut s),
    }
    budget = s.owners.after;
    dropped += s.owners.dropped;
    s.process = cap(process, &mut budget, &mut dropped);
    s.dropped = dropped;
    s
}

/// The owner families' series into `s`, cut from the budget `before`; how they were cut.
fn owner_series(r: &Report, before: usize, s: &mut LeakSeries) -> Cut {
    let (container, volume, pod) = owner_counts(r);
    let (mut budget, mut dropped) = (before, 0);
    s.container = cap(container, &mut budget, &mut dropped);
    s.volume = cap(volume, &mut budget, &mut dropped);
    s.pod = cap(pod, &mut budget, &mut dropped);
    s.first_seen = first_seen::first_seen_series(r, &mut budget, &mut dropped);
    Cut {
        before,
        after: budget,
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
    render_reusing(&report, options, &LeakText::default())
}

/// [`render`], reusing the leak families' text `last` kept from the last render when `report`
/// has the same leaks, and keeping this render's for the next; the body is the same.
pub fn render_reusing(
    report: &Report,
    options: RenderOptions,
    last: &LeakText,
) -> crate::Result<String> {
    let key = (report.leaks_version != 0)
        .then_some((report.leaks_version, options.min_interval_secs.to_bits()));
    let mut slot = last.0.lock().unwrap_or_else(|e| e.into_inner());
    let (texts, cut) = family_texts(report, &options, key, slot.take())?;
    // Families in name order, as a registry gathers them.
    let mut order: Vec<usize> = (0..FAMILIES.len()).collect();
    order.sort_by_key(|&i| FAMILIES[i].name);
    let mut body = String::with_capacity(order.iter().map(|&i| texts[i].len()).sum());
    for &i in &order {
        body.push_str(&texts[i]);
    }
    if let Some(key) = key {
        let texts = (FAMILIES.iter().zip(texts))
            .map(|(f, t)| if f.reusable { t } else { String::new() })
            .collect();
        *slot = Some(OwnerText { key, cut, texts });
    }
    Ok(body)
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

    /// A stale copy of a pod's `kind` mount (a volume's: its token secret), pod `uid`
    /// named `name` (empty: not known to the CRI).
    fn pod_leak(kind: crate::layout::Kind, uid: &str, name: &str) -> crate::classify::Leak {
        use crate::classify::{Leak, MountOwner, Status};
        use crate::host::MountTarget;
        use crate::layout::{ContainerPath, Kind, PathId};
        use crate::runtime::PodRef;
        Leak {
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
        }
    }

    /// fluentd.service (pid 500) holding `leaks`.
    fn held_by_fluentd(leaks: Vec<crate::classify::Leak>) -> Report {
        use crate::report::{Holder, NamespaceReport};
        Report {
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
                leaked_mounts: leaks.len(),
                processes: Arc::from([]),
            }],
            leaks,
            leaks_version: 0,
        }
    }

    #[test]
    fn the_owner_families_text_is_reused_only_for_the_same_leaks_and_budget() {
        use crate::layout::Kind;
        let text = LeakText::default();
        let options = RenderOptions::default();
        let fresh = |r: &Report, o| render(Arc::new(r.clone()), o).unwrap();
        let report = |version, up| {
            let mut r = held_by_fluentd(vec![pod_leak(Kind::Volume, "u1", "web-7d9f")]);
            r.leaks_version = version;
            r.scan.runtimes.insert(RuntimeKind::Docker, up);
            r
        };
        let first = report(5, true);
        assert_eq!(
            render_reusing(&first, options, &text).unwrap(),
            fresh(&first, options)
        );
        // The same leaks version, the scan's families changed: those are rendered afresh.
        let second = report(5, false);
        assert_eq!(
            render_reusing(&second, options, &text).unwrap(),
            fresh(&second, options)
        );
        // The text really is the last one's: a report that breaks the contract (same
        // version, another leak) shows the old owner families, its own process families.
        let mut liar = report(5, false);
        liar.leaks = vec![pod_leak(Kind::Shm, "u2", "db-0")];
        let reused = render_reusing(&liar, options, &text).unwrap();
        assert!(reused.contains(r#"pod_uid="u1""#) && !reused.contains(r#"pod_uid="u2""#));
        // Another version, a budget that cuts them otherwise, or version 0: afresh.
        let mut other = report(6, false);
        other.leaks = liar.leaks.clone();
        assert_eq!(
            render_reusing(&other, options, &text).unwrap(),
            fresh(&other, options)
        );
        let tight = RenderOptions {
            max_series: 2,
            ..options
        };
        assert_eq!(
            render_reusing(&other, tight, &text).unwrap(),
            fresh(&other, tight)
        );
        assert!(fresh(&other, tight).contains("mountleak_series_dropped 1\n"));
        let mut unversioned = report(0, false);
        unversioned.leaks = vec![];
        render_reusing(&unversioned, options, &text).unwrap();
        assert_eq!(
            render_reusing(&unversioned, options, &text).unwrap(),
            fresh(&unversioned, options)
        );
    }

    #[test]
    fn pod_series_count_a_pods_leaks_by_kind() {
        use crate::layout::Kind;
        let report = held_by_fluentd(vec![
            pod_leak(Kind::Volume, "u1", "web-7d9f"),
            pod_leak(Kind::Shm, "u1", "web-7d9f"),
            pod_leak(Kind::Volume, "u2", ""),
        ]);
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
