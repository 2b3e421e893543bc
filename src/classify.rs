//! Pure: which foreign copies of container mounts are leaks.
//!
//! Reference namespaces are PID 1's and the container daemons'. A container mount seen in any
//! other namespace is a foreign copy, classified from the kernel's own data:
//! - `stale`: no reference namespace has a mount of that device at that path any more;
//! - `at_risk`: the reference still has it and the copy is not tied to it by propagation;
//! - tied copies (a peer or a slave of the reference's peer group) heal themselves and are
//!   only counted.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use crate::host::{
    ContainerMount, HostSnapshot, MountNamespace, MountTarget, NamespaceKey, ProcessInfo,
};
use crate::layout::{ContainerPath, Kind, PathId};
use crate::runtime::{
    ContainerInfo, PodRef, RuntimeKind, RuntimeView, STATE_REMOVED, STATE_UNKNOWN, container_key,
};

/// Who makes a container path's mount, so whose namespace is the reference for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mounter {
    Runtime(RuntimeKind),
    /// kubelet mounts pod volumes (the paths layout.rs gives no runtime).
    Kubelet,
}

impl Mounter {
    fn of(path: &ContainerPath) -> Mounter {
        path.runtime.map_or(Mounter::Kubelet, Mounter::Runtime)
    }

    fn bit(self) -> u8 {
        match self {
            Mounter::Runtime(RuntimeKind::Docker) => 1,
            Mounter::Runtime(RuntimeKind::Podman) => 2,
            Mounter::Runtime(RuntimeKind::Containerd) => 4,
            Mounter::Kubelet => 8,
            Mounter::Runtime(RuntimeKind::CriO) => 16,
        }
    }
}

/// Processes whose namespace is where a runtime mounts containers (comm, at most 15 bytes),
/// and whose paths they mount: dockerd, Docker's (graph driver or containerd image store
/// rootfs, shm, netns, volumes: all made by the daemon itself); Podman's API service
/// `podman` (so does the `podman` command line when run directly), `conmon`, the monitor it
/// leaves with each container, and `catatonit`, rootless Podman's pause process that keeps
/// its user and mount namespaces (podman pkg/rootless); CRI-O's `crio` (its own paths and
/// the containers/storage layers it shares with Podman) and its `conmon`; containerd (CRI sandbox shm and netns) and its shims
/// (`containerd-shim-runc-v2` reads as `containerd-shim`), which mount each task's rootfs;
/// kubelet, which mounts pod volumes. On a host whose PID 1 the reader cannot see these
/// are the only references.
pub const DAEMON_COMMS: &[(&str, Mounter)] = &[
    ("dockerd", Mounter::Runtime(RuntimeKind::Docker)),
    ("podman", Mounter::Runtime(RuntimeKind::Podman)),
    ("conmon", Mounter::Runtime(RuntimeKind::Podman)),
    ("catatonit", Mounter::Runtime(RuntimeKind::Podman)),
    ("crio", Mounter::Runtime(RuntimeKind::Podman)),
    ("crio", Mounter::Runtime(RuntimeKind::CriO)),
    ("conmon", Mounter::Runtime(RuntimeKind::CriO)),
    ("containerd", Mounter::Runtime(RuntimeKind::Containerd)),
    ("containerd-shim", Mounter::Runtime(RuntimeKind::Containerd)),
    ("kubelet", Mounter::Kubelet),
];

/// Whether `comm` is one of [`DAEMON_COMMS`].
pub fn is_daemon_comm(comm: &str) -> bool {
    DAEMON_COMMS.iter().any(|(c, _)| *c == comm)
}

/// The mounters a namespace is the reference for, one bit each ([`Mounter::bit`]). Scoped:
/// a containerized kubelet (RKE1 binds `/run:/run:rprivate`) holds private copies of every
/// Docker netns that existed when it started; they are leaks like any holder's, and must
/// not vouch for the Docker paths they copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scope(u8);

impl Scope {
    const NONE: Scope = Scope(0);
    const ALL: Scope = Scope(u8::MAX);

    fn of(ns: &MountNamespace, view: &RuntimeView) -> Scope {
        if ns.host {
            return Scope::ALL;
        }
        let by_pid = view
            .daemon_pids
            .iter()
            .filter(|(_, p)| ns.pids.binary_search(p).is_ok())
            .map(|(rt, _)| Mounter::Runtime(*rt));
        let by_name = ns.processes.iter().flat_map(|p| {
            DAEMON_COMMS
                .iter()
                .filter(move |(c, _)| *c == p.comm)
                .map(|(_, m)| *m)
        });
        Scope(by_pid.chain(by_name).fold(0, |bits, m| bits | m.bit()))
    }

    fn covers(self, path: &ContainerPath) -> bool {
        self.0 & Mounter::of(path).bit() != 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Stale,
    AtRisk,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Stale => "stale",
            Status::AtRisk => "at_risk",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ContainerRef {
    pub id: String,
    pub name: String,
    pub state: String,
    pub runtime: RuntimeKind,
}

/// A namespace holding leaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldingNamespace {
    pub key: NamespaceKey,
    /// Its processes whose details were read (the lowest pids), ascending.
    pub processes: Arc<[ProcessInfo]>,
    /// All its processes, listed or not.
    pub process_count: usize,
}

/// One leaked copy. Small: a host with K holders of M mounts has K x M of them, so what
/// they have in common (the mount, its owner, the holder) is shared, not copied.
#[derive(Debug, Clone, PartialEq)]
pub struct Leak {
    /// Index into [`Classified::holders`] (and, once reported, into `Report::namespaces`).
    /// u32, as are the other numbers: 32 bytes a leak, not 40.
    pub namespace: u32,
    /// The copy's id in the holder's namespace.
    pub mount_id: u32,
    pub target: Arc<MountTarget>,
    pub status: Status,
    pub owner: Arc<MountOwner>,
    /// Unix time (whole seconds) the exporter first saw this copy (set by `report::build`).
    pub first_seen: u32,
}

#[derive(Debug, Clone, Default)]
pub struct Classified {
    /// The namespaces holding leaks, in pid order.
    pub holders: Vec<HoldingNamespace>,
    /// Ordered by holder, then path.
    pub leaks: Vec<Leak>,
    /// Foreign copies tied to the reference by propagation: not leaks.
    pub propagated: u64,
    /// Copies nothing vouches for ([`verified`]): counted, never reported as leaks.
    pub unverified: u64,
}

impl Classified {
    /// Counts one foreign namespace's decisions and, when it holds leaks (`self.leaks[first..]`,
    /// numbered as the next holder), names it.
    fn close_holder(&mut self, ns: &MountNamespace, decided: Decided, first: usize) {
        self.propagated += decided.propagated;
        self.unverified += decided.unverified;
        if self.leaks.len() > first {
            self.holders.push(HoldingNamespace {
                key: ns.key.clone(),
                processes: ns.processes.clone(),
                process_count: ns.pids.len(),
            });
        }
    }
}

/// The mounts (path and device) seen in reference namespaces, now or in an earlier scan:
/// a stale copy whose device a runtime once mounted at that path is a real leak even when
/// nothing else knows its owner any more. Remembered like removed containers: everything
/// the last scan saw, plus the [`ReferenceHistory::GONE`] most recently gone. Paths are
/// kept as keyed hashes (16 bytes an entry, whatever the path's length).
#[derive(Debug, Default)]
pub struct ReferenceHistory {
    hasher: std::collections::hash_map::RandomState,
    /// (hash of the canonical path, major, minor) -> the scan that last saw it.
    seen: HashMap<(u64, u32, u32), u64>,
    scans: u64,
}

impl ReferenceHistory {
    pub const GONE: usize = 4096;

    fn key(&self, path: &str, major: u32, minor: u32) -> (u64, u32, u32) {
        use std::hash::BuildHasher;
        (self.hasher.hash_one(path), major, minor)
    }

    fn contains(&self, path: &str, major: u32, minor: u32) -> bool {
        self.seen.contains_key(&self.key(path, major, minor))
    }

    /// Records one scan's reference mounts and forgets the oldest gone ones over the bound;
    /// says whether it forgot any.
    fn record<'a>(&mut self, mounts: impl Iterator<Item = (&'a str, u32, u32)>) -> bool {
        self.scans += 1;
        let mut now = 0;
        for (path, major, minor) in mounts {
            let key = self.key(path, major, minor);
            self.seen.insert(key, self.scans);
            now += 1;
        }
        let over = self.seen.len().saturating_sub(now + Self::GONE);
        if over > 0 {
            let mut gone: Vec<u64> = self
                .seen
                .values()
                .copied()
                .filter(|&s| s < self.scans)
                .collect();
            gone.sort_unstable();
            let cut = gone[over - 1];
            let mut left = over;
            self.seen.retain(|_, s| {
                let drop = left > 0 && *s <= cut;
                left -= usize::from(drop);
                !drop
            });
        }
        over > 0
    }
}

/// Which peer group is a slave of which, from the copies that are both (`shared:N master:M`:
/// group N receives M's events and passes them on). A copy that is a peer or slave of such a
/// group heals when the reference's mount goes, however long the chain (a PrivateTmp unit,
/// whose namespace systemd makes a shared slave of the host's, and a child of it that ran
/// `unshare --propagation slave`); mount_namespaces(7), "Propagation type transitions".
#[derive(Debug, Default, PartialEq)]
struct Masters(HashMap<u32, u32>);

impl Masters {
    fn of(namespaces: &[MountNamespace]) -> Masters {
        let pairs = namespaces
            .iter()
            .flat_map(|ns| ns.container_mounts.iter())
            .filter_map(|cm| Some((cm.propagation.shared?, cm.propagation.master?)));
        Masters(pairs.collect())
    }

    /// Whether group `g` is one of `groups` or a slave of one through a chain of masters.
    /// Bounded: the kernel's chains are short, and a cycle in a torn read must end.
    fn reaches(&self, mut g: u32, groups: &[u32]) -> bool {
        for _ in 0..64 {
            if groups.contains(&g) {
                return true;
            }
            match self.0.get(&g) {
                Some(&m) => g = m,
                None => return false,
            }
        }
        false
    }
}

/// Whether a stale-looking copy is a leak: the kernel and the runtimes must vouch for it,
/// or a user could fake one (`unshare -Urm`, a tmpfs at any container-shaped path) and fire
/// alerts with whatever text the path holds. A real leaked copy shares its device with a
/// mount a runtime made in a reference namespace (seen now or earlier), or names what a
/// runtime knows; and a namespace in the host's user namespace was made by a process
/// privileged on the host, who could unmount anything anyway.
fn verified(
    ns: &MountNamespace,
    target: &MountTarget,
    owner: &MountOwner,
    history: &ReferenceHistory,
) -> bool {
    ns.host_userns
        || owner.known
        || history.contains(&target.path.canonical, target.major, target.minor)
}

/// Splits the namespaces holding container mounts into references (with the mounters each
/// is the reference for) and foreign tables; a runtime's namespace is both when it holds
/// copies of other mounters' paths, which are then foreign copies like any other.
fn partition(
    namespaces: Vec<MountNamespace>,
    view: &RuntimeView,
) -> (Vec<(MountNamespace, Scope)>, Vec<MountNamespace>) {
    let (mut references, mut foreign) = (Vec::new(), Vec::new());
    for ns in namespaces {
        if ns.container_mounts.is_empty() {
            continue;
        }
        let scope = Scope::of(&ns, view);
        if scope == Scope::NONE {
            foreign.push(ns);
            continue;
        }
        let copies: Arc<[ContainerMount]> = ns
            .container_mounts
            .iter()
            .filter(|cm| !scope.covers(&cm.target.path))
            .cloned()
            .collect();
        if !copies.is_empty() {
            foreign.push(MountNamespace {
                container_mounts: copies,
                ..ns.clone()
            });
        }
        references.push((ns, scope));
    }
    (references, foreign)
}

/// The reference's mounts of one path: (major, minor, peer groups it belongs to).
type RefIndex<'a> = HashMap<&'a str, Vec<(u32, u32, Option<u32>)>>;

/// The mounts each reference namespace is the reference for, by path.
fn reference_index<'a>(
    references: impl Iterator<Item = (&'a [ContainerMount], Scope)>,
) -> RefIndex<'a> {
    let mut index: RefIndex = HashMap::new();
    for (mounts, scope) in references {
        for cm in mounts {
            let t = &cm.target;
            if scope.covers(&t.path) {
                let entry = (t.major, t.minor, cm.propagation.shared);
                index
                    .entry(t.path.canonical.as_str())
                    .or_default()
                    .push(entry);
            }
        }
    }
    index
}

/// Records the index's mounts in the history; says whether the history forgot any.
fn record(history: &mut ReferenceHistory, index: &RefIndex) -> bool {
    history.record(
        index
            .iter()
            .flat_map(|(path, v)| v.iter().map(move |(maj, min, _)| (*path, *maj, *min))),
    )
}

/// Takes the snapshot: each foreign namespace's table is freed once classified, so a leak
/// storm's K tables and its K x M leaks are not all alive at once.
pub fn classify(
    snapshot: HostSnapshot,
    view: &RuntimeView,
    history: &mut ReferenceHistory,
) -> Classified {
    let (references, foreign) = partition(snapshot.namespaces, view);
    let index = reference_index(
        references
            .iter()
            .map(|(ns, s)| (&ns.container_mounts[..], *s)),
    );
    record(history, &index);
    let mut against = Against::new(index, Masters::of(&foreign), view, history);
    // Nearly every foreign copy is a leak in a leak storm: one allocation of the right size,
    // not a doubling vector's slack and copies.
    let mut out = Classified {
        leaks: Vec::with_capacity(foreign.iter().map(|ns| ns.container_mounts.len()).sum()),
        ..Classified::default()
    };
    for ns in foreign {
        let first = out.leaks.len();
        let (decided, _) = against.decide(&ns, &[], out.holders.len() as u32, &mut out.leaks);
        out.close_holder(&ns, decided, first);
    }
    out
}

/// One foreign namespace's counts (its leaks go apart).
#[derive(Debug, Clone, Copy, Default)]
struct Decided {
    propagated: u64,
    unverified: u64,
}

/// What a foreign namespace's copies are classified against: the whole scan's references.
struct Against<'a> {
    reference: RefIndex<'a>,
    masters: Masters,
    view: &'a RuntimeView,
    history: &'a ReferenceHistory,
    /// Owners are looked up once per distinct mount, however many namespaces copied it.
    owners: HashMap<*const MountTarget, Arc<MountOwner>>,
}

impl<'a> Against<'a> {
    fn new(
        reference: RefIndex<'a>,
        masters: Masters,
        view: &'a RuntimeView,
        history: &'a ReferenceHistory,
    ) -> Self {
        Against {
            reference,
            masters,
            view,
            history,
            owners: HashMap::new(),
        }
    }

    /// Classifies one foreign namespace's copies: its leaks (numbered `holder`, ordered by
    /// path) are appended to `leaks`. Each copy's verdict is `kept[i]` where there is one.
    fn decide(
        &mut self,
        ns: &MountNamespace,
        kept: &[Option<Verdict>],
        holder: u32,
        leaks: &mut Vec<Leak>,
    ) -> (Decided, Vec<Verdict>) {
        let verdicts: Vec<Verdict> = (ns.container_mounts.iter().enumerate())
            .map(|(i, cm)| match kept.get(i) {
                Some(Some(v)) => v.clone(),
                _ => self.verdict(ns, cm),
            })
            .collect();
        let decided = tally(ns, &verdicts, holder, leaks);
        (decided, verdicts)
    }

    /// What one copy is, on its own (see [`Verdict`]).
    fn verdict(&mut self, ns: &MountNamespace, cm: &ContainerMount) -> Verdict {
        let t = &cm.target;
        let same_device: Vec<_> = (self.reference.get(t.path.canonical.as_str()))
            .into_iter()
            .flatten()
            .filter(|(maj, min, _)| (*maj, *min) == (t.major, t.minor))
            .collect();
        let status = if same_device.is_empty() {
            Status::Stale
        } else {
            let groups: Vec<u32> = same_device.iter().filter_map(|r| r.2).collect();
            let tied = [cm.propagation.shared, cm.propagation.master]
                .into_iter()
                .flatten()
                .any(|g| self.masters.reaches(g, &groups));
            if tied {
                return Verdict::Propagated;
            }
            Status::AtRisk
        };
        let view = self.view;
        let owner = (self.owners.entry(Arc::as_ptr(t)))
            .or_insert_with(|| Arc::new(owner(&t.path, view)))
            .clone();
        let vouched = status != Status::Stale || verified(ns, t, &owner, self.history);
        Verdict::Copy {
            status,
            vouched,
            owner,
        }
    }
}

/// What one foreign copy is, decided on its own: the namespace's other copies only matter
/// when a path is stacked (see [`tally`]).
#[derive(Debug, Clone)]
enum Verdict {
    /// Tied to the reference by propagation: not a leak.
    Propagated,
    /// Stale or at risk; a stale copy nothing vouches for ([`verified`]) is only counted.
    Copy {
        status: Status,
        vouched: bool,
        owner: Arc<MountOwner>,
    },
}

/// Counts a namespace's verdicts (`verdicts[i]` of its i-th copy) and appends its leaks,
/// ordered by path, to `leaks`. A path mounted twice in one namespace (stacked) is one leak
/// to the operator: of the copies of one path and device that are not propagated, the first
/// (in table order) stands for all. A stable sort by path keeps table order within a path,
/// so that first copy is the first of its device in its run.
fn tally(ns: &MountNamespace, verdicts: &[Verdict], holder: u32, leaks: &mut Vec<Leak>) -> Decided {
    let mut decided = Decided::default();
    let mut copies: Vec<(&ContainerMount, Status, bool, &Arc<MountOwner>)> = Vec::new();
    for (cm, v) in ns.container_mounts.iter().zip(verdicts) {
        match v {
            Verdict::Propagated => decided.propagated += 1,
            Verdict::Copy {
                status,
                vouched,
                owner,
            } => copies.push((cm, *status, *vouched, owner)),
        }
    }
    copies.sort_by(|a, b| a.0.target.path.canonical.cmp(&b.0.target.path.canonical));
    let path = |i: usize| copies[i].0.target.path.canonical.as_str();
    let mut run = 0;
    for i in 0..copies.len() {
        if path(i) != path(run) {
            run = i;
        }
        let (cm, status, vouched, owner) = copies[i];
        let t = &cm.target;
        if (copies[run..i].iter())
            .any(|c| (c.0.target.major, c.0.target.minor) == (t.major, t.minor))
        {
            continue;
        }
        if !vouched {
            decided.unverified += 1;
            continue;
        }
        leaks.push(Leak {
            namespace: holder,
            mount_id: cm.mount_id,
            target: t.clone(),
            status,
            owner: owner.clone(),
            first_seen: 0,
        });
    }
    decided
}

/// What one classification leaves for the next (incremental scans): each foreign
/// namespace's decisions, reused while nothing they were made from changed. They depend on
/// the namespace's table (a remembered table is shared, so the very same `Arc`, which this
/// holds: its address is not reused), whether it is in the host's user namespace, the
/// runtime view, the peer group chains ([`Masters`]), what the history vouches for, and the
/// reference's mounts of the namespace's paths. A container that starts or stops changes the
/// reference's mounts of its own paths only: just the namespaces holding one of those paths
/// are classified again. Its processes only name the holder: taken from the new scan.
///
/// A namespace whose table changed by a few mounts keeps the verdicts of the copies it still
/// holds: a table brought up to date shares the unchanged copies' `MountTarget`s with the old
/// one, so each new copy is matched to an old one by that address (its id and propagation
/// too), in table order; only new copies, and those of paths whose reference changed, are
/// decided again (the bench's scan after one change decided a whole table, issue 17).
#[derive(Debug, Default)]
pub struct Remembered {
    /// `None` until the first classification.
    view: Option<Arc<RuntimeView>>,
    references: Vec<(Arc<[ContainerMount]>, Scope)>,
    masters: Masters,
    decided: HashMap<NamespaceKey, Decisions>,
}

#[derive(Debug)]
struct Decisions {
    mounts: Arc<[ContainerMount]>,
    host_userns: bool,
    decided: Decided,
    /// Numbered as holder 0.
    leaks: Vec<Leak>,
    /// Of each of `mounts`.
    verdicts: Vec<Verdict>,
}

/// Most old copies passed over (gone from the table) looking for a new copy's old verdict,
/// and most new copies looked for in vain before the rest of a table is decided afresh: a
/// table read again has no old copy at all.
const MAX_UNMATCHED: usize = 64;

impl Decisions {
    /// Whether these are still the decisions for `ns`, given the paths whose reference
    /// mounts changed.
    fn hold_for(&self, ns: &MountNamespace, changed: &HashSet<String>) -> bool {
        Arc::ptr_eq(&self.mounts, &ns.container_mounts)
            && self.host_userns == ns.host_userns
            && (changed.is_empty()
                || !(ns.container_mounts.iter())
                    .any(|cm| changed.contains(cm.target.path.canonical.as_str())))
    }

    /// The verdicts of `ns`'s copies that these decisions still hold (see [`Remembered`]).
    fn verdicts_for(&self, ns: &MountNamespace, changed: &HashSet<String>) -> Vec<Option<Verdict>> {
        if self.host_userns != ns.host_userns {
            return Vec::new();
        }
        let same = |a: &ContainerMount, b: &ContainerMount| {
            Arc::ptr_eq(&a.target, &b.target)
                && a.mount_id == b.mount_id
                && a.propagation == b.propagation
        };
        let (mut next, mut misses) = (0, 0);
        let mut kept = Vec::with_capacity(ns.container_mounts.len());
        for cm in ns.container_mounts.iter() {
            if misses > MAX_UNMATCHED {
                break;
            }
            let window = next..self.mounts.len().min(next + MAX_UNMATCHED + 1);
            let Some(i) = window.into_iter().find(|&i| same(&self.mounts[i], cm)) else {
                misses += 1;
                kept.push(None);
                continue;
            };
            next = i + 1;
            let path_changed = changed.contains(cm.target.path.canonical.as_str());
            kept.push((!path_changed).then(|| self.verdicts[i].clone()));
        }
        kept
    }
}

impl Remembered {
    /// [`classify`], deciding again only for the copies whose decisions may differ from the
    /// last call's; the result is the same.
    pub fn classify(
        &mut self,
        snapshot: HostSnapshot,
        view: &Arc<RuntimeView>,
        history: &mut ReferenceHistory,
    ) -> Classified {
        let (references, foreign) = partition(snapshot.namespaces, view);
        let now: Vec<(Arc<[ContainerMount]>, Scope)> = (references.into_iter())
            .map(|(ns, scope)| (ns.container_mounts, scope))
            .collect();
        let same_view = self.view.as_ref().is_some_and(|v| Arc::ptr_eq(v, view));
        let same_references = same_view
            && now.len() == self.references.len()
            && (now.iter().zip(&self.references))
                .all(|(a, b)| Arc::ptr_eq(&a.0, &b.0) && a.1 == b.1);
        let index = reference_index(now.iter().map(|(m, s)| (&m[..], *s)));
        // The last call recorded these very mounts: recording them again changes nothing
        // the history answers.
        let forgot = !same_references && record(history, &index);
        let masters = Masters::of(&foreign);
        let reusable = same_view && !forgot && masters == self.masters;
        let changed = if same_references || !reusable {
            HashSet::new()
        } else {
            let old = reference_index(self.references.iter().map(|(m, s)| (&m[..], *s)));
            changed_paths(&old, &index)
        };
        let mut against = Against::new(index, masters, view, history);
        let mut out = Classified {
            leaks: Vec::with_capacity(foreign.iter().map(|ns| ns.container_mounts.len()).sum()),
            ..Classified::default()
        };
        let mut decided = HashMap::with_capacity(foreign.len());
        for ns in foreign {
            let old = self.decided.remove(&ns.key).filter(|_| reusable);
            let d = match old {
                Some(d) if d.hold_for(&ns, &changed) => d,
                old => {
                    let kept = old.map_or_else(Vec::new, |d| d.verdicts_for(&ns, &changed));
                    let mut leaks = Vec::new();
                    let (decided, verdicts) = against.decide(&ns, &kept, 0, &mut leaks);
                    Decisions {
                        mounts: ns.container_mounts.clone(),
                        host_userns: ns.host_userns,
                        decided,
                        leaks,
                        verdicts,
                    }
                }
            };
            let (first, holder) = (out.leaks.len(), out.holders.len() as u32);
            out.leaks.extend(d.leaks.iter().map(|l| Leak {
                namespace: holder,
                ..l.clone()
            }));
            out.close_holder(&ns, d.decided, first);
            decided.insert(ns.key, d);
        }
        self.masters = against.masters;
        self.decided = decided;
        self.references = now;
        self.view = Some(view.clone());
        out
    }
}

/// The paths whose reference mounts differ between two indexes (in any order).
fn changed_paths(old: &RefIndex, new: &RefIndex) -> HashSet<String> {
    let sorted = |v: &Vec<(u32, u32, Option<u32>)>| {
        let mut v = v.clone();
        v.sort_unstable();
        v
    };
    (old.keys().chain(new.keys()))
        .filter(|p| old.get(*p).map(sorted) != new.get(*p).map(sorted))
        .map(|p| p.to_string())
        .collect()
}

/// Who a container path belongs to, as far as the runtimes know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOwner {
    pub container: Option<ContainerRef>,
    pub volume: Option<String>,
    pub pod: Option<PodRef>,
    /// The container's runtime, else the path's (`None`: a pod volume of an unknown pod).
    pub runtime: Option<RuntimeKind>,
    /// A runtime lists (or remembers) the container, volume user or pod the path names.
    pub known: bool,
}

/// Ties a container path to a container (and volume, and pod) through the runtime view.
fn owner(path: &ContainerPath, view: &RuntimeView) -> MountOwner {
    let rt = path.runtime;
    // (key in the view, what the path itself says when the view does not know the key)
    let mut volume = None;
    let mut pod_uid = None;
    let (key, spelled): (Option<String>, Option<(RuntimeKind, String)>) = match &path.id {
        PathId::Container(id) => (
            rt.map(|r| container_key(r, None, id)),
            rt.map(|r| (r, id.clone())),
        ),
        PathId::Task { namespace, id } => (
            Some(container_key(RuntimeKind::Containerd, Some(namespace), id)),
            Some((RuntimeKind::Containerd, id.clone())),
        ),
        PathId::Layer(_) | PathId::Sandbox(_) => (view.by_path.get(&path.canonical).cloned(), None),
        PathId::Volume(name) => {
            volume = Some(name.clone());
            let key = rt.and_then(|r| view.volume_users.get(&(r, name.clone())).cloned());
            (key, None)
        }
        PathId::PodVolume {
            pod_uid: uid,
            volume: v,
        } => {
            volume = Some(v.clone());
            pod_uid = Some(uid.clone());
            (view.pod_users.get(uid).cloned(), None)
        }
    };
    let known: Option<&ContainerInfo> = key.as_ref().and_then(|k| view.containers.get(k));
    let is_known = known.is_some();
    let pod = known.and_then(|c| c.pod.clone()).or_else(|| {
        pod_uid.clone().map(|uid| PodRef {
            uid,
            ..Default::default()
        })
    });
    // A pod volume is the pod's, not one of its containers': the container only tells the
    // pod's name and runtime.
    let runtime = known.map(|c| c.runtime).or(rt);
    let known = known.filter(|_| pod_uid.is_none());
    let container = match (known, spelled) {
        (Some(c), _) => Some(ContainerRef {
            id: c.id.clone(),
            name: c.name.clone(),
            state: if view.is_up(c.runtime) || c.state == STATE_REMOVED {
                c.state.clone()
            } else {
                STATE_UNKNOWN.to_string()
            },
            runtime: c.runtime,
        }),
        (None, Some((runtime, id))) => Some(ContainerRef {
            id,
            name: String::new(),
            state: if view.is_up(runtime) {
                STATE_REMOVED
            } else {
                STATE_UNKNOWN
            }
            .to_string(),
            runtime,
        }),
        (None, None) => None,
    };
    debug_assert!(path.kind != Kind::Volume || volume.is_some());
    MountOwner {
        container,
        volume,
        pod,
        runtime,
        known: is_known,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{ContainerMount, ScanErrors, mountinfo};
    use crate::layout::{Layout, RootKind};

    const PODMAN_ROOT: &str = "/var/lib/containers/storage";

    const ID: &str = "ca74eaa1b342c64a7f6c558299bedf74a5b7016c194e885bf290281161605d58";

    fn ns(inode: u64, root: &str, pids: &[(u32, &str)], lines: &[String]) -> MountNamespace {
        let layout = Layout::new(["/var/lib/docker"], ["/run/docker"])
            .with(RootKind::PodmanGraph, [PODMAN_ROOT])
            .with(RootKind::NetnsDir, ["/run/netns"])
            .with(RootKind::ContainerdState, ["/run/containerd"])
            .with(RootKind::KubeletRoot, ["/var/lib/kubelet"])
            .with(RootKind::CrioRunRoot, ["/run/containers/storage"]);
        let container_mounts = lines
            .iter()
            .filter_map(|l| {
                let mount = mountinfo::parse_line(l.as_bytes()).unwrap();
                let full = format!("{}{}", root.trim_end_matches('/'), mount.mount_point);
                let path = layout.recognise(&full)?;
                Some(ContainerMount::new(mount, path))
            })
            .collect();
        MountNamespace {
            key: NamespaceKey {
                device: 4,
                inode,
                root: root.into(),
            },
            host: pids.first().is_some_and(|p| p.0 == 1),
            pids: pids.iter().map(|p| p.0).collect(),
            processes: pids
                .iter()
                .map(|&(pid, comm)| ProcessInfo {
                    pid,
                    comm: comm.into(),
                    unit: None,
                    container_id: None,
                    container_engine: None,
                    start_time: None,
                })
                .collect(),
            container_mounts,
            // As root's namespaces are: vouched for (see `verified`).
            host_userns: true,
        }
    }

    fn shm(dev: &str, opt: &str) -> String {
        format!(
            "596 340 {dev} / /var/lib/docker/containers/{ID}/mounts/shm rw {opt} - tmpfs shm rw"
        )
    }

    fn run(namespaces: Vec<MountNamespace>, view: &RuntimeView) -> Classified {
        classify(
            HostSnapshot {
                namespaces,
                processes_scanned: 0,
                errors: ScanErrors::default(),
                ..Default::default()
            },
            view,
            &mut ReferenceHistory::default(),
        )
    }

    fn statuses(c: &Classified) -> Vec<Status> {
        c.leaks.iter().map(|l| l.status).collect()
    }

    /// Issue 17: an incremental scan decides again only for the namespaces whose decisions
    /// may have changed (their own table, or the reference's mounts of one of their paths),
    /// names holders with the new scan's processes, and equals a full classification.
    #[test]
    fn remembered_decisions_are_reused_only_where_nothing_they_depend_on_changed() {
        let view = Arc::new(RuntimeView::default());
        let volume = |dev: &str, opt: &str| {
            format!("597 340 {dev} / /var/lib/docker/volumes/data/_data rw {opt} - tmpfs v rw")
        };
        let host = ns(
            1,
            "/",
            &[(1, "systemd")],
            &[shm("0:99", "shared:1"), volume("0:98", "shared:2")],
        );
        let holder = ns(2, "/", &[(500, "httpd")], &[shm("0:99", "")]);
        let agent = ns(3, "/", &[(600, "agent")], &[volume("0:98", "")]);
        let mut remembered = Remembered::default();
        let (mut incremental, mut full) =
            (ReferenceHistory::default(), ReferenceHistory::default());
        let mut step = |namespaces: &[MountNamespace]| {
            let snapshot = || HostSnapshot {
                namespaces: namespaces.to_vec(),
                ..Default::default()
            };
            let c = remembered.classify(snapshot(), &view, &mut incremental);
            let all = classify(snapshot(), &view, &mut full);
            assert_eq!(c.holders, all.holders);
            assert_eq!(c.leaks, all.leaks);
            assert_eq!(
                (c.propagated, c.unverified),
                (all.propagated, all.unverified)
            );
            c
        };
        let reused = |a: &Leak, b: &Leak| Arc::ptr_eq(&a.owner, &b.owner);

        let first = step(&[host.clone(), holder.clone(), agent.clone()]);
        assert_eq!(statuses(&first), [Status::AtRisk, Status::AtRisk]);

        // A worker forks in the holder's namespace: the same table, nothing decided again.
        let mut forked = holder.clone();
        forked.pids.push(501);
        forked.processes = Arc::from([first.holders[0].processes[0].clone()]);
        let second = step(&[host.clone(), forked.clone(), agent.clone()]);
        assert!(
            second
                .leaks
                .iter()
                .zip(&first.leaks)
                .all(|(a, b)| reused(a, b))
        );
        assert_eq!(second.holders[0].process_count, 2);

        // The container stops: the holder's copy is now stale; the agent's copy of another
        // path keeps its decisions.
        let stopped = ns(1, "/", &[(1, "systemd")], &[volume("0:98", "shared:2")]);
        let third = step(&[stopped.clone(), forked.clone(), agent.clone()]);
        assert_eq!(statuses(&third), [Status::Stale, Status::AtRisk]);
        assert!(!reused(&third.leaks[0], &second.leaks[0]));
        assert!(reused(&third.leaks[1], &second.leaks[1]));

        // A runtime daemon's name in the agent's namespace makes it a reference: decided
        // again, it holds no leak.
        let mut daemon = agent.clone();
        Arc::make_mut(&mut daemon.processes)[0].comm = "dockerd".into();
        let fourth = step(&[stopped, forked, daemon]);
        assert_eq!(statuses(&fourth), [Status::Stale]);
    }

    /// Issue 17: a namespace whose table gained or lost a copy (a table brought up to date
    /// shares its other copies' mount data) keeps the verdicts of the copies it still holds;
    /// only the new copy, and copies of a path whose reference changed, are decided again.
    #[test]
    fn a_changed_table_keeps_the_verdicts_of_its_unchanged_copies() {
        let view = Arc::new(RuntimeView::default());
        let line = |id: u32, dev: &str, path: &str, opt: &str| {
            format!("{id} 340 {dev} / /var/lib/docker/{path} rw {opt} - tmpfs t rw")
        };
        let shm_path = format!("containers/{ID}/mounts/shm");
        let host = ns(
            1,
            "/",
            &[(1, "systemd")],
            &[
                line(596, "0:99", &shm_path, "shared:1"),
                line(597, "0:98", "volumes/data/_data", "shared:2"),
                line(598, "0:97", "volumes/logs/_data", "shared:3"),
            ],
        );
        let holder = ns(
            2,
            "/",
            &[(500, "httpd")],
            &[
                line(700, "0:99", &shm_path, ""),
                line(701, "0:98", "volumes/data/_data", ""),
            ],
        );
        let with = |base: &MountNamespace, extra: &[String], drop: usize| {
            let fresh = ns(2, "/", &[(500, "httpd")], extra);
            let mounts = (base.container_mounts.iter().skip(drop))
                .chain(fresh.container_mounts.iter())
                .cloned()
                .collect();
            MountNamespace {
                container_mounts: mounts,
                ..base.clone()
            }
        };
        let mut remembered = Remembered::default();
        let (mut incremental, mut full) =
            (ReferenceHistory::default(), ReferenceHistory::default());
        let mut step = |namespaces: Vec<MountNamespace>| {
            let snapshot = || HostSnapshot {
                namespaces: namespaces.clone(),
                ..Default::default()
            };
            let c = remembered.classify(snapshot(), &view, &mut incremental);
            let all = classify(snapshot(), &view, &mut full);
            assert_eq!(c.leaks, all.leaks);
            assert_eq!(
                (c.propagated, c.unverified),
                (all.propagated, all.unverified)
            );
            c
        };
        let owner_of = |c: &Classified, id: u32| {
            let leak = c.leaks.iter().find(|l| l.mount_id == id);
            leak.unwrap_or_else(|| panic!("no leak {id}")).owner.clone()
        };

        let first = step(vec![host.clone(), holder.clone()]);
        assert_eq!(first.leaks.len(), 2);

        // A third volume's copy appears in the holder's table.
        let grown = with(&holder, &[line(702, "0:97", "volumes/logs/_data", "")], 0);
        let second = step(vec![host.clone(), grown.clone()]);
        assert_eq!(second.leaks.len(), 3);
        for id in [700, 701] {
            assert!(
                Arc::ptr_eq(&owner_of(&first, id), &owner_of(&second, id)),
                "copy {id} decided again"
            );
        }

        // The shm copy leaves the table while the data volume's mount leaves the host: the
        // logs copy keeps its verdict, the data copy (its path's reference changed) is
        // decided again and now stale.
        let shrunk = with(&grown, &[], 1);
        let stopped = MountNamespace {
            container_mounts: (host.container_mounts.iter())
                .filter(|cm| !cm.target.path.canonical.contains("/data/"))
                .cloned()
                .collect(),
            ..host.clone()
        };
        let third = step(vec![stopped, shrunk]);
        let status: Vec<(u32, Status)> =
            third.leaks.iter().map(|l| (l.mount_id, l.status)).collect();
        assert_eq!(status, [(701, Status::Stale), (702, Status::AtRisk)]);
        assert!(Arc::ptr_eq(&owner_of(&second, 702), &owner_of(&third, 702)));
        assert!(!Arc::ptr_eq(
            &owner_of(&second, 701),
            &owner_of(&third, 701)
        ));
    }

    #[test]
    fn a_stale_copy_counts_only_when_something_vouches_for_it() {
        // Issue 12: a user's `unshare -Urm` and a tmpfs at a container-shaped path.
        let snapshot = |reference: Option<String>, userns: bool| {
            let host = ns(
                1,
                "/",
                &[(1, "systemd")],
                &reference.into_iter().collect::<Vec<_>>(),
            );
            let mut faker = ns(2, "/", &[(500, "sh")], &[shm("0:99", "")]);
            faker.host_userns = userns;
            HostSnapshot {
                namespaces: vec![host, faker],
                processes_scanned: 0,
                errors: ScanErrors::default(),
                ..Default::default()
            }
        };
        let empty = RuntimeView::default();
        let mut history = ReferenceHistory::default();
        // Nothing vouches: counted apart, not a leak.
        let c = classify(snapshot(None, false), &empty, &mut history);
        assert_eq!((statuses(&c), c.unverified), (vec![], 1));
        // Root's namespace: a leak.
        let c = classify(snapshot(None, true), &empty, &mut history);
        assert_eq!((statuses(&c), c.unverified), (vec![Status::Stale], 0));
        // The runtime knows the container the path names.
        let known = RuntimeView::docker(
            true,
            vec!["/var/lib/docker".into()],
            vec!["/run/docker".into()],
            [ContainerInfo::docker(ID, "etcd1", "exited")],
        );
        let c = classify(snapshot(None, false), &known, &mut history);
        assert_eq!((statuses(&c), c.unverified), (vec![Status::Stale], 0));
        // A reference had that device at that path in an earlier scan: remembered.
        let c = classify(
            snapshot(Some(shm("0:99", "shared:5")), false),
            &empty,
            &mut history,
        );
        assert_eq!(
            c.unverified, 0,
            "at risk, so verified by the reference itself"
        );
        let c = classify(snapshot(None, false), &empty, &mut history);
        assert_eq!((statuses(&c), c.unverified), (vec![Status::Stale], 0));
        // Another device at that path was never the runtime's.
        let c = classify(
            snapshot(Some(shm("0:98", "shared:5")), false),
            &empty,
            &mut history,
        );
        assert_eq!(
            (statuses(&c), c.unverified),
            (vec![Status::Stale], 0),
            "0:99 remembered"
        );
        let mut fresh = ReferenceHistory::default();
        let c = classify(
            snapshot(Some(shm("0:98", "shared:5")), false),
            &empty,
            &mut fresh,
        );
        assert_eq!((statuses(&c), c.unverified), (vec![], 1));
    }

    #[test]
    fn reference_history_keeps_the_present_and_the_most_recently_gone() {
        let mut h = ReferenceHistory::default();
        let paths: Vec<String> = (0..ReferenceHistory::GONE + 10)
            .map(|i| format!("/p{i}"))
            .collect();
        for p in &paths {
            h.record(std::iter::once((p.as_str(), 0, 1)));
        }
        h.record(std::iter::once(("/now", 0, 1)));
        assert_eq!(h.seen.len(), ReferenceHistory::GONE + 1);
        assert!(h.contains("/now", 0, 1));
        assert!(h.contains(paths.last().unwrap(), 0, 1));
        assert!(
            !h.contains(&paths[0], 0, 1),
            "the oldest gone is forgotten first"
        );
        assert!(!h.contains("/now", 0, 2));
    }

    #[test]
    fn a_leak_is_32_bytes() {
        // K x M of them in a leak storm (209,000 at P=10,000 M=10,000): bench/README.md.
        assert_eq!(std::mem::size_of::<Leak>(), 32);
    }

    #[test]
    fn status_table() {
        // (reference's copy, holder's copy, expected statuses, expected propagated)
        let cases: Vec<(Option<String>, String, Vec<Status>, u64)> = vec![
            (None, shm("0:57", ""), vec![Status::Stale], 0),
            (
                Some(shm("0:57", "shared:5")),
                shm("0:57", ""),
                vec![Status::AtRisk],
                0,
            ),
            (
                Some(shm("0:57", "shared:5")),
                shm("0:57", "master:5"),
                vec![],
                1,
            ),
            (
                Some(shm("0:57", "shared:5")),
                shm("0:57", "shared:5"),
                vec![],
                1,
            ),
            // A slave of some other group is not tied to this mount.
            (
                Some(shm("0:57", "shared:5")),
                shm("0:57", "master:9"),
                vec![Status::AtRisk],
                0,
            ),
            // Both slaves of one master: the daemon's unmount does not propagate sideways.
            (
                Some(shm("0:57", "master:5")),
                shm("0:57", "master:5"),
                vec![Status::AtRisk],
                0,
            ),
            // Container restarted: same path, new device; the old copy is stale.
            (
                Some(shm("0:99", "shared:5")),
                shm("0:57", "master:5"),
                vec![Status::Stale],
                0,
            ),
        ];
        for (reference, holder, want, propagated) in cases {
            let host = ns(
                1,
                "/",
                &[(1, "systemd")],
                &reference.clone().into_iter().collect::<Vec<_>>(),
            );
            let leaker = ns(2, "/", &[(500, "httpd")], std::slice::from_ref(&holder));
            let got = run(vec![host, leaker], &RuntimeView::default());
            assert_eq!(statuses(&got), want, "ref {reference:?} holder {holder}");
            assert_eq!(
                got.propagated, propagated,
                "ref {reference:?} holder {holder}"
            );
        }
    }

    #[test]
    fn a_chain_of_slaves_heals_by_propagation() {
        // Issue 14: a PrivateTmp unit's namespace (a shared slave of the host's: shared:9
        // master:5) and a child of it that ran `unshare --propagation slave` (master:9).
        let host = || ns(1, "/", &[(1, "systemd")], &[shm("0:57", "shared:5")]);
        let unit = || {
            ns(
                2,
                "/",
                &[(500, "httpd")],
                &[shm("0:57", "shared:9 master:5")],
            )
        };
        let child = |opt: &str| ns(3, "/", &[(600, "worker")], &[shm("0:57", opt)]);
        let got = run(
            vec![host(), unit(), child("master:9")],
            &RuntimeView::default(),
        );
        assert_eq!((statuses(&got), got.propagated), (vec![], 2));
        let got = run(
            vec![host(), unit(), child("shared:9")],
            &RuntimeView::default(),
        );
        assert_eq!((statuses(&got), got.propagated), (vec![], 2));
        // A chain that ends elsewhere, and a cycle (a torn read), are not ties.
        let other = ns(
            2,
            "/",
            &[(500, "httpd")],
            &[shm("0:57", "shared:9 master:8")],
        );
        let got = run(
            vec![host(), other, child("master:9")],
            &RuntimeView::default(),
        );
        assert_eq!(statuses(&got), vec![Status::AtRisk, Status::AtRisk]);
        let a = ns(2, "/", &[(500, "a")], &[shm("0:57", "shared:9 master:10")]);
        let b = ns(3, "/", &[(600, "b")], &[shm("0:57", "shared:10 master:9")]);
        let got = run(vec![host(), a, b], &RuntimeView::default());
        assert_eq!(statuses(&got), vec![Status::AtRisk, Status::AtRisk]);
    }

    #[test]
    fn dockerd_namespace_is_a_reference_when_pid1_is_not_visible() {
        let daemon = ns(1, "/", &[(300, "dockerd")], &[shm("0:57", "")]);
        let leaker = ns(2, "/", &[(500, "httpd")], &[shm("0:57", "")]);
        let got = run(vec![daemon, leaker], &RuntimeView::default());
        assert_eq!(statuses(&got), vec![Status::AtRisk]);
        assert_eq!(
            got.holders[got.leaks[0].namespace as usize].processes[0].pid,
            500
        );
    }

    #[test]
    fn the_namespace_of_the_runtimes_socket_server_is_a_reference_unlisted_or_not() {
        // The daemon (pid 340) is past the processes whose names were read: only the
        // socket's peer pid tells its namespace apart.
        let mut daemon = ns(1, "/", &[(300, "tini"), (310, "sh")], &[shm("0:57", "")]);
        daemon.pids.push(340);
        let leaker = ns(2, "/", &[(500, "httpd")], &[shm("0:57", "")]);
        let by_name = run(
            vec![daemon.clone(), leaker.clone()],
            &RuntimeView::default(),
        );
        assert_eq!(statuses(&by_name), vec![Status::Stale, Status::Stale]);
        let view = RuntimeView {
            daemon_pids: vec![(RuntimeKind::Docker, 340)],
            ..RuntimeView::default()
        };
        let got = run(vec![daemon, leaker], &view);
        assert_eq!(statuses(&got), vec![Status::AtRisk]);
    }

    #[test]
    fn chrooted_and_prefixed_copies_compare_with_the_daemon_path() {
        let host = ns(1, "/", &[(1, "systemd")], &[shm("0:57", "shared:5")]);
        let prefixed = format!(
            "700 1 0:57 / /rootfs/var/lib/docker/containers/{ID}/mounts/shm rw - tmpfs shm rw"
        );
        let monitor = ns(2, "/", &[(600, "cadvisor")], &[prefixed]);
        let chrooted_line =
            format!("800 1 0:57 / /lib/docker/containers/{ID}/mounts/shm rw - tmpfs shm rw");
        let chrooted = ns(3, "/var", &[(700, "jail")], &[chrooted_line]);
        let got = run(vec![host, monitor, chrooted], &RuntimeView::default());
        assert_eq!(statuses(&got), vec![Status::AtRisk, Status::AtRisk]);
        assert!(got.leaks.iter().all(|l| {
            l.target
                .path
                .canonical
                .starts_with("/var/lib/docker/containers/")
        }));
    }

    /// A path mounted twice (stacked) is one leak: the first copy of each device, in table
    /// order, stands for its path; a copy of the same path on another device is another leak.
    #[test]
    fn stacked_mounts_of_one_path_are_one_leak() {
        let line = |id: u32, dev: &str, path: &str| {
            format!("{id} 340 {dev} / /var/lib/docker/{path} rw - tmpfs t rw")
        };
        let shm_path = format!("containers/{ID}/mounts/shm");
        let lines = [
            line(601, "0:57", &shm_path),
            line(602, "0:58", "volumes/data/_data"),
            line(603, "0:59", &shm_path),
            line(604, "0:57", &shm_path),
            line(605, "0:58", "volumes/data/_data"),
        ];
        let leaker = ns(2, "/", &[(500, "httpd")], &lines);
        let got = run(vec![leaker.clone()], &RuntimeView::default());
        let ids: Vec<u32> = got.leaks.iter().map(|l| l.mount_id).collect();
        assert_eq!(ids, [601, 603, 602]);
        // Nothing vouches for a faker's copies: each path and device is counted once.
        let faker = MountNamespace {
            host_userns: false,
            ..leaker
        };
        let got = run(vec![faker], &RuntimeView::default());
        assert_eq!((got.leaks.len(), got.unverified), (0, 3));
    }

    #[test]
    fn container_state_comes_from_the_view() {
        let info = |state: &str| ContainerInfo::docker(ID, "etcd1", state);
        let cases = [
            (true, Some(info("exited")), "etcd1", "exited"),
            (true, Some(info(STATE_REMOVED)), "etcd1", "removed"),
            (false, Some(info("running")), "etcd1", "unknown"),
            (false, Some(info(STATE_REMOVED)), "etcd1", "removed"),
            (true, None, "", "removed"),
            (false, None, "", "unknown"),
        ];
        for (up, known, name, state) in cases {
            let view = RuntimeView::docker(up, vec![], vec![], known);
            let leaker = ns(2, "/", &[(500, "httpd")], &[shm("0:57", "")]);
            let got = run(vec![leaker], &view);
            let c = got.leaks[0].owner.container.clone().unwrap();
            assert_eq!(
                (c.id.as_str(), c.name.as_str(), c.state.as_str()),
                (ID, name, state),
                "up={up}"
            );
        }
    }

    #[test]
    fn containers_own_namespaces_hold_nothing() {
        let line = "700 650 0:60 / / rw - overlay overlay rw".to_string();
        let own = ns(2, "/", &[(500, "nginx")], &[line]);
        assert!(own.container_mounts.is_empty());
        assert!(run(vec![own], &RuntimeView::default()).leaks.is_empty());
    }

    #[test]
    fn each_runtime_states_its_own_containers() {
        let podman_id = "2cca1d7e22633a4ec426115333d8918b59253843c396163ab535797f295bcb88";
        let podman_shm = format!(
            "600 340 0:70 / {PODMAN_ROOT}/overlay-containers/{podman_id}/userdata/shm rw - tmpfs shm rw"
        );
        let podman_netns =
            "601 340 0:4 net:[4026532250] /run/netns/netns-92fb rw - nsfs nsfs rw".to_string();
        let docker_view = RuntimeView::docker(
            true,
            vec![],
            vec![],
            [ContainerInfo::docker(ID, "etcd1", "exited")],
        );
        let podman_view = RuntimeView::build(
            RuntimeKind::Podman,
            false,
            Layout::default(),
            [ContainerInfo {
                runtime: RuntimeKind::Podman,
                sandbox_key: Some("/run/netns/netns-92fb".into()),
                ..ContainerInfo::docker(podman_id, "web", "running")
            }],
        );
        let view = RuntimeView::merge([&docker_view, &podman_view]);
        let leaker = ns(
            2,
            "/",
            &[(500, "httpd")],
            &[shm("0:57", ""), podman_shm, podman_netns],
        );
        let got = run(vec![leaker], &view);
        let seen: Vec<(Option<RuntimeKind>, Kind, String, String)> = got
            .leaks
            .iter()
            .map(|l| {
                let c = l.owner.container.clone().unwrap();
                assert_eq!(Some(c.runtime), l.owner.runtime);
                (l.owner.runtime, l.target.path.kind, c.name, c.state)
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (
                    Some(RuntimeKind::Podman),
                    Kind::Netns,
                    "web".into(),
                    "unknown".into()
                ),
                (
                    Some(RuntimeKind::Podman),
                    Kind::Shm,
                    "web".into(),
                    "unknown".into()
                ),
                (
                    Some(RuntimeKind::Docker),
                    Kind::Shm,
                    "etcd1".into(),
                    "exited".into()
                ),
            ],
            "podman is down: only its containers' states are unknown"
        );
    }

    /// One path of each mounter, shared (`shared:N`) so a copy is an at_risk or stale leak,
    /// never tied to it by propagation.
    fn one_path_each() -> Vec<(Mounter, String)> {
        let uid = "6f1e0c9a-2b5d-4c1e-9a53-2f0e6b7c8d90";
        vec![
            (
                Mounter::Runtime(RuntimeKind::Docker),
                shm("0:57", "shared:5"),
            ),
            (
                Mounter::Runtime(RuntimeKind::Podman),
                format!(
                    "600 1 0:58 / {PODMAN_ROOT}/overlay-containers/{ID}/userdata/shm rw shared:6 - tmpfs shm rw"
                ),
            ),
            (
                Mounter::Runtime(RuntimeKind::Containerd),
                format!(
                    "601 1 0:59 / /run/containerd/io.containerd.grpc.v1.cri/sandboxes/{ID}/shm rw shared:7 - tmpfs shm rw"
                ),
            ),
            (
                Mounter::Kubelet,
                format!(
                    "602 1 0:60 / /var/lib/kubelet/pods/{uid}/volumes/kubernetes.io~empty-dir/cache rw shared:8 - tmpfs tmpfs rw"
                ),
            ),
            (
                Mounter::Runtime(RuntimeKind::CriO),
                format!(
                    "603 1 0:61 / /run/containers/storage/overlay-containers/{ID}/userdata/shm rw shared:9 - tmpfs shm rw"
                ),
            ),
        ]
    }

    #[test]
    fn a_runtime_daemons_namespace_is_the_reference_for_its_own_paths_only() {
        let paths = one_path_each();
        let lines: Vec<String> = paths.iter().map(|(_, l)| l.clone()).collect();
        let private: Vec<String> = lines.iter().map(|l| l.replace(" shared:", " x:")).collect();
        let mut comms: Vec<&str> = DAEMON_COMMS.iter().map(|(c, _)| *c).collect();
        comms.sort();
        comms.dedup();
        for comm in comms {
            let own: Vec<Mounter> = DAEMON_COMMS
                .iter()
                .filter(|(c, _)| *c == comm)
                .map(|(_, m)| *m)
                .collect();
            let daemon = ns(1, "/", &[(300, comm)], &lines);
            let leaker = ns(2, "/", &[(500, "httpd")], &private);
            let got = run(vec![daemon, leaker], &RuntimeView::default());
            let mut rows: Vec<(u32, u8, Status)> = got
                .leaks
                .iter()
                .map(|l| {
                    let pid = got.holders[l.namespace as usize].processes[0].pid;
                    (pid, Mounter::of(&l.target.path).bit(), l.status)
                })
                .collect();
            rows.sort();
            let mut want: Vec<(u32, u8, Status)> = Vec::new();
            for (m, _) in &paths {
                // The daemon's copies of the others' paths are leaks like any holder's;
                // the leaker's copy of the daemon's own path is at risk, of the rest stale.
                if own.contains(m) {
                    want.push((500, m.bit(), Status::AtRisk));
                } else {
                    want.push((300, m.bit(), Status::Stale));
                    want.push((500, m.bit(), Status::Stale));
                }
            }
            want.sort();
            assert_eq!(rows, want, "{comm}");
        }
    }

    #[test]
    fn a_containerized_kubelets_copies_of_docker_netns_are_leaks_not_references() {
        // RKE1's kubelet container binds /run rprivate: it copied the netns of a container
        // since removed (the host no longer has it), as did an agent.
        let netns = "700 1 0:4 net:[4026532300] /run/docker/netns/5c1a2b3c4d5e rw - nsfs nsfs rw"
            .to_string();
        let host = ns(1, "/", &[(1, "systemd")], &[]);
        let kubelet = ns(2, "/", &[(400, "kubelet")], std::slice::from_ref(&netns));
        let agent = ns(3, "/", &[(500, "agent")], &[netns]);
        let got = run(vec![host, kubelet, agent], &RuntimeView::default());
        let held: Vec<(u32, Status)> = got
            .leaks
            .iter()
            .map(|l| (got.holders[l.namespace as usize].processes[0].pid, l.status))
            .collect();
        assert_eq!(held, vec![(400, Status::Stale), (500, Status::Stale)]);
    }

    #[test]
    fn rootless_podmans_pause_process_is_the_reference_for_its_containers() {
        // Rootless Podman mounts only in the pause process's namespace (catatonit -P): no
        // other namespace has the mount, and no podman or conmon may be running.
        let line = &one_path_each()[1].1;
        let pause = ns(2, "/", &[(900, "catatonit")], std::slice::from_ref(line));
        let got = run(vec![pause], &RuntimeView::default());
        assert!(got.leaks.is_empty(), "{:?}", got.leaks);
        // A process named otherwise holding the same table is reported.
        let other = ns(2, "/", &[(900, "sleep")], std::slice::from_ref(line));
        assert_eq!(
            statuses(&run(vec![other], &RuntimeView::default())),
            vec![Status::Stale]
        );
    }

    #[test]
    fn a_crio_containers_mounts_are_named_cri_o_never_podman() {
        // CRI-O shares containers/storage's graph root with Podman: a layer's merged dir is
        // named by whichever runtime lists it.
        let uuid = "0b6ad3f0-9c4e-4f21-8d7a-3e5b6c7d8e9f";
        let app = ContainerInfo {
            runtime: RuntimeKind::CriO,
            merged_dir: Some(format!("{PODMAN_ROOT}/overlay/4a9d/merged")),
            ..ContainerInfo::docker("c0ffee", "app", "running")
        };
        let sandbox = ContainerInfo {
            runtime: RuntimeKind::CriO,
            sandbox_key: Some(format!("/var/run/netns/{uuid}")),
            ..ContainerInfo::docker(ID, "web-0", "ready")
        };
        let view = RuntimeView::build(RuntimeKind::CriO, true, Layout::default(), [app, sandbox]);
        let lines = [
            format!("700 1 0:80 / {PODMAN_ROOT}/overlay/4a9d/merged rw - overlay overlay rw"),
            format!(
                "701 1 0:81 / /run/containers/storage/overlay-containers/{ID}/userdata/shm rw - tmpfs shm rw"
            ),
            format!("702 1 0:4 net:[4026532300] /run/netns/{uuid} rw - nsfs nsfs rw"),
        ];
        let leaker = ns(2, "/", &[(500, "fluentd")], &lines);
        let got = run(vec![leaker], &view);
        let rows: Vec<(Kind, Option<RuntimeKind>, String)> = got
            .leaks
            .iter()
            .map(|l| {
                let c = l.owner.container.as_ref().unwrap();
                (l.target.path.kind, l.owner.runtime, c.name.clone())
            })
            .collect();
        let crio = Some(RuntimeKind::CriO);
        assert_eq!(
            rows,
            vec![
                (Kind::Shm, crio, "web-0".to_string()),
                (Kind::Netns, crio, "web-0".to_string()),
                (Kind::Rootfs, crio, "app".to_string()),
            ]
        );
    }

    #[test]
    fn kubernetes_mounts_name_their_pod() {
        let uid = "6f1e0c9a-2b5d-4c1e-9a53-2f0e6b7c8d90";
        let pod = PodRef {
            uid: uid.into(),
            name: "web-7d9f".into(),
            namespace: "shop".into(),
        };
        let sandbox = ContainerInfo {
            runtime: RuntimeKind::Containerd,
            namespace: Some("k8s.io".into()),
            sandbox_key: Some("/var/run/netns/cni-0b3c".into()),
            pod: Some(pod.clone()),
            ..ContainerInfo::docker("s1", "web-7d9f", "running")
        };
        let view = RuntimeView::build(RuntimeKind::Containerd, true, Layout::default(), [sandbox]);
        let lines = [
            "700 1 0:80 / /run/containerd/io.containerd.grpc.v1.cri/sandboxes/s1/shm rw - tmpfs shm rw".to_string(),
            "701 1 0:4 net:[4026532300] /run/netns/cni-0b3c rw - nsfs nsfs rw".to_string(),
            "702 1 0:81 / /run/containerd/io.containerd.runtime.v2.task/k8s.io/c9/rootfs rw - overlay overlay rw".to_string(),
            format!("703 1 0:82 / /var/lib/kubelet/pods/{uid}/volumes/kubernetes.io~secret/token rw - tmpfs tmpfs rw"),
            "704 1 0:83 / /var/lib/kubelet/pods/0000-gone/volumes/kubernetes.io~empty-dir/cache rw - tmpfs tmpfs rw".to_string(),
        ];
        let leaker = ns(2, "/", &[(500, "fluentd")], &lines);
        let got = run(vec![leaker], &view);
        type Row = (
            String,
            Option<RuntimeKind>,
            Option<(String, String)>,
            Option<String>,
            Option<PodRef>,
        );
        let rows: Vec<Row> = got
            .leaks
            .iter()
            .map(|l| {
                (
                    l.target.path.canonical.clone(),
                    l.owner.runtime,
                    l.owner
                        .container
                        .as_ref()
                        .map(|c| (c.name.clone(), c.state.clone())),
                    l.owner.volume.clone(),
                    l.owner.pod.clone(),
                )
            })
            .collect();
        let containerd = Some(RuntimeKind::Containerd);
        let s1 = Some(("web-7d9f".to_string(), "running".to_string()));
        let want: Vec<Row> = vec![
            (
                "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/s1/shm".into(),
                containerd,
                s1.clone(),
                None,
                Some(pod.clone()),
            ),
            (
                "/run/containerd/io.containerd.runtime.v2.task/k8s.io/c9/rootfs".into(),
                containerd,
                Some((String::new(), "removed".into())),
                None,
                None,
            ),
            (
                "/run/netns/cni-0b3c".into(),
                containerd,
                s1.clone(),
                None,
                Some(pod.clone()),
            ),
            (
                "/var/lib/kubelet/pods/0000-gone/volumes/kubernetes.io~empty-dir/cache".into(),
                None,
                None,
                Some("kubernetes.io~empty-dir/cache".into()),
                Some(PodRef {
                    uid: "0000-gone".into(),
                    ..Default::default()
                }),
            ),
            (
                format!("/var/lib/kubelet/pods/{uid}/volumes/kubernetes.io~secret/token"),
                containerd,
                None,
                Some("kubernetes.io~secret/token".into()),
                Some(pod),
            ),
        ];
        assert_eq!(rows, want);
    }
}
