//! The incremental scan: each namespace's container mounts are remembered between scans,
//! keyed by the namespace's 64-bit id (`NS_GET_MNTNS_ID`, never reused), with the list of
//! its mount ids listmount(2) gave (64-bit, never reused: a mount or unmount always changes
//! the list). The list is not even walked while the namespace's [`Summary`] (its mount
//! count and highest mount id, two calls that walk nothing) is that of the remembered list,
//! except for the exporter's own namespace. When the list changed by a few ids, the mounts whose ids are gone are dropped
//! and the new ones read one by one with statmount(2) (`bring_up_to_date`); the table is
//! read again only for more changes. A new mount inherits nothing of an old one's id, so
//! the remembered mounts that kept theirs are as they were but for two things, which keep
//! ids and change what a scan must report:
//! - propagation (`mount --make-private` on an existing mount): every remembered container
//!   mount that is shared or a slave is re-checked with statmount(2) each scan. A private
//!   one made shared gets a peer group of its own (`--make-slave` leaves it private:
//!   mount_namespaces(7)), which matters only once another mount joins it, and joining
//!   takes a new mount or a new namespace (a copy), read afresh: when a table read afresh
//!   holds a container mount tied to a peer group that no remembered mount is in
//!   (`Tables::unknown_peer_group`), the remembered private container mounts are re-checked
//!   with statmount(2) (`Tables::untied_unchanged`, at most [`MAX_RECHECKED`]); if one
//!   changed, or there are more, the scan reads every table;
//! - `mount --move`: every table is read again at least every [`FULL_REREAD`].
//!
//! No fd that holds a namespace is kept: a namespace's `ns/mnt` is opened and closed within
//! its share of the scan (the processes' `ns` directories kept by `ns_dirs` hold none).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::details::Details;
use super::listmount::{Naming, OpenNamespace, Summary};
use super::ns_dirs::NsDirs;
use super::{ContainerMount, Propagation, ScanErrors, TableReader};
use crate::layout::Layout;

/// Longest time a remembered table is trusted: bounds how long a `mount --move` (which keeps
/// every id) can go unseen.
pub const FULL_REREAD: Duration = Duration::from_secs(300);

/// Most container-mount copies remembered (32 bytes each, their mount data shared with the
/// report). A scan that sees more in all (a leak storm: the bench's P = 10,000, M = 10,000
/// point holds 209,000) forgets them and the next scans read every table, until there are
/// fewer again: remembering part of them would keep two parses of the same mounts alive (the
/// remembered ones and the re-read ones), and a leak storm's memory stays a full scan's.
pub const MAX_REMEMBERED_COPIES: usize = 32 * 1024;

/// How the last scan decided which tables to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanMode {
    /// Every namespace's table, every scan.
    #[default]
    Full,
    /// Only tables whose listmount(2) ids changed.
    Listmount,
}

impl ScanMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanMode::Full => "full",
            ScanMode::Listmount => "listmount",
        }
    }
}

enum Mode {
    Full,
    /// Not probed yet: the first scan finds out.
    Unprobed,
    Incremental(Naming),
}

struct Cached {
    /// The mount ids (ascending) the table was read, or last brought up to date, after.
    ids: Vec<u64>,
    /// Of `ids`: while the namespace's is the same, they are its ids (no listing needed).
    summary: Option<Summary>,
    mounts: Arc<[ContainerMount]>,
    /// The 64-bit id of each of `mounts`.
    unique: Vec<u64>,
    /// (mount id, index in `mounts`) of the shared and slave ones, re-checked every scan.
    tied: Vec<(u64, usize)>,
    /// Lines of the table that did not parse: counted again on every scan, as a read would.
    parse_errors: u64,
    generation: u64,
    /// The namespace's inode and the process it was reached through in its last scan, to
    /// reach it again within that scan (`Tables::untied_unchanged`).
    inode: u64,
    pid: u32,
}

/// What one scan leaves for the next.
pub struct Tables {
    mode: Mode,
    cached: HashMap<u64, Cached>,
    /// Copies in `cached`, at most [`MAX_REMEMBERED_COPIES`].
    copies: usize,
    /// Copies seen in the current scan, remembered or not.
    seen_copies: usize,
    /// The last scan saw more than [`MAX_REMEMBERED_COPIES`]: remember nothing.
    over: bool,
    /// Peer groups (shared or master) of this scan's container mounts: of the remembered
    /// ones served (re-checked) and of those read afresh.
    known_groups: HashSet<u32>,
    fresh_groups: HashSet<u32>,
    /// Namespaces served from memory in this scan.
    served: u64,
    layout: Option<Layout>,
    trusted_since: Instant,
    generation: u64,
    ids: Vec<u64>,
    /// Reused for every statmount(2) of a whole mount.
    statmount: Vec<u64>,
    /// Whether the kernel gives namespace summaries (`OpenNamespace::summary`): until it
    /// refuses one.
    summaries: bool,
    /// The exporter's own namespace, whose summary is never trusted (see `Summary`).
    own_ns: Option<u64>,
    /// Tables read in the current (last) scan.
    pub reread: u64,
    /// The details of the processes that name holders, remembered as the tables are.
    pub(super) details: Details,
    /// The processes' `ns` directories, kept open between scans (see `ns_dirs`).
    pub(super) ns_dirs: NsDirs,
}

impl Default for Tables {
    fn default() -> Tables {
        Tables::full()
    }
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables")
            .field("mode", &self.mode())
            .field("remembered", &self.cached.len())
            .field("copies", &self.copies)
            .field("reread", &self.reread)
            .field("ns_dirs", &self.ns_dirs)
            .finish()
    }
}

impl Tables {
    /// Reads every table every scan (one-shot commands, fixture trees).
    pub fn full() -> Tables {
        Tables::with_mode(Mode::Full)
    }

    /// Reads only what changed, where the kernel can say (found on the first scan).
    pub fn incremental() -> Tables {
        Tables::with_mode(Mode::Unprobed)
    }

    fn with_mode(mode: Mode) -> Tables {
        Tables {
            mode,
            cached: HashMap::new(),
            copies: 0,
            seen_copies: 0,
            over: false,
            known_groups: HashSet::new(),
            fresh_groups: HashSet::new(),
            served: 0,
            layout: None,
            trusted_since: Instant::now(),
            generation: 0,
            ids: Vec::new(),
            statmount: Vec::new(),
            summaries: true,
            own_ns: None,
            reread: 0,
            details: Details::default(),
            ns_dirs: NsDirs::default(),
        }
    }

    pub fn mode(&self) -> ScanMode {
        match self.mode {
            Mode::Incremental(_) => ScanMode::Listmount,
            _ => ScanMode::Full,
        }
    }

    /// Starts a scan: forgets everything when the layout (which paths are container mounts)
    /// changed or the tables are older than [`FULL_REREAD`].
    pub(super) fn begin(&mut self, procfs: &Path, layout: &Layout) {
        if let Mode::Unprobed = self.mode {
            self.mode = match super::listmount::probe(procfs) {
                Ok((naming, own_ns)) => {
                    self.own_ns = Some(own_ns);
                    tracing::info!(
                        ?naming,
                        "incremental scans: listmount(2) says which tables changed"
                    );
                    Mode::Incremental(naming)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "listmount(2) unavailable: every scan reads every mount table");
                    Mode::Full
                }
            };
            if let Mode::Incremental(_) = self.mode {
                self.details = Details::remembering();
                self.ns_dirs = NsDirs::keeping();
            }
        }
        self.details.begin();
        if self.layout.as_ref() != Some(layout) || self.trusted_since.elapsed() > FULL_REREAD {
            self.cached.clear();
            self.copies = 0;
            self.layout = Some(layout.clone());
            self.trusted_since = Instant::now();
        }
        self.generation += 1;
        self.clear_counts();
    }

    fn clear_counts(&mut self) {
        self.reread = 0;
        self.seen_copies = 0;
        self.known_groups.clear();
        self.fresh_groups.clear();
        self.served = 0;
    }

    /// Whether a table read afresh in this scan ties a container mount to a peer group no
    /// remembered mount served in it is in (see the module comment).
    pub(super) fn unknown_peer_group(&self) -> bool {
        self.served > 0
            && self
                .fresh_groups
                .iter()
                .any(|g| !self.known_groups.contains(g))
    }

    /// Whether every remembered container mount of this scan that is neither shared nor a
    /// slave still is (statmount(2) of each through its namespace, reached again): then a
    /// peer group new to the remembered mounts is new to the host, as no remembered mount
    /// can have joined it (see the module comment). `false` when one changed or cannot be
    /// checked, or there are more than [`MAX_RECHECKED`].
    pub(super) fn untied_unchanged(&self, procfs: &Path) -> bool {
        let Mode::Incremental(naming) = self.mode else {
            return false;
        };
        let current = || (self.cached.iter()).filter(|(_, c)| c.generation == self.generation);
        let untied: usize = current().map(|(_, c)| c.mounts.len() - c.tied.len()).sum();
        untied <= MAX_RECHECKED
            && current()
                .filter(|(_, c)| c.tied.len() < c.mounts.len())
                .all(|(&id, c)| {
                    let link = procfs.join(c.pid.to_string()).join("ns/mnt");
                    let Ok(ns) = OpenNamespace::open(&link, c.inode, naming) else {
                        return false;
                    };
                    let untied = (c.unique.iter().zip(c.mounts.iter()))
                        .filter(|(_, m)| m.propagation == Propagation::default());
                    ns.id == id && untied.into_iter().all(|(&u, m)| as_remembered(&ns, u, m))
                })
    }

    /// Forgets every table, for the scan to read them all again.
    pub(super) fn forget(&mut self) {
        self.cached.clear();
        self.copies = 0;
        self.clear_counts();
    }

    /// Ends a scan: namespaces not seen in it are forgotten.
    pub(super) fn finish(&mut self) {
        self.details.finish();
        let generation = self.generation;
        self.cached.retain(|_, c| c.generation == generation);
        self.over = self.seen_copies > MAX_REMEMBERED_COPIES;
        if self.over {
            self.cached.clear();
        }
        self.copies = self.cached.values().map(|c| c.mounts.len()).sum();
    }

    /// A namespace's root and container mounts, as [`TableReader::read_namespace`] finds
    /// them, from memory when its mount ids and tied mounts did not change.
    pub(super) fn read(
        &mut self,
        reader: &mut TableReader,
        procfs: &Path,
        inode: u64,
        pids: &[u32],
        errors: &mut ScanErrors,
    ) -> Option<(String, Arc<[ContainerMount]>)> {
        let served = self.served;
        let read = self.read_namespace(reader, procfs, inode, pids, errors);
        if let Some((_, mounts)) = &read {
            self.seen_copies += mounts.len();
            if self.served == served {
                self.note_fresh(mounts);
            }
        }
        read
    }

    fn read_namespace(
        &mut self,
        reader: &mut TableReader,
        procfs: &Path,
        inode: u64,
        pids: &[u32],
        errors: &mut ScanErrors,
    ) -> Option<(String, Arc<[ContainerMount]>)> {
        let Mode::Incremental(naming) = self.mode else {
            let read = reader.read_namespace(procfs, inode, pids, errors);
            return self.counted(read.map(|(root, m)| (root, m.into())));
        };
        let mut chrooted = Vec::new();
        for &pid in pids {
            let dir = procfs.join(pid.to_string());
            match std::fs::read_link(dir.join("root")) {
                Ok(root) if root.as_os_str() == "/" => {}
                Ok(_) => {
                    chrooted.push(pid);
                    continue;
                }
                Err(e) => {
                    errors.count(&e);
                    continue;
                }
            }
            if let Some(mounts) = self.through(reader, &dir, pid, inode, naming, errors) {
                return Some(("/".to_string(), mounts));
            }
        }
        // Only chrooted processes left: their partial views are read, never remembered.
        let read = reader.read_namespace(procfs, inode, &chrooted, errors);
        self.counted(read.map(|(root, m)| (root, m.into())))
    }

    fn counted<T>(&mut self, read: Option<T>) -> Option<T> {
        self.reread += u64::from(read.is_some());
        read
    }

    /// Notes the peer group each container mount read afresh depends on: its master's when
    /// it is a slave (a remembered mount made shared since has no master, so cannot be its
    /// peer), else its own.
    fn note_fresh(&mut self, mounts: &[ContainerMount]) {
        let groups = mounts
            .iter()
            .filter_map(|m| m.propagation.master.or(m.propagation.shared));
        self.fresh_groups.extend(groups);
    }

    /// The table through one process whose root is `/`; `None` if it vanished.
    fn through(
        &mut self,
        reader: &mut TableReader,
        dir: &Path,
        pid: u32,
        inode: u64,
        naming: Naming,
        errors: &mut ScanErrors,
    ) -> Option<Arc<[ContainerMount]>> {
        let ns = match OpenNamespace::open(&dir.join("ns/mnt"), inode, naming) {
            Ok(ns) => ns,
            Err(e) if vanished(&e) => {
                errors.count(&e);
                return None;
            }
            // Readable as a link but not to open (an LSM, say): read it as a full scan does.
            Err(e) => {
                tracing::debug!(pid, error = %e, "cannot open ns/mnt: reading the table");
                let mounts = reader.read_table(dir, pid, inode, "/", errors)?;
                self.reread += 1;
                return Some(mounts.into());
            }
        };
        let remembered = self.cached.get(&ns.id).and_then(|c| c.summary);
        let listed = if remembered.is_some() && self.summary(&ns) == remembered {
            self.ids.clone_from(&self.cached[&ns.id].ids);
            Ok(())
        } else {
            ns.list(&mut self.ids)
        };
        if listed.is_ok()
            && let Some(c) = self.cached.get_mut(&ns.id)
            && still_tied(&ns, c, &self.ids)
            && let Some(fresh) = bring_up_to_date(c, &ns, &self.ids, reader, &mut self.statmount)
        {
            (c.generation, c.pid) = (self.generation, pid);
            errors.parse += c.parse_errors;
            self.served += 1;
            self.copies = self.copies + c.mounts.len() - fresh.before;
            // Known: the groups of the remembered mounts just checked, not the new ones'.
            let tied = (c.tied.iter())
                .filter(|(id, _)| !fresh.ids.contains(id))
                .map(|&(_, i)| c.mounts[i].propagation);
            self.known_groups
                .extend(tied.flat_map(|p| [p.shared, p.master]).flatten());
            let mounts = c.mounts.clone();
            self.note_fresh(&fresh.mounts);
            return Some(mounts);
        }
        let why = match (&listed, self.cached.contains_key(&ns.id)) {
            (Err(_), _) => "listmount(2) failed",
            (Ok(()), false) => "not remembered",
            (Ok(()), true) => "changed beyond what is read one mount at a time",
        };
        tracing::debug!(pid, inode, why, "reading a mount table");
        let parse_before = errors.parse;
        let mounts: Arc<[ContainerMount]> = reader.read_table(dir, pid, inode, "/", errors)?.into();
        self.reread += 1;
        if let Some(old) = self.cached.remove(&ns.id) {
            self.copies -= old.mounts.len();
        }
        if listed.is_ok() {
            let parse_errors = errors.parse - parse_before;
            self.remember(&ns, (inode, pid), reader, mounts.clone(), parse_errors);
        }
        Some(mounts)
    }

    /// `ns`'s summary, if the kernel gives one and it can be trusted (not our own namespace).
    fn summary(&mut self, ns: &OpenNamespace) -> Option<Summary> {
        if !self.summaries || self.own_ns == Some(ns.id) {
            return None;
        }
        match ns.summary() {
            Ok(summary) => Some(summary),
            Err(e) => {
                if matches!(e.raw_os_error(), Some(libc::ENOTTY | libc::EINVAL)) {
                    tracing::debug!(error = %e, "no namespace summaries: every scan lists every namespace");
                    self.summaries = false;
                }
                None
            }
        }
    }

    /// Remembers a table read right after its ids were listed. The i-th line of mountinfo
    /// is the i-th listed id (both walk the namespace's mounts in id order: fs/namespace.c
    /// `m_start`/`m_next` and `do_listmount`); each tied mount's old id is checked against
    /// its line's, so a table that changed between the two reads is not remembered.
    fn remember(
        &mut self,
        ns: &OpenNamespace,
        (inode, pid): (u64, u32),
        reader: &TableReader,
        mounts: Arc<[ContainerMount]>,
        parse_errors: u64,
    ) {
        if self.over
            || reader.line_count != self.ids.len()
            || self.copies + mounts.len() > MAX_REMEMBERED_COPIES
        {
            return;
        }
        let mut tied = Vec::new();
        for (i, cm) in mounts.iter().enumerate() {
            if cm.propagation == Propagation::default() {
                continue;
            }
            let id = self.ids[reader.lines[i]];
            if !as_remembered(ns, id, cm) {
                return;
            }
            tied.push((id, i));
        }
        let cached = Cached {
            summary: Summary::of(&self.ids),
            ids: self.ids.clone(),
            unique: reader.lines.iter().map(|&l| self.ids[l]).collect(),
            mounts,
            tied,
            parse_errors,
            generation: self.generation,
            inode,
            pid,
        };
        self.copies += cached.mounts.len();
        self.cached.insert(ns.id, cached);
    }
}

/// Most remembered private container mounts re-checked one by one (statmount(2), about a
/// microsecond each) when a peer group is new to the remembered mounts, rather than reading
/// every table again: a Docker or Kubernetes host whose `/` is shared (systemd makes it so)
/// puts each new container's mounts in new peer groups, and its private container mounts
/// are the few leaked copies; a leak storm's tens of thousands are read again instead.
pub const MAX_RECHECKED: usize = 4096;

/// Most mounts made or removed in a namespace since its last scan that are read one by one
/// (statmount(2)) rather than by reading its table again.
const MAX_CHANGED_MOUNTS: usize = 64;

/// The container mounts a remembered table's update added (and their ids), and how many it
/// held before. Added mounts count as read afresh for the peer-group rule (see the module
/// comment): a new mount in a peer group no remembered mount is in makes the scan read every
/// table.
struct Update {
    mounts: Vec<ContainerMount>,
    ids: Vec<u64>,
    before: usize,
}

/// Brings a remembered table up to the namespace's mount ids `ids`: nothing to do when they
/// are the same; else, for a few changes, drops the container mounts whose ids are gone and
/// reads the new mounts one by one (statmount(2), as their mountinfo lines read:
/// `OpenNamespace::mount`), so a container that starts costs its own mounts, not the table.
/// `None` (the table is read again) for more changes, a mount gone between the two calls, a
/// kernel that cannot say all of a mount, or a table that had lines the parser skipped.
fn bring_up_to_date(
    c: &mut Cached,
    ns: &OpenNamespace,
    ids: &[u64],
    reader: &TableReader,
    buf: &mut Vec<u64>,
) -> Option<Update> {
    let before = c.mounts.len();
    if c.ids == ids {
        return Some(Update {
            mounts: Vec::new(),
            ids: Vec::new(),
            before,
        });
    }
    if c.parse_errors > 0 {
        return None;
    }
    let (added, removed) = changed_ids(&c.ids, ids, MAX_CHANGED_MOUNTS)?;
    let mut fresh = Vec::new();
    for id in added {
        let mount = ns.mount(id, buf).ok()??;
        if let Some(path) = reader.layout.recognise(&mount.mount_point) {
            fresh.push((id, ContainerMount::new(mount, path)));
        }
    }
    let gone = |u: &u64| removed.binary_search(u).is_ok();
    c.ids = ids.to_vec();
    c.summary = Summary::of(ids);
    if fresh.is_empty() && !c.unique.iter().any(gone) {
        // Only other mounts changed: the very same table (and so the same decisions).
        return Some(Update {
            mounts: Vec::new(),
            ids: Vec::new(),
            before,
        });
    }
    let kept = (c.unique.iter().copied())
        .zip(c.mounts.iter().cloned())
        .filter(|(u, _)| !gone(u));
    let mut all: Vec<(u64, ContainerMount)> = kept.chain(fresh.iter().cloned()).collect();
    // In id order, as the table lists them.
    all.sort_by_key(|(u, _)| *u);
    c.unique = all.iter().map(|(u, _)| *u).collect();
    c.mounts = all.into_iter().map(|(_, m)| m).collect();
    c.tied = (c.unique.iter().zip(c.mounts.iter()).enumerate())
        .filter(|(_, (_, m))| m.propagation != Propagation::default())
        .map(|(i, (u, _))| (*u, i))
        .collect();
    Some(Update {
        ids: fresh.iter().map(|(u, _)| *u).collect(),
        mounts: fresh.into_iter().map(|(_, m)| m).collect(),
        before,
    })
}

/// The ids only in `new` and those only in `old` (both ascending), unless more than `max`
/// in all.
fn changed_ids(old: &[u64], new: &[u64], max: usize) -> Option<(Vec<u64>, Vec<u64>)> {
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), b) if b.is_none_or(|b| a < b) => {
                removed.push(*a);
                i += 1;
            }
            (_, b) => {
                added.extend(b);
                j += 1;
            }
        }
        if added.len() + removed.len() > max {
            return None;
        }
    }
    Some((added, removed))
}

fn vanished(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ESRCH))
}

/// Whether every remembered shared or slave mount still is, as it was, but those no longer
/// in the namespace's mount ids `ids` (ascending): [`bring_up_to_date`] drops them (a
/// container removed from a shared root takes its tied mounts with it).
fn still_tied(ns: &OpenNamespace, c: &Cached, ids: &[u64]) -> bool {
    (c.tied.iter())
        .all(|&(id, i)| ids.binary_search(&id).is_err() || as_remembered(ns, id, &c.mounts[i]))
}

/// Whether mount `id` of `ns` (statmount(2)) still has the old id and propagation `cm` was
/// read with.
fn as_remembered(ns: &OpenNamespace, id: u64, cm: &ContainerMount) -> bool {
    ns.propagation(id)
        .is_ok_and(|now| now == (cm.mount_id, cm.propagation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_ids_table() {
        type Diff = Option<(Vec<u64>, Vec<u64>)>;
        let cases: &[(&[u64], &[u64], usize, Diff)] = &[
            (&[1, 2, 3], &[1, 2, 3], 4, Some((vec![], vec![]))),
            (&[1, 2, 3], &[1, 2, 3, 9], 4, Some((vec![9], vec![]))),
            (&[1, 2, 3], &[1, 3], 4, Some((vec![], vec![2]))),
            // A detached tree attached later brings ids below the newest.
            (&[1, 5, 9], &[1, 3, 4, 9], 4, Some((vec![3, 4], vec![5]))),
            (&[], &[7], 4, Some((vec![7], vec![]))),
            (&[7], &[], 4, Some((vec![], vec![7]))),
            (&[1, 2, 3], &[4, 5, 6], 4, None),
            (&[1, 2], &[3, 4], 4, Some((vec![3, 4], vec![1, 2]))),
        ];
        for (old, new, max, want) in cases {
            assert_eq!(&changed_ids(old, new, *max), want, "{old:?} -> {new:?}");
        }
    }
}
