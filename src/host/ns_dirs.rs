//! Grouping processes by mount namespace: one `ns/mnt` readlink per process, the floor of
//! any scan. An incremental scan keeps each process's `/proc/<pid>/ns` directory open
//! (`O_PATH`) between scans and reads `mnt` in it: one path component instead of three, and
//! the walk of `<pid>/ns/mnt` was two thirds of that readlink, itself the largest part of a
//! steady-state scan (issue 17).
//!
//! What a kept fd holds, and why it is safe to keep:
//! - not a mount namespace: `ns/mnt` is resolved at each readlink (fs/proc/namespaces.c,
//!   `proc_ns_get_link`), so a holder's copies are freed when it exits, fd or not
//!   (tests/e2e_namespace_lifetime.rs);
//! - the process's `struct pid` (the procfs inode takes it: fs/proc/base.c
//!   `proc_pid_make_inode`), and through it the pid namespace the process lives in
//!   (kernel/pid.c `put_pid` drops that one). So only processes in procfs's own pid
//!   namespace get a kept fd: that namespace lives as long as the procfs mount does
//!   (include/linux/proc_fs.h, `proc_fs_info.pid_ns`). A container's processes, in pid
//!   namespaces of their own, are read through `/proc` every scan as before, so no pid
//!   namespace outlives its processes either;
//! - its process, not its pid number: once the process is gone a readlink through the fd
//!   fails (no task behind the inode), the fd is closed and a reused pid is opened anew.
//!
//! At most half the open-file soft limit is kept (and at most [`MAX_KEPT`]): the HTTP server
//! and the runtime clients need fds too. `mountleak_exporter` raises its soft limit to the
//! hard one at start.

use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd as _, AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd, RawFd};
use std::path::Path;

use super::{ScanErrors, ns_inode};

/// Most `ns` directories kept open, whatever the open-file limit.
pub const MAX_KEPT: usize = 65_536;

/// What one scan leaves for the next; `Default` keeps nothing.
#[derive(Default)]
pub struct NsDirs {
    /// At most this many in `kept` (0: keeping nothing).
    room: usize,
    kept: HashMap<u32, Kept>,
    /// How many directories were opened to keep: numbers each.
    opened: u64,
    /// Pids last seen in another pid namespace than procfs's: read through `/proc`.
    others: HashSet<u32>,
    /// procfs's pid namespace (its `ns/pid` link), found on the first scan; `Some(None)`
    /// when the exporter does not live in it (then nothing is kept).
    own: Option<Option<String>>,
}

/// A kept `ns` directory and the number it was opened under: while a pid's number is the
/// same, so is its process (the fd of a gone process is closed, and a reused pid opened anew
/// under another number).
struct Kept {
    fd: OwnedFd,
    opened: u64,
}

impl std::fmt::Debug for NsDirs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NsDirs")
            .field("room", &self.room)
            .field("kept", &self.kept.len())
            .field("others", &self.others.len())
            .finish()
    }
}

impl NsDirs {
    /// Keeps the `ns` directories of procfs's own pid namespace's processes, as many as the
    /// open-file soft limit allows (see the module comment).
    pub fn keeping() -> NsDirs {
        NsDirs::keeping_at_most(room_for_open_files())
    }

    fn keeping_at_most(room: usize) -> NsDirs {
        NsDirs {
            room,
            ..NsDirs::default()
        }
    }

    /// `pids` grouped by their mount namespace's inode. A process that cannot be read
    /// (gone, not permitted) is counted in the errors and left out.
    pub(super) fn group(
        &mut self,
        procfs: &Path,
        pids: &[u32],
    ) -> (HashMap<u64, Vec<u32>>, ScanErrors) {
        let mut errors = ScanErrors::default();
        let mut groups: HashMap<u64, Vec<u32>> = HashMap::new();
        let dir = match File::open(procfs) {
            Ok(dir) => dir,
            Err(e) => {
                errors.count(&e);
                return (groups, errors);
            }
        };
        if self.room > 0 && self.own.is_none() {
            self.own = Some(own_pid_ns(procfs));
        }
        let own = self.own.clone().flatten();
        let mut old = std::mem::take(&mut self.kept);
        let others = std::mem::take(&mut self.others);
        for &pid in pids {
            let through_kept = old.remove(&pid).and_then(|k| {
                let link = link_at(k.fd.as_raw_fd(), c"mnt").ok()?;
                self.kept.insert(pid, k);
                Some(ns_inode(&link))
            });
            let inode = match (through_kept, &own) {
                (Some(inode), _) => inode,
                (None, Some(own)) if !others.contains(&pid) && self.kept.len() < self.room => {
                    self.first_look(&dir, pid, own)
                }
                (None, _) => {
                    if others.contains(&pid) {
                        self.others.insert(pid);
                    }
                    mnt_ns_inode_at(&dir, pid)
                }
            };
            match inode {
                Ok(inode) => groups.entry(inode).or_default().push(pid),
                Err(e) => errors.count(&e),
            }
        }
        // `old` now holds the fds of processes no longer listed: closed here.
        (groups, errors)
    }

    /// `pid`'s kept `ns` directory, read in this scan, and the number it was opened under
    /// (see [`Kept`]).
    pub(super) fn kept(&self, pid: u32) -> Option<(BorrowedFd<'_>, u64)> {
        (self.kept.get(&pid)).map(|k| (k.fd.as_fd(), k.opened))
    }

    /// Opens `<pid>/ns`, reads `mnt` in it, and keeps it if the process lives in procfs's
    /// own pid namespace (`own`, its `ns/pid` link). Where the directory cannot be opened
    /// (gone, or out of fds: EMFILE) the link is read as without keeping, so no process is
    /// lost for want of an fd and a gone one is counted as before.
    fn first_look(&mut self, dir: &File, pid: u32, own: &str) -> io::Result<u64> {
        let Ok(fd) = open_ns_dir(dir, pid) else {
            return mnt_ns_inode_at(dir, pid);
        };
        let inode = ns_inode(&link_at(fd.as_raw_fd(), c"mnt")?)?;
        if link_at(fd.as_raw_fd(), c"pid").is_ok_and(|link| link == own) {
            self.opened += 1;
            let opened = self.opened;
            self.kept.insert(pid, Kept { fd, opened });
        } else {
            self.others.insert(pid);
        }
        Ok(inode)
    }
}

/// procfs's own pid namespace, as an `ns/pid` link, if the exporter lives in it: its
/// `self/status` then names one pid in `NSpid` (the pids from procfs's namespace down to the
/// process's own: fs/proc/array.c `task_state`). The exporter's own link is always readable,
/// where another process's (pid 1's) may be refused. `None` in a pid namespace of its own (a
/// container without the host's pid namespace), or when procfs shows no `self` (a procfs of
/// another pid namespace tree): then nothing is kept.
fn own_pid_ns(procfs: &Path) -> Option<String> {
    let status = std::fs::read_to_string(procfs.join("self/status")).ok()?;
    let nspid = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
    if nspid.split_whitespace().count() != 1 {
        return None;
    }
    let link = std::fs::read_link(procfs.join("self/ns/pid")).ok()?;
    Some(link.to_string_lossy().into_owned())
}

/// `<pid>/ns/mnt`'s namespace inode, read relative to the open procfs directory: the walk
/// starts below /proc and nothing is allocated per process.
fn mnt_ns_inode_at(dir: &File, pid: u32) -> io::Result<u64> {
    let path = pid_path(pid, "ns/mnt")?;
    ns_inode(&link_at(dir.as_raw_fd(), as_cstr(&path)?)?)
}

fn open_ns_dir(dir: &File, pid: u32) -> io::Result<OwnedFd> {
    let path = pid_path(pid, "ns")?;
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
    open_at(dir.as_raw_fd(), as_cstr(&path)?, flags)
}

/// `openat(2)` of `path` relative to the directory `dir`.
pub(super) fn open_at(dir: RawFd, path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: the path is NUL-terminated.
    let fd = unsafe { libc::openat(dir, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `<pid>/<tail>`, NUL-terminated, in a buffer on the stack.
fn pid_path(pid: u32, tail: &str) -> io::Result<[u8; 32]> {
    use std::io::Write as _;
    let mut path = [0u8; 32];
    write!(&mut path[..], "{pid}/{tail}\0")?;
    Ok(path)
}

fn as_cstr(path: &[u8]) -> io::Result<&CStr> {
    CStr::from_bytes_until_nul(path).map_err(io::Error::other)
}

/// The target of the symlink `name` relative to `fd`, read into a buffer on the stack.
fn link_at(fd: RawFd, name: &CStr) -> io::Result<String> {
    let mut link = [0u8; 64];
    // SAFETY: `name` is NUL-terminated and `link` is writable for its length.
    let n = unsafe { libc::readlinkat(fd, name.as_ptr(), link.as_mut_ptr().cast(), link.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(String::from_utf8_lossy(&link[..n as usize]).into_owned())
}

/// Half the open-file soft limit, at most [`MAX_KEPT`].
fn room_for_open_files() -> usize {
    open_files_limit().map_or(0, |limit| {
        usize::try_from(limit.rlim_cur / 2).map_or(MAX_KEPT, |half| half.min(MAX_KEPT))
    })
}

/// Raises the open-file soft limit to the hard one (no privilege needed), for the `ns`
/// directories a long-running exporter keeps; returns the new soft limit.
pub fn raise_open_files_limit() -> io::Result<u64> {
    let mut limit = open_files_limit()?;
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        set_open_files_limit(&limit)?;
    }
    Ok(limit.rlim_cur)
}

fn open_files_limit() -> io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one struct rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(limit)
}

fn set_open_files_limit(limit: &libc::rlimit) -> io::Result<()> {
    // SAFETY: setrlimit reads one struct rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::test_process::Running;

    fn sleepers(n: usize) -> (Vec<Running>, Vec<u32>) {
        let running: Vec<Running> = (0..n).map(|_| Running::spawn(&["sleep", "600"])).collect();
        let pids = running.iter().map(Running::id).collect();
        (running, pids)
    }

    fn plain(pids: &[u32]) -> (HashMap<u64, Vec<u32>>, ScanErrors) {
        NsDirs::default().group(Path::new("/proc"), pids)
    }

    #[test]
    fn kept_for_processes_of_procfs_s_pid_namespace_and_closed_when_they_exit() {
        let mut sleeper = Running::spawn(&["sleep", "600"]);
        let pids = [std::process::id(), sleeper.id()];
        let mut dirs = NsDirs::keeping_at_most(100);
        let mut numbers = Vec::new();
        for _ in 0..2 {
            let (groups, errors) = dirs.group(Path::new("/proc"), &pids);
            assert_eq!((groups, errors), plain(&pids));
            assert_eq!(dirs.kept.len(), 2, "{dirs:?}");
            numbers.push(pids.map(|pid| dirs.kept(pid).map(|k| k.1)));
        }
        // Kept, not opened again: each keeps its number (the details rest on it).
        assert_eq!(numbers[0], numbers[1]);
        assert_ne!(numbers[0][0], numbers[0][1]);
        sleeper.stop();
        // Still listed (a scan racing the exit): counted as vanished, as a plain read does.
        let (groups, errors) = dirs.group(Path::new("/proc"), &pids);
        assert_eq!(errors.vanished, 1);
        assert_eq!((groups, errors), plain(&pids));
        assert_eq!(
            dirs.kept.len(),
            1,
            "the exited process's fd is still open: {dirs:?}"
        );
    }

    #[test]
    fn none_for_a_process_in_a_pid_namespace_of_its_own() {
        // `unshare -p -f`: the sleep (killed with unshare) is pid 1 of a new pid namespace,
        // which a kept fd would keep alive after it exits.
        let outer = Running::spawn(&["unshare", "-p", "-f", "--kill-child", "sleep", "600"]);
        let inner = (0..100)
            .find_map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(20));
                let children = format!("/proc/{0}/task/{0}/children", outer.id());
                let found = std::fs::read_to_string(children).ok()?;
                found.split_whitespace().next()?.parse::<u32>().ok()
            })
            .expect("unshare -p -f started no child (needs root)");
        let pids = [outer.id(), inner];
        let mut dirs = NsDirs::keeping_at_most(100);
        for _ in 0..2 {
            let (groups, errors) = dirs.group(Path::new("/proc"), &pids);
            assert_eq!((groups, errors), plain(&pids));
            assert!(dirs.kept.contains_key(&outer.id()), "{dirs:?}");
            assert!(
                !dirs.kept.contains_key(&inner),
                "kept in its own pid namespace"
            );
        }
    }

    #[test]
    fn at_most_the_room_given_and_nothing_by_default() {
        let (_sleepers, pids) = sleepers(3);
        let mut dirs = NsDirs::keeping_at_most(2);
        let (groups, errors) = dirs.group(Path::new("/proc"), &pids);
        assert_eq!((groups, errors), plain(&pids));
        assert_eq!(dirs.kept.len(), 2);
        let mut none = NsDirs::default();
        none.group(Path::new("/proc"), &pids);
        assert_eq!(none.kept.len(), 0);
    }

    #[test]
    fn out_of_fds_no_process_is_lost() {
        let (_sleepers, pids) = sleepers(3);
        let want = plain(&pids);
        let mut dirs = NsDirs::keeping_at_most(100);
        let mut limit = open_files_limit().unwrap();
        let saved = limit.rlim_cur;
        // A first scan of no process finds procfs's pid namespace (a file read).
        dirs.group(Path::new("/proc"), &[]);
        // Room for the procfs directory the scan opens (the lowest free fd), none for an
        // `ns` directory.
        // SAFETY: dup of stdin, closed at once.
        let free = unsafe { libc::dup(0) };
        assert!(free >= 0);
        unsafe { libc::close(free) };
        limit.rlim_cur = free as u64 + 1;
        set_open_files_limit(&limit).unwrap();
        let got = dirs.group(Path::new("/proc"), &pids);
        limit.rlim_cur = saved;
        set_open_files_limit(&limit).unwrap();
        assert_eq!(got, want, "processes lost for want of an fd");
        assert_eq!(dirs.kept.len(), 0, "{dirs:?}");
    }
}
