//! Process details (comm, unit, container, start time) of the processes that name a
//! holder, remembered between incremental scans. A steady-state scan must cost little more
//! than listing the processes (issue 17), and `stat` plus `cgroup` of up to 16 processes per
//! holding namespace were most of what it did besides.
//!
//! A remembered entry is the same process while `ns_dirs` keeps the process's `ns`
//! directory open under the number it had when the entry was last confirmed (the comm is then
//! opened through it, `../comm`, so it is that very process's), else while its
//! `/proc/<pid>/comm` keeps its inode number: procfs gives each pid directory and each file in it a fresh inode
//! (`proc_pid_make_inode` -> `new_inode`, numbered by `get_next_ino`), and a lookup under a
//! pid whose task is gone drops the old dentries (`pid_revalidate`), so a reused pid gets new
//! inodes (fs/proc/base.c; tests/proc_inode.rs). An inode evicted and made again only costs
//! a read. The comm is read every scan (`comm`, a
//! cheap file: an `exec` changes it and nothing else), the cgroup (unit, container) is
//! trusted for [`REFRESH`]: a process moved to another cgroup while it runs is seen within
//! that time.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd as _, BorrowedFd};
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use super::ProcessInfo;
use super::ns_dirs::open_at;

/// Longest time a process's remembered cgroup (its unit and container) is trusted.
pub const REFRESH: Duration = Duration::from_secs(60);

struct Entry {
    inode: u64,
    /// The number of the kept `ns` directory the entry was last confirmed through.
    opened: Option<u64>,
    info: ProcessInfo,
    read_at: Instant,
    generation: u64,
}

/// What one scan leaves for the next; `Default` remembers nothing.
#[derive(Default)]
pub struct Details {
    enabled: bool,
    cached: HashMap<u32, Entry>,
    generation: u64,
}

impl std::fmt::Debug for Details {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Details")
            .field("enabled", &self.enabled)
            .field("remembered", &self.cached.len())
            .finish()
    }
}

impl Details {
    pub(super) fn remembering() -> Details {
        Details {
            enabled: true,
            ..Details::default()
        }
    }

    pub(super) fn begin(&mut self) {
        self.generation += 1;
    }

    /// Ends a scan: processes not asked about in it are forgotten.
    pub(super) fn finish(&mut self) {
        let generation = self.generation;
        self.cached.retain(|_, e| e.generation == generation);
    }

    /// `pid`'s details: `read` (a full read) unless they are remembered for this very
    /// process, then with its comm read afresh. `kept`: the process's `ns` directory kept by
    /// `ns_dirs`, and its number.
    pub(super) fn get(
        &mut self,
        procfs: &Path,
        pid: u32,
        kept: Option<(BorrowedFd, u64)>,
        buf: &mut Vec<u8>,
        read: impl FnOnce(&mut Vec<u8>) -> io::Result<ProcessInfo>,
    ) -> io::Result<ProcessInfo> {
        if !self.enabled {
            return read(buf);
        }
        // One path walk: the comm file opened, its inode taken from the open file only when
        // the kept directory does not already say which process it is.
        let mut comm_file = match kept {
            Some((dir, _)) => {
                let flags = libc::O_RDONLY | libc::O_CLOEXEC;
                std::fs::File::from(open_at(dir.as_raw_fd(), c"../comm", flags)?)
            }
            None => std::fs::File::open(procfs.join(format!("{pid}/comm")))?,
        };
        let opened = kept.map(|(_, n)| n);
        let known = (self.cached.get(&pid)).filter(|e| e.read_at.elapsed() < REFRESH);
        let inode = match known {
            Some(e) if opened.is_some() && e.opened == opened => e.inode,
            _ => comm_file.metadata()?.ino(),
        };
        if let Some(e) = self.cached.get_mut(&pid)
            && e.inode == inode
            && e.read_at.elapsed() < REFRESH
        {
            e.opened = opened;
            let n = super::read_open_file(&mut comm_file, buf, true)?;
            let comm = String::from_utf8_lossy(&buf[..n]);
            let comm = comm.strip_suffix('\n').unwrap_or(&comm);
            if e.info.comm != comm {
                e.info.comm = comm.to_string();
            }
            e.generation = self.generation;
            return Ok(e.info.clone());
        }
        let info = read(buf)?;
        let entry = Entry {
            inode,
            opened,
            info: info.clone(),
            read_at: Instant::now(),
            generation: self.generation,
        };
        self.cached.insert(pid, entry);
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::fd::AsFd as _;

    fn info(comm: &str, unit: &str) -> ProcessInfo {
        ProcessInfo {
            pid: 42,
            comm: comm.into(),
            unit: Some(unit.into()),
            container_id: None,
            container_engine: None,
            start_time: Some(7),
        }
    }

    fn proc_dir(root: &Path, comm: &str) {
        fs::create_dir_all(root.join("42")).unwrap();
        fs::write(root.join("42/comm"), format!("{comm}\n")).unwrap();
    }

    #[test]
    fn a_remembered_process_is_read_once_but_its_comm_every_scan() {
        let root = tempfile::tempdir().unwrap();
        proc_dir(root.path(), "httpd");
        let mut d = Details::remembering();
        let mut buf = Vec::new();
        d.begin();
        let first = d.get(root.path(), 42, None, &mut buf, |_| {
            Ok(info("httpd", "a.service"))
        });
        assert_eq!(first.unwrap(), info("httpd", "a.service"));
        d.finish();
        // exec: a new comm, the same process (and cgroup).
        fs::write(root.path().join("42/comm"), "sleep\n").unwrap();
        d.begin();
        let again = d.get(root.path(), 42, None, &mut buf, |_| panic!("read again"));
        assert_eq!(again.unwrap(), info("sleep", "a.service"));
        d.finish();
    }

    #[test]
    fn through_a_kept_ns_directory_the_process_is_known_by_its_number() {
        let root = tempfile::tempdir().unwrap();
        proc_dir(root.path(), "httpd");
        fs::create_dir(root.path().join("42/ns")).unwrap();
        let ns = fs::File::open(root.path().join("42/ns")).unwrap();
        let kept = |n| Some((ns.as_fd(), n));
        let mut d = Details::remembering();
        let mut buf = Vec::new();
        d.begin();
        let first = d.get(root.path(), 42, kept(7), &mut buf, |_| {
            Ok(info("httpd", "a.service"))
        });
        assert_eq!(first.unwrap(), info("httpd", "a.service"));
        d.finish();
        // The comm file made anew (another inode, as if the dentry was evicted): under the
        // same number the directory says which process it is, and its comm is read through it.
        let fresh = root.path().join("comm.new");
        fs::write(&fresh, "sleep\n").unwrap();
        fs::rename(&fresh, root.path().join("42/comm")).unwrap();
        d.begin();
        let again = d.get(root.path(), 42, kept(7), &mut buf, |_| panic!("read again"));
        assert_eq!(again.unwrap(), info("sleep", "a.service"));
        d.finish();
        // Opened anew under another number: the inode decides, and it changed.
        d.begin();
        let got = d.get(root.path(), 42, kept(8), &mut buf, |_| {
            Ok(info("sleep", "b.service"))
        });
        assert_eq!(got.unwrap().unit.as_deref(), Some("b.service"));
        d.finish();
    }

    #[test]
    fn a_new_process_under_the_same_pid_is_read() {
        let root = tempfile::tempdir().unwrap();
        proc_dir(root.path(), "httpd");
        let mut d = Details::remembering();
        let mut buf = Vec::new();
        d.begin();
        d.get(root.path(), 42, None, &mut buf, |_| {
            Ok(info("httpd", "a.service"))
        })
        .unwrap();
        d.finish();
        // The pid's directory made anew (another inode), as procfs does for a reused pid.
        let fresh = root.path().join("fresh");
        fs::create_dir(&fresh).unwrap();
        fs::write(fresh.join("comm"), "httpd\n").unwrap();
        fs::remove_dir_all(root.path().join("42")).unwrap();
        fs::rename(&fresh, root.path().join("42")).unwrap();
        d.begin();
        let got = d.get(root.path(), 42, None, &mut buf, |_| {
            Ok(info("httpd", "b.service"))
        });
        assert_eq!(got.unwrap().unit.as_deref(), Some("b.service"));
    }

    #[test]
    fn forgotten_when_not_asked_for_and_never_remembered_by_default() {
        let root = tempfile::tempdir().unwrap();
        proc_dir(root.path(), "httpd");
        let mut buf = Vec::new();
        let mut d = Details::remembering();
        d.begin();
        d.get(root.path(), 42, None, &mut buf, |_| {
            Ok(info("httpd", "a.service"))
        })
        .unwrap();
        d.finish();
        d.begin();
        d.finish();
        assert!(d.cached.is_empty(), "a process no scan asked about is kept");

        let mut off = Details::default();
        for _ in 0..2 {
            off.begin();
            let mut reads = 0;
            off.get(root.path(), 42, None, &mut buf, |_| {
                reads += 1;
                Ok(info("httpd", "a.service"))
            })
            .unwrap();
            assert_eq!(reads, 1);
            off.finish();
        }
    }
}
