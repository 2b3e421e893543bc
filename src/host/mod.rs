//! The only code that reads `/proc`: process list, mount namespaces, mount tables, cgroups.
//!
//! One scan reads each distinct mount namespace's table once (keyed by the namespace's
//! device+inode and the process root, since a chrooted process sees a different table), one
//! `ns/mnt` stat and one `root` readlink per process, and `comm`/`cgroup` only for processes in
//! namespaces that hold container mounts. Mount points are only ever parsed as text: stat'ing
//! a leaked mount point could hang on a dead NFS server.

pub mod cgroup;
pub mod mountinfo;

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::layout::{ContainerPath, Layout};
pub use mountinfo::Mount;

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
    /// Start time in clock ticks after boot (`stat` field 22), when readable: the oldest
    /// process names the holder (see `report::build`). Not part of the JSON.
    #[serde(skip)]
    pub start_time: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerMount {
    pub mount: Mount,
    pub path: ContainerPath,
}

#[derive(Debug, Clone)]
pub struct MountNamespace {
    pub key: NamespaceKey,
    /// Every pid seen in this namespace, ascending.
    pub pids: Vec<u32>,
    /// Details of the pids, read only for namespaces (other than PID 1's) that hold
    /// container mounts.
    pub processes: Arc<[ProcessInfo]>,
    pub container_mounts: Vec<ContainerMount>,
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
            Some(libc_errno::ENOENT | libc_errno::ESRCH | libc_errno::EINVAL) => self.vanished += 1,
            Some(libc_errno::EACCES | libc_errno::EPERM) => self.permission_denied += 1,
            _ => match err.kind() {
                io::ErrorKind::NotFound => self.vanished += 1,
                io::ErrorKind::PermissionDenied => self.permission_denied += 1,
                _ => self.other += 1,
            },
        }
    }

    fn count_proc(&mut self, err: &procfs::ProcError) {
        match err {
            procfs::ProcError::NotFound(_) | procfs::ProcError::Incomplete(_) => self.vanished += 1,
            procfs::ProcError::PermissionDenied(_) => self.permission_denied += 1,
            procfs::ProcError::Io(e, _) => self.count(e),
            _ => self.other += 1,
        }
    }
}

/// Errno values we tell apart; spelled here to avoid a libc dependency for five constants.
mod libc_errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const ESRCH: i32 = 3;
    pub const EACCES: i32 = 13;
    pub const EINVAL: i32 = 22;
}

#[derive(Debug, Clone, Default)]
pub struct HostSnapshot {
    pub namespaces: Vec<MountNamespace>,
    pub processes_scanned: u64,
    pub errors: ScanErrors,
}

/// Reads the host as seen through `procfs` (normally `/proc`, `/host/proc` in a container).
/// Fails only when the process list itself cannot be read.
pub fn scan(procfs: &Path, layout: &Layout) -> crate::Result<HostSnapshot> {
    let _span = tracing::debug_span!("host_scan", procfs = %procfs.display()).entered();
    let entries = std::fs::read_dir(procfs).map_err(|source| crate::Error::ProcfsUnreadable {
        path: procfs.to_path_buf(),
        source,
    })?;
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();

    let mut errors = ScanErrors::default();
    let mut groups: HashMap<NamespaceKey, Vec<u32>> = HashMap::new();
    let mut pid_dir = procfs.to_path_buf();
    for &pid in &pids {
        pid_dir.push(pid.to_string());
        match namespace_of(&pid_dir) {
            Ok(key) => groups.entry(key).or_default().push(pid),
            Err(e) => errors.count(&e),
        }
        pid_dir.pop();
    }

    let prefilter = Prefilter::new(layout);
    let mut namespaces = Vec::with_capacity(groups.len());
    for (key, pids) in groups {
        let Some(mounts) =
            read_container_mounts(procfs, &key, &pids, layout, &prefilter, &mut errors)
        else {
            continue;
        };
        let processes: Arc<[ProcessInfo]> = if mounts.is_empty() || pids.first() == Some(&1) {
            Arc::from([])
        } else {
            pids.iter()
                .filter_map(|&pid| match process_info(procfs, pid) {
                    Ok(p) => Some(p),
                    // Still a holder: keep its pid so the fix can name it.
                    Err(e @ procfs::ProcError::PermissionDenied(_)) => {
                        errors.count_proc(&e);
                        Some(ProcessInfo {
                            pid,
                            comm: String::new(),
                            unit: None,
                            container_id: None,
                            start_time: None,
                        })
                    }
                    Err(e) => {
                        errors.count_proc(&e);
                        None
                    }
                })
                .collect()
        };
        let mut key = key;
        key.device = nsfs_device(procfs, pids[0]);
        namespaces.push(MountNamespace {
            key,
            pids,
            processes,
            container_mounts: mounts,
        });
    }
    namespaces.sort_by(|a, b| a.pids.first().cmp(&b.pids.first()));
    Ok(HostSnapshot {
        namespaces,
        processes_scanned: pids.len() as u64,
        errors,
    })
}

fn namespace_of(pid_dir: &Path) -> io::Result<NamespaceKey> {
    // Reading the link (`mnt:[4026531840]`) is cheaper than stat'ing every ns entry, and
    // works on fixture trees. The nsfs device is filled in once per namespace below.
    let link = std::fs::read_link(pid_dir.join("ns/mnt"))?;
    let inode = parse_ns_link(&link.to_string_lossy())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected ns/mnt link"))?;
    let root = std::fs::read_link(pid_dir.join("root"))?;
    Ok(NamespaceKey {
        device: 0,
        inode,
        root: root.to_string_lossy().into_owned(),
    })
}

/// `mnt:[4026531840]` -> 4026531840
fn parse_ns_link(link: &str) -> Option<u64> {
    link.strip_prefix("mnt:[")?.strip_suffix(']')?.parse().ok()
}

/// The device of the nsfs inode. All mount namespaces live on the kernel's single nsfs
/// instance, so the inode alone groups processes; the device completes the identity in
/// reports. 0 when it cannot be stat'ed (fixture trees).
fn nsfs_device(procfs: &Path, pid: u32) -> u64 {
    std::fs::metadata(procfs.join(pid.to_string()).join("ns/mnt")).map_or(0, |m| m.dev())
}

/// Reads the namespace's table through the first of its pids that is still there.
/// `None` when every pid vanished.
fn read_container_mounts(
    procfs: &Path,
    key: &NamespaceKey,
    pids: &[u32],
    layout: &Layout,
    prefilter: &Prefilter,
    errors: &mut ScanErrors,
) -> Option<Vec<ContainerMount>> {
    for &pid in pids {
        let dir = procfs.join(pid.to_string());
        let text = match std::fs::read(dir.join("mountinfo")) {
            Ok(t) => t,
            Err(e) => {
                errors.count(&e);
                continue;
            }
        };
        // The pid may have exited and been reused (or the process may have unshared) since
        // it was grouped: the table is only this namespace's if the link still says so.
        match namespace_of(&dir) {
            Ok(now) if now.inode == key.inode && now.root == key.root => {}
            Ok(_) => {
                errors.vanished += 1;
                continue;
            }
            Err(e) => {
                errors.count(&e);
                continue;
            }
        }
        let mut out = Vec::new();
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            // Most lines are not container mounts: skip them before the full parse, which
            // allocates. A chrooted view sees shortened paths, so it gets no shortcut.
            if key.root == "/" {
                match mountinfo::mount_point_field(line) {
                    Some(mp) if !prefilter.matches(mp) => continue,
                    _ => {}
                }
            }
            let mount = match mountinfo::parse_line(line) {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!(pid, error = %e, "skipping mountinfo line");
                    errors.parse += 1;
                    continue;
                }
            };
            let full = if key.root == "/" {
                None
            } else {
                Some(format!(
                    "{}{}",
                    key.root.trim_end_matches('/'),
                    mount.mount_point
                ))
            };
            if let Some(path) = layout.classify(full.as_deref().unwrap_or(&mount.mount_point)) {
                out.push(ContainerMount { mount, path });
            }
        }
        return Some(out);
    }
    None
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

fn process_info(procfs: &Path, pid: u32) -> procfs::ProcResult<ProcessInfo> {
    // The Process holds an fd: read what we need and drop it here.
    let dir = procfs.join(pid.to_string());
    let proc = procfs::process::Process::new_with_root(dir.clone())?;
    let owner = cgroup::owner(&proc.cgroups()?.0);
    drop(proc);
    let comm = std::fs::read_to_string(dir.join("comm"))
        .map_err(|e| procfs::ProcError::Io(e, Some(dir.join("comm"))))?
        .trim_end_matches('\n')
        .to_string();
    Ok(ProcessInfo {
        pid,
        comm,
        unit: owner.unit,
        container_id: owner.container_id,
        start_time: std::fs::read_to_string(dir.join("stat"))
            .ok()
            .and_then(|s| start_time(&s)),
    })
}

/// Field 22 of `/proc/<pid>/stat`, counted after the parenthesised comm (which may hold
/// spaces and parentheses itself).
fn start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // Fields 3.. follow the comm: starttime (22) is the 20th of them.
    rest.split_whitespace().nth(19)?.parse().ok()
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

    fn layout() -> Layout {
        Layout::new(["/var/lib/docker"], ["/run/docker"])
    }

    #[test]
    fn a_vanished_first_pid_falls_back_to_the_next_one_in_the_namespace() {
        let dir = tempfile::tempdir().unwrap();
        proc_dir(dir.path(), 100, 7, None);
        proc_dir(dir.path(), 101, 7, Some(SHM));
        let snap = scan(dir.path(), &layout()).unwrap();
        assert_eq!(snap.namespaces.len(), 1);
        assert_eq!(snap.namespaces[0].container_mounts.len(), 1, "nothing lost");
        assert_eq!(snap.namespaces[0].pids, vec![100, 101]);
        assert_eq!(snap.errors.vanished, 1);
    }

    #[test]
    fn a_reused_pid_is_not_taken_for_its_old_namespace() {
        let dir = tempfile::tempdir().unwrap();
        proc_dir(dir.path(), 100, 8, Some(SHM));
        // Grouped under namespace 7, but the link now says 8: the pid was reused.
        let key = NamespaceKey {
            device: 0,
            inode: 7,
            root: "/".into(),
        };
        let mut errors = ScanErrors::default();
        let l = layout();
        let got = read_container_mounts(
            dir.path(),
            &key,
            &[100],
            &l,
            &Prefilter::new(&l),
            &mut errors,
        );
        assert!(got.is_none());
        assert_eq!(errors.vanished, 1);
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
        let snap = scan(dir.path(), &layout()).unwrap();
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
        let snap = scan(dir.path(), &layout()).unwrap();
        assert_eq!(snap.processes_scanned, 1);
        assert!(snap.namespaces.is_empty());
        assert_eq!(snap.errors.other, 1);
    }

    #[test]
    fn start_time_is_field_22_after_any_comm() {
        let stat = |comm: &str| {
            format!(
                "4242 ({comm}) S 1 4242 4242 0 -1 4194560 120 0 0 0 1 2 0 0 20 0 1 0 987654 1024 100 18446744073709551615"
            )
        };
        assert_eq!(start_time(&stat("httpd")), Some(987654));
        assert_eq!(start_time(&stat("a (b) c")), Some(987654));
        assert_eq!(start_time(&stat(")) 1 2 3")), Some(987654));
        assert_eq!(start_time("4242 (x) S 1"), None);
        assert_eq!(start_time(""), None);
    }

    #[test]
    fn ns_link_parsing() {
        assert_eq!(parse_ns_link("mnt:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link("net:[4026531840]"), None);
        assert_eq!(parse_ns_link("mnt:[x]"), None);
        assert_eq!(parse_ns_link(""), None);
    }
}
