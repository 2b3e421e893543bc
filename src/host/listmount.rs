//! listmount(2) and statmount(2): a mount namespace's 64-bit mount ids, and one mount's
//! propagation, without reading its whole table; and a namespace's [`Summary`], which says
//! its ids are still those of a listing without walking them. Used by the incremental scan
//! (`tables`).
//!
//! The namespace is named by an `ns/mnt` fd (`mnt_id_req.mnt_ns_fd`, Linux 6.18; the fd
//! proves the ptrace read access that opening it took, so no other capability is asked) or,
//! on 6.9-6.17, by the 64-bit id `NS_GET_MNTNS_ID` gives for it, which for another
//! namespace needs `CAP_SYS_ADMIN` over it (fs/namespace.c, `listmount` and
//! `grab_requested_mnt_ns`). The fd is opened and closed within one namespace's share of a
//! scan: an open `ns/mnt` holds a reference on the namespace, and a long-lived one would keep
//! a holder's copies alive after it exits (tests/e2e_namespace_lifetime.rs).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Mount, Propagation, mountinfo};

// asm-generic numbers, shared by every architecture since 5.1 (include/uapi/asm-generic/unistd.h).
const SYS_STATMOUNT: libc::c_long = 457;
const SYS_LISTMOUNT: libc::c_long = 458;
/// `_IOR(0xb7, 5, __u64)`, include/uapi/linux/nsfs.h (Linux 6.9+).
const NS_GET_MNTNS_ID: libc::c_ulong = 0x8008_b705;
/// `_IOR(0xb7, 10, struct mnt_ns_info)`, include/uapi/linux/nsfs.h (newer than listmount;
/// refused, ENOTTY, where missing).
const NS_MNT_GET_INFO: libc::c_ulong = 0x8010_b70a;
/// listmount(2)'s flag for the highest ids first (include/uapi/linux/mount.h).
const LISTMOUNT_REVERSE: libc::c_ulong = 1;
/// `LSMT_ROOT`: list the whole namespace (include/uapi/linux/mount.h).
const LSMT_ROOT: u64 = u64::MAX;
const STATMOUNT_SB_BASIC: u64 = 0x1;
const STATMOUNT_MNT_BASIC: u64 = 0x2;
const STATMOUNT_MNT_ROOT: u64 = 0x8;
const STATMOUNT_MNT_POINT: u64 = 0x10;
const STATMOUNT_FS_TYPE: u64 = 0x20;
const STATMOUNT_FS_SUBTYPE: u64 = 0x100;
const STATMOUNT_SB_SOURCE: u64 = 0x200;
/// What a mountinfo line says that the scan keeps. The subtype and source came in one kernel
/// series, with the rule that an empty string leaves its bit unset ("fs: allow statmount to
/// fetch the fs_subtype and sb_source", November 2024): a source in the answer means the
/// kernel knows subtypes, and no subtype bit then means none.
const STATMOUNT_AS_MOUNTINFO: u64 = STATMOUNT_SB_BASIC
    | STATMOUNT_MNT_BASIC
    | STATMOUNT_MNT_ROOT
    | STATMOUNT_MNT_POINT
    | STATMOUNT_FS_TYPE
    | STATMOUNT_SB_SOURCE;
/// The fixed part of struct statmount: its strings follow, at offsets given in it.
const STATMOUNT_FIXED: usize = 512;
const MS_SLAVE: u64 = 1 << 19;
const MS_SHARED: u64 = 1 << 20;

/// How a namespace is named to listmount/statmount, found once by [`probe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `mnt_ns_fd` (Linux 6.18+).
    Fd,
    /// `mnt_ns_id` (Linux 6.9+, needs CAP_SYS_ADMIN over another namespace).
    Id,
}

/// `struct mnt_id_req`, MNT_ID_REQ_SIZE_VER1 (32 bytes). `mnt_ns_fd` was `spare` (which had
/// to be 0) before 6.18.
#[repr(C)]
struct MntIdReq {
    size: u32,
    mnt_ns_fd: u32,
    mnt_id: u64,
    param: u64,
    mnt_ns_id: u64,
}

/// `struct mnt_ns_info`, MNT_NS_INFO_SIZE_VER0 (16 bytes).
#[repr(C)]
struct MntNsInfo {
    size: u32,
    nr_mounts: u32,
    mnt_ns_id: u64,
}

/// A namespace's number of mounts and its highest mount id: while both are those of a
/// listing, its mounts are the listed ones. Mount ids come from one counter that only grows
/// (fs/namespace.c `mnt_alloc_id`), so a mount added since has a higher id than every listed
/// one: with the highest id unchanged none of them is still there, and with the count
/// unchanged too no listed mount went. Counted over the whole namespace, while listmount(2) lists what
/// is reachable from the root it resolves against: for another namespace its root, so every
/// mount; for the exporter's own, its own root, which need not reach every mount (the
/// caller does not trust a summary of its own namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    mounts: u64,
    highest: u64,
}

impl Summary {
    /// Of a listing: its ids, ascending.
    pub fn of(ids: &[u64]) -> Option<Summary> {
        Some(Summary {
            mounts: ids.len() as u64,
            highest: *ids.last()?,
        })
    }
}

/// One namespace, open for the length of its share of a scan (see the module comment).
pub struct OpenNamespace {
    file: File,
    pub id: u64,
    naming: Naming,
}

impl OpenNamespace {
    /// Opens `ns/mnt` and checks it is still namespace `inode` (the pid may have been reused).
    pub fn open(link: &Path, inode: u64, naming: Naming) -> io::Result<OpenNamespace> {
        let file = File::open(link)?;
        if file.metadata()?.ino() != inode {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        let mut id: u64 = 0;
        // SAFETY: NS_GET_MNTNS_ID writes one u64 through the pointer.
        if unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_MNTNS_ID, &mut id as *mut u64) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OpenNamespace { file, id, naming })
    }

    fn req(&self, mnt_id: u64, param: u64) -> MntIdReq {
        let (fd, id) = match self.naming {
            Naming::Fd => (self.file.as_raw_fd() as u32, 0),
            Naming::Id => (0, self.id),
        };
        MntIdReq {
            size: std::mem::size_of::<MntIdReq>() as u32,
            mnt_ns_fd: fd,
            mnt_id,
            param,
            mnt_ns_id: id,
        }
    }

    /// Every mount id of the namespace, ascending (listmount walks the namespace's tree of
    /// mounts ordered by id: fs/namespace.c `do_listmount`). Ids are 64-bit and never reused.
    pub fn list(&self, out: &mut Vec<u64>) -> io::Result<()> {
        out.clear();
        let mut last = 0;
        loop {
            out.reserve(1024);
            let room = out.capacity() - out.len();
            let r = self.req(LSMT_ROOT, last);
            // SAFETY: r is a valid mnt_id_req; the spare capacity holds `room` u64s.
            let n = unsafe {
                libc::syscall(
                    SYS_LISTMOUNT,
                    &r as *const MntIdReq,
                    out.as_mut_ptr().add(out.len()),
                    room,
                    0 as libc::c_ulong,
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: the kernel wrote n <= room ids after the current length.
            unsafe { out.set_len(out.len() + n as usize) };
            match out.last() {
                Some(&l) if n as usize == room => last = l,
                _ => return Ok(()),
            }
        }
    }

    /// The namespace's [`Summary`] in two calls that walk no list: `NS_MNT_GET_INFO`'s
    /// count and listmount(2) of one id, highest first. Listing a namespace walks all its
    /// mounts (`do_listmount`), most of a steady-state scan's cost beyond the processes.
    pub fn summary(&self) -> io::Result<Summary> {
        let mut info = MntNsInfo {
            size: std::mem::size_of::<MntNsInfo>() as u32,
            nr_mounts: 0,
            mnt_ns_id: 0,
        };
        // SAFETY: NS_MNT_GET_INFO writes one struct mnt_ns_info through the pointer.
        if unsafe { libc::ioctl(self.file.as_raw_fd(), NS_MNT_GET_INFO, &mut info) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let r = self.req(LSMT_ROOT, 0);
        let mut highest: u64 = 0;
        // SAFETY: r is a valid mnt_id_req; `highest` holds the one id asked for.
        let n = unsafe {
            libc::syscall(
                SYS_LISTMOUNT,
                &r as *const MntIdReq,
                &mut highest as *mut u64,
                1usize,
                LISTMOUNT_REVERSE,
            )
        };
        match n {
            1 => Ok(Summary {
                mounts: info.nr_mounts.into(),
                highest,
            }),
            0 => Err(io::Error::from_raw_os_error(libc::ENOENT)),
            _ => Err(io::Error::last_os_error()),
        }
    }

    /// A mount's old (mountinfo) id (byte 56 of struct statmount) and its propagation as
    /// mountinfo shows it.
    pub fn propagation(&self, mnt_id: u64) -> io::Result<(u32, Propagation)> {
        // The fixed part of struct statmount is 512 bytes; MNT_BASIC asks for no strings.
        let mut buf = [0u64; 64];
        self.statmount(mnt_id, STATMOUNT_MNT_BASIC, &mut buf)?;
        let s = Statmount(&buf);
        Ok((s.u32_at(56), s.propagation()))
    }

    /// statmount(2) of `mask` into `buf` (u64-aligned, as struct statmount needs).
    fn statmount(&self, mnt_id: u64, mask: u64, buf: &mut [u64]) -> io::Result<()> {
        let r = self.req(mnt_id, mask);
        // SAFETY: r is a valid mnt_id_req; buf is writable for its whole length in bytes.
        let ret = unsafe {
            libc::syscall(
                SYS_STATMOUNT,
                &r as *const MntIdReq,
                buf.as_mut_ptr(),
                std::mem::size_of_val(buf),
                0 as libc::c_ulong,
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// A mount as its mountinfo line reads (its ids, device, root, mount point, fs type with
    /// subtype, source, propagation), through statmount(2); `None` when this kernel does not
    /// give all of it, or there is no source (mountinfo then says `none`, or nothing: the two
    /// cannot be told apart): the caller reads the table instead. Strings come raw
    /// (statmount unescapes what mountinfo escapes: fs/namespace.c `statmount_mnt_root`,
    /// `statmount_sb_source`; the mount point relative to the namespace's root, as a process
    /// whose root is `/` reads it).
    pub fn mount(&self, mnt_id: u64, buf: &mut Vec<u64>) -> io::Result<Option<Mount>> {
        if buf.len() < 512 {
            buf.resize(512, 0);
        }
        loop {
            match self.statmount(mnt_id, STATMOUNT_AS_MOUNTINFO | STATMOUNT_FS_SUBTYPE, buf) {
                Ok(()) => break,
                // The strings did not fit: a larger buffer (bounded, a path is at most 4 KiB).
                Err(e) if e.raw_os_error() == Some(libc::EOVERFLOW) && buf.len() < 1 << 16 => {
                    buf.resize(buf.len() * 2, 0);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Statmount(buf).mount())
    }
}

/// A filled struct statmount (include/uapi/linux/mount.h).
struct Statmount<'a>(&'a [u64]);

impl Statmount<'_> {
    fn bytes(&self) -> &[u8] {
        // SAFETY: the same memory viewed as bytes, of the same length in bytes.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast(), self.0.len() * 8) }
    }

    fn u32_at(&self, offset: usize) -> u32 {
        let b = &self.bytes()[offset..offset + 4];
        u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
    }

    /// A `[str]` field: the u32 at `offset` is where its NUL-terminated string starts.
    fn str_at(&self, offset: usize) -> &[u8] {
        let s = self
            .bytes()
            .get(STATMOUNT_FIXED + self.u32_at(offset) as usize..);
        let s = s.unwrap_or_default();
        &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())]
    }

    /// Offsets: mask 8, sb_dev_major 16, sb_dev_minor 20, fs_type 36, mnt_id_old 56,
    /// mnt_parent_id_old 60, propagation 72, peer group 80, master 88, mnt_root 104,
    /// mnt_point 108, fs_subtype 120, sb_source 124.
    fn mount(&self) -> Option<Mount> {
        let b = self.0;
        if b[1] & STATMOUNT_AS_MOUNTINFO != STATMOUNT_AS_MOUNTINFO {
            return None;
        }
        // mountinfo: the type, then `.subtype` when there is one (fs/proc_namespace.c
        // `show_type`).
        let mut fs_type = self.str_at(36).to_vec();
        if b[1] & STATMOUNT_FS_SUBTYPE != 0 {
            fs_type.push(b'.');
            fs_type.extend_from_slice(self.str_at(120));
        }
        Some(Mount {
            mount_id: self.u32_at(56),
            parent_id: self.u32_at(60),
            major: self.u32_at(16),
            minor: self.u32_at(20),
            root: mountinfo::display(self.str_at(104)),
            mount_point: mountinfo::display(self.str_at(108)),
            fs_type: mountinfo::display(&fs_type),
            source: mountinfo::display(self.str_at(124)),
            propagation: self.propagation(),
        })
    }

    /// As mountinfo shows it: `shared:` the peer group when shared, `master:` the master's
    /// group when a slave (fs/namespace.c `statmount_mnt_basic` and fs/proc_namespace.c
    /// `show_mountinfo` read the same fields): mnt_propagation at byte 72, mnt_peer_group
    /// 80, mnt_master 88.
    fn propagation(&self) -> Propagation {
        let (flags, peer, master) = (self.0[9], self.0[10], self.0[11]);
        Propagation {
            shared: (flags & MS_SHARED != 0).then_some(peer as u32),
            master: (flags & MS_SLAVE != 0).then_some(master as u32),
        }
    }
}

/// Which naming works here, tried on our own namespace (`<procfs>/self/ns/mnt`), and that
/// namespace's id: `Err` says why neither naming works (no listmount before 6.8: ENOSYS; a
/// fixture tree has no nsfs).
pub fn probe(procfs: &Path) -> io::Result<(Naming, u64)> {
    let link = procfs.join("self/ns/mnt");
    let inode = std::fs::metadata(&link)?.ino();
    let mut ids = Vec::new();
    let mut last = io::Error::other("no naming tried");
    for naming in [Naming::Fd, Naming::Id] {
        if naming == Naming::Id && !has_cap_sys_admin() {
            // Our own namespace would list, every other one would not (ENOENT).
            last = io::Error::other(format!(
                "{last}; naming a namespace by id needs CAP_SYS_ADMIN (Linux before 6.18)"
            ));
            break;
        }
        match OpenNamespace::open(&link, inode, naming)
            .and_then(|ns| ns.list(&mut ids).map(|()| ns.id))
        {
            Ok(id) if !ids.is_empty() => return Ok((naming, id)),
            Ok(_) => last = io::Error::other("listmount listed no mount"),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn has_cap_sys_admin() -> bool {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 21) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::test_process::Running;

    #[test]
    fn our_own_namespace_lists_like_its_mountinfo() {
        // On kernels without listmount this is the fallback's business, not a failure.
        let Ok((naming, _)) = probe(Path::new("/proc")) else {
            eprintln!("listmount unavailable here: nothing to compare");
            return;
        };
        let link = Path::new("/proc/self/ns/mnt");
        let inode = std::fs::metadata(link).unwrap().ino();
        let ns = OpenNamespace::open(link, inode, naming).unwrap();
        let mut ids = Vec::new();
        ns.list(&mut ids).unwrap();
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let lines: Vec<_> = crate::host::mountinfo::parse(text.as_bytes())
            .map(|m| m.unwrap())
            .collect();
        assert_eq!(ids.len(), lines.len());
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ascending");
        // mountinfo lists in the same order (fs/namespace.c m_start/m_next walk the same tree).
        let mut buf = Vec::new();
        let mut whole = 0;
        for (id, line) in ids.iter().zip(&lines) {
            let (old, propagation) = ns.propagation(*id).unwrap();
            assert_eq!((old, propagation), (line.mount_id, line.propagation));
            // Where this kernel gives every field, it reads exactly as the line.
            if let Some(m) = ns.mount(*id, &mut buf).unwrap() {
                assert_eq!(&m, line);
                whole += 1;
            }
        }
        eprintln!(
            "{whole} of {} mounts read whole through statmount",
            lines.len()
        );
    }

    #[test]
    fn a_summary_changes_with_every_mount_and_unmount_and_only_then() {
        let (naming, _) = probe(Path::new("/proc")).expect("listmount(2) (Linux 6.8+)");
        let holder = Running::spawn(&["unshare", "-m", "--propagation", "private", "sleep", "600"]);
        let link = std::path::PathBuf::from(format!("/proc/{}/ns/mnt", holder.id()));
        let own = std::fs::metadata("/proc/self/ns/mnt").unwrap().ino();
        let inode = (0..200)
            .find_map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(10));
                let ino = std::fs::metadata(&link).ok()?.ino();
                (ino != own).then_some(ino)
            })
            .expect("unshare -m made no namespace (needs root)");
        let sh = |script: &str| {
            let pid = holder.id().to_string();
            let ok = std::process::Command::new("nsenter")
                .args(["-t", &pid, "-m", "sh", "-c", script])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "{script}");
        };
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let mut ids = Vec::new();
        let mut seen = Vec::new();
        for step in [
            format!("mount -t tmpfs t '{}'", a.display()),
            format!("mount -t tmpfs t '{}'", b.display()),
            // One goes, one comes: the same count, a higher id.
            format!("umount '{0}' && mount -t tmpfs t '{0}'", a.display()),
            format!("umount '{}'", b.display()),
        ] {
            let ns = OpenNamespace::open(&link, inode, naming).unwrap();
            ns.list(&mut ids).unwrap();
            let summary = ns.summary().expect("NS_MNT_GET_INFO and LISTMOUNT_REVERSE");
            assert_eq!(Some(summary), Summary::of(&ids), "unlike its listing");
            assert_eq!(
                ns.summary().unwrap(),
                summary,
                "changed with nothing mounted"
            );
            seen.push(summary);
            sh(&step);
        }
        let ns = OpenNamespace::open(&link, inode, naming).unwrap();
        seen.push(ns.summary().unwrap());
        for w in seen.windows(2) {
            assert_ne!(w[0], w[1], "a mount or unmount left the summary as it was");
        }
    }
}
