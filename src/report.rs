//! Pure: turns classified leaks into what people read (JSON, text, HTML) and what
//! metrics are rendered from, with first-seen times remembered across scans.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use std::sync::Arc;

use crate::classify::{Classified, ContainerRef, Leak, Status};
use crate::host::cgroup::is_unit_name;
use crate::host::{ContainerEngine, NamespaceKey, ProcessInfo, ScanErrors, ScanMode};
use crate::layout::Kind;
use crate::quote;
use crate::runtime::{PodRef, RuntimeKind};

#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanSummary {
    /// Unix time of the scan.
    pub timestamp: f64,
    pub duration_seconds: f64,
    pub success: bool,
    /// Why the scan failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub processes_scanned: u64,
    pub mount_namespaces_scanned: u64,
    /// Of those, the ones whose table was read (the others had not changed since the last
    /// scan: `host::Tables`).
    pub namespaces_reread: u64,
    /// How the scan chose which tables to read.
    pub scan_mode: ScanMode,
    pub errors: ScanErrors,
    /// Docker's up (false when Docker is not enabled), kept for compatibility.
    pub docker_up: bool,
    /// Each enabled runtime: whether its last API call succeeded.
    pub runtimes: BTreeMap<RuntimeKind, bool>,
    pub propagated_copies: u64,
    /// Copies nothing vouches for (`classify::verified`): not leaks.
    pub unverified_copies: u64,
}

/// A namespace holding leaks, reported once however many leaks it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespaceReport {
    pub inode: u64,
    pub device: u64,
    pub root: String,
    /// The namespace's oldest process: what metrics, the fix and the text report name.
    pub holder: Holder,
    pub leaked_mounts: usize,
    pub processes: Arc<[ProcessInfo]>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    pub pid: u32,
    pub comm: String,
    pub unit: Option<String>,
    /// Set when the holder is itself a container.
    pub container_id: Option<String>,
    /// Who runs that container.
    pub container_engine: Option<ContainerEngine>,
    pub process_count: usize,
}

// A report's leaks are the classifier's own values (an index into [`Report::namespaces`]
// and shared parts), their first-seen time filled in; not copied into another type: a leak
// storm (K holders x M mounts) holds K x M of them.
impl Leak {
    pub fn mount_point(&self) -> &str {
        &self.target.mount_point
    }
    pub fn kind(&self) -> Kind {
        self.target.path.kind
    }
    pub fn container(&self) -> Option<&ContainerRef> {
        self.owner.container.as_ref()
    }
    pub fn volume(&self) -> Option<&str> {
        self.owner.volume.as_deref()
    }
    pub fn runtime(&self) -> Option<RuntimeKind> {
        self.owner.runtime
    }
    pub fn pod(&self) -> Option<&PodRef> {
        self.owner.pod.as_ref()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub scan: ScanSummary,
    /// The namespaces holding leaks, in pid order.
    pub namespaces: Vec<NamespaceReport>,
    /// Ordered by namespace, then path.
    pub leaks: Vec<Leak>,
    /// Names what `leaks` and the namespaces' holders are: two reports with the same nonzero
    /// version have the same ones (the namespaces' other processes may differ), so the
    /// series drawn from them render the same (see [`LeakContent`]). 0: compared with no
    /// other report.
    pub leaks_version: u64,
}

impl Report {
    pub fn holder(&self, leak: &Leak) -> &Holder {
        &self.namespaces[leak.namespace as usize].holder
    }

    /// The command that frees this copy by restarting (or unmounting in) its holder.
    pub fn fix(&self, leak: &Leak) -> String {
        fix(self.holder(leak), leak.mount_point())
    }

    /// The command that frees this copy and leaves its holder running: offered before
    /// [`Report::fix`].
    pub fn release(&self, leak: &Leak) -> String {
        release(self.holder(leak).pid, Some(leak.mount_point()), leak.status)
    }
}

/// `mountleak_exporter release` for the holder `pid` (and one mount point, if given), which
/// detaches the copies inside the holder's namespace (src/release.rs). Safe to paste like
/// [`fix`]: the pid is a number, the path one shell word ([`quote::shell_path`]).
pub fn release(pid: u32, mount_point: Option<&str>, status: Status) -> String {
    let mut out = format!("mountleak_exporter release --holder {pid}");
    if let Some(mp) = mount_point {
        out.push_str(" --mount ");
        out.push_str(&quote::shell_path(mp));
    }
    if status == Status::AtRisk {
        out.push_str(" --include-at-risk");
    }
    out.push_str(" --yes");
    out
}

/// The JSON shape of a leak (docs/interfaces.md): the namespace by identity, its processes
/// listed once under `namespaces`.
#[derive(Serialize)]
struct LeakJson<'a> {
    mount_point: &'a str,
    fs_type: &'a str,
    source: &'a str,
    device: String,
    mount_id: u32,
    kind: Kind,
    status: Status,
    container: Option<&'a ContainerRef>,
    volume: Option<&'a str>,
    runtime: Option<RuntimeKind>,
    pod: Option<&'a PodRef>,
    namespace: NamespaceId<'a>,
    holder: &'a Holder,
    first_seen: f64,
    release: String,
    fix: String,
}

#[derive(Serialize)]
struct NamespaceId<'a> {
    inode: u64,
    device: u64,
    root: &'a str,
}

impl Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeSeq, SerializeStruct};
        struct Leaks<'a>(&'a Report);
        impl Serialize for Leaks<'_> {
            fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
                let r = self.0;
                let mut seq = ser.serialize_seq(Some(r.leaks.len()))?;
                for l in &r.leaks {
                    let ns = &r.namespaces[l.namespace as usize];
                    let t = &l.target;
                    seq.serialize_element(&LeakJson {
                        mount_point: &t.mount_point,
                        fs_type: &t.fs_type,
                        source: &t.source,
                        device: t.device(),
                        mount_id: l.mount_id,
                        kind: t.path.kind,
                        status: l.status,
                        container: l.container(),
                        volume: l.volume(),
                        runtime: l.runtime(),
                        pod: l.pod(),
                        namespace: NamespaceId {
                            inode: ns.inode,
                            device: ns.device,
                            root: &ns.root,
                        },
                        holder: &ns.holder,
                        first_seen: l.first_seen.into(),
                        release: r.release(l),
                        fix: r.fix(l),
                    })?;
                }
                seq.end()
            }
        }
        let mut st = ser.serialize_struct("Report", 3)?;
        st.serialize_field("scan", &self.scan)?;
        st.serialize_field("namespaces", &self.namespaces)?;
        st.serialize_field("leaks", &Leaks(self))?;
        st.end()
    }
}

/// The last report's leaks and holders, to tell whether the next one's are the same and
/// give it the same [`Report::leaks_version`]. A copy costs 32 bytes a leak (what they point
/// to is shared), so none is kept above `MAX_COMPARED`: a leak storm's reports all get 0.
#[derive(Debug, Default)]
pub struct LeakContent {
    version: u64,
    leaks: Vec<Leak>,
    holders: Vec<Holder>,
}

impl LeakContent {
    /// As many as the incremental scan remembers copies: above it, nothing is reused anyway.
    pub const MAX_COMPARED: usize = crate::host::MAX_REMEMBERED_COPIES;

    /// `report`'s version: the last one's if it holds the same leaks and holders, else a new
    /// one (unique in the process), or 0 above [`Self::MAX_COMPARED`] leaks. Comparing is
    /// cheap when nothing changed: equal `Arc`s compare by address first.
    pub fn version_of(&mut self, report: &Report) -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let holders = report.namespaces.iter().map(|n| &n.holder);
        if self.version != 0 && self.leaks == report.leaks && self.holders.iter().eq(holders) {
            return self.version;
        }
        *self = LeakContent::default();
        if report.leaks.len() <= Self::MAX_COMPARED {
            *self = LeakContent {
                version: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                leaks: report.leaks.clone(),
                holders: report.namespaces.iter().map(|n| n.holder.clone()).collect(),
            };
        }
        self.version
    }
}

/// Remembers when each copy (namespace + mount id) was first seen; forgets copies that are gone.
/// Per namespace, (mount id, whole Unix seconds) sorted by id: 8 bytes a copy, for leak storms.
#[derive(Debug, Default)]
pub struct FirstSeen(HashMap<NamespaceKey, Vec<(u32, u32)>>);

impl FirstSeen {
    /// Sets each leak's `first_seen`, one namespace at a time (the classifier keeps a
    /// holder's leaks together): each old list is freed as its replacement is made, so a
    /// leak storm's history is not held twice.
    fn update(&mut self, classified: &mut Classified, now: f64) {
        let now = now as u32;
        let mut next: HashMap<NamespaceKey, Vec<(u32, u32)>> =
            HashMap::with_capacity(classified.holders.len());
        for chunk in classified
            .leaks
            .chunk_by_mut(|a, b| a.namespace == b.namespace)
        {
            let key = &classified.holders[chunk[0].namespace as usize].key;
            let old = self.0.remove(key).unwrap_or_default();
            debug_assert!(!next.contains_key(key), "a holder's leaks are contiguous");
            let mut new = Vec::with_capacity(chunk.len());
            for l in chunk {
                let t = old
                    .binary_search_by_key(&l.mount_id, |e| e.0)
                    .map_or(now, |i| old[i].1);
                new.push((l.mount_id, t));
                l.first_seen = t;
            }
            new.sort_unstable_by_key(|e| e.0);
            next.insert(key.clone(), new);
        }
        self.0 = next;
    }
}

/// The command that frees the copy: restart what owns the namespace, or unmount inside it.
/// Safe to paste as root whatever the names in it: every value is one shell word
/// ([`quote`]), and `systemctl` is named only for a service of the system's manager (a
/// user manager's unit is `user@<uid>.service/<unit>`, see `host::cgroup::place_from_path`).
pub fn fix(holder: &Holder, mount_point: &str) -> String {
    if let Some(id) = &holder.container_id {
        // Restarting the container gives it a fresh mount namespace.
        return holder
            .container_engine
            .unwrap_or(ContainerEngine::Docker)
            .restart_command(id);
    }
    match &holder.unit {
        // A scope (login session, transient unit) cannot be restarted.
        Some(unit) if unit.ends_with(".service") && is_unit_name(unit) => {
            format!("systemctl restart {}", quote::shell(unit))
        }
        _ => format!(
            "nsenter -t {} -m umount -l {}",
            holder.pid,
            quote::shell_path(mount_point)
        ),
    }
}

pub fn build(
    mut scan: ScanSummary,
    mut classified: Classified,
    first_seen: &mut FirstSeen,
) -> Report {
    scan.propagated_copies = classified.propagated;
    scan.unverified_copies = classified.unverified;
    first_seen.update(&mut classified, scan.timestamp);
    let mut counts = vec![0; classified.holders.len()];
    for l in &classified.leaks {
        counts[l.namespace as usize] += 1;
    }
    let namespaces = classified
        .holders
        .into_iter()
        .zip(counts)
        .map(|(h, leaked_mounts)| {
            // The oldest process names the holder: the one that made the namespace (a
            // unit's main process), not a short-lived child or an `nsenter` visitor whose
            // pid, after the pid counter wrapped, may be lower. Lowest pid on a tie.
            let lead = h
                .processes
                .iter()
                .min_by_key(|p| (p.start_time.unwrap_or(u64::MAX), p.pid));
            NamespaceReport {
                inode: h.key.inode,
                device: h.key.device,
                root: h.key.root,
                holder: Holder {
                    pid: lead.map_or(0, |p| p.pid),
                    comm: lead.map(|p| p.comm.clone()).unwrap_or_default(),
                    unit: lead.and_then(|p| p.unit.clone()),
                    container_id: lead.and_then(|p| p.container_id.clone()),
                    container_engine: lead.and_then(|p| p.container_engine),
                    process_count: h.process_count,
                },
                leaked_mounts,
                processes: h.processes,
            }
        })
        .collect();
    let leaks = classified.leaks;
    Report {
        scan,
        namespaces,
        leaks,
        leaks_version: 0,
    }
}

/// Human-readable report grouped by unit, for `mountleak_exporter scan`.
pub fn render_text(report: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let s = &report.scan;
    if !s.success {
        let _ = writeln!(
            out,
            "scan failed: {}",
            quote::terminal(s.error.as_deref().unwrap_or("unknown error"))
        );
        return out;
    }
    if report.leaks.is_empty() {
        let _ = writeln!(out, "no leaked container mounts");
    }
    // One paragraph per holding namespace, one line per container (or volume) in it, the
    // way an operator asks: who pins what.
    for (n, ns) in report.namespaces.iter().enumerate() {
        let h = &ns.holder;
        // Every name here is someone's choice: none may move the cursor or start a line.
        let t = quote::terminal;
        let who = format!(
            "{} (pid {}, {}, {} processes)",
            t(h.unit.as_deref().unwrap_or("(no unit)")),
            h.pid,
            t(&h.comm),
            h.process_count
        );
        let mine = report.leaks.iter().filter(|l| l.namespace as usize == n);
        let mut owners: Vec<(String, Vec<&Leak>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for l in mine {
            let owner = owner_label(l);
            match index.get(&owner) {
                Some(&i) => owners[i].1.push(l),
                None => {
                    index.insert(owner.clone(), owners.len());
                    owners.push((owner, vec![l]));
                }
            }
        }
        for (owner, ls) in &owners {
            let n = ls.len();
            let _ = writeln!(
                out,
                "{who} holds {n} mount{} of {}",
                if n == 1 { "" } else { "s" },
                t(owner)
            );
            for l in ls {
                let _ = writeln!(
                    out,
                    "  {:<7} {:<6} {}",
                    l.status.as_str(),
                    l.kind().as_str(),
                    t(l.mount_point())
                );
            }
        }
        if let Some((_, ls)) = owners.first() {
            // Every stale copy of the namespace; at_risk ones only when there is no other.
            let all_at_risk = owners
                .iter()
                .flat_map(|o| &o.1)
                .all(|l| l.status == Status::AtRisk);
            let status = if all_at_risk {
                Status::AtRisk
            } else {
                Status::Stale
            };
            let _ = writeln!(out, "  release: {}", release(h.pid, None, status));
            let _ = writeln!(out, "  fix: {}", t(&report.fix(ls[0])));
        }
    }
    let e = &s.errors;
    let runtimes: Vec<String> = s
        .runtimes
        .iter()
        .map(|(r, up)| format!("{} {}", r.as_str(), if *up { "up" } else { "unreachable" }))
        .collect();
    let _ = writeln!(
        out,
        "scanned {} processes in {} mount namespaces in {:.3}s; not seen: {} vanished, {} permission denied, {} unparsable lines, {} other; {}",
        s.processes_scanned,
        s.mount_namespaces_scanned,
        s.duration_seconds,
        e.vanished,
        e.permission_denied,
        e.parse,
        e.other,
        if runtimes.is_empty() {
            "no runtime enabled".to_string()
        } else {
            runtimes.join(", ")
        }
    );
    out
}

/// What node-problem-detector keeps of a plugin's output: `max_output_length`, 80 bytes by
/// default (node-problem-detector pkg/custompluginmonitor/types/config.go).
pub const ONELINE_MAX: usize = 80;

/// `scan --output oneline`: the state in one line of printable ASCII of at most
/// [`ONELINE_MAX`] bytes (then a newline), for node-problem-detector's condition message.
/// Any other character of a name, a control character above all, is `?`.
pub fn render_oneline(report: &Report) -> String {
    let s = &report.scan;
    let line = if !s.success {
        format!(
            "scan failed: {}",
            s.error.as_deref().unwrap_or("unknown error")
        )
    } else if report.leaks.is_empty() {
        "no leaked container mounts".to_string()
    } else {
        let n = report.leaks.len();
        let stale = report
            .leaks
            .iter()
            .filter(|l| l.status == Status::Stale)
            .count();
        // Name the worst: a stale copy if there is one.
        let first = report
            .leaks
            .iter()
            .find(|l| l.status == Status::Stale)
            .unwrap_or(&report.leaks[0]);
        let h = report.holder(first);
        let who = h
            .unit
            .clone()
            .unwrap_or_else(|| format!("{} (pid {})", h.comm, h.pid));
        let plural = |k: usize, what: &str| format!("{k} {what}{}", if k == 1 { "" } else { "s" });
        format!(
            "{} ({stale} stale) in {}: {who} holds {}",
            plural(n, "leaked mount"),
            plural(report.namespaces.len(), "holder"),
            owner_label(first)
        )
    };
    let clean: String = line
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    let mut out = if clean.len() <= ONELINE_MAX {
        clean
    } else {
        format!("{}...", &clean[..ONELINE_MAX - 3])
    };
    out.push('\n');
    out
}

/// `container etcd1 (exited)`, `volume data (container etcd1, removed)`, ...
pub fn owner_label(l: &Leak) -> String {
    let container = l.container().map(|c| {
        let name = if c.name.is_empty() {
            short(&c.id)
        } else {
            c.name.as_str()
        };
        // Docker's containers read as before; other engines are named.
        let engine = match c.runtime {
            RuntimeKind::Docker => String::new(),
            r => format!("{} ", r.as_str()),
        };
        (format!("{engine}container {name}"), c.state.clone())
    });
    match (l.volume(), container) {
        (Some(v), Some((name, state))) => {
            format!("volume {v} (last used by {name}, {state})")
        }
        (Some(v), None) => match l.pod() {
            Some(p) if !p.name.is_empty() => {
                format!("volume {v} of pod {}/{}", p.namespace, p.name)
            }
            Some(p) => format!("volume {v} of pod {}", p.uid),
            None => format!("volume {v}"),
        },
        (None, Some((name, state))) => format!("{name} ({state})"),
        (None, None) => "an unknown container".into(),
    }
}

/// The first 12 characters, as `docker ps` shows ids. Characters, not bytes: an id spelled
/// in a mount path (`containers/<id>/...`) is whatever a user named a directory.
pub fn short(id: &str) -> &str {
    id.char_indices().nth(12).map_or(id, |(i, _)| &id[..i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::MountOwner;
    use crate::classify::{Leak, Status};
    use crate::host::{NamespaceKey, ProcessInfo, mountinfo};
    use crate::layout::Layout;

    fn process(pid: u32, comm: &str, unit: Option<&str>, start: Option<u64>) -> ProcessInfo {
        ProcessInfo {
            pid,
            comm: comm.into(),
            unit: unit.map(str::to_string),
            container_id: None,
            container_engine: None,
            start_time: start,
        }
    }

    /// One holder (inode `ns`) with a copy of the incident's shm under each mount id.
    fn classified(processes: Vec<ProcessInfo>, ns: u64, mount_ids: &[u32]) -> Classified {
        let line = "596 340 0:57 / /var/lib/docker/containers/ca74eaa1b342c64a7f6c558299bedf74a5b7016c194e885bf290281161605d58/mounts/shm rw - tmpfs shm rw";
        let mount = mountinfo::parse_line(line.as_bytes()).unwrap();
        let path = Layout::new(["/var/lib/docker"], ["/run/docker"])
            .recognise(&mount.mount_point)
            .unwrap();
        let cm = crate::host::ContainerMount::new(mount, path);
        let owner = Arc::new(MountOwner {
            container: None,
            volume: None,
            pod: None,
            runtime: None,
            known: false,
        });
        Classified {
            holders: vec![crate::classify::HoldingNamespace {
                key: NamespaceKey {
                    device: 4,
                    inode: ns,
                    root: "/".into(),
                },
                process_count: processes.len(),
                processes: processes.into(),
            }],
            leaks: mount_ids
                .iter()
                .map(|&mount_id| Leak {
                    namespace: 0,
                    mount_id,
                    target: cm.target.clone(),
                    status: Status::Stale,
                    owner: owner.clone(),
                    first_seen: 0,
                })
                .collect(),
            propagated: 0,
            unverified: 0,
        }
    }

    fn holder_of(processes: Vec<ProcessInfo>) -> Holder {
        let report = build(
            ScanSummary::default(),
            classified(processes, 1, &[596]),
            &mut FirstSeen::default(),
        );
        report.holder(&report.leaks[0]).clone()
    }

    #[test]
    fn a_report_with_the_last_ones_leaks_and_holders_keeps_its_leaks_version() {
        let mut content = LeakContent::default();
        let report = |comm: &str, ids: &[u32]| {
            let p = vec![process(100, comm, Some("a.service"), Some(1))];
            build(
                ScanSummary::default(),
                classified(p, 1, ids),
                &mut FirstSeen::default(),
            )
        };
        let first = content.version_of(&report("httpd", &[596, 597]));
        assert_ne!(first, 0);
        // Another scan, other timestamps: same leaks, same holders.
        let mut again = report("httpd", &[596, 597]);
        again.scan.duration_seconds = 3.0;
        assert_eq!(content.version_of(&again), first);
        // Another process in the holder's namespace: the holder is the same.
        let mut visited = report("httpd", &[596, 597]);
        let mut processes = visited.namespaces[0].processes.to_vec();
        processes.push(process(200, "nsenter", None, Some(9)));
        visited.namespaces[0].processes = processes.into();
        assert_eq!(content.version_of(&visited), first);
        // A leak gone, then the holder's comm changed (an exec): each a new version.
        let fewer = content.version_of(&report("httpd", &[596]));
        assert!(fewer != 0 && fewer != first);
        let renamed = content.version_of(&report("httpd-worker", &[596]));
        assert!(renamed != 0 && renamed != fewer);
        // A leak storm is not copied to be compared: version 0, rendered afresh.
        let ids: Vec<u32> = (0..=LeakContent::MAX_COMPARED as u32).collect();
        assert_eq!(content.version_of(&report("httpd", &ids)), 0);
        assert_eq!(content.version_of(&report("httpd", &ids)), 0);
        assert!(content.leaks.is_empty());
    }

    #[test]
    fn short_ids_cut_at_a_character_not_inside_one() {
        // Fuzz find (fuzz/regressions/report/short-id-char-boundary): an unknown container
        // id taken from a mount path, with `é` across byte 12, made the text view panic.
        assert_eq!(short("ca74eaa1b342c64a7f6c"), "ca74eaa1b342");
        assert_eq!(short("abcdefghijké/x"), "abcdefghijké");
        assert_eq!(short("ééééééééééééé"), "éééééééééééé");
        assert_eq!(short("abc"), "abc");
        let line = "1 2 0:1 / /var/lib/docker/containers/abcdefghijké/shm rw - tmpfs shm rw";
        let mount = mountinfo::parse_line(line.as_bytes()).unwrap();
        let path = Layout::new(["/var/lib/docker"], ["/run/docker"])
            .recognise(&mount.mount_point)
            .unwrap();
        let cm = crate::host::ContainerMount::new(mount, path);
        let classified = Classified {
            holders: vec![crate::classify::HoldingNamespace {
                key: NamespaceKey {
                    device: 4,
                    inode: 2,
                    root: "/".into(),
                },
                processes: vec![process(4242, "sh", Some("session-1.scope"), Some(1))].into(),
                process_count: 1,
            }],
            leaks: vec![Leak {
                namespace: 0,
                mount_id: cm.mount_id,
                target: cm.target,
                status: Status::Stale,
                owner: Arc::new(MountOwner {
                    container: Some(ContainerRef {
                        id: "abcdefghijké".into(),
                        name: String::new(),
                        state: "removed".into(),
                        runtime: RuntimeKind::Docker,
                    }),
                    volume: None,
                    pod: None,
                    runtime: Some(RuntimeKind::Docker),
                    known: false,
                }),
                first_seen: 0,
            }],
            propagated: 0,
            unverified: 0,
        };
        let scan = ScanSummary {
            success: true,
            ..Default::default()
        };
        let report = build(scan, classified, &mut FirstSeen::default());
        let text = render_text(&report);
        assert!(text.contains("abcdefghijké"), "{text}");
    }

    #[test]
    fn first_seen_is_kept_per_namespace_and_mount_id_and_forgotten_when_gone() {
        let at = |t: f64| ScanSummary {
            timestamp: t,
            ..Default::default()
        };
        let p = || vec![process(1, "x", None, None)];
        let mut seen = FirstSeen::default();
        let times = |r: &Report| -> Vec<(u32, u32)> {
            r.leaks.iter().map(|l| (l.mount_id, l.first_seen)).collect()
        };
        // Whole seconds: a scan at 10.7 says 10, and says it again at the next scan.
        let r = build(at(10.7), classified(p(), 1, &[30, 10, 20]), &mut seen);
        assert_eq!(times(&r), [(30, 10), (10, 10), (20, 10)]);
        let r = build(at(20.0), classified(p(), 1, &[20, 40]), &mut seen);
        assert_eq!(times(&r), [(20, 10), (40, 20)], "kept, and new");
        // Mount 10 was gone in between: seen again, it is new again. Same ids in another
        // namespace are other copies.
        let r = build(at(30.0), classified(p(), 1, &[10, 40]), &mut seen);
        assert_eq!(times(&r), [(10, 30), (40, 20)]);
        let r = build(at(40.0), classified(p(), 2, &[10, 40]), &mut seen);
        assert_eq!(times(&r), [(10, 40), (40, 40)]);
    }

    #[test]
    fn a_container_holder_is_restarted_by_its_own_engine() {
        let holder = |engine| Holder {
            pid: 7,
            comm: "app".into(),
            unit: Some("libpod-0123456789abcdef.scope".into()),
            container_id: Some("0123456789abcdef".into()),
            container_engine: engine,
            process_count: 1,
        };
        let mp = "/var/lib/containers/storage/overlay/l/merged";
        assert_eq!(
            fix(&holder(Some(ContainerEngine::Podman)), mp),
            "podman restart 0123456789ab"
        );
        assert_eq!(
            fix(&holder(Some(ContainerEngine::Cri)), mp),
            "crictl stop 0123456789ab"
        );
        assert_eq!(
            fix(&holder(Some(ContainerEngine::Docker)), mp),
            "docker restart 0123456789ab"
        );
    }

    #[test]
    fn the_release_names_the_holder_and_one_quoted_path() {
        for (mp, status, want) in [
            (
                Some("/var/lib/docker/containers/ab/mounts/shm"),
                Status::Stale,
                "mountleak_exporter release --holder 42 --mount /var/lib/docker/containers/ab/mounts/shm --yes",
            ),
            (
                Some("/v/a b;reboot"),
                Status::AtRisk,
                "mountleak_exporter release --holder 42 --mount '/v/a b;reboot' --include-at-risk --yes",
            ),
            (
                Some("/v/x\\012y'"),
                Status::Stale,
                "mountleak_exporter release --holder 42 --mount $'/v/x\\012y\\047' --yes",
            ),
            (
                None,
                Status::Stale,
                "mountleak_exporter release --holder 42 --yes",
            ),
        ] {
            assert_eq!(release(42, mp, status), want);
        }
    }

    #[test]
    fn fixes_name_systemctl_only_for_a_system_service_and_quote_every_value() {
        // Issue 12: (unit, mount point, fix).
        let mp = "/var/lib/docker/volumes/v/_data";
        let cases = [
            (
                Some("httpd.service"),
                mp,
                "systemctl restart httpd.service".to_string(),
            ),
            (
                Some("systemd-fsck@dev-x\\x2d1.service"),
                mp,
                "systemctl restart 'systemd-fsck@dev-x\\x2d1.service'".into(),
            ),
            (
                Some("x;id;$(id)`id`.service"),
                mp,
                format!("nsenter -t 7 -m umount -l {mp}"),
            ),
            (
                Some("user@1000.service/docker.service"),
                mp,
                format!("nsenter -t 7 -m umount -l {mp}"),
            ),
            (
                Some("session-3.scope"),
                mp,
                format!("nsenter -t 7 -m umount -l {mp}"),
            ),
            (
                None,
                "/v/a b'c",
                r"nsenter -t 7 -m umount -l '/v/a b'\''c'".into(),
            ),
            (
                None,
                r"/v/a\012'",
                r"nsenter -t 7 -m umount -l $'/v/a\012\047'".into(),
            ),
        ];
        for (unit, mount_point, want) in cases {
            let h = Holder {
                pid: 7,
                comm: "x".into(),
                unit: unit.map(str::to_string),
                container_id: None,
                container_engine: None,
                process_count: 1,
            };
            assert_eq!(fix(&h, mount_point), want, "{unit:?} {mount_point}");
        }
    }

    #[test]
    fn the_oldest_process_names_the_holder() {
        // After the pid counter wrapped, a short-lived process in the namespace (here one
        // that nsenter'd into it, outside the unit) has a lower pid than the unit's main one.
        let h = holder_of(vec![
            process(585, "true", None, Some(90_000)),
            process(7339, "httpd", Some("httpd.service"), Some(1_000)),
            process(7340, "httpd", Some("httpd.service"), Some(1_001)),
        ]);
        assert_eq!((h.pid, h.unit.as_deref()), (7339, Some("httpd.service")));
        assert_eq!(h.process_count, 3);
        // Start times unknown (fixture trees, unreadable stat): the lowest pid.
        let h = holder_of(vec![
            process(11987, "httpd", Some("httpd.service"), None),
            process(12001, "httpd", Some("httpd.service"), None),
        ]);
        assert_eq!(h.pid, 11987);
        // A process whose start time could not be read never wins over one whose could.
        let h = holder_of(vec![
            process(10, "?", None, None),
            process(20, "httpd", Some("httpd.service"), Some(5)),
        ]);
        assert_eq!(h.pid, 20);
    }
}
