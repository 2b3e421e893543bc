//! Process details (comm, unit, container, start time) of the processes that name a
//! holder, remembered between incremental scans. A steady-state scan must cost little more
//! than listing the processes (issue 17), and `stat` plus `cgroup` of up to 16 processes per
//! holding namespace were most of what it did besides.
//!
//! A remembered entry is the same process while its `/proc/<pid>/comm` keeps its inode
//! number: procfs gives each pid directory and each file in it a fresh inode
//! (`proc_pid_make_inode` -> `new_inode`, numbered by `get_next_ino`), and a lookup under a
//! pid whose task is gone drops the old dentries (`pid_revalidate`), so a reused pid gets new
//! inodes (fs/proc/base.c; tests/proc_inode.rs). An inode evicted and made again only costs
//! a read. The comm is read every scan (`comm`, a
//! cheap file: an `exec` changes it and nothing else), the cgroup (unit, container) is
//! trusted for [`REFRESH`]: a process moved to another cgroup while it runs is seen within
//! that time.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use super::ProcessInfo;

/// Longest time a process's remembered cgroup (its unit and container) is trusted.
pub const REFRESH: Duration = Duration::from_secs(60);

struct Entry {
    inode: u64,
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
    /// process, then with its comm read afresh.
    pub(super) fn get(
        &mut self,
        procfs: &Path,
        pid: u32,
        buf: &mut Vec<u8>,
        read: impl FnOnce(&mut Vec<u8>) -> io::Result<ProcessInfo>,
    ) -> io::Result<ProcessInfo> {
        if !self.enabled {
            return read(buf);
        }
        // One path walk: the comm file opened, its inode taken from the open file.
        let mut comm_file = std::fs::File::open(procfs.join(format!("{pid}/comm")))?;
        let inode = comm_file.metadata()?.ino();
        if let Some(e) = self.cached.get_mut(&pid)
            && e.inode == inode
            && e.read_at.elapsed() < REFRESH
        {
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
        let first = d.get(root.path(), 42, &mut buf, |_| {
            Ok(info("httpd", "a.service"))
        });
        assert_eq!(first.unwrap(), info("httpd", "a.service"));
        d.finish();
        // exec: a new comm, the same process (and cgroup).
        fs::write(root.path().join("42/comm"), "sleep\n").unwrap();
        d.begin();
        let again = d.get(root.path(), 42, &mut buf, |_| panic!("read again"));
        assert_eq!(again.unwrap(), info("sleep", "a.service"));
        d.finish();
    }

    #[test]
    fn a_new_process_under_the_same_pid_is_read() {
        let root = tempfile::tempdir().unwrap();
        proc_dir(root.path(), "httpd");
        let mut d = Details::remembering();
        let mut buf = Vec::new();
        d.begin();
        d.get(root.path(), 42, &mut buf, |_| {
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
        let got = d.get(root.path(), 42, &mut buf, |_| {
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
        d.get(root.path(), 42, &mut buf, |_| {
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
            off.get(root.path(), 42, &mut buf, |_| {
                reads += 1;
                Ok(info("httpd", "a.service"))
            })
            .unwrap();
            assert_eq!(reads, 1);
            off.finish();
        }
    }
}
