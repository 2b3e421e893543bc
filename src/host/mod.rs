//! The only code that reads `/proc`: process list, mount namespaces, mount tables, cgroups.
//!
//! One scan costs one `ns/mnt` readlink per process, one table per distinct mount namespace
//! (read through a process whose root is `/`: a chrooted one sees only part of it), one parse
//! per distinct mount line (namespaces that copied the same mounts share it), and `stat` and
//! `cgroup` only for processes in namespaces that hold container mounts, at most
//! [`ScanOptions::processes_per_namespace`] of them per namespace. Mount points are
//! only ever parsed as text: stat'ing a leaked mount point could hang on a dead NFS server.

pub mod cgroup;
mod details;
mod listmount;
pub mod mountinfo;
mod ns_dirs;
mod procfile;
mod tables;
#[cfg(test)]
mod test_process;

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::layout::{ContainerPath, Layout};
pub use cgroup::ContainerEngine;
pub use details::REFRESH as DETAILS_REFRESH;
use mountinfo::split_ids;
pub use mountinfo::{Mount, Propagation};
pub use ns_dirs::raise_open_files_limit;
use procfile::{parse_ns_link, start_time, stat_comm};
pub use tables::{FULL_REREAD, MAX_REMEMBERED_COPIES, ScanMode, Tables};

/// Identity of what a process sees as its mount table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct NamespaceKey {
    /// Device of the nsfs inode (namespace inodes are only unique per device).
    pub device: u64,
    pub inode: u64,
    /// The process root (`/proc/<pid>/root`); mount points are relative to it.
    pub root: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessInfo {
    pub pid: u32,
    pub comm: String,
    pub unit: Option<String>,
    /// Set when the process itself runs in a container.
    pub container_id: Option<String>,
    /// Who runs that container (`docker`, `podman`, `cri`): the fix restarts it with that.
    pub container_engine: Option<ContainerEngine>,
    /// Start time in clock ticks after boot (`stat` field 22), when readable: the oldest
    /// process names the holder (see `report::build`). Not part of the JSON.
    #[serde(skip)]
    pub start_time: Option<u64>,
}

/// What every namespace's copy of one mount shares. Interned per scan: K namespaces that
/// copied the same M mounts cost M parses and M classifications, not K x M.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountTarget {
    pub major: u32,
    pub minor: u32,
    /// Root of the mount within its filesystem (decoded).
    pub root: String,
    /// Mount point relative to the reading process's root (decoded).
    pub mount_point: String,
    pub fs_type: String,
    pub source: String,
    pub path: ContainerPath,
}

impl MountTarget {
    pub fn device(&self) -> String {
        format!("{}:{}", self.major, self.minor)
    }
}

/// One namespace's copy of a container mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerMount {
    /// The copy's own id (every namespace numbers its copies afresh).
    pub mount_id: u32,
    pub propagation: Propagation,
    pub target: Arc<MountTarget>,
}

impl ContainerMount {
    pub fn new(mount: Mount, path: ContainerPath) -> ContainerMount {
        ContainerMount {
            mount_id: mount.mount_id,
            propagation: mount.propagation,
            target: Arc::new(MountTarget {
                major: mount.major,
                minor: mount.minor,
                root: mount.root,
                mount_point: mount.mount_point,
                fs_type: mount.fs_type,
                source: mount.source,
                path,
            }),
        }
    }
}

/// How much of each namespace a scan reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanOptions {
    /// Details (`stat`, `cgroup`) are read for at most this many processes of a namespace
    /// holding container mounts, lowest pids first; 0 reads all. Two reads per process cost
    /// more than the namespace's whole share of the scan once a namespace has a few dozen
    /// processes (a database's backends, a CI job's tree), and a per-process series for each
    /// of them repeats the same count. The namespace's process count stays exact.
    pub processes_per_namespace: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            processes_per_namespace: 16,
        }
    }
}

#[derive(Debug, Clone)]
pub struct MountNamespace {
    pub key: NamespaceKey,
    /// The host's own: PID 1's, or the kernel's (kthreadd's, the initial mount namespace,
    /// where PID 1 is not, as in some sandboxes). A reference for the classifier; its
    /// processes' details are not read.
    pub host: bool,
    /// Every pid seen in this namespace, ascending.
    pub pids: Vec<u32>,
    /// Details of the lowest readable pids (up to [`ScanOptions::processes_per_namespace`]),
    /// read only for namespaces (other than PID 1's) that hold container mounts.
    pub processes: Arc<[ProcessInfo]>,
    /// Shared with the incremental scan's memory of the namespace (`Tables`), when it has one.
    pub container_mounts: Arc<[ContainerMount]>,
    /// Its processes are in the host's user namespace (the host namespace's own `ns/user`),
    /// so whoever made its mounts was privileged on the host: an unprivileged user can make
    /// a mount namespace only inside a user namespace of its own (mount_namespaces(7):
    /// creating one needs CAP_SYS_ADMIN in the owning user namespace; setns(2) into one
    /// owned by the initial user namespace needs it there too). Read only for namespaces
    /// other than the host's that hold container mounts; false when unreadable.
    pub host_userns: bool,
}

/// What a scan could not see, by reason. None of it fails the scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ScanErrors {
    /// The process exited (or became a zombie) while being read.
    pub vanished: u64,
    pub permission_denied: u64,
    /// Mountinfo lines naming a container path that did not parse (other lines are never
    /// parsed, see `Prefilter`).
    pub parse: u64,
    pub other: u64,
}

impl ScanErrors {
    pub fn by_reason(&self) -> [(&'static str, u64); 4] {
        [
            ("vanished", self.vanished),
            ("permission_denied", self.permission_denied),
            ("parse", self.parse),
            ("other", self.other),
        ]
    }

    fn count(&mut self, err: &io::Error) {
        match err.raw_os_error() {
            // ESRCH: gone; EINVAL: a zombie's mountinfo (its namespace is already released).
            Some(libc::ENOENT | libc::ESRCH | libc::EINVAL) => self.vanished += 1,
            Some(libc::EACCES | libc::EPERM) => self.permission_denied += 1,
            _ => match err.kind() {
                io::ErrorKind::NotFound => self.vanished += 1,
                io::ErrorKind::PermissionDenied => self.permission_denied += 1,
                _ => self.other += 1,
            },
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct HostSnapshot {
    pub namespaces: Vec<MountNamespace>,
    pub processes_scanned: u64,
    pub errors: ScanErrors,
    /// Mount tables actually read (the others came from [`Tables`]' memory).
    pub namespaces_reread: u64,
    pub mode: ScanMode,
}

/// Reads the host as seen through `procfs` (normally `/proc`, `/host/proc` in a container).
/// Fails only when the process list itself cannot be read.
pub fn scan(procfs: &Path, layout: &Layout, options: &ScanOptions) -> crate::Result<HostSnapshot> {
    scan_with(procfs, layout, options, &mut Tables::full())
}

/// [`scan`], reading only the tables that changed since the last scan with the same
/// `tables` (see [`Tables`]); the snapshot is the same.
pub fn scan_with(
    procfs: &Path,
    layout: &Layout,
    options: &ScanOptions,
    tables: &mut Tables,
) -> crate::Result<HostSnapshot> {
    let _span = tracing::debug_span!("host_scan", procfs = %procfs.display()).entered();
    let pids = list_pids(procfs)?;
    tables.begin(procfs, layout);
    let (groups, errors) = tables.ns_dirs.group(procfs, &pids);
    let mut read = read_namespaces(procfs, layout, options, &groups, tables, errors);
    if tables.unknown_peer_group() && !tables.untied_unchanged(procfs) {
        // A table read afresh ties a mount to a peer group no remembered mount is in, and a
        // remembered private mount may have been made shared since, this being its first
        // peer (see `Tables`). Read everything, once.
        tracing::debug!("a peer group new to the remembered tables: reading every table");
        tables.forget();
        read = read_namespaces(procfs, layout, options, &groups, tables, errors);
    }
    let (mut namespaces, errors) = read;
    tables.finish();
    mark_host_userns(procfs, &mut namespaces);
    namespaces.sort_by(|a, b| a.pids.first().cmp(&b.pids.first()));
    Ok(HostSnapshot {
        namespaces,
        processes_scanned: pids.len() as u64,
        errors,
        namespaces_reread: tables.reread,
        mode: tables.mode(),
    })
}

fn ns_inode(link: &str) -> io::Result<u64> {
    parse_ns_link(link)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected ns/mnt link"))
}

/// Each namespace's table (through `tables`) and, where it holds container mounts, its
/// processes' details.
fn read_namespaces(
    procfs: &Path,
    layout: &Layout,
    options: &ScanOptions,
    groups: &HashMap<u64, Vec<u32>>,
    tables: &mut Tables,
    mut errors: ScanErrors,
) -> (Vec<MountNamespace>, ScanErrors) {
    let mut reader = TableReader::new(layout);
    let mut namespaces = Vec::with_capacity(groups.len());
    // One nsfs instance holds every mount namespace: its device is stat'ed once a scan (again
    // only while no process answered).
    let mut device = 0;
    for (&inode, pids) in groups {
        let Some((root, mounts)) = tables.read(&mut reader, procfs, inode, pids, &mut errors)
        else {
            continue;
        };
        let host = pids.iter().take(2).any(|&pid| is_host_pid(procfs, pid));
        let processes = if mounts.is_empty() || host {
            Arc::from([])
        } else {
            let limit = options.processes_per_namespace;
            let memory = (&mut tables.details, &tables.ns_dirs);
            processes(procfs, pids, limit, memory, &mut errors)
        };
        if device == 0 {
            device = nsfs_device(procfs, pids[0]);
        }
        namespaces.push(MountNamespace {
            host,
            key: NamespaceKey {
                device,
                inode,
                root,
            },
            pids: pids.clone(),
            processes,
            container_mounts: mounts,
            host_userns: false,
        });
    }
    (namespaces, errors)
}

/// Sets [`MountNamespace::host_userns`] for the namespaces holding container mounts: one
/// `ns/user` readlink each (through its first pid that answers), against the host's.
fn mark_host_userns(procfs: &Path, namespaces: &mut [MountNamespace]) {
    let user_ns = |pid: u32| {
        std::fs::read_link(procfs.join(pid.to_string()).join("ns/user"))
            .ok()
            .map(|l| l.into_os_string())
    };
    let Some(host) = namespaces
        .iter()
        .filter(|n| n.host)
        .find_map(|n| n.pids.iter().find_map(|&p| user_ns(p)))
    else {
        return;
    };
    for ns in namespaces
        .iter_mut()
        .filter(|n| !n.host && !n.container_mounts.is_empty())
    {
        ns.host_userns = ns.pids.iter().find_map(|&p| user_ns(p)) == Some(host.clone());
    }
}

/// PID 1, or PID 2 when it is kthreadd: the kernel threads live in the initial mount
/// namespace. Checked by name, since in a container's pid namespace 2 is any process.
fn is_host_pid(procfs: &Path, pid: u32) -> bool {
    match pid {
        1 => true,
        2 => std::fs::read(procfs.join("2/comm")).is_ok_and(|c| c == b"kthreadd\n"),
        _ => false,
    }
}

fn list_pids(procfs: &Path) -> crate::Result<Vec<u32>> {
    let entries = std::fs::read_dir(procfs).map_err(|source| crate::Error::ProcfsUnreadable {
        path: procfs.to_path_buf(),
        source,
    })?;
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Reading the link (`mnt:[4026531840]`) is cheaper than stat'ing it, and works on fixture
/// trees. The nsfs device is filled in once per namespace.
fn mnt_ns_inode(link: &Path) -> io::Result<u64> {
    ns_inode(&std::fs::read_link(link)?.to_string_lossy())
}

/// The device of the nsfs inode. All mount namespaces live on the kernel's single nsfs
/// instance, so the inode alone groups processes; the device completes the identity in
/// reports. 0 when it cannot be stat'ed (fixture trees).
fn nsfs_device(procfs: &Path, pid: u32) -> u64 {
    std::fs::metadata(procfs.join(pid.to_string()).join("ns/mnt")).map_or(0, |m| m.dev())
}

/// An interned line: the mount it names, or `None` for a line that passed the prefilter but
/// is not a container mount.
type Interned = Option<(Arc<MountTarget>, Propagation)>;

/// Reads mount tables, sharing the parse of each distinct line across namespaces.
struct TableReader<'a> {
    layout: &'a Layout,
    prefilter: Prefilter,
    /// Keyed by the line without its two per-copy ids (mount id, parent id).
    interned: HashMap<Box<[u8]>, Interned>,
    /// Reused for every table.
    buf: Vec<u8>,
    /// Of the last table parsed: its number of lines, and the line of each container mount
    /// (the incremental scan pairs them with listmount's ids).
    line_count: usize,
    lines: Vec<usize>,
}

impl<'a> TableReader<'a> {
    fn new(layout: &'a Layout) -> Self {
        TableReader {
            layout,
            prefilter: Prefilter::new(layout),
            interned: HashMap::new(),
            buf: Vec::new(),
            line_count: 0,
            lines: Vec::new(),
        }
    }

    /// Reads the namespace's table through one of its pids: one whose root is `/` when
    /// there is one (a chrooted process sees only the part of the table under its root, and
    /// shortened paths). `None` when every pid vanished.
    fn read_namespace(
        &mut self,
        procfs: &Path,
        inode: u64,
        pids: &[u32],
        errors: &mut ScanErrors,
    ) -> Option<(String, Vec<ContainerMount>)> {
        let mut chrooted = Vec::new();
        for &pid in pids {
            let dir = procfs.join(pid.to_string());
            let root = match std::fs::read_link(dir.join("root")) {
                Ok(r) => r.to_string_lossy().into_owned(),
                Err(e) => {
                    errors.count(&e);
                    continue;
                }
            };
            if root != "/" {
                chrooted.push((dir, pid, root));
                continue;
            }
            if let Some(m) = self.read_table(&dir, pid, inode, &root, errors) {
                return Some((root, m));
            }
        }
        for (dir, pid, root) in chrooted {
            if let Some(m) = self.read_table(&dir, pid, inode, &root, errors) {
                return Some((root, m));
            }
        }
        None
    }

    /// The container mounts in one process's table, `None` if the process is gone or is no
    /// longer in namespace `inode`.
    fn read_table(
        &mut self,
        dir: &Path,
        pid: u32,
        inode: u64,
        root: &str,
        errors: &mut ScanErrors,
    ) -> Option<Vec<ContainerMount>> {
        let mut text = std::mem::take(&mut self.buf);
        let len = match read_proc_file(&dir.join("mountinfo"), &mut text, false) {
            Ok(n) => n,
            Err(e) => {
                errors.count(&e);
                self.buf = text;
                return None;
            }
        };
        // The pid may have exited and been reused (or the process may have unshared) since
        // it was grouped: the table is only this namespace's if the link still says so.
        let same = match mnt_ns_inode(&dir.join("ns/mnt")) {
            Ok(now) if now == inode => true,
            Ok(_) => {
                errors.vanished += 1;
                false
            }
            Err(e) => {
                errors.count(&e);
                false
            }
        };
        if !same {
            self.buf = text;
            return None;
        }
        let mounts = self.parse_table(&text[..len], pid, root, errors);
        self.buf = text;
        Some(mounts)
    }

    fn parse_table(
        &mut self,
        text: &[u8],
        pid: u32,
        root: &str,
        errors: &mut ScanErrors,
    ) -> Vec<ContainerMount> {
        // A chrooted view sees shortened paths: no prefilter, no sharing.
        let whole = root == "/";
        let mut out = Vec::new();
        self.lines.clear();
        self.line_count = 0;
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let n = self.line_count;
            self.line_count += 1;
            // Most lines are not container mounts: skip them before the full parse, which
            // allocates.
            if whole {
                match mountinfo::mount_point_field(line) {
                    Some(mp) if !self.prefilter.matches(mp) => continue,
                    _ => {}
                }
            }
            let ids = split_ids(line).filter(|_| whole);
            if let Some((mount_id, rest)) = ids
                && let Some(hit) = self.interned.get(rest)
            {
                if let Some((target, propagation)) = hit {
                    self.lines.push(n);
                    out.push(ContainerMount {
                        mount_id,
                        propagation: *propagation,
                        target: target.clone(),
                    });
                }
                continue;
            }
            let mount = match mountinfo::parse_line(line) {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!(pid, error = %e, "skipping mountinfo line");
                    errors.parse += 1;
                    continue;
                }
            };
            let path = if whole {
                self.layout.recognise(&mount.mount_point)
            } else {
                let full = format!("{}{}", root.trim_end_matches('/'), mount.mount_point);
                self.layout.recognise(&full)
            };
            let found = path.map(|p| ContainerMount::new(mount, p));
            if let Some((_, rest)) = ids {
                let value = found.as_ref().map(|c| (c.target.clone(), c.propagation));
                self.interned.insert(rest.into(), value);
            }
            if found.is_some() {
                self.lines.push(n);
            }
            out.extend(found);
        }
        // K namespaces' tables are all alive until classified: no doubling slack in each.
        out.shrink_to_fit();
        out
    }
}

/// Substring search for the layout's roots in a raw (still escaped) mount point field.
struct Prefilter(Vec<memchr::memmem::Finder<'static>>);

impl Prefilter {
    fn new(layout: &Layout) -> Prefilter {
        let escaped = |r: &str| -> Vec<u8> {
            let mut out = Vec::with_capacity(r.len());
            for &b in r.as_bytes() {
                match b {
                    b' ' | b'\t' | b'\n' | b'\\' => out.extend(format!("\\{b:03o}").bytes()),
                    b => out.push(b),
                }
            }
            out
        };
        Prefilter(
            layout
                .all_roots()
                .map(|r| memchr::memmem::Finder::new(&escaped(r)).into_owned())
                .collect(),
        )
    }

    fn matches(&self, field: &[u8]) -> bool {
        self.0.iter().any(|f| f.find(field).is_some())
    }
}

/// Details of a namespace's processes, the lowest `limit` pids that are still there (0: all).
/// A process we may not read stays a holder (by pid, so the fix can name it); one that
/// vanished is dropped and the next pid taken.
fn processes(
    procfs: &Path,
    pids: &[u32],
    limit: usize,
    (details, dirs): (&mut details::Details, &ns_dirs::NsDirs),
    errors: &mut ScanErrors,
) -> Arc<[ProcessInfo]> {
    let mut buf = Vec::new();
    let limit = if limit == 0 { usize::MAX } else { limit };
    pids.iter()
        .filter_map(|&pid| {
            let full = |buf: &mut Vec<u8>| process_info(procfs, pid, buf);
            match details.get(procfs, pid, dirs.kept(pid), &mut buf, full) {
                Ok(p) => Some(p),
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    errors.count(&e);
                    Some(ProcessInfo {
                        pid,
                        comm: String::new(),
                        unit: None,
                        container_id: None,
                        container_engine: None,
                        start_time: None,
                    })
                }
                Err(e) => {
                    errors.count(&e);
                    None
                }
            }
        })
        .take(limit)
        .collect()
}

fn process_info(procfs: &Path, pid: u32, buf: &mut Vec<u8>) -> io::Result<ProcessInfo> {
    // Two reads per process: `stat` gives both the comm and the start time.
    let dir = procfs.join(pid.to_string());
    let stat = read_proc_file(&dir.join("stat"), buf, true)
        .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned());
    let (comm, start) = match &stat {
        Ok(stat) => (
            stat_comm(stat)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected stat"))?
                .to_string(),
            start_time(stat),
        ),
        // Fixture trees may carry only `comm`; on a live /proc this fails the same way.
        Err(_) => (
            String::from_utf8_lossy(&std::fs::read(dir.join("comm"))?)
                .trim_end_matches('\n')
                .to_string(),
            None,
        ),
    };
    let n = read_proc_file(&dir.join("cgroup"), buf, true)?;
    let cgroups = &buf[..n];
    // Only the systemd views name a unit: hand the parser those lines, not every v1
    // controller's (a dozen allocating lines per process on a legacy or hybrid host).
    let systemd: Vec<u8> = cgroups
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"0::") || memchr::memmem::find(l, b":name=systemd:").is_some())
        .flatten()
        .copied()
        .collect();
    let place = cgroup::place_from_bytes(&systemd).unwrap_or_default();
    Ok(ProcessInfo {
        pid,
        comm,
        unit: place.unit,
        container_id: place.container.as_ref().map(|c| c.1.clone()),
        container_engine: place.container.map(|c| c.0),
        start_time: start,
    })
}

/// Reads a whole /proc file into `buf` and returns its length; `buf` stays initialized to
/// its full size between calls (no zeroing per read). Unlike `std::fs::read`: no stat for a
/// size hint (procfs files say 0) and no small probing reads. A /proc file hands over as much
/// as the buffer holds per call; a `single` file (one record, as `stat` and `cgroup`: made
/// whole before the first byte is copied) is complete once a read comes back short, so it
/// costs one read instead of two.
fn read_proc_file(path: &Path, buf: &mut Vec<u8>, single: bool) -> io::Result<usize> {
    read_open_file(&mut std::fs::File::open(path)?, buf, single)
}

/// [`read_proc_file`] of a file already open.
fn read_open_file(f: &mut std::fs::File, buf: &mut Vec<u8>, single: bool) -> io::Result<usize> {
    use std::io::Read;
    if buf.len() < 16 * 1024 {
        buf.resize(16 * 1024, 0);
    }
    let mut len = 0;
    loop {
        if buf.len() - len < 4096 {
            buf.resize(buf.len() * 2, 0);
        }
        match f.read(&mut buf[len..]) {
            Ok(0) => return Ok(len),
            Ok(n) => {
                len += n;
                if single && len < buf.len() {
                    return Ok(len);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_dir(root: &Path, pid: u32, ns: u64, mountinfo: Option<&str>) {
        let d = root.join(pid.to_string());
        std::fs::create_dir_all(d.join("ns")).unwrap();
        std::os::unix::fs::symlink(format!("mnt:[{ns}]"), d.join("ns/mnt")).unwrap();
        std::os::unix::fs::symlink("/", d.join("root")).unwrap();
        std::fs::write(d.join("comm"), "sh\n").unwrap();
        std::fs::write(d.join("cgroup"), "0::/system.slice/x.service\n").unwrap();
        if let Some(m) = mountinfo {
            std::fs::write(d.join("mountinfo"), m).unwrap();
        }
    }

    const SHM: &str = "596 340 0:57 / /var/lib/docker/containers/ca74eaa1b342c64a7f6c558299bedf74a5b7016c194e885bf290281161605d58/shm rw - tmpfs shm rw\n";

    #[test]
    fn a_namespace_made_in_a_user_namespace_of_its_own_is_told_apart() {
        // Issue 12: `unshare -Urm` lets any user make mounts at container-shaped paths.
        let dir = tempfile::tempdir().unwrap();
        let user = |pid: u32, ns: &str| {
            std::os::unix::fs::symlink(ns, dir.path().join(format!("{pid}/ns/user"))).unwrap();
        };
        proc_dir(dir.path(), 1, 1, Some(""));
        user(1, "user:[4026531837]");
        // root's PrivateTmp unit, a user's unshare -Urm, a namespace whose ns/user is hidden
        for (pid, ns) in [(100, 2), (200, 3), (300, 4)] {
            proc_dir(dir.path(), pid, ns, Some(SHM));
        }
        user(100, "user:[4026531837]");
        user(200, "user:[4026532900]");
        let snap = scan(dir.path(), &layout(), &ScanOptions::default()).unwrap();
        let got: Vec<(u32, bool)> = snap
            .namespaces
            .iter()
            .map(|n| (n.pids[0], n.host_userns))
            .collect();
        assert_eq!(got, [(1, false), (100, true), (200, false), (300, false)]);
    }

    fn layout() -> Layout {
        Layout::new(["/var/lib/docker"], ["/run/docker"])
    }

    #[test]
    fn where_listmount_cannot_be_used_every_scan_reads_every_table() {
        // A fixture tree has no nsfs: the probe fails, as it does before Linux 6.8 (ENOSYS).
        let dir = tempfile::tempdir().unwrap();
        proc_dir(dir.path(), 100, 7, Some(SHM));
        proc_dir(dir.path(), 200, 8, Some(SHM));
        let mut tables = Tables::incremental();
        for _ in 0..2 {
            let snap =
                scan_with(dir.path(), &layout(), &ScanOptions::default(), &mut tables).unwrap();
            assert_eq!((snap.mode, snap.namespaces_reread), (ScanMode::Full, 2));
            assert_eq!(snap.namespaces[1].container_mounts.len(), 1);
        }
    }

    #[test]
    fn a_vanished_first_pid_falls_back_to_the_next_one_in_the_namespace() {
        let dir = tempfile::tempdir().unwrap();
        proc_dir(dir.path(), 100, 7, None);
        proc_dir(dir.path(), 101, 7, Some(SHM));
        let snap = scan(dir.path(), &layout(), &ScanOptions::default()).unwrap();
        assert_eq!(snap.namespaces.len(), 1);
        assert_eq!(snap.namespaces[0].container_mounts.len(), 1, "nothing lost");
        assert_eq!(snap.namespaces[0].pids, vec![100, 101]);
        assert_eq!(snap.errors.vanished, 1);
    }

    #[test]
    fn details_are_read_for_the_lowest_pids_up_to_the_limit_and_the_count_stays_exact() {
        let dir = tempfile::tempdir().unwrap();
        for pid in 100..120 {
            proc_dir(dir.path(), pid, 7, Some(SHM));
        }
        // 101 vanishes before its details are read: the next pid takes its place.
        std::fs::remove_file(dir.path().join("101/comm")).unwrap();
        std::fs::remove_file(dir.path().join("101/cgroup")).unwrap();
        let limited = ScanOptions {
            processes_per_namespace: 4,
        };
        let snap = scan(dir.path(), &layout(), &limited).unwrap();
        let ns = &snap.namespaces[0];
        assert_eq!(ns.pids.len(), 20);
        let listed: Vec<u32> = ns.processes.iter().map(|p| p.pid).collect();
        assert_eq!(listed, [100, 102, 103, 104]);
        assert_eq!(snap.errors.vanished, 1, "only the one read and found gone");

        let all = ScanOptions {
            processes_per_namespace: 0,
        };
        let snap = scan(dir.path(), &layout(), &all).unwrap();
        assert_eq!(snap.namespaces[0].processes.len(), 19);
    }

    #[test]
    fn the_kernels_namespace_is_the_hosts_even_where_pid_1_is_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        proc_dir(dir.path(), 1, 5, Some(""));
        proc_dir(dir.path(), 2, 6, Some(SHM));
        proc_dir(dir.path(), 300, 6, Some(SHM));
        proc_dir(dir.path(), 400, 7, Some(SHM));
        std::fs::write(dir.path().join("2/comm"), "kthreadd\n").unwrap();
        let snap = scan(dir.path(), &layout(), &ScanOptions::default()).unwrap();
        let host: Vec<(u32, bool, usize)> = snap
            .namespaces
            .iter()
            .map(|n| (n.pids[0], n.host, n.processes.len()))
            .collect();
        assert_eq!(host, [(1, true, 0), (2, true, 0), (400, false, 1)]);

        // In a container's pid namespace, 2 is any process.
        std::fs::write(dir.path().join("2/comm"), "sh\n").unwrap();
        let snap = scan(dir.path(), &layout(), &ScanOptions::default()).unwrap();
        assert!(!snap.namespaces[1].host);
        assert_eq!(snap.namespaces[1].processes.len(), 2);
    }

    #[test]
    fn a_reused_pid_is_not_taken_for_its_old_namespace() {
        let dir = tempfile::tempdir().unwrap();
        proc_dir(dir.path(), 100, 8, Some(SHM));
        // Grouped under namespace 7, but the link now says 8: the pid was reused.
        let mut errors = ScanErrors::default();
        let l = layout();
        let got =
            TableReader::new(&l).read_table(&dir.path().join("100"), 100, 7, "/", &mut errors);
        assert!(got.is_none());
        assert_eq!(errors.vanished, 1);
    }

    #[test]
    fn namespaces_share_one_parse_of_each_mount_and_keep_their_own_ids() {
        let dir = tempfile::tempdir().unwrap();
        let other = SHM.replacen("596 340", "901 800", 1);
        let bad = "garbage /var/lib/docker/containers/x/shm\n";
        proc_dir(dir.path(), 100, 7, Some(&format!("{SHM}{bad}")));
        proc_dir(dir.path(), 200, 8, Some(&format!("{other}{bad}")));
        let snap = scan(dir.path(), &layout(), &ScanOptions::default()).unwrap();
        let [a, b] = &snap.namespaces[..] else {
            panic!("{:?}", snap.namespaces)
        };
        let (a, b) = (&a.container_mounts[0], &b.container_mounts[0]);
        assert_eq!((a.mount_id, b.mount_id), (596, 901));
        assert!(Arc::ptr_eq(&a.target, &b.target), "one parse, shared");
        // A bad line is counted wherever it is seen, never cached as good.
        assert_eq!(snap.errors.parse, 2);
    }

    #[test]
    fn a_chrooted_process_joins_its_namespace_and_a_root_reader_is_preferred() {
        let dir = tempfile::tempdir().unwrap();
        // pid 100 is chrooted: its table only shows what is under its root.
        proc_dir(dir.path(), 100, 7, Some("1 0 0:1 / / rw - tmpfs t rw\n"));
        std::fs::remove_file(dir.path().join("100/root")).unwrap();
        std::os::unix::fs::symlink("/srv/jail", dir.path().join("100/root")).unwrap();
        proc_dir(dir.path(), 101, 7, Some(SHM));
        let snap = scan(dir.path(), &layout(), &ScanOptions::default()).unwrap();
        assert_eq!(snap.namespaces.len(), 1);
        let ns = &snap.namespaces[0];
        assert_eq!(
            (ns.key.root.as_str(), ns.pids.clone()),
            ("/", vec![100, 101])
        );
        assert_eq!(ns.container_mounts.len(), 1);
        assert_eq!(
            ns.processes.len(),
            2,
            "the chrooted process holds the copy too"
        );
    }

    #[test]
    fn a_namespace_seen_only_through_a_chroot_is_read_under_its_root() {
        let dir = tempfile::tempdir().unwrap();
        let line = "5 1 0:57 / /docker/containers/ca74eaa1b342c64a7f6c558299bedf74a5b7016c194e885bf290281161605d58/shm rw - tmpfs shm rw\n";
        proc_dir(dir.path(), 100, 7, Some(line));
        std::fs::remove_file(dir.path().join("100/root")).unwrap();
        std::os::unix::fs::symlink("/var/lib", dir.path().join("100/root")).unwrap();
        let snap = scan(dir.path(), &layout(), &ScanOptions::default()).unwrap();
        assert_eq!(snap.namespaces[0].key.root, "/var/lib");
        assert_eq!(snap.namespaces[0].container_mounts.len(), 1);
    }

    #[test]
    fn stat_gives_comm_and_start_time() {
        let dir = tempfile::tempdir().unwrap();
        proc_dir(dir.path(), 100, 7, Some(SHM));
        std::fs::write(
            dir.path().join("100/stat"),
            "100 (my (odd) comm) S 1 100 100 0 -1 4194560 120 0 0 0 1 2 0 0 20 0 1 0 4242 1024 100",
        )
        .unwrap();
        let p = process_info(dir.path(), 100, &mut Vec::new()).unwrap();
        assert_eq!(
            (p.comm.as_str(), p.start_time),
            ("my (odd) comm", Some(4242))
        );
        assert_eq!(p.unit.as_deref(), Some("x.service"));
    }

    #[test]
    fn a_holder_named_or_grouped_in_invalid_utf8_is_kept_but_no_unit_is_made_up() {
        // Fuzz find: any user can name a process or a cgroup directory with such bytes.
        let dir = tempfile::tempdir().unwrap();
        proc_dir(dir.path(), 100, 7, Some(SHM));
        let mut stat =
            b"100 (ev\xffil) S 1 100 100 0 -1 4194560 120 0 0 0 1 2 0 0 20 0 1 0 77 1024 100"
                .to_vec();
        std::fs::write(dir.path().join("100/stat"), &stat).unwrap();
        stat.clear();
        stat.extend_from_slice(b"0::/system.slice/x\xfe.service\n");
        std::fs::write(dir.path().join("100/cgroup"), &stat).unwrap();
        let p = process_info(dir.path(), 100, &mut Vec::new()).unwrap();
        assert_eq!(p.comm, "ev\u{fffd}il");
        // systemd never names a unit so: no unit, so no `systemctl` line in the fix.
        assert_eq!(p.unit, None);
        assert_eq!(p.start_time, Some(77));
    }

    #[test]
    fn proc_files_are_read_whole_into_a_reused_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("big"), &big).unwrap();
        std::fs::write(dir.path().join("small"), b"tiny\n").unwrap();
        let mut buf = Vec::new();
        for single in [false, true] {
            let n = read_proc_file(&dir.path().join("big"), &mut buf, single).unwrap();
            assert_eq!(&buf[..n], &big[..], "single={single}");
            let n = read_proc_file(&dir.path().join("small"), &mut buf, single).unwrap();
            assert_eq!(&buf[..n], b"tiny\n");
        }
        // On the real thing: a process's stat, one record, in one read.
        let n = read_proc_file(Path::new("/proc/self/stat"), &mut buf, true).unwrap();
        let stat = String::from_utf8_lossy(&buf[..n]);
        assert!(start_time(&stat).is_some(), "{stat}");
    }

    #[test]
    fn a_100000_line_table_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::with_capacity(100_000 * 120);
        for i in 0..100_000u32 {
            if i % 1000 == 0 {
                text.push_str(&format!("{i} 1 0:{i} / /var/lib/docker/overlay2/layer{i}/merged rw - overlay overlay rw\n"));
            } else {
                text.push_str(&format!(
                    "{i} 1 0:{i} / /srv/mounts/m{i} rw shared:{i} - tmpfs tmpfs rw\n"
                ));
            }
        }
        assert!(text.len() > 1 << 20, "bigger than any fixed buffer");
        proc_dir(dir.path(), 100, 7, Some(&text));
        let snap = scan(dir.path(), &layout(), &ScanOptions::default()).unwrap();
        assert_eq!(snap.namespaces[0].container_mounts.len(), 100);
        assert_eq!(snap.errors, ScanErrors::default());
    }

    #[test]
    fn non_pid_entries_and_odd_links_are_tolerated() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sys")).unwrap();
        std::fs::write(dir.path().join("uptime"), "1 1").unwrap();
        let d = dir.path().join("200");
        std::fs::create_dir_all(d.join("ns")).unwrap();
        std::os::unix::fs::symlink("garbage", d.join("ns/mnt")).unwrap();
        let snap = scan(dir.path(), &layout(), &ScanOptions::default()).unwrap();
        assert_eq!(snap.processes_scanned, 1);
        assert!(snap.namespaces.is_empty());
        assert_eq!(snap.errors.other, 1);
    }
}
