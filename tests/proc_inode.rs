//! The kernel fact the incremental scan's process details rest on (src/host/details.rs):
//! a pid reused by a new process gets a `/proc/<pid>` directory and a `/proc/<pid>/comm`
//! (the file whose inode the details are remembered by) with other inode numbers.
//! And, for processes whose `/proc/<pid>/ns` directory the scan keeps open (src/host/ns_dirs.rs):
//! through that directory `../comm` is its own process's, never a later process's under the
//! same pid. The test makes the kernel hand out the same pid again (`ns_last_pid`, root) and
//! compares.

use std::os::fd::AsRawFd as _;
use std::os::unix::fs::MetadataExt as _;
use std::process::{Child, Command};

/// Inodes of `/proc/<pid>` and `/proc/<pid>/comm`.
fn inodes(child: &Child) -> (u64, u64) {
    let ino = |path: String| std::fs::metadata(&path).expect(&path).ino();
    let dir = format!("/proc/{}", child.id());
    (ino(dir.clone()), ino(format!("{dir}/comm")))
}

/// `../comm` read relative to an open `/proc/<pid>/ns`, as the scan's details do.
fn comm_through(ns_dir: &std::fs::File) -> std::io::Result<String> {
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::openat(ns_dir.as_raw_fd(), c"../comm".as_ptr(), libc::O_RDONLY) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    let file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    std::io::read_to_string(file)
}

fn sleeper() -> Child {
    Command::new("sleep")
        .arg("100")
        .spawn()
        .expect("spawn sleep")
}

#[test]
fn a_reused_pid_gets_a_proc_directory_with_another_inode() {
    assert!(
        unsafe { libc::geteuid() } == 0,
        "this test needs root (it writes /proc/sys/kernel/ns_last_pid)"
    );
    // Another process may take the pid between the write and the fork: try again.
    for _ in 0..50 {
        let mut old = sleeper();
        let (pid, before) = (old.id(), inodes(&old));
        let ns_dir = std::fs::File::open(format!("/proc/{pid}/ns")).expect("open ns");
        let own_comm = comm_through(&ns_dir).expect("../comm through a live process's ns");
        assert_eq!(own_comm.trim_end(), "sleep");
        old.kill().unwrap();
        old.wait().unwrap();
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string())
            .expect("write ns_last_pid");
        let mut new = sleeper();
        let same_pid = new.id() == pid;
        let after = inodes(&new);
        let comm = comm_through(&ns_dir);
        new.kill().unwrap();
        new.wait().unwrap();
        if same_pid {
            assert_ne!(
                before.0, after.0,
                "pid {pid} reused under the same /proc inode"
            );
            assert_ne!(
                before.1, after.1,
                "pid {pid} reused under the same comm inode"
            );
            assert!(
                comm.is_err(),
                "the old process's ns directory opened the new process's comm"
            );
            return;
        }
    }
    panic!("the kernel never handed out the same pid again in 50 tries (a busy machine?)");
}
