//! Renders a [`Report`] as Prometheus metrics: a Collector that builds fresh families on
//! every collect, so series vanish with the leak they describe.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::proto::{self, LabelPair, MetricType};
use prometheus::{Encoder, Gauge, Opts, Registry, TextEncoder};

use crate::classify::Status;
use crate::report::{LeakReport, Report};
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

fn gauge_vec(
    name: &str,
    help: &str,
    labels: &[&str],
    series: impl IntoIterator<Item = (Vec<String>, f64)>,
) -> Vec<MetricFamily> {
    // Built as plain protobuf values rather than through a GaugeVec: a leak storm makes
    // thousands of series per scrape, and the vector's hashing and per-child locks cost
    // more than the rest of the scrape. Label pairs sorted by name, as the crate does.
    let mut by_name: Vec<usize> = (0..labels.len()).collect();
    by_name.sort_by_key(|&i| labels[i]);
    let mut fam = MetricFamily::default();
    fam.set_name(format!("{NAMESPACE}_{name}"));
    fam.set_help(help.to_string());
    fam.set_field_type(MetricType::GAUGE);
    let metrics = series
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
            let mut g = proto::Gauge::default();
            g.set_value(v);
            let mut m = proto::Metric::default();
            m.set_label(pairs);
            m.set_gauge(g);
            m
        })
        .collect();
    fam.set_metric(metrics);
    vec![fam]
}

fn gauge(name: &str, help: &str, v: f64) -> Vec<MetricFamily> {
    let g = Gauge::with_opts(Opts::new(name, help).namespace(NAMESPACE))
        .expect("static metric definition");
    g.set(v);
    g.collect()
}

fn counter(name: &str, help: &str, v: u64) -> Vec<MetricFamily> {
    let c = prometheus::IntCounter::with_opts(Opts::new(name, help).namespace(NAMESPACE))
        .expect("static metric definition");
    c.inc_by(v);
    c.collect()
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

fn leak_labels<'a>(r: &'a Report, pids: &'a [String], l: &'a LeakReport) -> [&'a str; 10] {
    let h = r.holder(l);
    let (cid, cname, cstate) = container_labels(l);
    [
        h.unit.as_deref().unwrap_or(""),
        &pids[l.namespace as usize],
        &h.comm,
        l.runtime().map(|r| r.as_str()).unwrap_or(""),
        cid,
        cname,
        cstate,
        l.kind().as_str(),
        l.status.as_str(),
        l.mount_point(),
    ]
}

/// One series per leak, so a leak storm can make millions: instead of materialising them
/// all, order the leaks by their label values and keep the first `budget` distinct label
/// sets (the same cut `cap` makes), counting the rest as dropped. The value is the earliest
/// first-seen time of the leaks sharing a label set.
fn first_seen_series(
    r: &Report,
    budget: &mut usize,
    dropped: &mut usize,
) -> Vec<(Vec<String>, f64)> {
    let pids: Vec<String> = r
        .namespaces
        .iter()
        .map(|n| n.holder.pid.to_string())
        .collect();
    // Label values come in groups shared by many leaks (the holder's, the owner's, the
    // mount's): rank each group once, then sort the leaks by integers. Equal values get
    // equal ranks, so the order is exactly that of the label values.
    let ns_rank = dense_ranks(r.namespaces.iter().enumerate().map(|(i, n)| {
        (
            i,
            (
                n.holder.unit.as_deref().unwrap_or(""),
                pids[i].as_str(),
                n.holder.comm.as_str(),
            ),
        )
    }));
    let owner_rank = dense_ranks(r.leaks.iter().map(|l| {
        let (cid, cname, cstate) = container_labels(l);
        (
            Arc::as_ptr(&l.owner) as usize,
            (
                l.runtime().map(|r| r.as_str()).unwrap_or(""),
                cid,
                cname,
                cstate,
            ),
        )
    }));
    let target_rank = dense_ranks(
        r.leaks
            .iter()
            .map(|l| (Arc::as_ptr(&l.target) as usize, l.mount_point())),
    );
    let kind_rank = dense_ranks(r.leaks.iter().map(|l| (l.kind(), l.kind().as_str())));
    let status_rank = dense_ranks(r.leaks.iter().map(|l| (l.status, l.status.as_str())));
    // The holder's labels lead the order: sort one holder (or the few that share those
    // labels) at a time, not every leak at once (24 bytes per leak made that sort the
    // largest thing a render allocated). Leak indices grouped by namespace, counting sort.
    let mut starts = vec![0u32; r.namespaces.len() + 1];
    for l in &r.leaks {
        starts[l.namespace as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut by_ns = vec![0u32; r.leaks.len()];
    let mut fill = starts.clone();
    for (i, l) in r.leaks.iter().enumerate() {
        let ns = l.namespace as usize;
        by_ns[fill[ns] as usize] = i as u32;
        fill[ns] += 1;
    }
    drop(fill);
    let mut namespaces: Vec<usize> = (0..r.namespaces.len()).collect();
    namespaces.sort_by_key(|i| ns_rank[i]);
    // Already in label order: a Vec, not a map (comparing long label values is the cost).
    let mut out: Vec<(Vec<String>, f64)> = Vec::new();
    let mut last = None;
    let mut distinct = 0;
    let mut order: Vec<([u32; 5], u32)> = Vec::new();
    for group in namespaces.chunk_by(|a, b| ns_rank[a] == ns_rank[b]) {
        order.clear();
        for &ns in group {
            for &i in &by_ns[starts[ns] as usize..starts[ns + 1] as usize] {
                let l = &r.leaks[i as usize];
                let key = [
                    ns_rank[&(l.namespace as usize)],
                    owner_rank[&(Arc::as_ptr(&l.owner) as usize)],
                    kind_rank[&l.kind()],
                    status_rank[&l.status],
                    target_rank[&(Arc::as_ptr(&l.target) as usize)],
                ];
                order.push((key, i));
            }
        }
        order.sort_unstable();
        for &(k, i) in &order {
            let l = &r.leaks[i as usize];
            if last == Some(k) {
                if distinct <= *budget
                    && let Some((_, v)) = out.last_mut()
                {
                    *v = v.min(l.first_seen.into());
                }
                continue;
            }
            last = Some(k);
            distinct += 1;
            if distinct <= *budget {
                out.push((
                    leak_labels(r, &pids, l)
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                    l.first_seen.into(),
                ));
            }
        }
    }
    let keep = out.len();
    *budget -= keep;
    *dropped += distinct - keep;
    out
}

fn container_labels(l: &LeakReport) -> (&str, &str, &str) {
    match l.container() {
        Some(c) => (c.id.as_str(), c.name.as_str(), c.state.as_str()),
        None => Default::default(),
    }
}

/// Dense ranks of values by identity: equal values rank equal, order follows the values.
fn dense_ranks<I: Copy + Eq + std::hash::Hash, V: Ord>(
    items: impl Iterator<Item = (I, V)>,
) -> HashMap<I, u32> {
    let mut distinct: HashMap<I, V> = HashMap::new();
    for (id, v) in items {
        distinct.entry(id).or_insert(v);
    }
    let mut sorted: Vec<(V, I)> = distinct.into_iter().map(|(i, v)| (v, i)).collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut ranks = HashMap::with_capacity(sorted.len());
    let mut rank = 0;
    for (n, (v, id)) in sorted.iter().enumerate() {
        if n > 0 && sorted[n - 1].0 != *v {
            rank += 1;
        }
        ranks.insert(*id, rank);
    }
    ranks
}

impl Collector for ReportCollector {
    fn desc(&self) -> Vec<&Desc> {
        // Unchecked collector: families differ from scrape to scrape.
        Vec::new()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let r = &self.report;
        let cached = format!(
            " (from a scan of /proc reused for up to {}s)",
            self.options.min_interval_secs
        );
        let mut process = Series::new();
        let mut unit = Series::new();
        let mut container = Series::new();
        let mut volume = Series::new();
        let mut pod = Series::new();
        let opt = |s: &Option<String>| s.clone().unwrap_or_default();
        // Per-process and per-unit series come from per-namespace counts: a leak storm of
        // K namespaces x M mounts costs K x processes here, not K x M x processes.
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
                    *process
                        .entry(vec![
                            p.pid.to_string(),
                            p.comm.clone(),
                            opt(&p.unit),
                            status.clone(),
                        ])
                        .or_default() += n as f64;
                }
                // Each leak is one (namespace, mount): a unit counts it once, however many
                // of its processes share the namespace.
                for u in &units {
                    *unit.entry(vec![u.clone(), status.clone()]).or_default() += n as f64;
                }
            }
        }
        for l in &r.leaks {
            let status = l.status.as_str();
            let (cid, cname, cstate) = container_labels(l);
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

        // Aggregates first: they stay useful when the per-process detail is cut.
        let mut budget = self.options.max_series;
        let mut dropped = 0;
        let unit = cap(unit, &mut budget, &mut dropped);
        let container = cap(container, &mut budget, &mut dropped);
        let volume = cap(volume, &mut budget, &mut dropped);
        let pod = cap(pod, &mut budget, &mut dropped);
        let first_seen = first_seen_series(r, &mut budget, &mut dropped);
        let process = cap(process, &mut budget, &mut dropped);

        let s = &r.scan;
        let mut errors = Series::new();
        for (reason, n) in s.errors.by_reason() {
            errors.insert(vec![reason.to_string()], n as f64);
        }
        let mut build = Series::new();
        build.insert(
            vec![
                env!("CARGO_PKG_VERSION").to_string(),
                option_env!("MOUNTLEAK_REVISION")
                    .unwrap_or("unknown")
                    .to_string(),
                option_env!("MOUNTLEAK_RUSTC_VERSION")
                    .unwrap_or("unknown")
                    .to_string(),
            ],
            1.0,
        );

        let mut out = Vec::new();
        out.extend(gauge_vec(
            "process_leaked_mounts",
            &format!("Leaked container mounts visible in this process's mount namespace; each namespace lists its lowest pids, see mountleak_holder_processes_unlisted{cached}."),
            &["pid", "comm", "unit", "status"],
            process,
        ));
        out.extend(gauge_vec(
            "unit_leaked_mounts",
            &format!(
                "Distinct leaked container mounts held by the unit's mount namespaces{cached}."
            ),
            &["unit", "status"],
            unit,
        ));
        out.extend(gauge_vec(
            "container_leaked_mounts",
            &format!(
                "Foreign copies of this container's mounts held in other mount namespaces{cached}."
            ),
            &[
                "runtime",
                "container_id",
                "container_name",
                "container_state",
                "kind",
                "status",
            ],
            container,
        ));
        out.extend(gauge_vec(
            "volume_leaked_mounts",
            &format!("Foreign copies of this named volume's mount held in other mount namespaces{cached}."),
            &["runtime", "volume", "status"],
            volume,
        ));
        out.extend(gauge_vec(
            "pod_leaked_mounts",
            &format!("Foreign copies of a Kubernetes pod's mounts (its containers' and kubelet's pod volumes) held in other mount namespaces{cached}."),
            &["pod_namespace", "pod_name", "pod_uid", "kind", "status"],
            pod,
        ));
        out.extend(gauge_vec(
            "leak_first_seen_timestamp_seconds",
            &format!("Unix time the exporter first saw this leaked mount in this holder's namespace; pid and comm are the namespace's oldest process{cached}."),
            &["unit", "pid", "comm", "runtime", "container_id", "container_name", "container_state", "kind", "status", "mountpoint"],
            first_seen,
        ));
        let unlisted: usize = r
            .namespaces
            .iter()
            .map(|ns| ns.holder.process_count.saturating_sub(ns.processes.len()))
            .sum();
        out.extend(gauge(
            "holder_processes_unlisted",
            &format!("Processes in namespaces holding leaks without a mountleak_process_leaked_mounts series: beyond --scan.max-processes-per-namespace (each namespace lists its lowest pids) or gone while being read{cached}."),
            unlisted as f64,
        ));
        out.extend(gauge(
            "propagated_mount_copies",
            &format!("Foreign copies of container mounts tied to the daemon's by propagation; they heal themselves and are not leaks{cached}."),
            s.propagated_copies as f64,
        ));
        out.extend(gauge(
            "unverified_mount_copies",
            &format!("Copies at container-shaped paths that no runtime made: neither their device was seen in a reference namespace nor does a runtime know their owner, and their namespace was made inside a user namespace (unshare -Urm); not leaks{cached}."),
            s.unverified_copies as f64,
        ));
        out.extend(gauge(
            "series_dropped",
            "Leak series left out of this scrape because of --metrics.max-series.",
            dropped as f64,
        ));
        out.extend(gauge(
            "scan_duration_seconds",
            "Duration of the last scan of /proc.",
            s.duration_seconds,
        ));
        out.extend(gauge(
            "scan_success",
            "Whether the last scan could read the process table (1) or not (0).",
            b(s.success),
        ));
        out.extend(gauge(
            "last_scan_timestamp_seconds",
            "Unix time of the last scan of /proc.",
            s.timestamp,
        ));
        out.extend(gauge(
            "processes_scanned",
            "Processes looked at by the last scan.",
            s.processes_scanned as f64,
        ));
        out.extend(gauge(
            "mount_namespaces_scanned",
            "Distinct mount namespaces whose mount table the last scan read (once each).",
            s.mount_namespaces_scanned as f64,
        ));
        out.extend(gauge_vec(
            "scan_errors",
            "What the last scan could not see, by reason: processes that vanished, permission denied, unparsable mountinfo lines naming a container path, other.",
            &["reason"],
            errors,
        ));
        // Only with Docker enabled: a Podman-only host must not look like a Docker outage.
        if s.runtimes.contains_key(&RuntimeKind::Docker) {
            out.extend(gauge(
                "docker_up",
                "Whether the last call to the Docker Engine API succeeded (1) or not (0). Same as mountleak_runtime_up{runtime=\"docker\"}.",
                b(s.docker_up),
            ));
        }
        let mut up = Series::new();
        for (r, ok) in &s.runtimes {
            up.insert(vec![r.as_str().to_string()], b(*ok));
        }
        out.extend(gauge_vec(
            "runtime_up",
            "Whether the last call to this enabled container runtime's API succeeded (1) or not (0).",
            &["runtime"],
            up,
        ));
        out.extend(counter(
            "http_connections_rejected_total",
            "Connections the HTTP server closed at accept because --web.max-connections were open.",
            self.options.connections_rejected,
        ));
        out.extend(gauge_vec(
            "build_info",
            "A metric with a constant '1' value labeled by version, revision and rustc version.",
            &["version", "revision", "rustversion"],
            build,
        ));
        out
    }
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
        use crate::classify::MountOwner;
        use crate::classify::Status;
        use crate::host::MountTarget;
        use crate::layout::Kind;
        use crate::layout::{ContainerPath, Owner};
        use crate::report::{Holder, LeakReport, NamespaceReport};
        use crate::runtime::PodRef;
        let leak = |kind: Kind, uid: &str, name: &str| LeakReport {
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
                    owner: Owner::Container("x".into()),
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

    #[test]
    fn first_seen_series_are_the_first_label_sets_in_label_order_whatever_the_budget() {
        use crate::classify::{ContainerRef, MountOwner, Status};
        use crate::host::MountTarget;
        use crate::layout::{ContainerPath, Kind, Owner};
        use crate::report::{Holder, LeakReport, NamespaceReport};
        use std::collections::BTreeMap;
        let targets: Vec<Arc<MountTarget>> = (0..5)
            .map(|i| {
                let kind = [Kind::Shm, Kind::Rootfs][i % 2];
                Arc::new(MountTarget {
                    major: 0,
                    minor: i as u32,
                    root: "/".into(),
                    mount_point: format!("/var/lib/docker/m{}", 4 - i),
                    fs_type: "tmpfs".into(),
                    source: "tmpfs".into(),
                    path: ContainerPath {
                        kind,
                        owner: Owner::Container(format!("c{}", i % 3)),
                        canonical: format!("/var/lib/docker/m{}", 4 - i),
                        runtime: Some(RuntimeKind::Docker),
                    },
                })
            })
            .collect();
        let owners: Vec<Arc<MountOwner>> = (0..3)
            .map(|i| {
                Arc::new(MountOwner {
                    container: (i != 1).then(|| ContainerRef {
                        id: format!("c{i}"),
                        name: ["web", "", "db"][i].into(),
                        state: "exited".into(),
                        runtime: RuntimeKind::Docker,
                    }),
                    volume: None,
                    pod: None,
                    runtime: Some(RuntimeKind::Docker),
                    known: false,
                })
            })
            .collect();
        let ns = |pid: u32, unit: &str| NamespaceReport {
            inode: pid as u64,
            device: 4,
            root: "/".into(),
            holder: Holder {
                pid,
                comm: "sh".into(),
                unit: Some(unit.into()),
                container_id: None,
                container_engine: None,
                process_count: 1,
            },
            leaked_mounts: 0,
            processes: Arc::from([]),
        };
        // Namespaces 1 and 3 carry the same holder labels: their leaks make one set each.
        let namespaces = vec![
            ns(30, "b.service"),
            ns(20, "a.service"),
            ns(40, "c.service"),
            ns(20, "a.service"),
        ];
        let mut leaks = Vec::new();
        for n in 0..60usize {
            leaks.push(LeakReport {
                // Interleaved, not grouped by namespace.
                namespace: ((n * 7) % 4) as u32,
                mount_id: n as u32,
                target: targets[(n * 3) % 5].clone(),
                status: [Status::Stale, Status::AtRisk][(n / 5) % 2],
                owner: owners[(n * 5) % 3].clone(),
                first_seen: 1000 - n as u32,
            });
        }
        let report = Report {
            scan: Default::default(),
            namespaces,
            leaks,
        };
        let pids: Vec<String> = report
            .namespaces
            .iter()
            .map(|n| n.holder.pid.to_string())
            .collect();
        let mut naive: BTreeMap<Vec<String>, f64> = BTreeMap::new();
        for l in &report.leaks {
            let labels = leak_labels(&report, &pids, l)
                .iter()
                .map(|s| s.to_string())
                .collect();
            let v = naive.entry(labels).or_insert(f64::INFINITY);
            *v = v.min(l.first_seen.into());
        }
        for budget in [0, 1, 7, naive.len() - 1, naive.len(), naive.len() + 5] {
            let (mut left, mut dropped) = (budget, 0);
            let got = first_seen_series(&report, &mut left, &mut dropped);
            let want: Vec<(Vec<String>, f64)> = naive
                .iter()
                .take(budget)
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            assert_eq!(got, want, "budget {budget}");
            assert_eq!(
                dropped,
                naive.len().saturating_sub(budget),
                "budget {budget}"
            );
            assert_eq!(left, budget - want.len());
        }
    }
}
